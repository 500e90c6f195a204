#!/bin/bash
# QEMU's dbus-vmstate through the broker, with real, unmodified QEMU: two
# brokers ("hosts" A and B), each serving device 0000:3b:00.1 as dbus-vmstate
# helper "mb-nic0" on its domain's private bus; QEMU A migrates to QEMU B on
# loopback. The device state (simdev, 256 KiB) goes A -> B inside QEMU's own
# migration stream: digests equal, the destination device ends running (no
# libvirt connection), the source's in stop-copy. Then a state over QEMU's
# 1 MiB limit: the migration fails with TooLarge in the broker's log.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
QEMU=$(command -v qemu-system-x86_64 || true)
[ -n "$QEMU" ] || mb_skip "qemu-system-x86_64 is not installed"
"$QEMU" -object help 2>/dev/null | grep -q dbus-vmstate || mb_skip "this QEMU has no dbus-vmstate"
mb_require_built "$MB_BROKER" "$MB_SIMAGENT" "$MB_SIMDEV_SO"
BDF=0000:3b:00.1
UUID=3f1e7c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b
QMP="python3 $MB_SRCDIR/tests/integration/qmp.py"

run() { # SIZE EXPECT(ok|fail)
        local size=$1 expect=$2 host
        for host in A B; do
                mb_start_bus "$host$size"
        done
        mb_start_agent "A$size" --function "$BDF" --state-size "$size" --seed 3
        mb_start_agent "B$size" --function "$BDF" --state-size "$size" --empty
        for host in A B; do
                local addr
                eval "addr=\$MB_AGENT_$host$size"
                mkdir -p "$MB_TMP/etc-$host$size"
                cat >"$MB_TMP/etc-$host$size/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  vmm-user: $(id -un)
plugins:
  simdev:
    path: $MB_SIMDEV_SO
devices:
  - match: { bdf: "$BDF" }
    plugin: simdev
    arg: "$addr"
EOP
                mb_fake_pci "$MB_TMP/sysfs-$host$size" "$BDF" 0x1af4 0x1041
                # No libvirt here: a libvirtd running on the machine must not hold the
                # destination device in stop waiting for a resume that never comes.
                mb_start_broker "$host$size" "$MB_TMP/etc-$host$size/policy.yaml" --libvirt-uri ""
        done
        mb_ctl "A$size" claim "$BDF" --owner "$UUID"
        mb_ctl "A$size" open "$BDF" --owner "$UUID" --vmstate-id mb-nic0
        mb_ctl "B$size" preflight "$BDF" --owner "$UUID"
        mb_ctl "B$size" claim "$BDF" --owner "$UUID"
        mb_ctl "B$size" open "$BDF" --owner "$UUID" --vmstate-id mb-nic0
        local busa="$MB_TMP/run-A$size/domain/$UUID/bus" busb="$MB_TMP/run-B$size/domain/$UUID/bus"
        [ -S "$busa" ] && [ -S "$busb" ] || mb_fail "the domain buses do not exist"
        local port=$((20000 + RANDOM % 20000))
        local common="-machine q35,accel=tcg -m 64 -nographic -display none -nodefaults -serial none -monitor none"
        # shellcheck disable=SC2086
        mb_spawn "qemu-A$size" "$QEMU" $common -qmp "unix:$MB_TMP/A$size.qmp,server=on,wait=off" \
                -object "dbus-vmstate,id=dv0,addr=unix:path=$busa,id-list=mb-nic0"
        # shellcheck disable=SC2086
        mb_spawn "qemu-B$size" "$QEMU" $common -qmp "unix:$MB_TMP/B$size.qmp,server=on,wait=off" \
                -object "dbus-vmstate,id=dv0,addr=unix:path=$busb,id-list=mb-nic0" -incoming "tcp:127.0.0.1:$port"
        for q in A B; do
                for _ in $(seq 100); do [ -S "$MB_TMP/$q$size.qmp" ] && break; sleep 0.1; done
                $QMP "$MB_TMP/$q$size.qmp" migrate-set-capabilities \
                        '{"capabilities":[{"capability":"return-path","state":true}]}' >/dev/null
        done
        $QMP "$MB_TMP/A$size.qmp" migrate "{\"uri\":\"tcp:127.0.0.1:$port\"}" >/dev/null
        local status=""
        for _ in $(seq 300); do
                status=$($QMP "$MB_TMP/A$size.qmp" query-migrate | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",""))')
                case "$status" in completed|failed) break ;; esac
                sleep 0.1
        done
        mb_log "$size: migration $status"
        if [ "$expect" = ok ]; then
                [ "$status" = completed ] || mb_fail "$size: migration $status"
                local ha hb pa pb
                eval "pa=\$MB_AGENT_PORT_A$size pb=\$MB_AGENT_PORT_B$size"
                ha=$(mb_hash "$pa" "$BDF")
                hb=$(mb_hash "$pb" "$BDF")
                [ "$ha" = "$hb" ] || mb_fail "$size: device state differs after migration"
                local sa sb
                sa=$(mb_ctl "A$size" show "$BDF" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["State"])')
                sb=$(mb_ctl "B$size" show "$BDF" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["State"])')
                [ "$sa" = stop-copy ] || mb_fail "source device in $sa, expected stop-copy"
                [ "$sb" = running ] || mb_fail "destination device in $sb, expected running"
                mb_log "$size: digests equal ($ha); source $sa, destination $sb"
        else
                [ "$status" = failed ] || mb_fail "$size: migration $status, expected failed"
                grep -q "TooLarge\|QEMU's dbus-vmstate takes at most" "$MB_TMP/broker-A$size.log" ||
                        mb_fail "no TooLarge message in the source broker's log"
                mb_log "$size: refused as expected: $(grep -m1 'takes at most' "$MB_TMP/broker-A$size.log" | sed 's/.*dbus-vmstate: //')"
        fi
        mb_ctl "A$size" release "$BDF" --owner "$UUID"
        mb_ctl "B$size" release "$BDF" --owner "$UUID"
        [ ! -e "$busa" ] || mb_fail "the domain bus of A survived the last release"
}

# The test's own uid plays the VMM user (QEMU runs as us here).
run 256K ok
run 2M fail
