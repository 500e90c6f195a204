## tests/integration: the broker's integration tests (issue 4): migbrokerd,
## its workers and migbrokerctl on private dbus-daemons. Included from
## tests/integration/local.mk.
BROKER_INTEGRATION_TESTS = \
	tests/integration/broker-basic.sh \
	tests/integration/broker-introspect.sh \
	tests/integration/broker-fsm.sh \
	tests/integration/broker-stream.sh \
	tests/integration/broker-faults.sh \
	tests/integration/broker-fault-matrix.sh \
	tests/integration/broker-disruptions.sh \
	tests/integration/broker-hostile.sh \
	tests/integration/broker-toctou.sh \
	tests/integration/broker-auth.sh \
	tests/integration/broker-reload.sh \
	tests/integration/broker-restart.sh \
	tests/integration/broker-journal.sh \
	tests/integration/demo-migration.sh
TESTS += $(BROKER_INTEGRATION_TESTS)

# Raw D-Bus calls with file descriptors and full error names (busctl passes
# no fds and prints no error names).
noinst_PROGRAMS += tests/integration/mb-bus-call
tests_integration_mb_bus_call_SOURCES = tests/integration/mb-bus-call.c
tests_integration_mb_bus_call_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
tests_integration_mb_bus_call_LDADD = $(SYSTEMD_LIBS)
EXTRA_DIST += $(BROKER_INTEGRATION_TESTS) \
	tests/demo/demo.sh \
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
