## tests/integration: real libvirtd + QEMU in mount namespaces (skipped
## without root, libvirt or QEMU): virsh migrate --live between two "hosts"
## (e2e-virsh-migrate.sh), and migbrokerctl domain enable|disable|show against
## one (ctl-domain.sh). Included from tests/integration/local.mk.
TESTS += tests/integration/e2e-virsh-migrate.sh tests/integration/ctl-domain.sh
EXTRA_DIST += tests/integration/e2e-virsh-migrate.sh tests/integration/ctl-domain.sh \
	tests/integration/libvirt-host.sh
