## policy/: libmbpolicy, the policy engine (migbroker-policy(5)): parser,
## diagnostics, loader with file checks, matcher, sysfs reader.
noinst_LTLIBRARIES += policy/libmbpolicy.la
policy_libmbpolicy_la_SOURCES = \
	policy/bdf-pattern.c policy/bdf-pattern.h \
	policy/policy.c policy/policy.h \
	policy/policy-diag.c policy/policy-diag.h \
	policy/policy-parse.c policy/policy-parse.h \
	policy/policy-load.c policy/policy-load.h \
	policy/policy-match.c policy/policy-match.h \
	policy/pci-sysfs.c policy/pci-sysfs.h
policy_libmbpolicy_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/policy
policy_libmbpolicy_la_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(YAML_CFLAGS) $(SYSTEMD_CFLAGS)
policy_libmbpolicy_la_LIBADD = common/libmbcore.la $(GLIB_LIBS) $(YAML_LIBS)

# Everything that uses libmbpolicy compiles with these.
MBPOLICY_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/policy
MBPOLICY_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(SYSTEMD_CFLAGS)
MBPOLICY_LIBS = policy/libmbpolicy.la $(GLIB_LIBS)

include $(top_srcdir)/ctl/local.mk
include $(top_srcdir)/tests/fuzz/local.mk

# ---- tests beyond the unit tests (the cmocka programs are in tests/unit/local.mk)
POLICY_SCRIPT_TESTS = \
	tests/policy-fixtures.sh \
	tests/policy-cli.sh \
	tests/policy-owner.sh \
	tests/policy-schema.sh
TESTS += $(POLICY_SCRIPT_TESTS)
dist_noinst_SCRIPTS += $(POLICY_SCRIPT_TESTS)
EXTRA_DIST += \
	tests/unit/policy-test-util.h \
	$(wildcard $(srcdir)/tests/data/policy/valid/*.yaml) \
	$(wildcard $(srcdir)/tests/data/policy/invalid/*.yaml) \
	$(wildcard $(srcdir)/tests/data/policy/invalid/*.err) \
	tests/data/policy/invalid/dropin-redefines-plugin.policy

# ---- documentation, examples, schema (installed to docdir)

dist_doc_DATA += data/policy.yaml.example schemas/policy.schema.json
EXTRA_DIST += $(wildcard $(srcdir)/data/policy.d-examples/*.yaml)

