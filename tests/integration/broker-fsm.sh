#!/bin/sh
# Every (from, to) pair of SetState on a device backed by testing.so (pre-copy
# capable) and on one backed by testing-noprecopy.so: each "from" state is
# reached by a path, then "to" is requested. Checked: the reply (ok or the
# exact error), the state after it, and the exact v1 set_state() calls the
# plugin received (testing.so's 'trace' lines in the broker's log): one
# direct call where QEMU's v1 code moved directly, else through 0. Refused
# moves issue no call and leave the state as it was; nothing leaves error but
# Reset or Close; a device without pre-copy refuses every pre-copy arc.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker "$MB_TESTING_NOPRECOPY_SO"

D1=0000:3b:00.1    # testing.so
D2=0000:3b:00.2    # testing-noprecopy.so
U=$MB_UUID1
STATES="running stop pre-copy stop-copy resuming error"

mb_start_bus A
mb_fake_pci "$MB_TMP/sysfs-A" $D1 0x1af4 0x1041
mb_fake_pci "$MB_TMP/sysfs-A" $D2 0x1af4 0x1041
POLICY=$(mb_policy "$MB_TMP/etc/policy.yaml" <<EOP
$(mb_policy_head)
plugins:
  testing:
    path: $MB_TESTING_SO
  noprecopy:
    path: $MB_TESTING_NOPRECOPY_SO
devices:
  - match: { bdf: "$D1" }
    plugin: testing
    arg: "trace,state-size=64K,seed=1"
  - match: { bdf: "$D2" }
    plugin: noprecopy
    arg: "trace,state-size=64K,seed=2"
EOP
)
mb_start_broker A "$POLICY"

# The table: FROM TO RESULT CALLS (the v1 set_state values, '-' for none).
# Pre-copy devices; a device without pre-copy refuses every arc to or from
# pre-copy and behaves the same otherwise.
cat >"$MB_TMP/table" <<'EOT'
running   running   ok                -
running   stop      ok                0
running   pre-copy  ok                3
running   stop-copy ok                2
running   resuming  ok                4
stop      running   ok                1
stop      stop      ok                -
stop      pre-copy  ok                3
stop      stop-copy ok                2
stop      resuming  ok                4
pre-copy  running   ok                1
pre-copy  stop      ok                0
pre-copy  pre-copy  ok                -
pre-copy  stop-copy ok                2
pre-copy  resuming  ok                0,4
stop-copy running   ok                1
stop-copy stop      ok                0
stop-copy pre-copy  InvalidTransition -
stop-copy stop-copy ok                -
stop-copy resuming  ok                0,4
resuming  running   ok                1
resuming  stop      ok                0
resuming  pre-copy  ok                0,3
resuming  stop-copy ok                0,2
resuming  resuming  ok                -
EOT
for s in $STATES; do
        echo "$s error InvalidTransition -" >>"$MB_TMP/table"
        [ "$s" = error ] || echo "error $s InvalidTransition -" >>"$MB_TMP/table"
done

# set_state values traced since the mark, as "0,4" or "-"; every call must have succeeded.
calls() {
        local c out=""
        for c in $(mb_traced_calls A "$1" set_state); do
                case "$c" in *=0) ;; *) mb_fail "$1: set_state call failed: $c" ;; esac
                out="$out${out:+,}${c%=*}"
        done
        echo "${out:--}"
}

# reach DEV STATE: from running, by a path; a device in resuming has a complete
# stream loaded (its own, saved at the start), so that it may leave resuming.
reach() {
        case "$2" in
        running) ;;
        stop|pre-copy|stop-copy) mb_expect A ok set-state "$1" "$2" ;;
        resuming)
                mb_expect A ok set-state "$1" resuming
                mb_expect A ok load "$1" -i "$MB_TMP/self-$1" --stay-resuming
                ;;
        error)
                # Leaving resuming without the end record breaks the device.
                mb_expect A ok set-state "$1" resuming
                mb_expect A StreamCorrupt set-state "$1" stop
                ;;
        esac
        mb_expect_prop A "$1" State "$2"
}

# back DEV [LOADED]: to running (Close and Open leave error; Reset is checked
# below). A device in resuming gets its stream first unless LOADED is "loaded".
back() {
        case "$(mb_prop A "$1" State)" in
        error)
                mb_expect A ok close "$1" --owner $U
                mb_expect A ok open "$1" --owner $U
                ;;
        resuming)
                if [ "${2:-}" = loaded ]; then
                        mb_expect A ok set-state "$1" running
                else
                        mb_expect A ok load "$1" -i "$MB_TMP/self-$1"
                fi
                ;;
        *)
                mb_expect A ok set-state "$1" running
                ;;
        esac
        mb_expect_prop A "$1" State running
}

# matrix DEV PRECOPY(yes/no)
matrix() {
        local dev=$1 precopy=$2 from to want wcalls got gcalls n=0
        while read -r from to want wcalls; do
                if [ "$precopy" = no ] && { [ "$from" = pre-copy ] || [ "$to" = pre-copy ]; }; then
                        [ "$from" = pre-copy ] && continue # unreachable: checked as running -> pre-copy
                        [ "$from" = error ] || { want=InvalidTransition; wcalls=-; }
                fi
                reach "$dev" "$from"
                mb_log_mark A
                got=$(mb_call A set-state "$dev" "$to")
                [ "$got" = "$want" ] ||
                        mb_fail "$dev: $from -> $to: got '$got', expected '$want' ($(mb_last_message))"
                gcalls=$(calls "$dev")
                [ "$gcalls" = "$wcalls" ] ||
                        mb_fail "$dev: $from -> $to: the plugin got set_state $gcalls, expected $wcalls"
                if [ "$want" = ok ]; then
                        mb_expect_prop A "$dev" State "$to"
                else
                        mb_expect_prop A "$dev" State "$from"
                fi
                if [ "$from" = resuming ]; then back "$dev" loaded; else back "$dev"; fi
                n=$((n + 1))
        done <"$MB_TMP/table"
        mb_log "$dev (pre-copy: $precopy): $n pairs as expected"
}

for dev in $D1 $D2; do
        mb_expect A ok claim $dev --owner $U
        mb_log_mark A
        mb_expect A ok open $dev --owner $U
        mb_expect_eq "$dev: set_state calls of Open" "$(calls $dev)" -
        mb_expect_prop A $dev State running
        # A stream of the device itself, for the moves out of resuming.
        mb_expect A ok save $dev -o "$MB_TMP/self-$dev"
        mb_expect_prop A $dev State stop-copy
        mb_expect A ok set-state $dev running
done
mb_expect_prop A $D1 Capabilities pre-copy
mb_expect_prop A $D2 Capabilities ""

matrix $D1 yes
matrix $D2 no

# Without pre-copy, a request for pre-copy is refused with a reason, whatever
# the state, and resuming is not left (no StreamCorrupt, no error).
mb_expect A ok set-state $D2 resuming
mb_expect A InvalidTransition set-state $D2 pre-copy
mb_last_message | grep -q "no pre-copy capability" || mb_fail "no reason given: $(mb_last_message)"
mb_expect_prop A $D2 State resuming
mb_expect A ok load $D2 -i "$MB_TMP/self-$D2"
mb_expect_prop A $D2 State running

# Leaving resuming without a complete stream, for every way out: StreamCorrupt,
# no set_state call, and the device is in error (never running).
for to in running stop stop-copy pre-copy; do
        mb_expect A ok set-state $D1 resuming
        mb_log_mark A
        mb_expect A StreamCorrupt set-state $D1 $to
        mb_expect_eq "$D1: resuming -> $to without a stream: set_state calls" "$(calls $D1)" -
        mb_expect_prop A $D1 State error
        back $D1
done

# Reset leaves error: a new worker, re-initialised, in running.
reach $D1 error
mb_log_mark A
mb_expect A ok reset $D1
mb_expect_prop A $D1 State running
mb_expect_prop A $D1 IsOpen true
mb_traced_calls A $D1 init | grep -q '=ok' || mb_fail "Reset did not re-init the plugin"
mb_expect_eq "$D1: set_state calls of Reset" "$(calls $D1)" -

# Open after Preflight reaches stop with one set_state(0).
mb_expect A ok release $D2 --owner $U
mb_expect A ok preflight $D2 --owner $MB_UUID2
mb_expect A ok claim $D2 --owner $MB_UUID2
mb_log_mark A
mb_expect A ok open $D2 --owner $MB_UUID2
mb_expect_eq "$D2: set_state calls of Open after Preflight" "$(calls $D2)" 0
mb_expect_prop A $D2 State stop

mb_expect A ok release $D1 --owner $U
mb_expect A ok release $D2 --owner $MB_UUID2
mb_log "PASS"
exit 0
