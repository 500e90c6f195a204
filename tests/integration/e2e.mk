## tests/integration: end to end, real libvirtd + QEMU as two "hosts" in mount
## namespaces, virsh migrate --live (skipped without root, libvirt or QEMU).
## Included from tests/integration/local.mk.
TESTS += tests/integration/e2e-virsh-migrate.sh
EXTRA_DIST += tests/integration/e2e-virsh-migrate.sh
