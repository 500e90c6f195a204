#!/bin/sh
# simdev failure paths, no broker: load() fed 1 and 7 bytes at a time, a dead
# or frozen agent (errors within the timeout, no hang), hostile and malformed
# requests (the agent logs, drops the connection and keeps serving), a second
# controller (EBUSY), a corrupt stream (error state, then reset by a new init).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # /dev/tcp below
. "$MB_SRCDIR/tests/integration/lib.sh"

mb_require_built "$MB_SIMAGENT" "$MB_DRIVER" "$MB_SIMDEV_SO"
F=0000:3b:00.1

mb_start_simagent src --function $F --state-size 64K --seed 7 --dirty-rate 4M
SRC=$MB_AGENT_PORT
SRC_PID=$MB_AGENT_PID
mb_start_simagent dst --function $F --state-size 64K --empty
DST=$MB_AGENT_PORT
DST_PID=$MB_AGENT_PID

# --- 1. load() in 1-byte and 7-byte pieces -----------------------------------
"$MB_DRIVER" save "$MB_SIMDEV_SO" --arg "127.0.0.1:$SRC" --bdf $F --rounds 2 --round-delay-ms 50 \
        -o "$MB_TMP/stream" 2>"$MB_TMP/save.err" || { cat "$MB_TMP/save.err"; mb_fail "save failed"; }
src_hash=$(mb_hash "$SRC" $F)
for chunk in 1 7; do
        "$MB_DRIVER" load "$MB_SIMDEV_SO" --arg "127.0.0.1:$DST" --bdf $F --chunk $chunk -i "$MB_TMP/stream" \
                2>"$MB_TMP/load$chunk.err" || { cat "$MB_TMP/load$chunk.err"; mb_fail "load in $chunk-byte pieces failed"; }
        [ "$(mb_hash "$DST" $F)" = "$src_hash" ] || mb_fail "hash differs after $chunk-byte loads"
        mb_log "load in $chunk-byte pieces: OK ($(tail -n1 "$MB_TMP/load$chunk.err" | sed 's/.*ops, //'))"
done

# --- 2. nobody listening: init fails at once ----------------------------------
start=$(date +%s)
"$MB_DRIVER" save "$MB_SIMDEV_SO" --arg "127.0.0.1:1" -o /dev/null 2>"$MB_TMP/dead.err" &&
        mb_fail "init succeeded without an agent"
grep -q 'cannot connect' "$MB_TMP/dead.err" || mb_fail "no connect error: $(cat "$MB_TMP/dead.err")"

# --- 3. a frozen agent: the request times out, no hang ------------------------
kill -STOP "$SRC_PID"
"$MB_DRIVER" save "$MB_SIMDEV_SO" --arg "127.0.0.1:$SRC,timeout=500" -o /dev/null 2>"$MB_TMP/frozen.err" &&
        { kill -CONT "$SRC_PID"; mb_fail "init succeeded against a frozen agent"; }
kill -CONT "$SRC_PID"
grep -q 'timed out' "$MB_TMP/frozen.err" || mb_fail "no timeout: $(cat "$MB_TMP/frozen.err")"
[ $(( $(date +%s) - start )) -lt 8 ] || mb_fail "failing against dead/frozen agents took too long"
mb_log "dead and frozen agents: errors, no hang"

# --- 4. hostile clients --------------------------------------------------------
hdr() { # op(2 bytes octal) len(4 bytes octal): a request header
        printf "SDM1$1\000\000\000\000\000\000$2"
}
exec 3<>"/dev/tcp/127.0.0.1/$DST"; printf 'GET / HTTP/1.0\r\n\r\n' >&3; exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$DST"; hdr '\000\006' '\377\377\377\377' >&3; exec 3>&-      # 4 GiB LOAD
exec 3<>"/dev/tcp/127.0.0.1/$DST"; hdr '\000\006' '\000\000\000\004' >&3; printf 'abcd' >&3  # LOAD, no OPEN
reply=$(head -c 16 <&3 | od -An -tx1 | tr -d ' \n'); exec 3>&-
[ "${reply:0:16}" = 53444d3180060000 ] || mb_fail "no error reply to LOAD before OPEN: $reply"
[ "${reply:16:8}" != 00000000 ] || mb_fail "LOAD before OPEN succeeded"
exec 3<>"/dev/tcp/127.0.0.1/$DST"; hdr '\000\077' '\000\000\000\000' >&3                    # unknown op
reply=$(head -c 16 <&3 | od -An -tx1 | tr -d ' \n'); exec 3>&-
[ "${reply:16:8}" = ffffffa1 ] || mb_fail "unknown op not answered with -EOPNOTSUPP: $reply"
exec 4<>"/dev/tcp/127.0.0.1/$DST"; printf 'SDM' >&4                                        # stalls mid-header
[ "$(mb_hash "$DST" $F)" = "$src_hash" ] || mb_fail "agent unusable while a client stalls"
exec 4>&-
kill -0 "$DST_PID" || mb_fail "agent died on hostile input"
grep -q 'malformed request header' "$MB_TMP/dst.log" || mb_fail "hostile input not logged"
mb_log "hostile clients: answered or dropped, agent alive"

# --- 5. a second controller is refused ----------------------------------------
exec 3<>"/dev/tcp/127.0.0.1/$DST"
hdr '\000\001' '\000\000\000\024' >&3; printf "\000\000\000\001\000\000\000\001$F" >&3        # OPEN, control
reply=$(head -c 36 <&3 | od -An -tx1 | tr -d ' \n')
[ "${reply:16:8}" = 00000000 ] || mb_fail "OPEN refused: $reply"
"$MB_DRIVER" load "$MB_SIMDEV_SO" --arg "127.0.0.1:$DST" --bdf $F -i "$MB_TMP/stream" 2>"$MB_TMP/busy.err" &&
        mb_fail "second controller accepted"
grep -q 'controlled by connection' "$MB_TMP/busy.err" || mb_fail "no EBUSY: $(cat "$MB_TMP/busy.err")"
exec 3>&-
mb_log "second controller: refused"

# --- 6. a corrupt stream: error state; the next init resets ------------------
cp "$MB_TMP/stream" "$MB_TMP/corrupt"
printf 'X' | dd of="$MB_TMP/corrupt" bs=1 seek=8 conv=notrunc 2>/dev/null  # the stream magic
"$MB_DRIVER" load "$MB_SIMDEV_SO" --arg "127.0.0.1:$DST" --bdf $F -i "$MB_TMP/corrupt" 2>"$MB_TMP/corrupt.err" &&
        mb_fail "corrupt stream loaded"
grep -q 'bad magic' "$MB_TMP/corrupt.err" || mb_fail "corruption not explained: $(cat "$MB_TMP/corrupt.err")"
[ "$(mb_status_field "$DST" $F state)" = "error (6)" ] || mb_fail "function not in the error state"
"$MB_DRIVER" load "$MB_SIMDEV_SO" --arg "127.0.0.1:$DST" --bdf $F -i "$MB_TMP/stream" 2>"$MB_TMP/reload.err" ||
        { cat "$MB_TMP/reload.err"; mb_fail "load after reset failed"; }
[ "$(mb_hash "$DST" $F)" = "$src_hash" ] || mb_fail "hash differs after reset and reload"

# --- 7. a truncated stream never leaves RESUMING as running --------------------
head -c 30000 "$MB_TMP/stream" >"$MB_TMP/short"
"$MB_DRIVER" load "$MB_SIMDEV_SO" --arg "127.0.0.1:$DST" --bdf $F -i "$MB_TMP/short" 2>"$MB_TMP/short.err" &&
        mb_fail "truncated stream loaded"
[ "$(mb_status_field "$DST" $F state)" = "resuming (4)" ] || mb_fail "truncated load left resuming"
mb_log "corrupt and truncated streams: refused"

kill -0 "$SRC_PID" && kill -0 "$DST_PID" || mb_fail "an agent died"
mb_log "PASS"
exit 0
