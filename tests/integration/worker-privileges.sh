#!/bin/bash
# What a worker sheds before vendor code runs (as root: the configured user,
# no supplementary groups, no_new_privs, no inherited fds) and that it dies
# with its parent (PR_SET_PDEATHSIG, also after the uid change). Started
# from a parent whose fd 0 is closed, it still gets /dev/null as stdin.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
mb_require_built "$MB_WORKER" "$MB_WORKER_DRIVER" "$MB_TESTING_SO"
[ "$(id -u)" = 0 ] || mb_skip "needs root to test the privilege drop"
id nobody >/dev/null 2>&1 || mb_skip "no user 'nobody'"
uid=$(id -u nobody)

# A stray fd the worker must not inherit; the driver's stdin closed.
exec 7<>"$MB_TMP/stray"
"$MB_WORKER_DRIVER" --plugin "$MB_TESTING_SO" --user nobody --arg state-size=4K \
        hello init pid sleep=3000 cleanup 0<&- 2>"$MB_TMP/drv.log" &
drv=$!
for _ in $(seq 100); do grep -q '^pid: ok' "$MB_TMP/drv.log" && break; sleep 0.05; done
pid=$(sed -n 's/^pid: ok \([0-9]*\).*/\1/p' "$MB_TMP/drv.log")
[ -n "$pid" ] || { cat "$MB_TMP/drv.log"; mb_fail "no worker pid"; }
exec 7>&-

status=/proc/$pid/status
grep -E '^(Uid|Gid|Groups|NoNewPrivs):' "$status"
awk -v u="$uid" '/^Uid:/ { exit !($2 == u && $3 == u && $4 == u && $5 == u) }' "$status" || mb_fail "uid is not nobody's"
grep -qE '^Groups:[[:space:]]*$' "$status" || mb_fail "supplementary groups kept"
grep -qE '^NoNewPrivs:[[:space:]]*1' "$status" || mb_fail "no_new_privs not set"
fds=$(ls /proc/$pid/fd | sort -n | tr '\n' ' ')
mb_log "worker $pid fds: $fds"
for fd in $(ls /proc/$pid/fd); do
        case "$fd" in
        0|1|2|3) ;;
        *) readlink "/proc/$pid/fd/$fd" | grep -q -e '^anon_inode:' -e '^socket:' ||
                mb_fail "worker inherited fd $fd -> $(readlink /proc/$pid/fd/$fd)" ;;
        esac
done
readlink "/proc/$pid/fd/3" | grep -q '^socket:' || mb_fail "fd 3 is not the broker's socket"
[ "$(readlink "/proc/$pid/fd/0")" = /dev/null ] ||
        mb_fail "stdin is not /dev/null: $(readlink "/proc/$pid/fd/0" || echo closed)"
wait "$drv" || { cat "$MB_TMP/drv.log"; mb_fail "the driver failed"; }

# Dies with its parent: SIGKILL the driver while the worker waits.
: >"$MB_TMP/drv2.log"
"$MB_WORKER_DRIVER" --plugin "$MB_TESTING_SO" --user nobody --arg state-size=4K \
        init pid sleep=30000 2>"$MB_TMP/drv2.log" &
drv=$!
for _ in $(seq 100); do grep -q '^pid: ok' "$MB_TMP/drv2.log" && break; sleep 0.05; done
pid=$(sed -n 's/^pid: ok \([0-9]*\).*/\1/p' "$MB_TMP/drv2.log")
[ -n "$pid" ] || mb_fail "no worker pid"
kill -KILL "$drv"
wait "$drv" 2>/dev/null || true
for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.05; done
[ ! -d "/proc/$pid" ] || mb_fail "worker $pid survived its parent"
mb_log "worker $pid died with its parent"
