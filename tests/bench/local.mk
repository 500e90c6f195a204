## tests/bench: benchmarks, run by 'make bench' (never by 'make check'). Each
## prints its figures beside a baseline measured in the same run.
EXTRA_PROGRAMS = tests/bench/bench-policy tests/bench/bench-broker tests/bench/bench-crc32c \
	tests/bench/bench-fleet tests/bench/bench-reaper tests/bench/bench-hook tests/bench/bench-vmstate-helper

tests_bench_bench_policy_SOURCES = tests/bench/bench-policy.c tests/bench/bench-util.h
tests_bench_bench_policy_CPPFLAGS = $(MBPOLICY_CPPFLAGS)
tests_bench_bench_policy_CFLAGS = $(MBPOLICY_CFLAGS) -O2
tests_bench_bench_policy_LDADD = $(MBPOLICY_LIBS) common/libmbcore.la $(SYSTEMD_LIBS) -lm

tests_bench_bench_broker_SOURCES = tests/bench/bench-broker.c tests/bench/bench-bus.h tests/bench/bench-util.h
tests_bench_bench_broker_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) -O2 -pthread
tests_bench_bench_broker_LDADD = common/libmbcore.la $(SYSTEMD_LIBS) -lpthread -lm

tests_bench_bench_fleet_SOURCES = tests/bench/bench-fleet.c tests/bench/bench-bus.h tests/bench/bench-util.h
tests_bench_bench_fleet_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) -O2 -pthread
tests_bench_bench_fleet_LDADD = $(SYSTEMD_LIBS) -lpthread -lm

tests_bench_bench_reaper_SOURCES = tests/bench/bench-reaper.c

tests_bench_bench_vmstate_helper_SOURCES = tests/bench/bench-vmstate-helper.c
tests_bench_bench_vmstate_helper_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) -O2
tests_bench_bench_vmstate_helper_LDADD = $(SYSTEMD_LIBS)

tests_bench_bench_hook_SOURCES = tests/bench/bench-hook.c tests/bench/bench-util.h
tests_bench_bench_hook_CFLAGS = $(AM_CFLAGS) -O2
tests_bench_bench_hook_LDADD = -lm

tests_bench_bench_crc32c_SOURCES = tests/bench/bench-crc32c.c
tests_bench_bench_crc32c_CFLAGS = $(AM_CFLAGS) -O2
tests_bench_bench_crc32c_LDADD = common/libmbcore.la

# The memory-backed plugin the broker benchmark drives.
noinst_LTLIBRARIES += tests/bench/bench-plugin.la
tests_bench_bench_plugin_la_SOURCES = tests/bench/bench-plugin.c
tests_bench_bench_plugin_la_CFLAGS = $(AM_CFLAGS) -O2
tests_bench_bench_plugin_la_LDFLAGS = $(TEST_PLUGIN_LINK_FLAGS)

CLEANFILES += $(EXTRA_PROGRAMS)
EXTRA_DIST += tests/bench/bench-broker.sh tests/bench/bench-fleet.sh tests/bench/bench-hook.sh tests/bench/bench-vmstate.sh tests/bench/run.sh

bench: $(EXTRA_PROGRAMS) tests/bench/bench-plugin.la all
	MB_BUILDDIR='$(abs_top_builddir)' MB_SRCDIR='$(abs_top_srcdir)' \
	MB_SHARED="$${MB_SHARED:-$(abs_top_srcdir)/../shared}" DBUS_DAEMON='$(DBUS_DAEMON)' LC_ALL=C \
	$(SHELL) $(srcdir)/tests/bench/run.sh
.PHONY: bench
