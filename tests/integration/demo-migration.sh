#!/bin/sh
# The demo (tests/demo/demo.sh) end to end with 16 MiB of state: two brokers
# on private buses, pre-copy while the source function is dirtied, stop-copy
# piped into the destination, equal digests. It must end with its OK line
# and leave no process behind.
. "$MB_SRCDIR/tests/integration/lib.sh"

mb_require_built "$MB_BROKER" "$MB_CTL" "$MB_WORKER" "$MB_SIMAGENT" "$MB_SIMDEV_SO"
command -v bash >/dev/null 2>&1 || mb_skip "bash is needed"

# The demo's own temporary directory goes under ours: its processes are easy
# to find, and gone with it.
TMPDIR=$MB_TMP DEMO_STATE_SIZE=16M timeout 60 bash "$MB_SRCDIR/tests/demo/demo.sh" "$MB_BUILDDIR" \
        >"$MB_TMP/demo.out" 2>&1
rc=$?
cp "$MB_TMP/demo.out" "$MB_TMP/demo.log" # shown on failure
[ "$rc" = 0 ] || mb_fail "demo.sh exited with status $rc"
last=$(tail -n 1 "$MB_TMP/demo.out")
want="demo: OK - 16M of device state migrated between two brokers, digests equal."
[ "$last" = "$want" ] || mb_fail "the demo's last line is '$last', expected '$want'"
left=$(pgrep -f "$MB_TMP/" 2>/dev/null)
[ -z "$left" ] || { ps -o pid,args -p $left >&2; kill $left; mb_fail "the demo left processes behind"; }
mb_log "PASS"
exit 0
