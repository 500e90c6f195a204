#!/bin/sh
# The broker's basic D-Bus surface on a private bus, with testing.so devices:
# list/show, GetDevice's errors, Claim/Busy/no-op/NotClaimed, Open/Close/
# Release (Release closes an open device), Preflight then Open starts in stop,
# argument checks (owner not a UUID, unknown Open option), ObjectManager,
# the Devices property, and the PropertiesChanged of State/Owner/PendingBytes
# (and IsOpen/Capabilities) in the order things happen.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

D1=0000:3b:00.1    # testing.so, exact rule, 1 MiB of state
D2=0000:3b:00.2    # testing.so, exact rule
D7=0000:3b:00.7    # in sysfs, no rule binds it
ABSENT=0000:3b:00.5
U1=$MB_UUID1
U2=$MB_UUID2
P1=$(mb_dev_path $D1)
P2=$(mb_dev_path $D2)

mb_start_bus A
mb_fake_pci "$MB_TMP/sysfs-A" $D1 0x1af4 0x1041
mb_fake_pci "$MB_TMP/sysfs-A" $D2 0x1af4 0x1041
mb_fake_pci "$MB_TMP/sysfs-A" $D7 0x8086 0x1572
POLICY=$(mb_policy "$MB_TMP/etc/policy.yaml" <<EOP
$(mb_policy_head)
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$D1" }
    plugin: testing
    arg: "state-size=1M,seed=1"
  - match: { bdf: "$D2" }
    plugin: testing
    arg: "state-size=1M,seed=2"
EOP
)
mb_start_broker A "$POLICY"
BROKER=$(mb_broker_pid A)

# --- list / show --------------------------------------------------------------------------
mb_ctl A --json list >"$MB_TMP/list.json" || mb_fail "list failed"
"$MB_PYTHON" - "$MB_TMP/list.json" "$D1" "$P1" "$D2" "$P2" "$POLICY" <<'EOF' || mb_fail "list --json is wrong"
import json, sys
l = json.load(open(sys.argv[1]))
_, _, d1, p1, d2, p2, policy = sys.argv
want = [
    {"bdf": d1, "plugin": "testing", "state": "running", "owner": "", "rule": policy + ":9", "path": p1},
    {"bdf": d2, "plugin": "testing", "state": "running", "owner": "", "rule": policy + ":12", "path": p2},
]
if l != want:
    print("got ", l, "\nwant", want, file=sys.stderr)
    sys.exit(1)
EOF
mb_ctl A --json show $D1 >"$MB_TMP/show.json" || mb_fail "show failed"
"$MB_PYTHON" - "$MB_TMP/show.json" "$D1" "$POLICY" <<'EOF' || mb_fail "show --json is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
want = {"Bdf": sys.argv[2], "Plugin": "testing", "PluginArg": "state-size=1M,seed=1", "Rule": sys.argv[3] + ":9",
        "State": "running", "Owner": "", "PendingBytes": 0, "Capabilities": [], "IsOpen": False,
        "IncomingOwner": "", "Managed": True, "VmstateId": ""}
if d != want:
    print("got ", d, "\nwant", want, file=sys.stderr)
    sys.exit(1)
EOF
mb_log "list and show ok"

# --- GetDevice ----------------------------------------------------------------------------
got=$(mb_busctl A call org.migbroker1 /org/migbroker1 org.migbroker1.Manager GetDevice s $D1)
mb_expect_eq "GetDevice $D1" "$got" "o \"$P1\""
got=$(mb_busctl A call org.migbroker1 /org/migbroker1 org.migbroker1.Manager GetDevice s 0000:3B:00.1)
mb_expect_eq "GetDevice with upper-case hex" "$got" "o \"$P1\""
mb_expect A NoSuchDevice show $ABSENT
mb_expect A NotManaged show $D7
mb_expect A InvalidArgs show 0000:3b:00
mb_expect A InvalidArgs show 0000:3b:00.8
mb_expect A InvalidArgs show not-a-bdf
mb_expect_raw A org.migbroker1.Error.NoSuchDevice /org/migbroker1 org.migbroker1.Manager GetDevice s:$ABSENT
mb_expect_raw A org.migbroker1.Error.NotManaged /org/migbroker1 org.migbroker1.Manager GetDevice s:$D7
mb_expect_raw A org.freedesktop.DBus.Error.InvalidArgs /org/migbroker1 org.migbroker1.Manager GetDevice s:0000:3b:00
mb_expect_raw A org.freedesktop.DBus.Error.InvalidArgs /org/migbroker1 org.migbroker1.Manager GetDevice s:
mb_log "GetDevice errors ok"

# --- ObjectManager, Devices ---------------------------------------------------------------
mb_busctl A --json=short call org.migbroker1 /org/migbroker1 org.freedesktop.DBus.ObjectManager GetManagedObjects \
        >"$MB_TMP/objects.json" || mb_fail "GetManagedObjects failed"
"$MB_PYTHON" - "$MB_TMP/objects.json" "$P1" "$D1" "$P2" "$D2" <<'EOF' || mb_fail "GetManagedObjects is wrong"
import json, sys
objs = json.load(open(sys.argv[1]))["data"][0]
_, _, p1, d1, p2, d2 = sys.argv
if sorted(objs) != sorted([p1, p2]):
    sys.exit("objects: %s" % sorted(objs))
for p, bdf in ((p1, d1), (p2, d2)):
    props = objs[p]["org.migbroker1.Device"]
    if props["Bdf"]["data"] != bdf or props["State"]["data"] != "running" or props["Plugin"]["data"] != "testing":
        sys.exit("%s: %s" % (p, props))
EOF
got=$(mb_busctl A get-property org.migbroker1 /org/migbroker1 org.migbroker1.Manager Devices)
mb_expect_eq "Devices" "$got" "ao 2 \"$P1\" \"$P2\""
got=$(mb_busctl A get-property org.migbroker1 /org/migbroker1 org.migbroker1.Manager PolicyFiles)
mb_expect_eq "PolicyFiles" "$got" "as 1 \"$POLICY\""
mb_log "ObjectManager and Devices ok"

# --- argument checks ----------------------------------------------------------------------
mb_expect A InvalidArgs claim $D1 --owner not-a-uuid
mb_expect A InvalidArgs claim $D1 --owner 6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e4
mb_expect A InvalidArgs claim $D1 --owner 6f1c9a52x1d1e-4c5b-9b0e-3f6a2d7c8e41
mb_expect_raw A org.freedesktop.DBus.Error.InvalidArgs "$P1" org.migbroker1.Device Claim s:not-a-uuid
mb_expect A InvalidArgs set-state $D1 sideways
mb_expect_prop A $D1 Owner ""

# --- Claim / Busy / no-op / NotClaimed ----------------------------------------------------
mb_expect A ok claim $D1 --owner $U1
mb_expect_prop A $D1 Owner $U1
mb_expect A Busy claim $D1 --owner $U2
mb_expect_raw A org.migbroker1.Error.Busy "$P1" org.migbroker1.Device Claim s:$U2
mb_expect_prop A $D1 Owner $U1
mb_expect A ok claim $D1 --owner $U1
UPPER=$(echo $U1 | tr a-f A-F)
mb_expect A ok claim $D1 --owner "$UPPER"   # owners are compared normalised
mb_expect_prop A $D1 Owner $U1
mb_expect A NotClaimed release $D1 --owner $U2
mb_expect A NotClaimed open $D1 --owner $U2
mb_expect A NotClaimed close $D1 --owner $U2
mb_expect A NotClaimed open $D2 --owner $U1
mb_expect A NotClaimed release $D2 --owner $U1
mb_expect_raw A org.migbroker1.Error.NotClaimed "$P2" org.migbroker1.Device Release s:$U1
mb_expect_prop A $D1 Owner $U1
mb_expect_prop A $D2 Owner ""
mb_log "claims ok"

# --- Open / Close / Release ---------------------------------------------------------------
mb_expect A NotOpen set-state $D1 stop
mb_expect A NotOpen reset $D1
mb_expect_eq "workers before Open" "$(mb_count_workers $BROKER)" 0
mb_expect_raw A org.freedesktop.DBus.Error.InvalidArgs "$P1" org.migbroker1.Device Open s:$U1 a{sv}:bogus=s:x
grep -qx "unknown option 'bogus'" "$MB_TMP/raw.out" || mb_fail "Open with an unknown option: $(cat "$MB_TMP/raw.out")"
mb_expect_prop A $D1 IsOpen false
mb_expect_eq "workers after a refused Open" "$(mb_count_workers $BROKER)" 0
mb_expect_raw A org.freedesktop.DBus.Error.InvalidArgs "$P1" org.migbroker1.Device Open s:not-a-uuid a{sv}:
mb_expect A ok open $D1 --owner $U1
mb_expect_prop A $D1 IsOpen true
mb_expect_prop A $D1 State running
mb_expect_prop A $D1 Capabilities pre-copy
mb_expect_eq "workers after Open" "$(mb_count_workers $BROKER)" 1
W1=$(mb_workers $BROKER)
mb_expect A ok open $D1 --owner $U1          # open again: a no-op
mb_expect_eq "worker after a second Open" "$(mb_workers $BROKER)" "$W1"
mb_expect_eq "worker user" "$(ps -o user= -p "$W1" | tr -d ' ')" "$(mb_worker_user)"
mb_expect A ok set-state $D1 stop
mb_expect_prop A $D1 State stop
mb_expect A ok close $D1 --owner $U1
mb_expect_prop A $D1 IsOpen false
mb_expect_prop A $D1 State running
mb_expect_prop A $D1 Owner $U1
mb_expect_prop A $D1 Capabilities ""
mb_expect A NotOpen set-state $D1 stop
mb_expect A ok close $D1 --owner $U1          # closing a closed device: a no-op
sleep 0.2
mb_expect_eq "workers after Close" "$(mb_count_workers $BROKER)" 0
mb_expect A ok open $D1 --owner $U1
mb_expect_prop A $D1 State running
mb_expect A ok release $D1 --owner $U1        # releases an open device: closes it first
mb_expect_prop A $D1 IsOpen false
mb_expect_prop A $D1 Owner ""
mb_expect_prop A $D1 State running
sleep 0.2
mb_expect_eq "workers after Release" "$(mb_count_workers $BROKER)" 0
mb_expect A NotClaimed release $D1 --owner $U1
mb_log "open, close, release ok"

# --- Preflight then Open starts in stop ---------------------------------------------------
mb_expect A ok preflight $D2 --owner $U2
mb_expect_prop A $D2 IncomingOwner $U2
mb_expect_prop A $D2 Owner ""
mb_expect A ok claim $D2 --owner $U2
mb_expect A ok open $D2 --owner $U2
mb_expect_prop A $D2 State stop
mb_expect_prop A $D2 IsOpen true
# The mark stays while the device waits for its state (a restarted broker
# re-opens it in stop), and goes once it runs.
mb_expect_prop A $D2 IncomingOwner $U2
mb_expect A Busy preflight $D2 --owner $U1     # claimed by another owner
mb_expect A ok release $D2 --owner $U2
mb_expect_prop A $D2 State running
# A preflight mark of one owner does not make another owner's Open start in stop.
mb_expect A ok preflight $D2 --owner $U1
mb_expect A ok claim $D2 --owner $U2
mb_expect_prop A $D2 IncomingOwner ""
mb_expect A ok open $D2 --owner $U2
mb_expect_prop A $D2 State running
mb_expect A ok release $D2 --owner $U2
mb_log "preflight ok"

# --- PropertiesChanged of Owner, State, PendingBytes, IsOpen, Capabilities ----------------
mb_monitor_start A 11 "$MB_TMP/monitor.json"
mb_expect A ok claim $D1 --owner $U1
mb_expect A ok open $D1 --owner $U1
mb_expect A ok set-state $D1 pre-copy
mb_expect A ok set-state $D1 running
mb_expect A ok release $D1 --owner $U1
mb_monitor_wait 10 || mb_fail "the monitor did not see 11 events: $(cat "$MB_TMP/monitor.json")"
"$MB_PYTHON" - "$MB_TMP/monitor.json" "$D1" "$U1" <<'EOF' || mb_fail "wrong PropertiesChanged sequence"
import json, sys
bdf, owner = sys.argv[2], sys.argv[3]
got = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert e.pop("bdf") == bdf, e
    e.pop("time")
    got.append(tuple(e.items())[0])
# PendingBytes after entering pre-copy: what update_pending reported (1 MiB of
# state plus the testing stream's framing), then 0 when the session ends.
# Capabilities (the session's) come and go with the session.
pending = [v for k, v in got if k == "PendingBytes"]
want = [("Owner", owner), ("IsOpen", True), ("Capabilities", ["pre-copy"]), ("State", "running"),
        ("State", "pre-copy"), ("PendingBytes", pending[0] if pending else "?"), ("State", "running"),
        ("PendingBytes", 0), ("Capabilities", []), ("IsOpen", False), ("Owner", "")]
if got != want or int(pending[0]) < 1048576:
    print("got ", got, "\nwant", want, file=sys.stderr)
    sys.exit(1)
EOF
mb_log "PropertiesChanged ok"

# --- a domain's bus: stopped by the last release without waiting; a claim
# right after gets a new, working bus (the old daemon, if still stopping, is
# killed first so that it cannot remove the new socket) -------------------------
DOMBUS="$MB_TMP/run-A/domain/$U1/bus"
for i in 1 2 3; do
        mb_expect A ok claim $D1 --owner $U1
        [ -S "$DOMBUS" ] || mb_fail "round $i: no bus for domain $U1"
        OLD=$(cat "$MB_TMP/run-A/domain/$U1/pid")
        mb_expect A ok release $D1 --owner $U1
        mb_expect A ok claim $D1 --owner $U1
        NEW=$(cat "$MB_TMP/run-A/domain/$U1/pid")
        [ "$NEW" != "$OLD" ] || mb_fail "round $i: the bus was not restarted"
        busctl --address="unix:path=$DOMBUS" list >/dev/null 2>&1 ||
                mb_fail "round $i: the new bus does not answer"
        mb_expect A ok release $D1 --owner $U1
done
for _ in $(seq 50); do
        [ "$(grep -c "domain $U1: bus stopped" "$MB_TMP/broker-A.log")" -ge 6 ] && break
        sleep 0.1
done
[ ! -e "$MB_TMP/run-A/domain/$U1" ] || mb_fail "the domain's directory survived its last release"
mb_log "domain bus: release does not wait for the daemon; an immediate claim gets a new bus"

mb_expect_eq "zombies" "$(mb_zombies $BROKER)" ""
mb_log "PASS"
exit 0
