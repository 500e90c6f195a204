#!/bin/sh
# Authorization: the broker runs as root; migbrokerctl and raw calls run as
# an unprivileged user (setpriv). Read-only calls (list, show, GetDevice,
# introspection, GetManagedObjects) work; every changing call (Claim,
# Release, Open, Close, SetState, Reset, RefreshPending, SaveTo, LoadFrom,
# ReloadPolicy, Rescan, Preflight) gets AccessDenied and changes nothing.
# A user in the policy's admin-group (created here, removed at exit) may
# change devices. Needs root, setpriv, groupadd and useradd (else 77).
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker
[ "$(id -u)" = 0 ] || mb_skip "not root"
for cmd in setpriv groupadd useradd userdel groupdel; do
        command -v $cmd >/dev/null 2>&1 || mb_skip "$cmd is missing"
done

D1=0000:3b:00.1    # claimed and open (by root)
D2=0000:3b:00.2    # unclaimed
D3=0000:3b:00.3    # appears in sysfs later; a vendor rule matches it
P1=$(mb_dev_path $D1)
P2=$(mb_dev_path $D2)
U1=$MB_UUID1
U2=$MB_UUID2
NOBODY=$(mb_worker_user)
NOGROUP=$(id -g "$NOBODY")
ADMIN_GROUP=mbtadm$$
ADMIN_USER=mbtusr$$

auth_cleanup() {
        userdel "$ADMIN_USER" 2>/dev/null
        groupdel "$ADMIN_GROUP" 2>/dev/null
        return 0
}
trap 'mb_cleanup; auth_cleanup' EXIT
groupadd "$ADMIN_GROUP" || mb_skip "groupadd failed"
useradd -M -N -g "$NOGROUP" -G "$ADMIN_GROUP" -s /usr/sbin/nologin "$ADMIN_USER" || mb_skip "useradd failed"

# The unprivileged users reach the bus socket and the files under $MB_TMP.
chmod 755 "$MB_TMP"
mkdir -m 1777 "$MB_TMP/pub"
echo "not a stream" >"$MB_TMP/pub/input"
chmod 644 "$MB_TMP/pub/input"

mb_start_bus A
mb_fake_pci "$MB_TMP/sysfs-A" $D1 0x1af4 0x1041
mb_fake_pci "$MB_TMP/sysfs-A" $D2 0x1af4 0x1041
write_policy() { # D2's ARG
        mb_policy "$MB_TMP/etc/policy.yaml" >/dev/null <<EOP
$(mb_policy_head)
  admin-group: $ADMIN_GROUP
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$D1" }
    plugin: testing
  - match: { bdf: "$D2" }
    plugin: testing
    arg: "$1"
  - match: { vendor: 0x8086, device: 0x1572 }
    plugin: testing
EOP
}
write_policy "seed=1"
mb_start_broker A "$MB_TMP/etc/policy.yaml"
BROKER=$(mb_broker_pid A)
mb_expect A ok claim $D1 --owner $U1
mb_expect A ok open $D1 --owner $U1
W1=$(mb_workers $BROKER)

as() { # USER CMD...: run CMD as USER (its primary group nogroup, no others)
        local user=$1
        shift
        setpriv --reuid="$user" --regid="$NOGROUP" --clear-groups "$@"
}

# expect_as USER WANT CTL-ARGS...: migbrokerctl --json as USER.
expect_as() {
        local user=$1 want=$2 got
        shift 2
        as "$user" "$MB_CTL" --bus "$MB_BUS_A" --json "$@" >"$MB_TMP/as.out" 2>&1
        if grep -q '"error"' "$MB_TMP/as.out"; then
                got=$(mb_json error <"$MB_TMP/as.out")
        elif [ -s "$MB_TMP/as.out" ] && ! grep -q '"error"' "$MB_TMP/as.out"; then
                got=ok
        fi
        [ "$got" = "$want" ] || { cat "$MB_TMP/as.out" >&2; mb_fail "as $user: migbrokerctl $*: got '$got', expected '$want'"; }
}

# raw_as USER WANT PATH INTERFACE METHOD ARGS...: mb-bus-call as USER.
raw_as() {
        local user=$1 want=$2 got
        shift 2
        as "$user" "$MB_BUS_CALL" "$MB_BUS_A" "$@" >"$MB_TMP/raw.out" 2>&1
        got=$(head -n 1 "$MB_TMP/raw.out")
        [ "$got" = "$want" ] || { cat "$MB_TMP/raw.out" >&2; mb_fail "as $user: $3 $4: got '$got', expected '$want'"; }
}

snapshot() { # the properties that must not change
        for d in $D1 $D2; do
                mb_ctl A --json show $d | grep -E '"(State|Owner|IsOpen|IncomingOwner|PluginArg|PendingBytes)"'
        done
        mb_workers $BROKER
        mb_busctl A get-property org.migbroker1 /org/migbroker1 org.migbroker1.Manager Devices
}

# --- read-only calls work unprivileged ----------------------------------------------------
expect_as "$NOBODY" ok list
expect_as "$NOBODY" ok show $D1
grep -q "\"Owner\" : \"$U1\"" "$MB_TMP/as.out" || mb_fail "show as $NOBODY: $(cat "$MB_TMP/as.out")"
raw_as "$NOBODY" ok /org/migbroker1 org.migbroker1.Manager GetDevice s:$D2
mb_expect_eq "GetDevice as $NOBODY" "$(sed -n 2p "$MB_TMP/raw.out")" "$P2"
raw_as "$NOBODY" org.migbroker1.Error.NoSuchDevice /org/migbroker1 org.migbroker1.Manager GetDevice s:0000:3b:00.6
raw_as "$NOBODY" ok /org/migbroker1 org.freedesktop.DBus.ObjectManager GetManagedObjects
raw_as "$NOBODY" ok "$P1" org.freedesktop.DBus.Properties Get s:org.migbroker1.Device s:State
mb_expect_eq "State as $NOBODY" "$(sed -n 2p "$MB_TMP/raw.out")" running
as "$NOBODY" busctl --address="$MB_BUS_A" introspect --xml-interface org.migbroker1 "$P1" >"$MB_TMP/intro.xml" ||
        mb_fail "introspection as $NOBODY failed"
grep -q 'interface name="org.migbroker1.Device"' "$MB_TMP/intro.xml" || mb_fail "introspection as $NOBODY is empty"
mb_log "read-only calls work as $NOBODY"

# --- every changing call is refused, and changes nothing ----------------------------------
# Pending changes that a refused ReloadPolicy or Rescan would reveal.
write_policy "seed=2"
mb_fake_pci "$MB_TMP/sysfs-A" $D3 0x8086 0x1572
snapshot >"$MB_TMP/before"
D=org.migbroker1.Device
M=org.migbroker1.Manager
DENIED=org.migbroker1.Error.AccessDenied
expect_as "$NOBODY" AccessDenied claim $D2 --owner $U2
expect_as "$NOBODY" AccessDenied claim $D1 --owner $U1
expect_as "$NOBODY" AccessDenied release $D1 --owner $U1
expect_as "$NOBODY" AccessDenied open $D1 --owner $U1
expect_as "$NOBODY" AccessDenied close $D1 --owner $U1
expect_as "$NOBODY" AccessDenied set-state $D1 stop
expect_as "$NOBODY" AccessDenied reset $D1
expect_as "$NOBODY" AccessDenied preflight $D2 --owner $U2
raw_as "$NOBODY" $DENIED "$P2" $D Claim s:$U2
raw_as "$NOBODY" $DENIED "$P1" $D Release s:$U1
raw_as "$NOBODY" $DENIED "$P1" $D Open s:$U1 a{sv}:
raw_as "$NOBODY" $DENIED "$P1" $D Close s:$U1
raw_as "$NOBODY" $DENIED "$P1" $D SetState s:stop
raw_as "$NOBODY" $DENIED "$P1" $D Reset
raw_as "$NOBODY" $DENIED "$P1" $D RefreshPending
raw_as "$NOBODY" $DENIED "$P1" $D SaveTo "h>$MB_TMP/pub/output" a{sv}:
raw_as "$NOBODY" $DENIED "$P1" $D LoadFrom "h<$MB_TMP/pub/input" a{sv}:
raw_as "$NOBODY" $DENIED "$P2" $D Preflight s:$U2
raw_as "$NOBODY" $DENIED /org/migbroker1 $M ReloadPolicy
raw_as "$NOBODY" $DENIED /org/migbroker1 $M Rescan
grep -q "uid $(id -u "$NOBODY") may not call Rescan" "$MB_TMP/raw.out" || mb_fail "no reason: $(cat "$MB_TMP/raw.out")"
[ -s "$MB_TMP/pub/output" ] && mb_fail "a refused SaveTo wrote to its fd"
snapshot >"$MB_TMP/after"
diff "$MB_TMP/before" "$MB_TMP/after" >&2 || mb_fail "refused calls changed something"
mb_expect A NotManaged show $D3
mb_log "every changing call refused as $NOBODY, nothing changed"

# --- a member of the admin group may change devices ---------------------------------------
expect_as "$ADMIN_USER" ok claim $D2 --owner $U2
mb_expect_prop A $D2 Owner $U2
expect_as "$ADMIN_USER" ok open $D2 --owner $U2
expect_as "$ADMIN_USER" ok set-state $D2 stop
mb_expect_prop A $D2 State stop
raw_as "$ADMIN_USER" ok /org/migbroker1 $M Rescan
mb_expect_prop A $D3 Plugin testing
expect_as "$ADMIN_USER" ok release $D2 --owner $U2
raw_as "$ADMIN_USER" ok /org/migbroker1 $M ReloadPolicy
mb_expect_prop A $D2 PluginArg seed=2
# ... and nobody still may not.
expect_as "$NOBODY" AccessDenied claim $D2 --owner $U2

mb_expect A ok release $D1 --owner $U1
mb_log "PASS"
exit 0
