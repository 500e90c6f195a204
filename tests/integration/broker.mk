## tests/integration: the broker's integration tests (issue 4): migbrokerd,
## its workers and migbrokerctl on private dbus-daemons. Included from
## tests/integration/local.mk.
BROKER_INTEGRATION_TESTS = \
	tests/integration/broker-basic.sh
TESTS += $(BROKER_INTEGRATION_TESTS)
EXTRA_DIST += $(BROKER_INTEGRATION_TESTS) \
	tests/integration/broker-lib.sh
