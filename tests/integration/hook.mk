## tests/integration: the libvirt hook against a real broker on a private bus.
## Included from tests/integration/local.mk.
TESTS += tests/integration/hook.sh
EXTRA_DIST += tests/integration/hook.sh
