#!/bin/bash
# Real workers with the sample plugin and two simulated DPU agents: 64 MiB
# saved from one agent's function (pre-copy rounds while it is dirtied, then
# stop-copy) through a worker into a pipe, loaded through a second worker into
# the other agent; SHA-256 equal. Framed, then raw. Prints the MB/s.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
mb_require_built "$MB_WORKER" "$MB_WORKER_DRIVER" "$MB_SIMAGENT" "$MB_SIMDEV_SO"
BDF=0000:3b:00.1

for fmt in framed raw; do
        mb_start_agent SRC --function "$BDF" --state-size 64M --seed 7 --dirty-rate 4M
        mb_start_agent DST --function "$BDF" --state-size 64M --empty
        r=""
        [ "$fmt" = raw ] && r=":raw"
        t0=$(date +%s.%N)
        "$MB_WORKER_DRIVER" --plugin "$MB_SIMDEV_SO" --bdf "$BDF" --arg "$MB_AGENT_SRC" \
                init set-state=3 "save=-:begin$r" "save=-$r" set-state=2 "save=-:final$r" cleanup \
                2>"$MB_TMP/save-$fmt.log" |
        "$MB_WORKER_DRIVER" --plugin "$MB_SIMDEV_SO" --bdf "$BDF" --arg "$MB_AGENT_DST" \
                init set-state=4 "load=-:begin$r" load-finish set-state=1 cleanup 2>"$MB_TMP/load-$fmt.log" ||
                mb_fail "$fmt: the pipeline failed"
        t1=$(date +%s.%N)
        cat "$MB_TMP/save-$fmt.log" "$MB_TMP/load-$fmt.log"
        grep -q "save=-:final$r: ok .*ended=1" "$MB_TMP/save-$fmt.log" || mb_fail "$fmt: the save did not end its stream"
        ha=$(mb_hash "$MB_AGENT_PORT_SRC" "$BDF")
        hb=$(mb_hash "$MB_AGENT_PORT_DST" "$BDF")
        [ "$ha" = "$hb" ] || mb_fail "$fmt: state differs: $ha vs $hb"
        mb_log "$fmt: 64 MiB save+load round trip in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s, sha256 $ha"
        # the agents of this round
        for p in $MB_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
        MB_PIDS=""
done
