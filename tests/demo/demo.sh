#!/usr/bin/env bash
# The migbroker demo: a live device migration between two simulated hosts.
#
#   host A: private D-Bus bus, migbrokerd, a simulated DPU agent whose function
#           0000:3b:00.1 holds 64 MiB of state, dirtied while it runs;
#   host B: the same with an empty function.
#
# The device is opened on A (running) and preflighted, claimed and opened on B
# (stop, awaiting state). `migbrokerctl save` on A runs pre-copy rounds while
# the device keeps changing, then stop-copy, straight into `migbrokerctl load`
# on B. The agents' SHA-256 digests prove the state arrived intact.
#
# Usage: tests/demo/demo.sh [BUILDDIR]   (./quickstart.sh demo runs it)
set -euo pipefail
MB_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MB_BUILDDIR=$(cd "${1:-$MB_SRCDIR/_build}" && pwd)
export MB_SRCDIR MB_BUILDDIR
. "$MB_SRCDIR/tests/integration/lib.sh"

BDF=0000:3b:00.1
DOMAIN=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41
SIZE=${DEMO_STATE_SIZE:-64M}
RATE=${DEMO_DIRTY_RATE:-8M}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

write_policy() { # HOST AGENT_ADDR
    local dir="$MB_TMP/etc-$1"
    mkdir -p "$dir"
    cat >"$dir/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  op-timeout-ms: 10000
plugins:
  simdev:
    path: $MB_SIMDEV_SO
devices:
  - match: { bdf: "$BDF" }
    plugin: simdev
    arg: "$2"
EOP
    chmod 644 "$dir/policy.yaml"
    echo "$dir/policy.yaml"
}

say "Starting host A and host B (private buses, simulated DPU agents, brokers)"
mb_start_bus A
mb_start_bus B
mb_start_agent A --function "$BDF" --state-size "$SIZE" --seed 42 --dirty-rate "$RATE"
mb_start_agent B --function "$BDF" --state-size "$SIZE" --empty
mb_fake_pci "$MB_TMP/sysfs-A" "$BDF" 0x1af4 0x1041
mb_fake_pci "$MB_TMP/sysfs-B" "$BDF" 0x1af4 0x1041
mb_start_broker A "$(write_policy A "$MB_AGENT_A")"
mb_start_broker B "$(write_policy B "$MB_AGENT_B")"
echo "host A: bus $MB_BUS_A, agent $MB_AGENT_A ($SIZE of state, dirtied at $RATE/s)"
echo "host B: bus $MB_BUS_B, agent $MB_AGENT_B (empty)"
mb_ctl A list

say "Host A: the VM's device is claimed and running"
mb_ctl A claim "$BDF" --owner "$DOMAIN"
mb_ctl A open "$BDF" --owner "$DOMAIN"
mb_ctl A show "$BDF"

say "Host B: preflight, claim, open (the device waits in stop for its state)"
mb_ctl B preflight "$BDF" --owner "$DOMAIN"
mb_ctl B claim "$BDF" --owner "$DOMAIN"
mb_ctl B open "$BDF" --owner "$DOMAIN"
mb_ctl B show "$BDF"

say "Migrating $BDF from A to B: pre-copy rounds while it runs, then stop-copy"
mb_ctl A save "$BDF" -o - | mb_ctl B load "$BDF" -i -

say "Checking the state arrived intact"
HA=$(mb_hash "$MB_AGENT_PORT_A" "$BDF")
HB=$(mb_hash "$MB_AGENT_PORT_B" "$BDF")
echo "host A: sha256 $HA"
echo "host B: sha256 $HB"
[ "$HA" = "$HB" ] || mb_fail "the state differs after migration"
mb_ctl A list
mb_ctl B list

say "Cleaning up: close and release on both hosts"
mb_ctl A release "$BDF" --owner "$DOMAIN"
mb_ctl B release "$BDF" --owner "$DOMAIN"
echo
echo "demo: OK - $SIZE of device state migrated between two brokers, digests equal."
