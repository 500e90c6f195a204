## plugins/simdev: the simulated DPU function: its plugin (simdev.so) and the
## agent it talks to (migbroker-simagent).

# The device core, libc only: linked into simdev.so, the agent, testing.so
# and the unit tests.
noinst_LTLIBRARIES += plugins/simdev/libsimdevcore.la
plugins_simdev_libsimdevcore_la_SOURCES = \
	plugins/simdev/simdev-proto.h \
	plugins/simdev/simdev-prng.h \
	plugins/simdev/simdev-parse.c plugins/simdev/simdev-parse.h \
	plugins/simdev/simdev-bitmap.c plugins/simdev/simdev-bitmap.h \
	plugins/simdev/simdev-stream.c plugins/simdev/simdev-stream.h \
	plugins/simdev/simdev-function.c plugins/simdev/simdev-function.h \
	plugins/simdev/simdev-client.c plugins/simdev/simdev-client.h

plugin_LTLIBRARIES += plugins/simdev/simdev.la
plugins_simdev_simdev_la_SOURCES = plugins/simdev/simdev-plugin.c
plugins_simdev_simdev_la_LIBADD = plugins/simdev/libsimdevcore.la
plugins_simdev_simdev_la_LDFLAGS = $(AM_LDFLAGS) $(PLUGIN_LINK_FLAGS) $(PLUGIN_EXPORT_FLAGS)

pkglibexec_PROGRAMS += plugins/simdev/migbroker-simagent
plugins_simdev_migbroker_simagent_SOURCES = \
	plugins/simdev/simagent-main.c \
	plugins/simdev/simagent-server.c plugins/simdev/simagent-server.h \
	plugins/simdev/simagent-dirtier.c plugins/simdev/simagent-dirtier.h
plugins_simdev_migbroker_simagent_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(SYSTEMD_CFLAGS)
plugins_simdev_migbroker_simagent_LDADD = \
	plugins/simdev/libsimdevcore.la common/libmbcore.la $(GLIB_LIBS) $(SYSTEMD_LIBS)

EXTRA_DIST += plugins/simdev/README.md plugins/simdev/PROTOCOL.md
