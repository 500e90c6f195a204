## tests/integration: simdev end-to-end tests (plugin + agent, no broker).
## Included from plugins/local.mk.

# Drives a plugin .so the way seed 000's QEMU does; built by 'make' so that
# demos and manual checks can use it too.
noinst_PROGRAMS += tests/integration/plugin-driver
tests_integration_plugin_driver_SOURCES = tests/integration/plugin-driver.c
tests_integration_plugin_driver_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/simdev
tests_integration_plugin_driver_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_integration_plugin_driver_LDADD = plugins/simdev/libsimdevcore.la $(GLIB_LIBS) $(DL_LIBS)

SIMDEV_INTEGRATION_TESTS = \
	tests/integration/simdev-roundtrip.sh \
	tests/integration/simdev-robustness.sh \
	tests/integration/testing-plugins.sh
TESTS += $(SIMDEV_INTEGRATION_TESTS)
# (tests/integration/lib.sh is distributed by tests/local.mk)
EXTRA_DIST += $(SIMDEV_INTEGRATION_TESTS)
