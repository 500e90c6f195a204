#!/bin/bash
# Every mandatory op crashing (SIGSEGV, abort, _exit) and hanging is reported
# as such by libmbworkerclient: PluginCrashed naming the signal or status,
# Timeout for a hang (the worker is killed); a failing op is PluginFailed; no
# worker process is left behind.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
mb_require_built "$MB_WORKER" "$MB_WORKER_DRIVER" "$MB_TESTING_SO"
BDF=0000:3b:00.2

# The ops needed to reach each op, as driver script words.
reach() {
        case "$1" in
        init) echo "" ;;
        get_state) echo "init" ;;
        set_state) echo "init" ;;
        update_pending) echo "init set-state=3" ;;
        save) echo "init set-state=3" ;;
        load) echo "init set-state=4" ;;
        cleanup) echo "init" ;;
        esac
}
call() {
        case "$1" in
        init) echo "init" ;;
        get_state) echo "get-state" ;;
        set_state) echo "set-state=0" ;;
        update_pending) echo "pending" ;;
        save) echo "save=$MB_TMP/out:begin" ;;
        load) echo "load=$MB_TMP/in:begin" ;;
        cleanup) echo "cleanup" ;;
        esac
}

# A small valid stream for the load cases (the testing plugin's own format).
"$MB_WORKER_DRIVER" --plugin "$MB_TESTING_SO" --bdf "$BDF" --arg state-size=64K \
        init set-state=2 "save=$MB_TMP/in:begin:final" cleanup 2>/dev/null || mb_fail "cannot make a stream"

before=$(mb_count_workers "$BDF")
for op in init get_state set_state update_pending save load cleanup; do
        for fault in segv abort exit:3 hang fail:EPROTO; do
                case "$fault" in
                segv) expect=PluginCrashed; text="killed by signal SIGSEGV" ;;
                abort) expect=PluginCrashed; text="killed by signal SIGABRT" ;;
                exit:3) expect=PluginCrashed; text="exited with status 3" ;;
                hang) expect=Timeout; text="the plugin's worker was killed" ;;
                fail:EPROTO) expect=PluginFailed; text="" ;;
                esac
                rm -f "$MB_TMP/out"
                # shellcheck disable=SC2046
                if ! "$MB_WORKER_DRIVER" --plugin "$MB_TESTING_SO" --bdf "$BDF" --timeout-ms 700 \
                        --arg "$op=$fault,state-size=64K" $(reach "$op") "$(call "$op")@$expect" \
                        >"$MB_TMP/drv.out" 2>"$MB_TMP/drv.log"; then
                        cat "$MB_TMP/drv.log"
                        mb_fail "$op=$fault: not reported as $expect"
                fi
                if [ -n "$text" ] && ! grep -q "$text" "$MB_TMP/drv.log"; then
                        cat "$MB_TMP/drv.log"
                        mb_fail "$op=$fault: the error does not say '$text'"
                fi
                mb_log "$op=$fault: $(grep -m1 '\[expected\]' "$MB_TMP/drv.log")"
        done
done
sleep 0.2
after=$(mb_count_workers "$BDF")
[ "$after" -le "$before" ] || { pgrep -af migbroker-worker; mb_fail "worker processes left behind: $before before, $after after"; }

# Garbage from update_pending (UINT64_MAX) is refused by UpdatePending itself,
# as a save refuses it: PendingBytes never shows an implausible size.
"$MB_WORKER_DRIVER" --plugin "$MB_TESTING_SO" --bdf "$BDF" --timeout-ms 2000 \
        --arg "update_pending=garbage,state-size=64K" init set-state=3 "pending@PluginFailed" \
        >"$MB_TMP/drv.out" 2>"$MB_TMP/drv.log" || { cat "$MB_TMP/drv.log"; mb_fail "update_pending=garbage: not PluginFailed"; }
grep -q "implausible 18446744073709551615 bytes" "$MB_TMP/drv.log" ||
        { cat "$MB_TMP/drv.log"; mb_fail "update_pending=garbage: the error does not name the implausible size"; }
mb_log "update_pending=garbage: $(grep -m1 '\[expected\]' "$MB_TMP/drv.log")"
