#!/bin/bash
# Sets up a private bus, a broker, one device backed by the memory plugin
# (tests/bench/bench-plugin.c) and MB_BENCH_SCALE_DEVICES more for the
# "several streams at once" row, then runs bench-broker against them.
# Knobs (docs/performance.md): MB_BENCH_SIZE_MIB (1024), MB_BENCH_REPEATS (7),
# MB_BENCH_CALLS (2000), MB_BENCH_SCALE_DEVICES (8), MB_BENCH_SCALE_MIB (256),
# MB_BENCH_PIN (same; split, none: see bench-broker.c; one: as same, and the
# broker and its bus daemon on CPU 0 too), MB_BENCH_PARTS
# ("latency throughput"; "latency" alone measures the first three rows and
# sets up no device for the "at once" row), MB_BENCH_TCP_PAIRS (3: TCP pairs
# per run, as loopback TCP is far noisier than a pipe).
# The older MB_BENCH_SIZE (bytes) and MB_BENCH_RUNS still work.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
BDF=0000:5e:00.1
OWNER=0b3c1f2e-6a0d-4c52-9d11-8f3e2a7b9c10
SO="$MB_BUILDDIR/tests/bench/.libs/bench-plugin.so"
mb_require_built "$MB_BROKER" "$MB_WORKER" "$SO" "$MB_BUILDDIR/tests/bench/bench-broker"

SIZE=${MB_BENCH_SIZE:-$(( ${MB_BENCH_SIZE_MIB:-1024} << 20 ))}
RUNS=${MB_BENCH_RUNS:-${MB_BENCH_REPEATS:-7}}
PARTS=${MB_BENCH_PARTS:-latency throughput}
PARTS=${PARTS//,/ }
NSCALE=${MB_BENCH_SCALE_DEVICES:-8}
case " $PARTS " in *" throughput "*) ;; *) NSCALE=0 ;; esac
SCALE_SIZE=$(( ${MB_BENCH_SCALE_MIB:-256} << 20 ))

mb_start_bus BENCH
mb_fake_pci "$MB_TMP/sysfs-BENCH" "$BDF" 0x1af4 0x1041
SCALE_ARGS=()
SCALE_BDFS=()
for i in $(seq 0 $((NSCALE - 1))); do
        b=$(printf '0000:5f:%02x.%x' $((i / 8)) $((i % 8)))
        mb_fake_pci "$MB_TMP/sysfs-BENCH" "$b" 0x1af4 0x1041
        SCALE_BDFS+=("$b")
        SCALE_ARGS+=(--scale-bdf "$b")
done
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
    arg: "size=$SIZE"
  - match: { bdf: "0000:5f:*.*" }
    plugin: bench
    arg: "size=$SCALE_SIZE"
EOP
MB_BROKER_LOG_LEVEL=warning mb_start_broker BENCH "$MB_TMP/policy.yaml"
for b in "$BDF" "${SCALE_BDFS[@]}"; do
        mb_ctl BENCH claim "$b" --owner "$OWNER"
        mb_ctl BENCH open "$b" --owner "$OWNER"
done
PIN=${MB_BENCH_PIN:-same}
if [ "$PIN" = one ]; then
        # Every process of the latency rows on CPU 0 (bench-broker pins itself
        # and the workers): no row then depends on the cost of waking a CPU.
        taskset -apc 0 "$MB_BROKER_PID_BENCH" >/dev/null
        taskset -pc 0 "$MB_BUS_PID_BENCH" >/dev/null
        PIN=same
fi
"$MB_BUILDDIR/tests/bench/bench-broker" --bus "$MB_BUS_BENCH" --bdf "$BDF" \
        --size "$SIZE" --calls "${MB_BENCH_CALLS:-2000}" --runs "$RUNS" \
        --scale-size "$SCALE_SIZE" "${SCALE_ARGS[@]}" --broker-pid "$MB_BROKER_PID_BENCH" --pin "$PIN" \
        --parts "$PARTS" --tcp-pairs "${MB_BENCH_TCP_PAIRS:-3}"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
