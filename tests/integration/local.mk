## tests/integration: shell tests on real processes, sharing lib.sh.
noinst_PROGRAMS += tests/integration/mb-worker-driver
tests_integration_mb_worker_driver_SOURCES = tests/integration/mb-worker-driver.c
tests_integration_mb_worker_driver_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
tests_integration_mb_worker_driver_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
tests_integration_mb_worker_driver_LDADD = worker/libmbworkerclient.la common/libmbcore.la $(SYSTEMD_LIBS)

TESTS += \
	tests/integration/worker-roundtrip.sh \
	tests/integration/worker-faults.sh \
	tests/integration/worker-privileges.sh
EXTRA_DIST += \
	tests/integration/worker-roundtrip.sh \
	tests/integration/worker-faults.sh \
	tests/integration/worker-privileges.sh

include tests/integration/plugin-check.mk
