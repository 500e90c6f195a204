## common/: libmbcore, the smallest internal library; every program links it,
## the worker links nothing else of ours.
noinst_LTLIBRARIES += common/libmbcore.la
common_libmbcore_la_SOURCES = \
	common/macro.h \
	common/log.c common/log.h \
	common/error.c common/error.h \
	common/fsm.c common/fsm.h \
	common/fd-util.c common/fd-util.h \
	common/bdf.c common/bdf.h \
	common/crc32c.c common/crc32c.h \
	common/stream.c common/stream.h \
	common/privs.c common/privs.h \
	common/spawn.c common/spawn.h \
	common/uuid.c common/uuid.h
common_libmbcore_la_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
common_libmbcore_la_LIBADD = $(SYSTEMD_LIBS)
