#!/bin/bash
# Sets up a private bus, a broker and one device backed by the memory plugin
# (tests/bench/bench-plugin.c), then runs bench-broker against it.
#   MB_BENCH_SIZE (default 1 GiB), MB_BENCH_CALLS (2000), MB_BENCH_RUNS (3)
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
BDF=0000:5e:00.1
OWNER=0b3c1f2e-6a0d-4c52-9d11-8f3e2a7b9c10
SO="$MB_BUILDDIR/tests/bench/.libs/bench-plugin.so"
mb_require_built "$MB_BROKER" "$MB_WORKER" "$SO" "$MB_BUILDDIR/tests/bench/bench-broker"

mb_start_bus BENCH
mb_fake_pci "$MB_TMP/sysfs-BENCH" "$BDF" 0x1af4 0x1041
cat >"$MB_TMP/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  op-timeout-ms: 20000
plugins:
  bench:
    path: $SO
devices:
  - match: { bdf: "$BDF" }
    plugin: bench
    arg: "size=${MB_BENCH_SIZE:-1073741824}"
EOP
MB_BROKER_LOG_LEVEL=warning mb_start_broker BENCH "$MB_TMP/policy.yaml"
mb_ctl BENCH claim "$BDF" --owner "$OWNER"
mb_ctl BENCH open "$BDF" --owner "$OWNER"
"$MB_BUILDDIR/tests/bench/bench-broker" --bus "$MB_BUS_BENCH" --bdf "$BDF" \
        --size "${MB_BENCH_SIZE:-1073741824}" --calls "${MB_BENCH_CALLS:-2000}" --runs "${MB_BENCH_RUNS:-3}"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
