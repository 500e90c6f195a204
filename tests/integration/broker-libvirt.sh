#!/bin/bash
# The broker follows libvirt's domain lifecycle events: when a domain starts
# or resumes, its open devices that wait in stop (or were saving: a failed
# migration on the source) run again. A policy reload that changes
# settings.libvirt-uri follows the new URI. Real libvirtd (started here when none
# runs, as root), a real TCG domain from the shared fixtures.
# The connection is held by migbroker-libvirt-events, the broker's child
# running as the worker user: killed, it is restarted and events move devices
# again; the broker's own process maps no libvirt; none is left behind when
# the broker stops, and none runs when the URI is empty.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
command -v libvirtd >/dev/null || mb_skip "libvirtd is not installed"
command -v virsh >/dev/null || mb_skip "virsh is not installed"
[ "$(id -u)" = 0 ] || mb_skip "needs root to run libvirtd"
FIX="$MB_SHARED/fixtures/libvirt/domain-tcg-minimal.xml"
[ -f "$FIX" ] || mb_skip "no fixture $FIX"
mb_require_built "$MB_BROKER" "$MB_LIBVIRT_EVENTS" "$MB_TESTING_SO"
V="virsh -c qemu:///system"
BDF=0000:3b:00.1
NAME=mbtest-$$
UUID=$(python3 -c 'import uuid; print(uuid.uuid4())')

started_libvirtd=""
if ! $V list >/dev/null 2>&1; then
        pgrep -x virtlogd >/dev/null || virtlogd -d
        # A client that is not root (the follower runs as the worker user) is
        # let in by polkit, which libvirtd asks over the system bus: a test
        # machine may have neither, so this libvirtd checks nothing on its
        # read-only socket (what unix_sock_ro_perms lets through).
        cp /etc/libvirt/libvirtd.conf "$MB_TMP/libvirtd.conf"
        echo 'auth_unix_ro = "none"' >>"$MB_TMP/libvirtd.conf"
        libvirtd -d -f "$MB_TMP/libvirtd.conf" -p "$MB_TMP/libvirtd.pid"
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
WUSER=$(mb_worker_user)
# The follower runs as the worker user when libvirtd lets that user in
# read-only, else as root (the broker falls back and says so).
FUSER=$WUSER
setpriv --reuid="$(id -u "$WUSER")" --regid="$(id -g "$WUSER")" --clear-groups \
        virsh -r -c qemu:///system list >/dev/null 2>&1 || FUSER=root

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

# migbroker-libvirt-events, the broker's child, as the worker user; libvirt
# stays out of the broker's process.
follower_pid() { pgrep -P "$MB_BROKER_PID_L" -f -- "^$MB_LIBVIRT_EVENTS " | head -n1; }
FPID=$(follower_pid)
[ -n "$FPID" ] || mb_fail "no migbroker-libvirt-events child of the broker"
[ "$(ps -o uid= -p "$FPID" | tr -d ' ')" = "$(id -u "$FUSER")" ] ||
        mb_fail "the follower runs as uid $(ps -o uid= -p "$FPID"), not as $FUSER"
if [ "$FUSER" = root ]; then
        grep -q "as user '$WUSER' (no polkit, or unix_sock_ro_perms): following libvirt as root instead" \
                "$MB_TMP/broker-L.log" || mb_fail "the fall back to root was not logged"
fi
! grep -q libvirt "/proc/$MB_BROKER_PID_L/maps" || mb_fail "the broker's process maps libvirt"
mb_log "the follower (pid $FPID) runs as $FUSER; the broker maps no libvirt"

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
failed_migration_resumes() {
        $V suspend "$NAME" >/dev/null
        mb_ctl L set-state "$BDF" pre-copy
        mb_ctl L set-state "$BDF" stop-copy
        $V resume "$NAME" >/dev/null
        wait_state running
}
failed_migration_resumes
mb_log "domain resumed: the saving device runs again"

# The follower killed: the broker restarts it (after its 10 s retry
# interval), and events move the device again.
kill -KILL "$FPID"
for _ in $(seq 200); do
        [ "$(grep -c "following libvirt's domain lifecycle events" "$MB_TMP/broker-L.log")" -ge 2 ] && break
        sleep 0.1
done
[ "$(grep -c "following libvirt's domain lifecycle events" "$MB_TMP/broker-L.log")" -ge 2 ] ||
        mb_fail "the killed follower was not restarted"
grep -q "libvirt events follower of qemu:///system was killed by signal SIGKILL" "$MB_TMP/broker-L.log" ||
        mb_fail "the broker did not log how the follower died"
FPID2=$(follower_pid)
[ -n "$FPID2" ] && [ "$FPID2" != "$FPID" ] || mb_fail "no new follower after the kill"
failed_migration_resumes
mb_log "follower killed: restarted (pid $FPID2), resume events move the device again"

# Another domain's events do not touch it.
mb_ctl L set-state "$BDF" stop
$V destroy "$NAME" >/dev/null
sleep 0.5
[ "$(state)" = stop ] || mb_fail "a stop event changed the device"
mb_ctl L release "$BDF" --owner "$UUID"

# A reload that changes settings.libvirt-uri: from libvirt's test driver (no
# events of this libvirtd) to qemu:///system, whose events then move the device.
mb_stop_broker L
[ ! -e "/proc/$FPID2" ] || mb_fail "the follower (pid $FPID2) outlived the broker"
mb_log "broker stopped: no follower left"
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

# An empty URI (settings.libvirt-uri may not be empty; --libvirt-uri "" or
# MIGBROKER_LIBVIRT_URI=""): no follower starts.
FPID3=$(follower_pid)
mb_stop_broker L
[ ! -e "/proc/$FPID3" ] || mb_fail "the follower (pid $FPID3) outlived the broker"
MB_BROKER_LIBVIRT_URI="" mb_start_broker L "$MB_TMP/policy.yaml"
sleep 0.5
[ -z "$(follower_pid)" ] || mb_fail "a follower runs with an empty URI"
mb_log "empty URI: no follower"
