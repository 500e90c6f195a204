## worker/: migbroker-worker (one per open device) and libmbworkerclient, the
## broker's side of the worker protocol (also used by tests and the CLI).
pkglibexec_PROGRAMS += worker/migbroker-worker
worker_migbroker_worker_SOURCES = \
	worker/worker-main.c \
	worker/gift-pages.c worker/gift-pages.h \
	worker/worker-proto.h \
	worker/worker-plugin.c worker/worker-plugin.h \
	worker/worker-server.c worker/worker-server.h \
	worker/worker-stream.c worker/worker-stream.h
worker_migbroker_worker_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
worker_migbroker_worker_LDADD = common/libmbcore.la $(SYSTEMD_LIBS) $(DL_LIBS)

noinst_LTLIBRARIES += worker/libmbworkerclient.la
worker_libmbworkerclient_la_SOURCES = \
	worker/worker-client.c worker/worker-client.h \
	worker/worker-proto.h
worker_libmbworkerclient_la_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
worker_libmbworkerclient_la_LIBADD = common/libmbcore.la $(SYSTEMD_LIBS)
