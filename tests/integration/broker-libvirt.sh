#!/bin/bash
# The broker follows libvirt's domain lifecycle events: when a domain starts
# or resumes, its open devices that wait in stop (or were saving: a failed
# migration on the source) run again. A policy reload that changes
# settings.libvirt-uri follows the new URI. Real libvirtd (started here when none
# runs, as root), a real TCG domain from the shared fixtures.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
command -v libvirtd >/dev/null || mb_skip "libvirtd is not installed"
command -v virsh >/dev/null || mb_skip "virsh is not installed"
[ "$(id -u)" = 0 ] || mb_skip "needs root to run libvirtd"
FIX="$MB_SHARED/fixtures/libvirt/domain-tcg-minimal.xml"
[ -f "$FIX" ] || mb_skip "no fixture $FIX"
mb_require_built "$MB_BROKER" "$MB_TESTING_SO"
V="virsh -c qemu:///system"
BDF=0000:3b:00.1
NAME=mbtest-$$
UUID=$(python3 -c 'import uuid; print(uuid.uuid4())')

started_libvirtd=""
if ! $V list >/dev/null 2>&1; then
        pgrep -x virtlogd >/dev/null || virtlogd -d
        libvirtd -d -p "$MB_TMP/libvirtd.pid"
        started_libvirtd=1
        for _ in $(seq 120); do $V list >/dev/null 2>&1 && break; sleep 0.5; done
        $V list >/dev/null 2>&1 || mb_fail "libvirtd did not come up"
fi
cleanup_libvirt() {
        $V destroy "$NAME" >/dev/null 2>&1 || true
        $V undefine "$NAME" >/dev/null 2>&1 || true
        if [ -n "$started_libvirtd" ] && [ -f "$MB_TMP/libvirtd.pid" ]; then
                kill "$(cat "$MB_TMP/libvirtd.pid")" 2>/dev/null || true
        fi
}
trap 'cleanup_libvirt; mb_cleanup' EXIT

sed "s|<name>t1</name>|<name>$NAME</name><uuid>$UUID</uuid>|" "$FIX" >"$MB_TMP/dom.xml"
$V define "$MB_TMP/dom.xml" >/dev/null

mb_start_bus L
mb_fake_pci "$MB_TMP/sysfs-L" "$BDF" 0x1af4 0x1041
cat >"$MB_TMP/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  libvirt-uri: qemu:///system
plugins:
  testing:
    path: $MB_TESTING_SO
    arg: "state-size=4K"
devices:
  - match: { bdf: "$BDF" }
    plugin: testing
EOP
MB_BROKER_LIBVIRT_URI=qemu:///system mb_start_broker L "$MB_TMP/policy.yaml"
for _ in $(seq 50); do grep -q "following libvirt's domain lifecycle events" "$MB_TMP/broker-L.log" && break; sleep 0.1; done
grep -q "following libvirt's domain lifecycle events" "$MB_TMP/broker-L.log" || mb_fail "the broker does not follow libvirt"

state() { mb_ctl L show "$BDF" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["State"])'; }
wait_state() { # STATE
        for _ in $(seq 100); do [ "$(state)" = "$1" ] && return 0; sleep 0.1; done
        mb_fail "device in $(state), expected $1"
}
mb_ctl L claim "$BDF" --owner "$UUID"
mb_ctl L open "$BDF" --owner "$UUID"
mb_ctl L set-state "$BDF" stop
$V start "$NAME" >/dev/null
wait_state running
mb_log "domain started: device running"

# A failed migration on the source: the device was saving, the domain resumes.
$V suspend "$NAME" >/dev/null
mb_ctl L set-state "$BDF" pre-copy
mb_ctl L set-state "$BDF" stop-copy
$V resume "$NAME" >/dev/null
wait_state running
mb_log "domain resumed: the saving device runs again"

# Another domain's events do not touch it.
mb_ctl L set-state "$BDF" stop
$V destroy "$NAME" >/dev/null
sleep 0.5
[ "$(state)" = stop ] || mb_fail "a stop event changed the device"
mb_ctl L release "$BDF" --owner "$UUID"

# A reload that changes settings.libvirt-uri: from libvirt's test driver (no
# events of this libvirtd) to qemu:///system, whose events then move the device.
mb_stop_broker L
sed -i 's|libvirt-uri: qemu:///system|libvirt-uri: "test:///default"|' "$MB_TMP/policy.yaml"
MB_BROKER_LIBVIRT_URI=policy mb_start_broker L "$MB_TMP/policy.yaml"
for _ in $(seq 50); do grep -q "events on test:///default" "$MB_TMP/broker-L.log" && break; sleep 0.1; done
grep -q "events on test:///default" "$MB_TMP/broker-L.log" || mb_fail "the broker does not follow the policy's URI"
mb_ctl L claim "$BDF" --owner "$UUID"
mb_ctl L open "$BDF" --owner "$UUID"
mb_ctl L set-state "$BDF" stop
$V start "$NAME" >/dev/null
sleep 1
[ "$(state)" = stop ] || mb_fail "events of a libvirtd the broker does not follow moved the device"
$V destroy "$NAME" >/dev/null
sed -i 's|libvirt-uri: "test:///default"|libvirt-uri: qemu:///system|' "$MB_TMP/policy.yaml"
mb_ctl L policy reload >/dev/null
for _ in $(seq 50); do grep -q "events on qemu:///system" "$MB_TMP/broker-L.log" && break; sleep 0.1; done
grep -q "settings.libvirt-uri changed from 'test:///default' to 'qemu:///system'" "$MB_TMP/broker-L.log" ||
        mb_fail "the reload did not notice the new URI"
grep -q "events on qemu:///system" "$MB_TMP/broker-L.log" || mb_fail "the broker does not follow the new URI"
$V start "$NAME" >/dev/null
wait_state running
mb_ctl L release "$BDF" --owner "$UUID"
mb_log "policy reload: the broker follows the new settings.libvirt-uri"
