#!/bin/bash
# A broker managing MB_BENCH_DEVICES (1024) functions of a fake sysfs, all
# bound to the memory plugin by four bus-wide patterns; bench-fleet opens
# MB_BENCH_OPEN (256) of them (each Open starts a worker), reads the broker's
# and the workers' RSS, then runs MB_BENCH_CLIENTS (64) concurrent clients
# doing MB_BENCH_CLIENT_ROUNDS (5) rounds of Claim/Open/Close/Release.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
SO="$MB_BUILDDIR/tests/bench/.libs/bench-plugin.so"
mb_require_built "$MB_BROKER" "$MB_WORKER" "$SO" "$MB_BUILDDIR/tests/bench/bench-fleet"
N=${MB_BENCH_DEVICES:-1024}
[ "$N" -le 1024 ] || mb_fail "MB_BENCH_DEVICES: at most 1024 (buses 60-63)"

mb_start_bus FLEET
# Function i is 0000:(60 + i/256):((i/8) % 32).(i % 8), as bench-fleet.c has it.
for i in $(seq 0 $((N - 1))); do
        d="$MB_TMP/sysfs-FLEET/bus/pci/devices/$(printf '0000:%02x:%02x.%x' $((0x60 + i / 256)) $(((i / 8) % 32)) $((i % 8)))"
        mkdir -p "$d"
        echo 0x1af4 >"$d/vendor"
        echo 0x1041 >"$d/device"
done
cat >"$MB_TMP/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  op-timeout-ms: 30000
plugins:
  bench:
    path: $SO
    arg: "size=64M"
devices:
  - match: { bdf: "0000:60:*.*" }
    plugin: bench
  - match: { bdf: "0000:61:*.*" }
    plugin: bench
  - match: { bdf: "0000:62:*.*" }
    plugin: bench
  - match: { bdf: "0000:63:*.*" }
    plugin: bench
EOP
MB_BROKER_LOG_LEVEL=warning mb_start_broker FLEET "$MB_TMP/policy.yaml" --libvirt-uri ""
"$MB_BUILDDIR/tests/bench/bench-fleet" --bus "$MB_BUS_FLEET" --broker-pid "$MB_BROKER_PID_FLEET" \
        --devices "$N" --open "${MB_BENCH_OPEN:-256}" --per-domain "${MB_BENCH_PER_DOMAIN:-8}" \
        --clients "${MB_BENCH_CLIENTS:-64}" --rounds "${MB_BENCH_CLIENT_ROUNDS:-5}"
