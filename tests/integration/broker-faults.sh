#!/bin/sh
# Faults in one device's plugin do not disturb another device of the same
# broker. Device S streams a slow save into a file (testing.so, 8 MiB,
# save=slow:500, about 4 s) while device C's plugin crashes (set_state=segv)
# and device H's hangs (update_pending=hang, op-timeout-ms 2500):
#   - C's caller gets PluginCrashed naming SIGSEGV, H's gets Timeout; both go
#     to error and the State signals announce it (a hang in set_state, too,
#     is a Timeout);
#   - read-only calls (show, list) answer in under a second while H hangs;
#   - S's save completes and its bytes equal an undisturbed save of the same
#     content;
#   - no worker of C or H is left, Reset brings both back to running, and
#     the broker has no zombie children;
#   - a worker killed while idle (SIGSEGV) puts its device in error too.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

C=0000:3b:00.1     # crashes
H=0000:3b:00.2     # hangs
S=0000:3b:00.3     # streams
G=0000:3b:00.4     # hangs in set_state
U=$MB_UUID1

mb_start_bus A
for f in $C $H $S $G; do mb_fake_pci "$MB_TMP/sysfs-A" $f 0x1af4 0x1041; done
POLICY=$(MB_OP_TIMEOUT_MS=2500 mb_policy_head | mb_policy "$MB_TMP/etc/policy.yaml")
cat >>"$POLICY" <<EOP
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$C" }
    plugin: testing
    arg: "set_state=segv"
  - match: { bdf: "$H" }
    plugin: testing
    arg: "update_pending=hang"
  - match: { bdf: "$S" }
    plugin: testing
    arg: "save=slow:500,state-size=8M,seed=5"
  - match: { bdf: "$G" }
    plugin: testing
    arg: "set_state=hang"
EOP
mb_start_broker A "$POLICY"
BROKER=$(mb_broker_pid A)

for f in $C $H $S; do
        mb_expect A ok claim $f --owner $U
        mb_expect A ok open $f --owner $U
done
mb_expect_eq "workers" "$(mb_count_workers $BROKER)" 3

# worker_of BDF: the broker's worker children serving BDF.
worker_of() {
        local p
        for p in $(mb_workers $BROKER); do
                tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--bdf $1 " && echo "$p"
        done
}

# now_ms
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

mb_monitor_start A 1000 "$MB_TMP/monitor.json"

# --- S streams; C crashes and H hangs meanwhile -------------------------------------------
# Into standard output redirected to the file: written in place, so it grows
# while the save runs (save -o FILE renames FILE.partial-XXXXXX at the end).
mb_spawn save-S sh -c 'exec "$@" >"$0"' "$MB_TMP/disturbed" "$MB_CTL" --bus "$MB_BUS_A" save $S -o - --no-precopy
SAVE_PID=$MB_LAST_PID
i=0
until [ -s "$MB_TMP/disturbed" ]; do
        i=$((i + 1))
        [ "$i" -le 100 ] || mb_fail "the save of $S did not start"
        sleep 0.05
done

T0=$(now_ms)
mb_expect A PluginCrashed set-state $C stop
T1=$(now_ms)
mb_last_message | grep -q SIGSEGV || mb_fail "the crash message does not name SIGSEGV: $(mb_last_message)"
# Not after S's save: C's calls do not queue behind S's.
[ $((T1 - T0)) -lt 3000 ] || mb_fail "the crash took $((T1 - T0)) ms to report"
mb_expect_prop A $C State error
mb_expect_eq "workers of $C after the crash" "$(worker_of $C)" ""
kill -0 "$SAVE_PID" 2>/dev/null || mb_fail "the save of $S ended before the crash was reported: too fast to overlap"
mb_log "crash of $C reported in $((T1 - T0)) ms while $S streams"

mb_spawn set-H "$MB_CTL" --bus "$MB_BUS_A" --json set-state $H pre-copy
HANG_PID=$MB_LAST_PID
mb_wait_prop A $H State pre-copy 5  # set_state(3) went through; update_pending hangs now
kill -0 "$SAVE_PID" 2>/dev/null || mb_fail "the save of $S ended before the hang began: too fast to overlap"
for verb in "show $H" "show $S" "list"; do
        kill -0 "$HANG_PID" 2>/dev/null || mb_fail "the call to $H did not hang (or the checks were too slow)"
        T0=$(now_ms)
        mb_ctl A --json $verb >/dev/null || mb_fail "$verb failed while $H hangs"
        T1=$(now_ms)
        [ $((T1 - T0)) -lt 1000 ] || mb_fail "$verb took $((T1 - T0)) ms while $H hangs"
        mb_log "$verb answered in $((T1 - T0)) ms while $H hangs"
done
wait "$HANG_PID"
mb_expect_eq "set-state of the hanging device: exit status" "$?" 1
mb_expect_eq "error of the hanging device" "$(mb_json error <"$MB_TMP/set-H.log")" Timeout
mb_expect_prop A $H State error
mb_expect_eq "workers of $H after the timeout" "$(worker_of $H)" ""

wait "$SAVE_PID" || mb_fail "the save of $S failed: $(cat "$MB_TMP/save-S.log")"
mb_expect_prop A $S State stop-copy
mb_log "$S saved $(wc -c <"$MB_TMP/disturbed") bytes meanwhile"

# --- the same save, undisturbed: the same bytes -------------------------------------------
mb_expect A ok close $S --owner $U
mb_expect A ok open $S --owner $U
mb_expect A ok save $S -o "$MB_TMP/undisturbed" --no-precopy
mb_expect_eq "sha256 of the disturbed save" "$(mb_sha "$MB_TMP/disturbed")" "$(mb_sha "$MB_TMP/undisturbed")"

# --- a hang in set_state: Timeout too, not some other error -------------------------------
mb_expect A ok claim $G --owner $U
mb_expect A ok open $G --owner $U
mb_expect A Timeout set-state $G stop
mb_last_message | grep -q "SetState of $G did not complete within 2500 ms" ||
        mb_fail "unexpected message: $(mb_last_message)"
mb_expect_prop A $G State error
mb_expect_eq "workers of $G after the timeout" "$(worker_of $G)" ""
mb_expect A ok reset $G
mb_expect_prop A $G State running

# --- Reset after the crash ----------------------------------------------------------------
mb_expect A ok reset $C
mb_expect_prop A $C State running

# --- a worker that dies while idle: error too ---------------------------------------------
W=$(worker_of $C)
[ -n "$W" ] || mb_fail "$C has no worker after its Reset"
kill -SEGV "$W"
mb_wait_prop A $C State error 5
mb_expect_eq "workers of $C after its worker died" "$(worker_of $C)" ""
grep -q "$C: the plugin's worker (pid $W) ended: killed by signal SIGSEGV" "$MB_TMP/broker-A.log" ||
        mb_fail "the death of $C's idle worker is not logged"
mb_expect A ok reset $C
mb_expect_prop A $C State running

# --- announcements, recovery, no leftovers ------------------------------------------------
mb_expect A ok reset $H
mb_expect_prop A $H State running
mb_expect_eq "workers after the resets" "$(mb_count_workers $BROKER)" 4
sleep 0.3
kill "$MB_MONITOR_PID" 2>/dev/null
wait "$MB_MONITOR_PID" 2>/dev/null
"$MB_PYTHON" - "$MB_TMP/monitor.json" $C $H $S <<'EOF' || mb_fail "wrong State signals"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
c, h, s = sys.argv[2:]
def states(dev):
    return [e["State"] for e in events if e["bdf"] == dev and "State" in e]
want = {c: ["error", "running", "error", "running"], h: ["pre-copy", "error", "running"],
        s: ["stop-copy", "running", "running", "stop-copy"]}
for dev, w in want.items():
    if states(dev) != w:
        print("%s: State signals %s, expected %s" % (dev, states(dev), w), file=sys.stderr)
        sys.exit(1)
EOF

for f in $C $H $S $G; do mb_expect A ok release $f --owner $U; done
sleep 0.3
mb_expect_eq "workers at the end" "$(mb_count_workers $BROKER)" 0
mb_expect_eq "zombie children of the broker" "$(mb_zombies $BROKER)" ""
mb_log "PASS"
exit 0
