## tests/integration: migbrokerctl plugin check on the tree's plugins (simdev
## with two agents, testing.so with each fault, broken-*.so, the template).
## Included at the end of tests/integration/local.mk.
PLUGIN_CHECK_INTEGRATION_TESTS = tests/integration/plugin-check.sh
TESTS += $(PLUGIN_CHECK_INTEGRATION_TESTS)
EXTRA_DIST += $(PLUGIN_CHECK_INTEGRATION_TESTS) tests/integration/plugin-check.mk
