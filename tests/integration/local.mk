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

# A plugin with a probe() for broker-probe.sh.
noinst_LTLIBRARIES += tests/integration/probe-plugin.la
tests_integration_probe_plugin_la_SOURCES = tests/integration/probe-plugin.c
tests_integration_probe_plugin_la_LDFLAGS = $(TEST_PLUGIN_LINK_FLAGS)
TESTS += tests/integration/broker-probe.sh
EXTRA_DIST += tests/integration/broker-probe.sh

# dbus-vmstate with real QEMU (skipped without qemu-system-x86).
TESTS += tests/integration/vmstate-qemu.sh
EXTRA_DIST += tests/integration/vmstate-qemu.sh tests/integration/qmp.py
TESTS += tests/integration/broker-libvirt.sh
EXTRA_DIST += tests/integration/broker-libvirt.sh
# migbroker-libvirt-events alone and under the broker, without a libvirtd.
TESTS += tests/integration/broker-libvirt-follower.sh
EXTRA_DIST += tests/integration/broker-libvirt-follower.sh
# migbrokerctl domain show's view of the broker, on libvirt's in-process test
# driver (no libvirtd); ctl-domain.sh in e2e.mk runs the commands on a real one.
TESTS += tests/integration/ctl-domain-show.sh
EXTRA_DIST += tests/integration/ctl-domain-show.sh
include tests/integration/broker.mk
include tests/integration/qemu-shim.mk
include tests/integration/hook.mk
include tests/integration/plugin-check.mk
include tests/integration/e2e.mk
