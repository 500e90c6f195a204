#!/bin/bash
# What goes wrong around a save, outside the plugin:
#   1. the reader of SaveTo goes away: a pipe whose read end is closed before
#      the call, then `migbrokerctl save -o - | head -c 64K`. The caller gets
#      System.Error.EPIPE (the reader of the stream went away ...), the
#      device stays in stop-copy with its save session over
#      (InvalidTransition for another SaveTo), the worker survives, and a new
#      session (running, then save) gives the same bytes as before;
#   2. a full target: `migbrokerctl save -o /dev/full`, and a 1 MiB tmpfs
#      (when this machine lets the test mount one): exit status 1, "no space
#      left on the target", the same sane state afterwards;
#   3. the caller killed mid-call: migbrokerctl save SIGKILLed while its
#      (slow) SaveTo runs into a file; a SetState caller SIGKILLed while a
#      slow set_state() runs. The broker finishes the op anyway (the save
#      writes the whole stream into the file, the state is reached), and the
#      next calls work;
#   4. the broker SIGKILLed while a device streams a save (broker-restart.sh
#      covers SIGKILL with an idle and a hung worker): the worker dies with
#      it, the save's caller gets an error instead of hanging, the partial
#      file does not load (StreamCorrupt); a new broker restores the claim and
#      the session, re-adopts the domain's private bus (same dbus-daemon, the
#      device's dbus-vmstate helper queued on it again) and saves the same
#      bytes as before.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

D=0000:3b:00.1     # 4 MiB, save() 150 ms per MiB: a save takes ~0.6 s
E=0000:3b:00.2     # set_state() takes 800 ms
L=0000:3b:00.3     # loads the partial stream
U=$MB_UUID1

mb_start_bus A
for f in $D $E $L; do mb_fake_pci "$MB_TMP/sysfs-A" $f 0x1af4 0x1041; done
POLICY=$(MB_OP_TIMEOUT_MS=2000 mb_policy_head | mb_policy "$MB_TMP/etc/policy.yaml")
cat >>"$POLICY" <<EOP
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$D" }
    plugin: testing
    arg: "save=slow:150,state-size=4M,seed=7"
  - match: { bdf: "$E" }
    plugin: testing
    arg: "set_state=slow:800"
  - match: { bdf: "$L" }
    plugin: testing
    arg: "state-size=4M,empty"
EOP
mb_start_broker A "$POLICY"
BROKER=$(mb_broker_pid A)
PD=$(mb_dev_path $D)
DEV=org.migbroker1.Device

for f in $D $E $L; do mb_expect A ok claim $f --owner $U; done
mb_expect_raw A ok "$PD" $DEV Open s:$U a{sv}:vmstate-id=s:mb-nic0
for f in $E $L; do mb_expect A ok open $f --owner $U; done

# worker_of BDF: the broker's worker serving BDF.
worker_of() {
        local p
        for p in $(mb_workers "$(mb_broker_pid A)"); do
                tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--bdf $1 " && echo "$p"
        done
}

# running PID: alive and not a zombie (an orphan's zombie waits for pid 1).
running() {
        [ -r "/proc/$1/stat" ] || return 1
        case "$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)" in Z | X) return 1 ;; esac
        return 0
}

# fresh_save FILE: from any saving state or running, a whole new save of D.
fresh_save() {
        mb_expect A ok set-state $D running
        mb_expect A ok save $D -o "$1" --no-precopy --no-progress
}

# same_as_ref FILE WHAT
same_as_ref() { mb_expect_eq "$2: sha256" "$(mb_sha "$1")" "$REF"; }

mb_expect A ok save $D -o "$MB_TMP/ref" --no-precopy --no-progress
REF=$(mb_sha "$MB_TMP/ref")
WD=$(worker_of $D)
mb_log "reference save of $D: $(wc -c <"$MB_TMP/ref") bytes; worker $WD"

# --- 1. the reader goes away ----------------------------------------------------------------
mb_expect A ok set-state $D running
mb_expect A ok set-state $D stop-copy
mb_expect_raw A System.Error.EPIPE "$PD" $DEV SaveTo h:pipe-broken a{sv}:
grep -q "the reader of the stream went away while writing the stream header" "$MB_TMP/raw.out" ||
        mb_fail "EPIPE message: $(cat "$MB_TMP/raw.out")"
mb_expect_prop A $D State stop-copy
mb_expect_raw A org.migbroker1.Error.InvalidTransition "$PD" $DEV SaveTo "h>$MB_TMP/after-epipe" a{sv}:
grep -q "the save session has ended" "$MB_TMP/raw.out" || mb_fail "after EPIPE: $(cat "$MB_TMP/raw.out")"
mb_expect_eq "worker of $D after EPIPE" "$(worker_of $D)" "$WD"
fresh_save "$MB_TMP/after-epipe"
same_as_ref "$MB_TMP/after-epipe" "a save after EPIPE"
mb_log "a closed pipe: System.Error.EPIPE, $D kept stop-copy and its worker, the next session saves the same bytes"

mb_expect A ok set-state $D running
"$MB_CTL" --bus "$MB_BUS_A" save $D -o - --no-precopy 2>"$MB_TMP/head.err" | head -c 65536 >"$MB_TMP/head.out"
rc=${PIPESTATUS[0]}
mb_expect_eq "migbrokerctl save | head: exit status" "$rc" 1
grep -q "the reader of the stream went away while writing the stream" "$MB_TMP/head.err" ||
        mb_fail "save | head: $(cat "$MB_TMP/head.err")"
mb_expect_eq "bytes head read" "$(wc -c <"$MB_TMP/head.out")" 65536
mb_expect_prop A $D State stop-copy
mb_expect_eq "worker of $D after a reader closed mid-stream" "$(worker_of $D)" "$WD"
fresh_save "$MB_TMP/after-head"
same_as_ref "$MB_TMP/after-head" "a save after a reader closed mid-stream"
mb_log "a reader closing mid-stream: $(sed -n 1p "$MB_TMP/head.err")"

# --- 2. a full target -------------------------------------------------------------------------
# full_target FILE WHAT
full_target() {
        mb_expect A ok set-state $D running
                "$MB_CTL" --bus "$MB_BUS_A" save $D -o "$1" --no-precopy --no-progress >"$MB_TMP/full.out" 2>&1
        rc=$?
                mb_expect_eq "save -o $1: exit status" "$rc" 1
        grep -q "no space left on the target" "$MB_TMP/full.out" || mb_fail "save -o $1: $(cat "$MB_TMP/full.out")"
        mb_expect_prop A $D State stop-copy
        mb_expect_eq "worker of $D after $2" "$(worker_of $D)" "$WD"
        fresh_save "$MB_TMP/after-full"
        same_as_ref "$MB_TMP/after-full" "a save after $2"
        mb_log "$2: $(tail -n 1 "$MB_TMP/full.out")"
}
full_target /dev/full "/dev/full"
mkdir "$MB_TMP/small"
if mount -t tmpfs -o size=1m mb-test "$MB_TMP/small" 2>/dev/null; then
        trap 'umount "$MB_TMP/small" 2>/dev/null; mb_cleanup' EXIT
        # A failed save -o FILE leaves FILE as it was, and no partial stream.
        echo "an earlier stream" >"$MB_TMP/small/stream"
        full_target "$MB_TMP/small/stream" "a 1 MiB tmpfs"
        mb_expect_eq "files on the tmpfs after the failed save" "$(ls -A "$MB_TMP/small")" stream
        mb_expect_eq "the earlier file after the failed save" "$(cat "$MB_TMP/small/stream")" "an earlier stream"
        umount "$MB_TMP/small"
else
        mb_log "cannot mount a tmpfs here: only /dev/full checked"
fi

# --- 3. the caller killed mid-call ------------------------------------------------------------
mb_expect A ok set-state $D running
# The stream goes to standard output redirected into the file, so it is
# written in place (save -o FILE writes FILE.partial-XXXXXX, renamed at the end).
mb_spawn killed-save sh -c 'exec "$@" >"$0"' "$MB_TMP/orphaned" \
        "$MB_CTL" --bus "$MB_BUS_A" save $D -o - --no-precopy --no-progress
KPID=$MB_LAST_PID
i=0
until [ -s "$MB_TMP/orphaned" ]; do
        i=$((i + 1))
        [ "$i" -le 200 ] || mb_fail "the save to be killed did not start"
        sleep 0.02
done
kill -KILL $KPID
wait $KPID 2>/dev/null
# The worker holds the file: it writes the whole stream and the session ends.
i=0
until [ "$(mb_sha "$MB_TMP/orphaned")" = "$REF" ]; do
        i=$((i + 1))
        [ "$i" -le 100 ] || mb_fail "the stream of a killed caller's save did not complete"
        sleep 0.05
done
mb_wait_prop A $D State stop-copy 5
mb_expect_raw A org.migbroker1.Error.InvalidTransition "$PD" $DEV SaveTo "h>$MB_TMP/x" a{sv}:
fresh_save "$MB_TMP/after-kill"
same_as_ref "$MB_TMP/after-kill" "a save after its caller was killed"
mb_expect_eq "worker of $D after its caller was killed" "$(worker_of $D)" "$WD"
mb_log "SaveTo caller killed mid-call: the stream completed in its file, the session ended, the next save is the same"

mb_spawn killed-set "$MB_BUS_CALL" "$MB_BUS_A" "$(mb_dev_path $E)" $DEV SetState s:stop
KPID=$MB_LAST_PID
sleep 0.3
kill -KILL $KPID
wait $KPID 2>/dev/null
mb_wait_prop A $E State stop 5
mb_expect A ok set-state $E running
mb_expect_prop A $E State running
mb_log "SetState caller killed mid-call: the move completed, the next call works"

# --- 4. the broker SIGKILLed mid-save ---------------------------------------------------------
DOMAIN_DIR="$MB_TMP/run-A/domain/$U"
BUSPID=$(cat "$DOMAIN_DIR/pid" 2>/dev/null) || mb_fail "no private bus for domain $U"
DOMAIN_BUS="unix:path=$DOMAIN_DIR/bus"
# vmstate_owners: the connections queued for org.qemu.VMState1 on the domain's bus.
vmstate_owners() {
        busctl --address="$DOMAIN_BUS" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                ListQueuedOwners s org.qemu.VMState1 2>/dev/null | awk '{ print $2 }'
}
mb_expect_eq "helpers on the domain's bus" "$(vmstate_owners)" 1

mb_expect A ok set-state $D running
mb_spawn doomed-save sh -c 'exec "$@" >"$0"' "$MB_TMP/partial" \
        "$MB_CTL" --bus "$MB_BUS_A" save $D -o - --no-precopy --no-progress
SPID=$MB_LAST_PID
i=0
until [ -s "$MB_TMP/partial" ]; do
        i=$((i + 1))
        [ "$i" -le 200 ] || mb_fail "the save did not start"
        sleep 0.02
done
WORKERS=$(mb_workers $BROKER)
mb_stop_broker A KILL
i=0
while :; do
        left=""
        for p in $WORKERS; do running "$p" && left="$left $p"; done
        [ -z "$left" ] && break
        i=$((i + 1))
        if [ "$i" -gt 60 ]; then
                kill -KILL $left 2>/dev/null
                mb_fail "worker(s)$left survived the broker's SIGKILL"
        fi
        sleep 0.05
done
# The caller learns it at once, from the bus.
i=0
while kill -0 $SPID 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 100 ] || mb_fail "the save's caller still waits 5 s after the broker died"
        sleep 0.05
done
wait $SPID && mb_fail "the save whose broker died succeeded"
mb_log "caller of the interrupted save: $(tail -n 1 "$MB_TMP/doomed-save.log")"
[ "$(mb_sha "$MB_TMP/partial")" != "$REF" ] || mb_fail "the interrupted save is complete: too fast to interrupt"
running "$BUSPID" || mb_fail "the domain's bus died with the broker"

mb_start_broker A "$POLICY"
BROKER=$(mb_broker_pid A)
mb_wait_prop A $D IsOpen true 10
mb_expect_prop A $D Owner $U
mb_expect_prop A $D State running
mb_expect_prop A $D VmstateId mb-nic0
mb_expect_eq "the domain's bus after the restart" "$(cat "$DOMAIN_DIR/pid")" "$BUSPID"
running "$BUSPID" || mb_fail "the domain's bus is gone after the restart"
mb_expect_eq "dbus-daemons of domain $U" "$(pgrep -f -- "--config-file=$DOMAIN_DIR/" | wc -l)" 1
i=0
until [ "$(vmstate_owners)" = 1 ]; do
        i=$((i + 1))
        [ "$i" -le 100 ] || mb_fail "the restarted broker's helper of $D is not on the domain's bus"
        sleep 0.05
done
# The partial stream is refused; a new save gives the same bytes.
mb_expect A StreamCorrupt load $L -i "$MB_TMP/partial"
mb_expect_prop A $L State error
mb_expect A ok save $D -o "$MB_TMP/after-restart" --no-precopy --no-progress
same_as_ref "$MB_TMP/after-restart" "a save after the broker's SIGKILL"
mb_log "broker SIGKILLed mid-save: workers gone, caller told, claim, session and domain bus restored"

for f in $D $E $L; do mb_expect A ok release $f --owner $U; done
sleep 0.3
mb_expect_eq "workers at the end" "$(mb_count_workers $BROKER)" 0
mb_expect_eq "zombie children of the broker" "$(mb_zombies $BROKER)" ""
i=0
while running "$BUSPID"; do
        i=$((i + 1))
        [ "$i" -le 40 ] || mb_fail "the domain's bus outlived the last release"
        sleep 0.05
done
mb_log "PASS"
exit 0
