## tests/integration: migbroker-qemu-shim.so driven as QEMU drives a plugin,
## against a private bus and broker. Included from tests/integration/local.mk.

# Runs single plugin ops with their durations (plugin-driver runs migrations).
noinst_PROGRAMS += tests/integration/shim-ops
tests_integration_shim_ops_SOURCES = tests/integration/shim-ops.c
tests_integration_shim_ops_LDADD = $(DL_LIBS)

QEMU_SHIM_INTEGRATION_TESTS = \
	tests/integration/qemu-shim.sh \
	tests/integration/qemu-shim-deps.sh
TESTS += $(QEMU_SHIM_INTEGRATION_TESTS)
EXTRA_DIST += $(QEMU_SHIM_INTEGRATION_TESTS)
