#!/bin/bash
# The last rung of the precedence: functions no rule binds are offered to the
# plugins' probe() (in workers), in declaration order; the first that accepts
# binds. Rules still win; Rescan and ReloadPolicy re-run the probes.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"
set -e
SO="$MB_BUILDDIR/tests/integration/.libs/probe-plugin.so"
mb_require_built "$MB_BROKER" "$MB_WORKER" "$SO" "$MB_TESTING_SO"

mb_start_bus P
S="$MB_TMP/sysfs-P"
mb_fake_pci "$S" 0000:81:00.0 0x1d0f 0x0002   # accepted by the probe
mb_fake_pci "$S" 0000:81:00.1 0x1d0f 0x0003   # declined (odd device)
mb_fake_pci "$S" 0000:82:00.0 0x8086 0x0002   # declined (other vendor)
mb_fake_pci "$S" 0000:83:00.0 0x1af4 0x1041   # bound by a rule
write_policy() {
        cat >"$MB_TMP/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
plugins:
  testing:
    path: $MB_TESTING_SO
  prober:
    path: $SO
devices:
  - match: { vendor: 0x1af4, device: 0x1041 }
    plugin: testing
$1
EOP
}
write_policy ""
mb_start_broker P "$MB_TMP/policy.yaml"

wait_managed() { # BDF
        for _ in $(seq 100); do
                mb_ctl P show "$1" --json >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        return 1
}
rule_of() { mb_ctl P show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Rule"])'; }
error_of() { mb_ctl P show "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("error",""))'; }

wait_managed 0000:81:00.0 || mb_fail "the probe did not bind 0000:81:00.0"
[ "$(rule_of 0000:81:00.0)" = "probe of plugin prober" ] || mb_fail "wrong rule: $(rule_of 0000:81:00.0)"
[ "$(error_of 0000:81:00.1)" = NotManaged ] || mb_fail "0000:81:00.1 should not be managed"
[ "$(error_of 0000:82:00.0)" = NotManaged ] || mb_fail "0000:82:00.0 should not be managed"
case "$(rule_of 0000:83:00.0)" in *policy.yaml:*) ;; *) mb_fail "0000:83:00.0 not bound by its rule" ;; esac
mb_log "probe bound 0000:81:00.0; declined the others; the rule kept 0000:83:00.0"

# A new function: Rescan offers it to the probes.
mb_fake_pci "$S" 0000:81:00.2 0x1d0f 0x0004
mb_ctl P show 0000:81:00.2 --json >/dev/null 2>&1 && mb_fail "0000:81:00.2 managed before a rescan"
busctl --address="$MB_BUS_P" call org.migbroker1 /org/migbroker1 org.migbroker1.Manager Rescan
wait_managed 0000:81:00.2 || mb_fail "Rescan did not probe the new function"

# A rule for the probed function wins over the probe after a reload.
write_policy '  - match: { bdf: "0000:81:00.0" }
    plugin: testing'
mb_ctl P policy reload
for _ in $(seq 100); do case "$(rule_of 0000:81:00.0)" in *policy.yaml:*) break ;; esac; sleep 0.05; done
case "$(rule_of 0000:81:00.0)" in *policy.yaml:*) ;; *) mb_fail "the rule did not take over from the probe" ;; esac
[ "$(mb_ctl P show 0000:81:00.0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Plugin"])')" = testing ] ||
        mb_fail "plugin not switched to testing"

# A probed device can be claimed and opened like any other.
mb_ctl P claim 0000:81:00.2 --owner 11111111-2222-3333-4444-555555555555
mb_ctl P open 0000:81:00.2 --owner 11111111-2222-3333-4444-555555555555
mb_ctl P set-state 0000:81:00.2 stop
mb_ctl P release 0000:81:00.2 --owner 11111111-2222-3333-4444-555555555555

# A broker stopped while a probe is in flight (its plugin hangs in probe()):
# it exits at once with status 0 (in a sanitizer build: without a leak
# report), and reaps the probe's worker itself: nothing is left.
mb_start_bus Q
mb_fake_pci "$MB_TMP/sysfs-Q" 0000:81:00.4 0x1d0f 0xdead
mb_start_broker Q "$MB_TMP/policy.yaml"
QPID=$(mb_broker_pid Q)
for _ in $(seq 100); do [ "$(mb_count_workers "$QPID")" -ge 1 ] && break; sleep 0.05; done
[ "$(mb_count_workers "$QPID")" -ge 1 ] || mb_fail "Q: no probe worker"
PROBER=$(mb_workers "$QPID" | head -n1)
kill -TERM "$QPID"
set +e; wait "$QPID"; st=$?; set -e
[ "$st" = 0 ] || mb_fail "Q: the broker stopped during a probe exited with $st (see $MB_TMP/broker-Q.log)"
[ ! -e "/proc/$PROBER" ] || mb_fail "Q: the probe's worker $PROBER is still there ($(cat /proc/$PROBER/status 2>/dev/null | grep State))"
mb_log "stopped during a probe: exit 0, the probe's worker reaped by the broker"
mb_log "ok"
