#!/bin/sh
# Streams between two brokers (two private buses, two simdev agents, 16 MiB
# functions): a framed and a raw save on A loaded on B arrive intact (the
# agents' SHA-256 digests match). Then damaged streams, made from the framed
# one with mb-stream-tool.py (docs/stream-format.md), and a stream of another
# plugin: each ends with StreamCorrupt, from LoadFrom or from leaving resuming
# as the format says, the device in error and never running (checked on its
# State signals too); Reset brings it back to running, and a good stream
# loads into it afterwards.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker "$MB_SIMAGENT" "$MB_SIMDEV_SO"

TOOL="$MB_PYTHON $MB_SRCDIR/tests/integration/mb-stream-tool.py"
F1=0000:3b:00.1
F2=0000:3b:00.2
F3=0000:3b:00.3
F4=0000:3b:00.4
T=0000:3c:00.0     # testing.so on A: a stream of another plugin
U=$MB_UUID1

mb_start_bus A
mb_start_bus B
mb_start_agent A --function $F1 --function $F2 --state-size 16M --seed 7 --dirty-rate 2M
mb_start_agent B --function $F1 --function $F2 --function $F3 --function $F4 --state-size 16M --empty
for f in $F1 $F2 $F3 $F4; do
        mb_fake_pci "$MB_TMP/sysfs-A" $f 0x1af4 0x1041
        mb_fake_pci "$MB_TMP/sysfs-B" $f 0x1af4 0x1041
done
mb_fake_pci "$MB_TMP/sysfs-A" $T 0x8086 0x1572
POLICY_A=$(mb_policy "$MB_TMP/etc-A/policy.yaml" <<EOP
$(mb_policy_head)
plugins:
  simdev:
    path: $MB_SIMDEV_SO
    arg: "$MB_AGENT_A"
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "0000:3b:00.*" }
    plugin: simdev
  - match: { bdf: "$T" }
    plugin: testing
    arg: "state-size=2M"
EOP
)
POLICY_B=$(mb_policy "$MB_TMP/etc-B/policy.yaml" <<EOP
$(mb_policy_head)
plugins:
  simdev:
    path: $MB_SIMDEV_SO
    arg: "$MB_AGENT_B"
devices:
  - match: { bdf: "0000:3b:00.*" }
    plugin: simdev
EOP
)
mb_start_broker A "$POLICY_A"
mb_start_broker B "$POLICY_B"
EMPTY=$(mb_hash "$MB_AGENT_PORT_B" $F1)

for f in $F1 $F2 $T; do
        mb_expect A ok claim $f --owner $U
        mb_expect A ok open $f --owner $U
done
for f in $F1 $F2 $F3 $F4; do
        mb_expect B ok preflight $f --owner $U
        mb_expect B ok claim $f --owner $U
        mb_expect B ok open $f --owner $U
        mb_expect_prop B $f State stop
done

# --- framed: A's F1 to B's F1 through a file ----------------------------------------------
mb_expect A ok save $F1 -o "$MB_TMP/framed"
mb_expect_prop A $F1 State stop-copy
$TOOL "$MB_TMP/framed" info >"$MB_TMP/framed.info" || mb_fail "the saved stream is not a valid framed stream"
grep -qx "plugin simdev" "$MB_TMP/framed.info" || mb_fail "wrong plugin in the header: $(cat "$MB_TMP/framed.info")"
grep -qx "bdf $F1" "$MB_TMP/framed.info" || mb_fail "wrong BDF in the header: $(cat "$MB_TMP/framed.info")"
RECORDS=$(sed -n 's/^records //p' "$MB_TMP/framed.info")
[ "$RECORDS" -ge 16 ] || mb_fail "16 MiB in $RECORDS records: expected at least 16 (1 MiB each)"
mb_expect B ok load $F1 -i "$MB_TMP/framed"
mb_expect_prop B $F1 State running
SRC1=$(mb_hash "$MB_AGENT_PORT_A" $F1)
DST1=$(mb_hash "$MB_AGENT_PORT_B" $F1)
mb_expect_eq "framed: destination digest" "$DST1" "$SRC1"
[ "$DST1" != "$EMPTY" ] || mb_fail "framed: the destination is still empty"
mb_log "framed: $RECORDS records, digests equal ($SRC1)"

# --- raw: A's F2 to B's F2 through a pipe -------------------------------------------------
( mb_ctl A save $F2 -o - --format raw; echo $? >"$MB_TMP/raw-save.rc" ) |
        tee "$MB_TMP/raw" | mb_ctl B load $F2 -i - --format raw || mb_fail "raw load failed"
mb_expect_eq "raw save" "$(cat "$MB_TMP/raw-save.rc")" 0
head -c 8 "$MB_TMP/raw" | grep -q MIGBRKR && mb_fail "the raw stream has the framed magic"
mb_expect_prop B $F2 State running
SRC2=$(mb_hash "$MB_AGENT_PORT_A" $F2)
mb_expect_eq "raw: destination digest" "$(mb_hash "$MB_AGENT_PORT_B" $F2)" "$SRC2"
[ "$SRC2" != "$SRC1" ] || mb_fail "F1 and F2 have the same content"
mb_log "raw: digests equal ($SRC2)"

# --- zero-copy (the default into a pipe): A's F1 again, its worker's pages straight into -----
# --- the pipe that B's worker reads; then the same with --no-zero-copy through tee(1) ----
PREV=$SRC1
for mode in zero-copy no-zero-copy; do
        mb_expect A ok set-state $F1 running
        mb_expect B ok set-state $F1 stop
        if [ $mode = zero-copy ]; then
                ( mb_ctl A save $F1 -o - --no-precopy; echo $? >"$MB_TMP/$mode-save.rc" ) |
                        mb_ctl B load $F1 -i - || mb_fail "$mode: load failed"
        else
                ( mb_ctl A save $F1 -o - --no-zero-copy --no-precopy; echo $? >"$MB_TMP/$mode-save.rc" ) |
                        tee "$MB_TMP/$mode" | mb_ctl B load $F1 -i - || mb_fail "$mode: load failed"
                $TOOL "$MB_TMP/$mode" info >/dev/null || mb_fail "$mode: not a valid framed stream"
        fi
        mb_expect_eq "$mode: save" "$(cat "$MB_TMP/$mode-save.rc")" 0
        mb_expect_prop B $F1 State running
        SRCZ=$(mb_hash "$MB_AGENT_PORT_A" $F1)
        mb_expect_eq "$mode: destination digest" "$(mb_hash "$MB_AGENT_PORT_B" $F1)" "$SRCZ"
        [ "$SRCZ" != "$PREV" ] || mb_fail "$mode: A's F1 did not change while it ran again"
        mb_log "$mode: digests equal ($SRCZ)"
        PREV=$SRCZ
done

# --- damaged streams ----------------------------------------------------------------------
MID=$((RECORDS / 2))
$TOOL "$MB_TMP/framed" "$MB_TMP/truncated" truncate-in $MID
$TOOL "$MB_TMP/framed" "$MB_TMP/no-end" truncate-before-end
$TOOL "$MB_TMP/framed" "$MB_TMP/flipped" flip $MID 4097 3
$TOOL "$MB_TMP/framed" "$MB_TMP/swapped" swap $MID $((MID + 1))
$TOOL "$MB_TMP/framed" "$MB_TMP/duplicated" dup $MID
$TOOL "$MB_TMP/framed" "$MB_TMP/oversize" oversize $MID 0x7fffffff
$TOOL "$MB_TMP/framed" "$MB_TMP/version" version 2
mb_expect A ok save $T -o "$MB_TMP/testing"
head -c $(( $(wc -c <"$MB_TMP/raw") / 3 )) "$MB_TMP/raw" >"$MB_TMP/raw-truncated"

# case NAME FILE FORMAT DEVICE WHERE MESSAGE: WHERE is "load" (LoadFrom refuses
# the stream) or "leave" (LoadFrom takes what there is; leaving resuming fails).
cat >"$MB_TMP/cases" <<EOC
truncated      truncated      framed $F3 leave incomplete
no-end-record  no-end         framed $F4 leave incomplete
flipped-bit    flipped        framed $F1 load  record $MID: CRC mismatch
swapped        swapped        framed $F2 load  record index $((MID + 1)) where $MID was expected (gap)
duplicated     duplicated     framed $F3 load  record index $MID where $((MID + 1)) was expected (duplicate or reordered)
oversize       oversize       framed $F4 load  record $MID: length 2147483647 exceeds the cap of 16777216 bytes
version        version        framed $F1 load  unsupported stream version 2
other-plugin   testing        framed $F2 load  stream from plugin 'testing', expected 'simdev'
raw-truncated  raw-truncated  raw    $F3 leave incomplete
EOC

mb_monitor_start B 1000 "$MB_TMP/monitor.json"
while read -r name file format dev where message; do
        mb_log "$name -> $dev"
        if [ "$where" = load ]; then
                mb_expect B StreamCorrupt load $dev -i "$MB_TMP/$file" --format $format --stay-resuming
                mb_last_message | grep -qF "$message" || mb_fail "$name: message '$(mb_last_message)' lacks '$message'"
                mb_expect_prop B $dev State error
                mb_expect B InvalidTransition set-state $dev running
        else
                mb_expect B ok load $dev -i "$MB_TMP/$file" --format $format --stay-resuming
                mb_expect_prop B $dev State resuming
                mb_expect B StreamCorrupt set-state $dev running
                mb_last_message | grep -qF "$message" || mb_fail "$name: message '$(mb_last_message)' lacks '$message'"
        fi
        mb_expect_prop B $dev State error
        mb_expect B ok reset $dev
        mb_expect_prop B $dev State running
done <"$MB_TMP/cases"

# A device that went through damaged streams takes a good one.
for dev in $F3 $F4; do
        mb_expect B ok load $dev -i "$MB_TMP/framed"
        mb_expect_eq "$dev: digest after a good load" "$(mb_hash "$MB_AGENT_PORT_B" $dev)" "$SRC1"
done

# The State signals of each damaged load: resuming, error, then running only
# after the Reset; the good loads end: resuming, running.
sleep 0.3
kill "$MB_MONITOR_PID" 2>/dev/null
wait "$MB_MONITOR_PID" 2>/dev/null
"$MB_PYTHON" - "$MB_TMP/monitor.json" "$MB_TMP/cases" $F1 $F2 $F3 $F4 <<'EOF' || mb_fail "wrong State signals"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
cases = [l.split() for l in open(sys.argv[2])]
for dev in sys.argv[3:]:
    got = [e["State"] for e in events if e["bdf"] == dev and "State" in e]
    want = ["resuming", "error", "running"] * sum(1 for c in cases if c[3] == dev)
    if dev in sys.argv[5:]:
        want += ["resuming", "running"]
    if got != want:
        print("%s: State signals %s, expected %s" % (dev, got, want), file=sys.stderr)
        sys.exit(1)
EOF

for f in $F1 $F2 $T; do mb_expect A ok release $f --owner $U; done
for f in $F1 $F2 $F3 $F4; do mb_expect B ok release $f --owner $U; done
mb_log "PASS"
exit 0
