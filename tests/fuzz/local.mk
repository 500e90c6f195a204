## tests/fuzz/: libFuzzer targets (included from policy/local.mk). Not part of
## 'make check': 'make fuzz' builds them with clang, 'make fuzz-run' (or
## tests/fuzz/run.sh SECONDS) runs each on its corpus tests/fuzz/corpus/NAME/.
##
## One line per target: NAME:SOURCE,SOURCE,... builds tests/fuzz/fuzz-NAME
## from tests/fuzz/fuzz-NAME.c plus those sources, compiled directly (not the
## libtool libraries) with the sanitizers, e.g.
##   FUZZ_TARGETS += stream:common/stream.c,common/crc32c.c
FUZZ_TARGETS = \
	policy:policy/policy-parse.c,policy/policy-diag.c,policy/policy.c,policy/policy-match.c,policy/bdf-pattern.c,policy/pci-sysfs.c,common/bdf.c \
	stream:common/stream.c,common/crc32c.c \
	worker-ipc:$(FUZZ_WORKER_SRCS),$(FUZZ_TESTING_PLUGIN_SRCS) \
	dbus-surface:

# The worker's object and data path with what they use of common/, and the
# testing plugin (its ops are called in process, not dlopen()ed).
FUZZ_WORKER_SRCS = worker/worker-server.c,worker/worker-stream.c,worker/gift-pages.c,worker/worker-plugin.c,common/stream.c,common/crc32c.c,common/fd-util.c,common/error.c,common/log.c
FUZZ_TESTING_PLUGIN_SRCS = plugins/testing/testing-plugin.c,plugins/testing/testing-args.c,plugins/testing/testing-fault.c,plugins/simdev/simdev-function.c,plugins/simdev/simdev-stream.c,plugins/simdev/simdev-bitmap.c,plugins/simdev/simdev-parse.c

FUZZ_SECONDS = 60
FUZZ_CFLAGS = -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -include $(top_builddir)/config.h -I$(top_builddir) -I$(top_srcdir)/include \
	-I$(top_srcdir)/common -I$(top_srcdir)/policy -I$(top_srcdir)/worker -I$(top_srcdir)/plugins/testing \
	-I$(top_srcdir)/plugins/simdev -DPLUGINDIR=\"$(plugindir)\" \
	$(GLIB_CFLAGS) $(YAML_CFLAGS) $(SYSTEMD_CFLAGS)
FUZZ_LIBS = $(GLIB_LIBS) $(YAML_LIBS) $(SYSTEMD_LIBS) $(DL_LIBS)
fuzz_comma = ,
fuzz_name = $(firstword $(subst :, ,$(1)))
fuzz_sources = $(addprefix $(srcdir)/,$(subst $(fuzz_comma), ,$(word 2,$(subst :, ,$(1)))))

# dbus-surface runs a real broker (and its workers) in processes of their
# own: built here with clang and ASan+UBSan, without libFuzzer, from the same
# sources as broker/migbrokerd and worker/migbroker-worker. Their plugins are
# the build's plugins/testing/.libs/testing*.so.
FUZZ_SAN_CFLAGS = -g -O1 -std=gnu11 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -include $(top_builddir)/config.h -I$(top_builddir) -I$(top_srcdir)/include \
	-I$(top_srcdir)/common -I$(top_srcdir)/policy -I$(top_srcdir)/worker -I$(top_srcdir)/follower -DPLUGINDIR=\"$(plugindir)\" \
	-DPKGLIBEXECDIR=\"$(pkglibexecdir)\" -DSYSCONFDIR=\"$(sysconfdir)\" -DRUNSTATEDIR=\"$(runstatedir)\"
FUZZ_SAN_BROKER_SRCS = $(addprefix $(srcdir)/,$(filter %.c,$(broker_migbrokerd_SOURCES) \
	$(policy_libmbpolicy_la_SOURCES) $(worker_libmbworkerclient_la_SOURCES) $(common_libmbcore_la_SOURCES)))
FUZZ_SAN_WORKER_SRCS = $(addprefix $(srcdir)/,$(filter %.c,$(worker_migbroker_worker_SOURCES) \
	$(common_libmbcore_la_SOURCES)))
FUZZ_SAN_HDRS = $(wildcard $(srcdir)/common/*.h $(srcdir)/policy/*.h $(srcdir)/worker/*.h $(srcdir)/broker/*.h \
	$(srcdir)/follower/*.h)
FUZZ_SAN_BINS = tests/fuzz/san/migbrokerd tests/fuzz/san/migbroker-worker tests/fuzz/san/lying-worker

tests/fuzz/san/migbrokerd: $(FUZZ_SAN_BROKER_SRCS) $(FUZZ_SAN_HDRS)
	@$(MKDIR_P) tests/fuzz/san
	$(AM_V_CC)$(CLANG) $(FUZZ_SAN_CFLAGS) $(SYSTEMD_CFLAGS) $(GLIB_CFLAGS) $(YAML_CFLAGS) \
		-o $@ $(FUZZ_SAN_BROKER_SRCS) $(SYSTEMD_LIBS) $(GLIB_LIBS) $(YAML_LIBS)

tests/fuzz/san/migbroker-worker: $(FUZZ_SAN_WORKER_SRCS) $(FUZZ_SAN_HDRS)
	@$(MKDIR_P) tests/fuzz/san
	$(AM_V_CC)$(CLANG) $(FUZZ_SAN_CFLAGS) $(SYSTEMD_CFLAGS) -o $@ $(FUZZ_SAN_WORKER_SRCS) $(SYSTEMD_LIBS) $(DL_LIBS)

# The worker gone bad that dbus-surface's "liar" plugin gets (it execs the
# real worker above for every other plugin).
tests/fuzz/san/lying-worker: $(srcdir)/tests/fuzz/lying-worker.c $(srcdir)/tests/fuzz/fuzz-input.h $(srcdir)/worker/worker-proto.h
	@$(MKDIR_P) tests/fuzz/san
	$(AM_V_CC)$(CLANG) $(FUZZ_SAN_CFLAGS) $(SYSTEMD_CFLAGS) -o $@ $(srcdir)/tests/fuzz/lying-worker.c $(SYSTEMD_LIBS)

if HAVE_CLANG
fuzz: $(FUZZ_SAN_BINS) plugins/testing/testing.la plugins/testing/testing-noprecopy.la
	@$(MKDIR_P) tests/fuzz
	@set -e; $(foreach t,$(FUZZ_TARGETS), \
		echo "  FUZZCC   tests/fuzz/fuzz-$(call fuzz_name,$(t))"; \
		$(CLANG) $(FUZZ_CFLAGS) -o tests/fuzz/fuzz-$(call fuzz_name,$(t)) \
			$(srcdir)/tests/fuzz/fuzz-$(call fuzz_name,$(t)).c $(call fuzz_sources,$(t)) $(FUZZ_LIBS);)
else
fuzz:
	@echo "make fuzz needs clang with libFuzzer (apt-get install clang), then re-run configure" >&2; exit 1
endif

fuzz-run: fuzz
	$(srcdir)/tests/fuzz/run.sh $(FUZZ_SECONDS) .

fuzz-clean:
	rm -f $(foreach t,$(FUZZ_TARGETS),tests/fuzz/fuzz-$(call fuzz_name,$(t))) $(FUZZ_SAN_BINS)

clean-local: fuzz-clean
.PHONY: fuzz fuzz-run fuzz-clean
dist_noinst_SCRIPTS += tests/fuzz/run.sh
EXTRA_DIST += \
	$(foreach t,$(FUZZ_TARGETS),tests/fuzz/fuzz-$(call fuzz_name,$(t)).c) \
	$(wildcard $(srcdir)/tests/fuzz/*.dict) \
	$(wildcard $(srcdir)/tests/fuzz/*.options) \
	tests/fuzz/fuzz-dbus-surface.c \
	tests/fuzz/lying-worker.c \
	tests/fuzz/dbus-surface-seeds.py \
	tests/fuzz/fuzz-input.h \
	tests/fuzz/worker-ipc-seeds.py \
	tests/fuzz/corpus
