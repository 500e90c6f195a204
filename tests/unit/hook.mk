## tests/unit: cmocka programs of the libvirt hook (hooks/). Included from
## hooks/local.mk.
HOOK_UNIT_TESTS = \
	tests/unit/test-domain-xml \
	tests/unit/test-hook-config \
	tests/unit/test-hook-actions
check_PROGRAMS += $(HOOK_UNIT_TESTS)
TESTS += $(HOOK_UNIT_TESTS)
UNIT_TESTS += $(HOOK_UNIT_TESTS)
HOOK_UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hooks
HOOK_UNIT_CFLAGS = $(UNIT_CFLAGS) $(XML_CFLAGS) $(GLIB_CFLAGS)
HOOK_UNIT_LIBS = $(UNIT_LIBS) $(HOOK_LIBS)

tests_unit_test_domain_xml_SOURCES = tests/unit/test-domain-xml.c
tests_unit_test_domain_xml_CPPFLAGS = $(HOOK_UNIT_CPPFLAGS)
tests_unit_test_domain_xml_CFLAGS = $(HOOK_UNIT_CFLAGS)
tests_unit_test_domain_xml_LDADD = $(HOOK_UNIT_LIBS)

tests_unit_test_hook_config_SOURCES = tests/unit/test-hook-config.c
tests_unit_test_hook_config_CPPFLAGS = $(HOOK_UNIT_CPPFLAGS)
tests_unit_test_hook_config_CFLAGS = $(HOOK_UNIT_CFLAGS)
tests_unit_test_hook_config_LDADD = $(HOOK_UNIT_LIBS)

tests_unit_test_hook_actions_SOURCES = tests/unit/test-hook-actions.c
tests_unit_test_hook_actions_CPPFLAGS = $(HOOK_UNIT_CPPFLAGS)
tests_unit_test_hook_actions_CFLAGS = $(HOOK_UNIT_CFLAGS)
tests_unit_test_hook_actions_LDADD = $(HOOK_UNIT_LIBS)

EXTRA_DIST += $(wildcard $(srcdir)/tests/data/domain/*.xml)
