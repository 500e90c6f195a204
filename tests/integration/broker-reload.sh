#!/bin/sh
# Policy reloads and rescans on a running broker:
#   - a policy with a syntax error is refused by ReloadPolicy (PolicyInvalid,
#     FILE:LINE:COL in the message) and by SIGHUP; the old one keeps serving;
#   - a new device rule adds a device object (InterfacesAdded, Devices);
#   - removing rules removes an unclaimed device's object (InterfacesRemoved)
#     but keeps a claimed one (Managed false) until it is released;
#   - SIGHUP reloads;
#   - Rescan picks up a function added to sysfs that a vendor/device rule
#     matches;
#   - an open session keeps its plugin argument across a reload that changes
#     it, until Close (PluginArg signalled then).
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

D1=0000:3b:00.1
D2=0000:3b:00.2
D3=0000:3b:00.3    # gets a rule later
V1=0000:5e:00.0    # appears in sysfs later: 8086:1572, a vendor/device rule
U=$MB_UUID1
P2=$(mb_dev_path $D2)
POLICY=$MB_TMP/etc/policy.yaml
M=org.migbroker1.Manager

mb_start_bus A
for f in $D1 $D2 $D3; do mb_fake_pci "$MB_TMP/sysfs-A" $f 0x1af4 0x1041; done

# write_policy RULES...: each RULE is BDF=ARG, or "vendor" for the 8086:1572 rule.
write_policy() {
        {
                mb_policy_head
                printf 'plugins:\n  testing:\n    path: %s\ndevices:\n' "$MB_TESTING_SO"
                for rule in "$@"; do
                        case "$rule" in
                        vendor) printf '  - match: { vendor: 0x8086, device: 0x1572 }\n    plugin: testing\n' ;;
                        *) printf '  - match: { bdf: "%s" }\n    plugin: testing\n    arg: "%s"\n' "${rule%%=*}" "${rule#*=}" ;;
                        esac
                done
        } | mb_policy "$POLICY" >/dev/null
}

reload() { mb_raw_call A /org/migbroker1 $M ReloadPolicy; }

devices() { # the BDFs the broker lists
        mb_ctl A --json list | "$MB_PYTHON" -c 'import json, sys; print(" ".join(d["bdf"] for d in json.load(sys.stdin)))'
}

write_policy "$D1=seed=1" "$D2=seed=2" vendor
mb_start_broker A "$POLICY"
BROKER=$(mb_broker_pid A)
mb_expect_eq "devices at start" "$(devices)" "$D1 $D2"

# --- a broken policy is refused; the old one keeps serving --------------------------------
cp "$POLICY" "$MB_TMP/good.yaml"
cat >"$POLICY" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$D3" }
    plugin: [testing
EOP
mb_expect_eq "ReloadPolicy of a broken policy" "$(reload)" org.migbroker1.Error.PolicyInvalid
grep -qE "^$POLICY:[0-9]+:[0-9]+: error: " "$MB_TMP/raw.out" ||
        mb_fail "no FILE:LINE:COL in the message: $(cat "$MB_TMP/raw.out")"
LOC=$(sed -n "s|^$POLICY:\([0-9]*:[0-9]*\): error: .*|\1|p" "$MB_TMP/raw.out" | head -n 1)
case "$LOC" in
9:*|10:*) ;;
*) mb_fail "the error is reported at $LOC, not at the unclosed sequence (line 9)" ;;
esac
mb_log "refused: $(grep -m1 "^$POLICY:" "$MB_TMP/raw.out")"
kill -HUP "$BROKER"
sleep 0.3
grep -q "reload refused, the running policy stays" "$MB_TMP/broker-A.log" || mb_fail "SIGHUP did not refuse the broken policy"
kill -0 "$BROKER" || mb_fail "the broker died"
mb_expect_eq "devices after refused reloads" "$(devices)" "$D1 $D2"
mb_expect_prop A $D2 PluginArg seed=2
mb_expect A ok claim $D1 --owner $U
mb_expect A ok open $D1 --owner $U
mb_expect_prop A $D1 State running
mb_log "the old policy keeps serving"

# --- a new rule adds a device; removed rules remove unclaimed devices ---------------------
mb_monitor_start A 1000 "$MB_TMP/monitor.json"
write_policy "$D1=seed=1" "$D2=seed=2" "$D3=seed=3" vendor
mb_expect_eq "ReloadPolicy with a new rule" "$(reload)" ok
mb_expect_eq "devices after adding a rule" "$(devices)" "$D1 $D2 $D3"
mb_expect_prop A $D3 PluginArg seed=3
got=$(mb_busctl A get-property org.migbroker1 /org/migbroker1 $M Devices)
mb_expect_eq "Devices" "$got" "ao 3 \"$(mb_dev_path $D1)\" \"$(mb_dev_path $D2)\" \"$(mb_dev_path $D3)\""

mb_expect A ok claim $D2 --owner $U
write_policy vendor
mb_expect_eq "ReloadPolicy without the BDF rules" "$(reload)" ok
mb_expect_eq "devices after removing the rules" "$(devices)" "$D1 $D2"
mb_expect A NotManaged show $D3
mb_expect_prop A $D1 Managed false
mb_expect_prop A $D1 IsOpen true
mb_expect_prop A $D2 Managed false
mb_expect_prop A $D2 Owner $U
mb_expect A NotManaged claim $D3 --owner $U
mb_expect A ok release $D2 --owner $U
mb_expect_eq "devices after releasing $D2" "$(devices)" "$D1"
mb_expect A NotManaged show $D2
mb_expect_raw A org.freedesktop.DBus.Error.UnknownObject "$P2" org.freedesktop.DBus.Properties Get \
        s:org.migbroker1.Device s:State
mb_log "rules added and removed"

# --- SIGHUP reloads -----------------------------------------------------------------------
write_policy "$D1=seed=1" "$D2=seed=22" vendor
kill -HUP "$BROKER"
i=0
until [ "$(devices)" = "$D1 $D2" ]; do
        i=$((i + 1))
        [ "$i" -le 50 ] || mb_fail "SIGHUP did not reload: $(devices)"
        sleep 0.1
done
mb_expect_prop A $D2 PluginArg seed=22
mb_expect_prop A $D1 Managed true
mb_log "SIGHUP reloaded"

# --- Rescan finds a new function a vendor/device rule matches -----------------------------
mb_expect A NoSuchDevice show $V1
mb_fake_pci "$MB_TMP/sysfs-A" $V1 0x8086 0x1572
mb_expect A NotManaged show $V1
mb_expect_eq "Rescan" "$(mb_raw_call A /org/migbroker1 $M Rescan)" ok
mb_expect_prop A $V1 Plugin testing
mb_expect_prop A $V1 Rule "$POLICY:15"
mb_expect_eq "devices after Rescan" "$(devices)" "$D1 $D2 $V1"
mb_log "Rescan found $V1"

# --- an open session keeps its plugin argument until Close --------------------------------
mb_expect_prop A $D1 PluginArg seed=1
write_policy "$D1=seed=100" "$D2=seed=22" vendor
mb_expect_eq "ReloadPolicy changing $D1's arg" "$(reload)" ok
mb_expect_prop A $D1 PluginArg seed=1
mb_expect A ok set-state $D1 stop
mb_expect A ok set-state $D1 running
mb_expect_prop A $D1 PluginArg seed=1
mb_expect A ok close $D1 --owner $U
mb_expect_prop A $D1 PluginArg seed=100
mb_expect A ok open $D1 --owner $U
mb_expect_prop A $D1 PluginArg seed=100
mb_expect A ok release $D1 --owner $U

# --- the signals of all this --------------------------------------------------------------
sleep 0.3
kill "$MB_MONITOR_PID" 2>/dev/null
wait "$MB_MONITOR_PID" 2>/dev/null
"$MB_PYTHON" - "$MB_TMP/monitor.json" $D1 $D2 $D3 $V1 <<'EOF' || mb_fail "wrong InterfacesAdded/Removed signals"
import json, sys
d1, d2, d3, v1 = sys.argv[2:]
got = [(e["bdf"], e["Device"]) for e in map(json.loads, open(sys.argv[1])) if "Device" in e]
want = [(d3, "added"), (d3, "removed"), (d2, "removed"), (d2, "added"), (v1, "added")]
if got != want:
    print("got ", got, "\nwant", want, file=sys.stderr)
    sys.exit(1)
# D1's PluginArg as signalled: the session's (seed=1) while open, the new
# policy's (seed=100) from the Close on.
d1 = [(k, v) for e in map(json.loads, open(sys.argv[1])) if e["bdf"] == d1 for k, v in e.items()
      if k in ("PluginArg", "IsOpen")]
closed = d1.index(("IsOpen", False))
args = [v for k, v in d1 if k == "PluginArg"]
if "seed=100" not in args or [v for k, v in d1[:closed] if k == "PluginArg" and v != "seed=1"] or \
        d1[closed + 1:][:1] != [("PluginArg", "seed=100")]:
    print("PluginArg and IsOpen signals of the session:", d1, file=sys.stderr)
    sys.exit(1)
EOF
mb_log "PASS"
exit 0
