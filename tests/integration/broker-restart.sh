#!/bin/sh
# Claims, preflight marks and open sessions survive a broker restart on the
# same runtime directory: after SIGTERM (workers stopped cleanly, the plugin
# cleaned up) and after SIGKILL (workers die with the broker, even one stuck
# in a plugin op that never reads its socket: PR_SET_PDEATHSIG), the new
# broker shows the owners and marks and re-opens the open sessions (IsOpen
# true, state running) in new workers.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

D1=0000:3b:00.1    # claimed and open
D2=0000:3b:00.2    # claimed, not open
D3=0000:3b:00.3    # preflighted for U2
D4=0000:3b:00.4    # open; hangs in update_pending when the broker is killed
U1=$MB_UUID1
U2=$MB_UUID2

mb_start_bus A
for f in $D1 $D2 $D3 $D4; do mb_fake_pci "$MB_TMP/sysfs-A" $f 0x1af4 0x1041; done
POLICY=$(mb_policy "$MB_TMP/etc/policy.yaml" <<EOP
$(mb_policy_head)
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$D4" }
    plugin: testing
    arg: "update_pending=hang"
  - match: { bdf: "0000:3b:00.*" }
    plugin: testing
    arg: "trace"
EOP
)
mb_start_broker A "$POLICY"
mb_expect A ok claim $D1 --owner $U1
mb_expect A ok open $D1 --owner $U1
mb_expect A ok set-state $D1 stop
mb_expect A ok claim $D2 --owner $U1
mb_expect A ok preflight $D3 --owner $U2

# alive PID...: the pids that are still running (zombies count as gone).
alive() {
        local p
        for p in "$@"; do
                [ -r "/proc/$p/stat" ] || continue
                case "$(sed 's/^.*) //' "/proc/$p/stat" | cut -d' ' -f1)" in
                Z|X) ;;
                *) echo "$p" ;;
                esac
        done
}

# restored [D4]: what the new broker must show.
restored() {
        local n=1
        mb_wait_prop A $D1 IsOpen true 10
        if [ -n "${1:-}" ]; then
                mb_wait_prop A $D4 IsOpen true 10
                mb_expect_prop A $D4 State running
                n=2
        fi
        mb_expect_prop A $D1 Owner $U1
        mb_expect_prop A $D1 State running
        mb_expect_prop A $D2 Owner $U1
        mb_expect_prop A $D2 IsOpen false
        mb_expect_prop A $D3 Owner ""
        mb_expect_prop A $D3 IncomingOwner $U2
        mb_expect_eq "workers of the new broker" "$(mb_count_workers "$(mb_broker_pid A)")" $n
        # The session works: a move and back.
        mb_expect A ok set-state $D1 stop
        mb_expect A ok set-state $D1 running
}

# stop_broker SIG: stops the broker; none of its workers may survive.
stop_broker() {
        local i=0 workers
        workers=$(mb_workers "$(mb_broker_pid A)")
        mb_stop_broker A $1
        while [ -n "$(alive $workers)" ]; do
                i=$((i + 1))
                if [ "$i" -gt 40 ]; then
                        workers=$(alive $workers)
                        kill -KILL $workers 2>/dev/null # not left behind
                        mb_fail "worker $workers survived the broker's SIG$1"
                fi
                sleep 0.05
        done
        [ -e "$MB_TMP/run-A/devices/$D1" ] || mb_fail "no runtime record of $D1 after SIG$1"
}

# --- SIGTERM ------------------------------------------------------------------------------
mb_expect_eq "workers before SIGTERM" "$(mb_count_workers "$(mb_broker_pid A)")" 1
mb_log_mark A
stop_broker TERM
mb_expect_eq "cleanup() calls at SIGTERM" "$(mb_traced_calls A $D1 cleanup)" "=0"
mb_log_mark A
mb_start_broker A "$POLICY"
restored
mb_traced_calls A $D1 init | grep -q '=ok' || mb_fail "the session was not re-opened after SIGTERM"
mb_log "SIGTERM: claims, marks and the session restored"

# --- SIGKILL, with a worker stuck in its plugin -------------------------------------------
mb_expect A ok claim $D4 --owner $U1
mb_expect A ok open $D4 --owner $U1
mb_spawn hang-D4 "$MB_CTL" --bus "$MB_BUS_A" set-state $D4 pre-copy
mb_wait_prop A $D4 State pre-copy 5  # set_state(3) done: update_pending hangs now
STUCK=$(mb_workers "$(mb_broker_pid A)")
mb_expect_eq "workers before SIGKILL" "$(echo $STUCK | wc -w)" 2
stop_broker KILL
mb_log "SIGKILL: workers" $STUCK "died with the broker"
mb_log_mark A
mb_start_broker A "$POLICY"
restored D4
mb_traced_calls A $D1 init | grep -q '=ok' || mb_fail "the session was not re-opened after SIGKILL"
mb_log "SIGKILL: claims, marks and the sessions restored"

# Released devices are not restored.
mb_expect A ok release $D1 --owner $U1
mb_expect A ok release $D4 --owner $U1
mb_expect A ok release $D2 --owner $U1
mb_stop_broker A TERM
[ -e "$MB_TMP/run-A/devices/$D1" ] && mb_fail "the record of the released $D1 is still there"
mb_start_broker A "$POLICY"
sleep 0.3
mb_expect_prop A $D1 Owner ""
mb_expect_prop A $D1 IsOpen false
mb_expect_prop A $D2 Owner ""
mb_expect_prop A $D3 IncomingOwner $U2
mb_expect_eq "workers after a restart without sessions" "$(mb_count_workers "$(mb_broker_pid A)")" 0
mb_log "PASS"
exit 0
