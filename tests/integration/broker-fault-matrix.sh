#!/bin/bash
# The fault matrix: every plugin op (init, get_state, set_state,
# update_pending, save, load, cleanup) x every fault of testing.so (SIGSEGV,
# abort, _exit(3), hang, an error return, garbage, slow under the op timeout,
# slow over it), each on its own device of ONE broker (op-timeout-ms 1000),
# driven through the D-Bus calls that reach that op:
#
#   init, get_state   Claim, Open
#   set_state         Claim, Open, SetState(stop)
#   update_pending    Claim, Open, SetState(stop-copy), RefreshPending
#   save              Claim, Open, SetState(stop-copy), SaveTo(file)
#   load              Claim, Open, SetState(resuming), LoadFrom(a good stream), SetState(stop)
#   cleanup           Claim, Open, Close
#
# while a second device streams a slow save into a file. For each cell:
#   - the broker survives and the caller gets the error the contract gives
#     (PluginCrashed naming the signal or exit status, Timeout, PluginFailed,
#     or success), at the call that reaches the op, and the elapsed time of
#     that call against the op timeout (a hang ends after ~1 timeout, a crash
#     well before it, slow:300 takes >= 300 ms and succeeds);
#   - the device ends where the contract says (error; no session after a
#     failed Open; the plugin's own state after a refused set_state; Close
#     always succeeds, a failed cleanup() is only logged);
#   - the other device's stream completes byte-identical to an undisturbed
#     save of the same content;
#   - no worker of the device is left after the failure (crash, timeout) and
#     after Release, and the broker has no zombie children.
# garbage is a fault of get_state, update_pending and save only (testing.so
# refuses it elsewhere): the other cells are "-". The saved garbage of
# save=garbage is loaded into a destination device, which must refuse it.
#
# The table goes to this test's log and, as Markdown for docs/reliability.md,
# to $MB_BUILDDIR/tests/integration/broker-fault-matrix.md.
# MB_MATRIX_TIMEOUT_MS overrides the op timeout (default 1000).
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

TIMEOUT_MS=${MB_MATRIX_TIMEOUT_MS:-1000}
SLOW_MS=$((TIMEOUT_MS * 3 / 10))       # slow, under the timeout: the op succeeds
OVER_MS=$((TIMEOUT_MS * 3 / 2))        # slow, over the timeout: Timeout
SIZE=256K                              # state of the faulty devices: one record
LATE_MS=$((TIMEOUT_MS + 4000))         # a loaded 2-core machine is slow, but not that slow
U=$MB_UUID1
OPS="init get_state set_state update_pending save load cleanup"
FAULTS="segv abort exit:3 hang fail:EPROTO garbage slow:$SLOW_MS slow:$OVER_MS"
SS=0000:3b:00.1    # short stream (4 x 150 ms) beside the quick cells
SL=0000:3b:00.2    # long stream (8 x 250 ms) beside the cells that wait for a timeout
R=0000:3b:00.3     # saves the stream that the load cells load
DST=0000:3b:00.4   # loads what save=garbage saved
MATRIX_MD="$MB_BUILDDIR/tests/integration/broker-fault-matrix.md"

# cell_bdf OP_INDEX FAULT_INDEX: the device of a cell.
cell_bdf() { printf '0000:9a:%02x.%x' "$1" "$2"; }

mb_start_bus A
for f in $SS $SL $R $DST; do mb_fake_pci "$MB_TMP/sysfs-A" $f 0x1af4 0x1041; done
POLICY=$(MB_OP_TIMEOUT_MS=$TIMEOUT_MS mb_policy_head | mb_policy "$MB_TMP/etc/policy.yaml")
cat >>"$POLICY" <<EOP
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$SS" }
    plugin: testing
    arg: "save=slow:150,state-size=4M,seed=3"
  - match: { bdf: "$SL" }
    plugin: testing
    arg: "save=slow:250,state-size=8M,seed=4"
  - match: { bdf: "$R" }
    plugin: testing
    arg: "state-size=$SIZE,seed=5"
  - match: { bdf: "$DST" }
    plugin: testing
    arg: "state-size=$SIZE,empty"
EOP
i=0
for op in $OPS; do
        j=0
        for fault in $FAULTS; do
                bdf=$(cell_bdf $i $j)
                mb_fake_pci "$MB_TMP/sysfs-A" "$bdf" 0x1af4 0x1041
                cat >>"$POLICY" <<EOP
  - match: { bdf: "$bdf" }
    plugin: testing
    arg: "$op=$fault,state-size=$SIZE,seed=$i$j"
EOP
                j=$((j + 1))
        done
        i=$((i + 1))
done
MB_BROKER_LOG_LEVEL=info mb_start_broker A "$POLICY"
BROKER=$(mb_broker_pid A)
LOG="$MB_TMP/broker-A.log"

# ---- helpers -----------------------------------------------------------------------------

now_us() { echo "${EPOCHREALTIME/./}"; }

# dev_path BDF: sd_bus_path_encode, for the BDFs of this test.
dev_path() {
        local rest=${1:1}
        rest=${rest//:/_3a}
        rest=${rest//./_2e}
        echo "/org/migbroker1/device/_3${1:0:1}$rest"
}

# dcall BDF METHOD ARGS...: one Device call (mb-bus-call). Sets RES ("ok" or
# the error's short name), MSG (the error message or the result) and MS.
dcall() {
        local bdf=$1 method=$2 t0 t1
        shift 2
        t0=$(now_us)
        "$MB_BUS_CALL" "$MB_BUS_A" "$(dev_path "$bdf")" org.migbroker1.Device "$method" "$@" >"$MB_TMP/call.out" 2>&1
        t1=$(now_us)
        MS=$(((t1 - t0) / 1000))
        RES=$(sed -n 1p "$MB_TMP/call.out")
        MSG=$(sed -n 2p "$MB_TMP/call.out")
        RES=${RES##*.}
}

# prop BDF NAME: a Device property.
prop() {
        "$MB_BUS_CALL" "$MB_BUS_A" "$(dev_path "$1")" org.freedesktop.DBus.Properties Get \
                s:org.migbroker1.Device "s:$2" >"$MB_TMP/prop.out" 2>&1 || mb_fail "Get $2 of $1: $(cat "$MB_TMP/prop.out")"
        sed -n 2p "$MB_TMP/prop.out"
}

# where BDF: "closed" without a session, else its State.
where() {
        if [ "$(prop "$1" IsOpen)" = true ]; then prop "$1" State; else echo closed; fi
}

# must BDF METHOD ARGS...: a call that must succeed.
must() {
        dcall "$@"
        [ "$RES" = ok ] || mb_fail "$2 of $1: $RES: $MSG"
}

# workers_of BDF: processes serving BDF (of this build, whoever their parent is;
# the matrix's bus 0000:9a is used by no other test, which may run meanwhile).
workers_of() { pgrep -f -- "^$MB_WORKER --bdf $1 " 2>/dev/null | tr '\n' ' '; }

# wait_no_worker BDF WHY: none may be left (killed ones take a moment to be reaped).
wait_no_worker() {
        local k=0
        while [ -n "$(workers_of "$1")" ] || [ -n "$(mb_zombies $BROKER)" ]; do
                k=$((k + 1))
                [ "$k" -le 100 ] || mb_fail "$1: worker(s) $(workers_of "$1") or zombies $(mb_zombies $BROKER) left $2"
                sleep 0.05
        done
}

broker_alive() { kill -0 "$BROKER" 2>/dev/null || mb_fail "the broker died ($1)"; }

# save_file BDF FILE: an undisturbed save (stop-copy only), then back to running.
save_file() {
        mb_expect A ok save "$1" -o "$2" --no-precopy --no-progress
        mb_expect A ok set-state "$1" running
}

# stream_start BDF: a save of BDF in the background, in flight when this returns.
stream_start() {
        STREAM_DEV=$1
        rm -f "$MB_TMP/stream"
        # In place (standard output into the file), so it grows while it runs.
        mb_spawn stream sh -c 'exec "$@" >"$0"' "$MB_TMP/stream" \
                "$MB_CTL" --bus "$MB_BUS_A" save "$1" -o - --no-precopy --no-progress
        STREAM_PID=$MB_LAST_PID
        local k=0
        until [ -s "$MB_TMP/stream" ]; do
                k=$((k + 1))
                [ "$k" -le 200 ] || mb_fail "the stream of $1 did not start"
                kill -0 "$STREAM_PID" 2>/dev/null || mb_fail "the stream of $1 ended early: $(cat "$MB_TMP/stream.log")"
                sleep 0.02
        done
}

# stream_check CELL: the stream completed, byte-identical to the undisturbed one.
stream_check() {
        wait "$STREAM_PID" || mb_fail "$1: the concurrent save of $STREAM_DEV failed: $(cat "$MB_TMP/stream.log")"
        [ "$(mb_sha "$MB_TMP/stream")" = "$(eval echo "\$REF_$STREAM_DEV_VAR")" ] ||
                mb_fail "$1: the concurrent save of $STREAM_DEV differs from the undisturbed one"
        mb_expect A ok set-state "$STREAM_DEV" running
        STREAMS=$((STREAMS + 1))
}

# ---- references ----------------------------------------------------------------------------

for f in $SS $SL $R $DST; do
        mb_expect A ok claim $f --owner $U
        mb_expect A ok open $f --owner $U
done
save_file $SS "$MB_TMP/ref-SS"
save_file $SL "$MB_TMP/ref-SL"
save_file $R "$MB_TMP/good-stream"
REF_SS=$(mb_sha "$MB_TMP/ref-SS")
REF_SL=$(mb_sha "$MB_TMP/ref-SL")
# The reference is reproducible: a second undisturbed save is the same.
save_file $SS "$MB_TMP/ref-SS2"
mb_expect_eq "a second undisturbed save of $SS" "$(mb_sha "$MB_TMP/ref-SS2")" "$REF_SS"
mb_expect A ok release $R --owner $U
mb_log "references: $SS $(wc -c <"$MB_TMP/ref-SS") bytes, $SL $(wc -c <"$MB_TMP/ref-SL") bytes," \
        "load input $(wc -c <"$MB_TMP/good-stream") bytes"

# ---- expectations ----------------------------------------------------------------------------

# expect OP FAULT: sets E_RES, E_AT (the call that reaches the op and fails or
# takes the time), E_STATE (after the cell's calls) and E_TEXT (in the error
# message; for cleanup in the broker's log).
expect() {
        local op=$1 fault=$2 kind
        case "$fault" in
        segv) kind=crash E_TEXT="killed by signal SIGSEGV" ;;
        abort) kind=crash E_TEXT="killed by signal SIGABRT" ;;
        exit:3) kind=crash E_TEXT="exited with status 3" ;;
        hang | "slow:$OVER_MS") kind=timeout E_TEXT="$TIMEOUT_MS ms" ;;
        fail:*) kind=fail E_TEXT="(-71)" ;;
        garbage) kind=garbage E_TEXT="" ;;
        "slow:$SLOW_MS") kind=ok E_TEXT="" ;;
        esac
        case "$op" in
        init | get_state) E_AT=Open ;;
        set_state) E_AT=SetState ;;
        update_pending) E_AT=SetState ;;
        save) E_AT=SaveTo ;;
        load) E_AT=LoadFrom ;;
        cleanup) E_AT=Close ;;
        esac
        case "$kind" in
        crash) E_RES=PluginCrashed E_STATE=error ;;
        timeout) E_RES=Timeout E_STATE=error ;;
        fail) E_RES=PluginFailed E_STATE=error ;;
        garbage) E_RES=PluginFailed E_STATE=error ;;
        ok) E_RES=ok ;;
        esac
        case "$op/$kind" in
        init/fail) E_TEXT="returned NULL" ;;
        get_state/garbage) E_TEXT="reports the error state after init" ;;
        # A refused set_state(): the device is where get_state() says.
        set_state/fail) E_STATE=running ;;
        # SetState(stop-copy) reaches its state; its refresh of PendingBytes
        # only notices a dead worker. RefreshPending reports the refusal.
        update_pending/fail | update_pending/garbage) E_AT=RefreshPending E_STATE=stop-copy ;;
        # The plugin returns 0 with 0xa5 bytes: the save succeeds, its
        # destination refuses it (checked below).
        save/garbage) E_RES=ok ;;
        esac
        case "$op/$kind" in update_pending/garbage) E_TEXT="implausible" ;; esac
        # No session after a failed Open.
        case "$op" in init | get_state) [ "$E_RES" = ok ] || E_STATE=closed ;; esac
        # Close always succeeds; a failed cleanup() is logged.
        if [ "$op" = cleanup ]; then
                E_RES=ok E_STATE=closed
                [ "$kind" = ok ] || E_TEXT="the plugin's cleanup failed"
        fi
        if [ "$E_RES" = ok ] && [ "$op" != cleanup ]; then
                case "$op" in
                init | get_state) E_STATE=running ;;
                set_state) E_STATE=stop ;;
                update_pending | save) E_STATE=stop-copy ;;
                load) E_STATE=stop ;;
                esac
        fi
}

# steps OP OUT: the cell's calls after Claim (and Open, but for init and
# get_state), one per line: METHOD ARGS...
steps() {
        case "$1" in
        init | get_state) echo "Open s:$U a{sv}:" ;;
        set_state) echo "SetState s:stop" ;;
        update_pending) printf '%s\n' "SetState s:stop-copy" "RefreshPending" ;;
        save) printf '%s\n' "SetState s:stop-copy" "SaveTo h>$2 a{sv}:" ;;
        load) printf '%s\n' "SetState s:resuming" "LoadFrom h<$MB_TMP/good-stream a{sv}:" "SetState s:stop" ;;
        cleanup) echo "Close s:$U" ;;
        esac
}

# ---- the matrix ------------------------------------------------------------------------------

STREAMS=0
CELLS=0
FULL=0
T_START=$(now_us)
{
        printf '| op \\ fault |'
        for fault in $FAULTS; do printf ' `%s` |' "$fault"; done
        printf '\n|---|'
        for fault in $FAULTS; do printf -- '---|'; done
        printf '\n'
} >"$MB_TMP/matrix.md"

i=0
for op in $OPS; do
        row="| \`$op\` |"
        j=0
        for fault in $FAULTS; do
                bdf=$(cell_bdf $i $j)
                cell="$op=$fault ($bdf)"
                j=$((j + 1))
                if [ "$fault" = garbage ]; then
                        case "$op" in get_state | update_pending | save) ;; *) row="$row - |"; continue ;; esac
                fi
                expect "$op" "$fault"
                mb_log_mark A

                must "$bdf" Claim "s:$U"
                case "$op" in init | get_state) ;; *) must "$bdf" Open "s:$U" "a{sv}:" ;; esac
                case "$E_RES/$fault" in
                Timeout/* | */"slow:$OVER_MS" | */hang) STREAM_DEV_VAR=SL; stream_start $SL ;;
                *) STREAM_DEV_VAR=SS; stream_start $SS ;;
                esac

                # The calls; the first failure ends them.
                got=ok at="" at_ms=0 msg="" overlap=full
                # In flight when the calls begin (whether still when the op
                # returns is recorded: a loaded machine may slow the calls).
                kill -0 "$STREAM_PID" 2>/dev/null || mb_fail "$cell: the stream of $STREAM_DEV ended before the calls: too fast to overlap"
                while read -r method args; do
                        # shellcheck disable=SC2086
                        dcall "$bdf" "$method" $args
                        if [ "$method" = "$E_AT" ] || [ "$RES" != ok ]; then
                                at=$method at_ms=$MS msg=$MSG
                                kill -0 "$STREAM_PID" 2>/dev/null || overlap=partial
                        fi
                        if [ "$RES" != ok ]; then
                                got=$RES
                                break
                        fi
                done < <(steps "$op" "$MB_TMP/cell-out")
                broker_alive "$cell"
                state=$(where "$bdf")

                # The checks.
                [ "$got" = "$E_RES" ] || mb_fail "$cell: got '$got' at $at ($msg), expected $E_RES"
                [ "$at" = "$E_AT" ] || mb_fail "$cell: $got came from $at, expected from $E_AT ($msg)"
                [ "$state" = "$E_STATE" ] || mb_fail "$cell: the device is '$state' after $got, expected '$E_STATE'"
                if [ -n "$E_TEXT" ]; then
                        if [ "$op" = cleanup ]; then
                                tail -n "+$((MB_LOG_MARK + 1))" "$LOG" | grep -qF "$E_TEXT" ||
                                        mb_fail "$cell: the broker's log does not say '$E_TEXT'"
                        else
                                case "$msg" in *"$E_TEXT"*) ;; *) mb_fail "$cell: the message '$msg' does not say '$E_TEXT'" ;; esac
                        fi
                fi
                case "$E_RES/$fault" in
                Timeout/*) [ "$at_ms" -ge $((TIMEOUT_MS - 50)) ] && [ "$at_ms" -le "$LATE_MS" ] ||
                        mb_fail "$cell: Timeout after $at_ms ms, the op timeout is $TIMEOUT_MS ms" ;;
                PluginCrashed/*) [ "$at_ms" -le "$LATE_MS" ] || mb_fail "$cell: a crash took $at_ms ms to report" ;;
                esac
                case "$fault" in
                "slow:$SLOW_MS") [ "$at_ms" -ge "$SLOW_MS" ] || mb_fail "$cell: $at took $at_ms ms, less than the plugin slept" ;;
                hang | "slow:$OVER_MS")
                        # Close waits for cleanup() up to the timeout too.
                        [ "$at_ms" -ge $((TIMEOUT_MS - 50)) ] && [ "$at_ms" -le "$LATE_MS" ] ||
                                mb_fail "$cell: $at returned after $at_ms ms, the op timeout is $TIMEOUT_MS ms" ;;
                esac
                if [ "$E_STATE" = error ] && [ "$got" != PluginFailed ]; then
                        wait_no_worker "$bdf" "after $got"
                fi
                note=""
                if [ "$op/$fault" = save/garbage ]; then
                        # Saved without complaint; the destination must refuse it.
                        mb_expect A ok set-state $DST resuming
                        dcall $DST LoadFrom "h<$MB_TMP/cell-out" "a{sv}:"
                        [ "$RES" = PluginFailed ] || mb_fail "$cell: loading the garbage: $RES ($MSG), expected PluginFailed"
                        mb_expect_prop A $DST State error
                        mb_expect A ok reset $DST
                        note=" (its load: \`$RES\`)"
                fi

                must "$bdf" Release "s:$U"
                wait_no_worker "$bdf" "after Release"
                stream_check "$cell"
                broker_alive "$cell"

                # The table cell: error (what the message names), call, ms, where the device is.
                case "$got/$fault" in
                PluginCrashed/segv) what=" SIGSEGV" ;;
                PluginCrashed/abort) what=" SIGABRT" ;;
                PluginCrashed/exit:3) what=" status 3" ;;
                *) what="" ;;
                esac
                [ "$op" = cleanup ] && [ -n "$E_TEXT" ] && note=" (cleanup failure logged)"
                row="$row \`$got\`$what$note<br>$at $at_ms ms → $state |"
                mb_log "$cell: $got$what$note at $at in $at_ms ms (timeout $TIMEOUT_MS), device $state," \
                        "stream of $STREAM_DEV $overlap overlap, identical"
                CELLS=$((CELLS + 1))
                [ "$overlap" = full ] && FULL=$((FULL + 1))
        done
        echo "$row" >>"$MB_TMP/matrix.md"
        i=$((i + 1))
done
T_END=$(now_us)

# ---- the end -------------------------------------------------------------------------------

for f in $SS $SL $DST; do mb_expect A ok release $f --owner $U; done
sleep 0.2
mb_expect_eq "workers at the end" "$(mb_count_workers $BROKER)" 0
mb_expect_eq "zombie children of the broker" "$(mb_zombies $BROKER)" ""
broker_alive "at the end"
{
        echo
        echo "op-timeout-ms $TIMEOUT_MS; slow:$SLOW_MS sleeps under it, slow:$OVER_MS over it; $CELLS cells," \
                "$STREAMS concurrent streams byte-identical ($FULL still streaming when the op returned);" \
                "matrix $(((T_END - T_START) / 1000000)) s."
} >>"$MB_TMP/matrix.md"
cp "$MB_TMP/matrix.md" "$MATRIX_MD" 2>/dev/null || true
echo "# ---- fault matrix (also in $MATRIX_MD)"
sed 's/^/# /' "$MB_TMP/matrix.md"
mb_log "PASS"
exit 0
