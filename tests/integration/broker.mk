## tests/integration: the broker's integration tests (issue 4): migbrokerd,
## its workers and migbrokerctl on private dbus-daemons. Included from
## tests/integration/local.mk.
BROKER_INTEGRATION_TESTS = \
	tests/integration/broker-basic.sh \
	tests/integration/broker-introspect.sh \
	tests/integration/broker-fsm.sh \
	tests/integration/broker-stream.sh \
	tests/integration/broker-faults.sh
TESTS += $(BROKER_INTEGRATION_TESTS)
EXTRA_DIST += $(BROKER_INTEGRATION_TESTS) \
	tests/integration/broker-lib.sh \
	tests/integration/mb-introspect-compare.py \
	tests/integration/mb-stream-tool.py

# The D-Bus introspection XML of the broker's interfaces (for bindings and
# documentation tools); broker-introspect.sh checks it against migbrokerd.
dbusinterfacesdir = $(datadir)/dbus-1/interfaces
dbusinterfaces_DATA = \
	data/org.migbroker1.Manager.xml \
	data/org.migbroker1.Device.xml
EXTRA_DIST += $(dbusinterfaces_DATA)
