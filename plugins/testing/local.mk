## plugins/testing: plugins for tests, built by 'make' (not only 'make check')
## as real shared objects, never installed: tests and demos load them from
## plugins/testing/.libs/NAME.so.

# The fault-injection plugin (README.md): the simdev device core in process.
noinst_LTLIBRARIES += plugins/testing/testing.la
plugins_testing_testing_la_SOURCES = \
	plugins/testing/testing-plugin.c \
	plugins/testing/testing-args.c plugins/testing/testing-args.h \
	plugins/testing/testing-fault.c plugins/testing/testing-fault.h
plugins_testing_testing_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/simdev
plugins_testing_testing_la_LIBADD = plugins/simdev/libsimdevcore.la
plugins_testing_testing_la_LDFLAGS = $(AM_LDFLAGS) $(TEST_PLUGIN_LINK_FLAGS) $(PLUGIN_EXPORT_FLAGS)

# The same plugin without the pre-copy capability (its info is static, so
# another build of the same sources): for the arcs a device without pre-copy
# refuses.
noinst_LTLIBRARIES += plugins/testing/testing-noprecopy.la
plugins_testing_testing_noprecopy_la_SOURCES = $(plugins_testing_testing_la_SOURCES)
plugins_testing_testing_noprecopy_la_CPPFLAGS = $(plugins_testing_testing_la_CPPFLAGS) -DTESTING_NO_PRECOPY
plugins_testing_testing_noprecopy_la_LIBADD = $(plugins_testing_testing_la_LIBADD)
plugins_testing_testing_noprecopy_la_LDFLAGS = $(plugins_testing_testing_la_LDFLAGS)

# Plugins that break the loader contract in one way each (broken-null-cleanup
# is the valid exception); for the loader's refusal tests.
BROKEN_PLUGIN_LDFLAGS = $(AM_LDFLAGS) $(TEST_PLUGIN_LINK_FLAGS) -Wl,-z,defs
noinst_LTLIBRARIES += \
	plugins/testing/broken-no-version.la \
	plugins/testing/broken-bad-version.la \
	plugins/testing/broken-null-ops.la \
	plugins/testing/broken-null-save.la \
	plugins/testing/broken-null-cleanup.la \
	plugins/testing/broken-bad-info.la
plugins_testing_broken_no_version_la_SOURCES = plugins/testing/broken-no-version.c plugins/testing/broken-stub.h
plugins_testing_broken_no_version_la_LDFLAGS = $(BROKEN_PLUGIN_LDFLAGS)
plugins_testing_broken_bad_version_la_SOURCES = plugins/testing/broken-bad-version.c plugins/testing/broken-stub.h
plugins_testing_broken_bad_version_la_LDFLAGS = $(BROKEN_PLUGIN_LDFLAGS)
plugins_testing_broken_null_ops_la_SOURCES = plugins/testing/broken-null-ops.c plugins/testing/broken-stub.h
plugins_testing_broken_null_ops_la_LDFLAGS = $(BROKEN_PLUGIN_LDFLAGS)
plugins_testing_broken_null_save_la_SOURCES = plugins/testing/broken-null-save.c plugins/testing/broken-stub.h
plugins_testing_broken_null_save_la_LDFLAGS = $(BROKEN_PLUGIN_LDFLAGS)
plugins_testing_broken_null_cleanup_la_SOURCES = plugins/testing/broken-null-cleanup.c plugins/testing/broken-stub.h
plugins_testing_broken_null_cleanup_la_LDFLAGS = $(BROKEN_PLUGIN_LDFLAGS)
plugins_testing_broken_bad_info_la_SOURCES = plugins/testing/broken-bad-info.c plugins/testing/broken-stub.h
plugins_testing_broken_bad_info_la_LDFLAGS = $(BROKEN_PLUGIN_LDFLAGS)

EXTRA_DIST += plugins/testing/README.md
