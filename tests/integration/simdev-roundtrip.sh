#!/bin/sh
# simdev end to end, no broker: two agents on loopback (a seeded, dirtying
# source of 64 MiB and an empty destination), plugin-driver doing what seed
# 000's QEMU does (pre-copy rounds, stop-copy until pending is 0, load in
# 1 MiB chunks), then the SHA-256 of both functions must match.
# Once through a file, once with the raw stream piped from a save process
# into a load process.
. "$MB_SRCDIR/tests/integration/lib.sh"

mb_require_built "$MB_SIMAGENT" "$MB_DRIVER" "$MB_SIMDEV_SO"

F1=0000:3b:00.1
F2=0000:3b:00.2

mb_start_simagent src --function $F1 --function $F2 --state-size 64M --seed 1 --dirty-rate 1M
SRC=$MB_AGENT_PORT
mb_start_simagent dst --function $F1 --function $F2 --state-size 64M --empty
DST=$MB_AGENT_PORT
mb_log "source agent on port $SRC, destination on $DST"

empty_hash=$(mb_hash "$DST" $F1)

# --- 1. through a file --------------------------------------------------------
"$MB_DRIVER" save "$MB_SIMDEV_SO" --arg "127.0.0.1:$SRC" --bdf $F1 --rounds 3 --round-delay-ms 200 \
        -o "$MB_TMP/stream" 2>"$MB_TMP/save1.err" || { cat "$MB_TMP/save1.err"; mb_fail "save failed"; }
cat "$MB_TMP/save1.err"

# The source stopped dirtying at set_state(2): its hash is now final.
src_hash=$(mb_hash "$SRC" $F1)
[ "$(mb_status_field "$SRC" $F1 state)" = "stop (0)" ] || mb_fail "source function not stopped after save"
rounds=$(mb_status_field "$SRC" $F1 "save session" | sed 's/ rounds.*//')
[ "$rounds" -ge 2 ] || mb_fail "pre-copy sent no dirtied pages (rounds: $rounds)"
grep -q 'pre-copy round 2: [1-9]' "$MB_TMP/save1.err" || mb_fail "second pre-copy round was empty: no dirty tracking?"

"$MB_DRIVER" load "$MB_SIMDEV_SO" --arg "127.0.0.1:$DST" --bdf $F1 -i "$MB_TMP/stream" 2>"$MB_TMP/load1.err" ||
        { cat "$MB_TMP/load1.err"; mb_fail "load failed"; }
cat "$MB_TMP/load1.err"
dst_hash=$(mb_hash "$DST" $F1)

mb_log "source      $src_hash"
mb_log "destination $dst_hash"
[ "$src_hash" = "$dst_hash" ] || mb_fail "hashes differ after the file round trip"
[ "$dst_hash" != "$empty_hash" ] || mb_fail "destination still empty"
[ "$(mb_status_field "$DST" $F1 state)" = "running (1)" ] || mb_fail "destination function not running"
mb_status_field "$DST" $F1 "load session" | grep -q complete || mb_fail "destination load not complete"

# --- 2. raw stream piped between a save and a load process --------------------
( "$MB_DRIVER" save "$MB_SIMDEV_SO" --arg "127.0.0.1:$SRC" --bdf $F2 --rounds 2 --round-delay-ms 100 -o - \
        2>"$MB_TMP/save2.err"; echo $? >"$MB_TMP/save2.rc" ) |
        "$MB_DRIVER" load "$MB_SIMDEV_SO" --arg "127.0.0.1:$DST" --bdf $F2 -i - 2>"$MB_TMP/load2.err"
load_rc=$?
cat "$MB_TMP/save2.err" "$MB_TMP/load2.err"
[ "$(cat "$MB_TMP/save2.rc")" = 0 ] || mb_fail "piped save failed"
[ "$load_rc" = 0 ] || mb_fail "piped load failed"

src2=$(mb_hash "$SRC" $F2)
dst2=$(mb_hash "$DST" $F2)
mb_log "piped: source $src2 destination $dst2"
[ "$src2" = "$dst2" ] || mb_fail "hashes differ after the piped round trip"
[ "$src2" != "$src_hash" ] || mb_fail "two functions with the same content: BDF not mixed into the seed?"

mb_log "PASS"
exit 0
