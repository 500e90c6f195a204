#!/bin/bash
# migbroker-hook as libvirtd runs it, timed beside /bin/true (bench-hook.c):
# the fixture domain of libvirt 9.0 as is (no device of ours: the hook must
# return without connecting anywhere), and the same domain with
# MB_BENCH_HOOK_DEVICES (8) PCI hostdevs that a broker on a private bus
# manages with the memory plugin. MB_BENCH_HOOK_RUNS (21) runs of each.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
HOOK="$MB_BUILDDIR/hooks/migbroker-hook-gate" # what libvirtd runs (it runs migbroker-hook when needed)
SO="$MB_BUILDDIR/tests/bench/.libs/bench-plugin.so"
mb_require_built "$MB_BROKER" "$MB_WORKER" "$HOOK" "$SO" "$MB_BUILDDIR/tests/bench/bench-hook"
FIX="${MB_SHARED:-$MB_SRCDIR/../shared}/fixtures/libvirt"
N=${MB_BENCH_HOOK_DEVICES:-8}
if [ ! -f "$FIX/hook-stdin-live.xml" ]; then
        printf '%-50s skipped (no libvirt fixtures in %s: set MB_SHARED)\n' "hook runs" "$FIX"
        [ -z "${MB_BENCH_TSV:-}" ] || printf 'hook runs\tskipped (no libvirt fixtures)\t-\t-\t<= 5 ms / <= 100 ms\tskipped\n' >>"$MB_BENCH_TSV"
        exit 0
fi
[ "$N" -ge 1 ] && [ "$N" -le 8 ] || mb_fail "MB_BENCH_HOOK_DEVICES: 1 to 8"

mb_start_bus H
for f in $(seq 0 $((N - 1))); do
        mb_fake_pci "$MB_TMP/sysfs-H" "0000:7b:00.$f" 0x1af4 0x1041
done
cat >"$MB_TMP/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  op-timeout-ms: 10000
plugins:
  bench:
    path: $SO
    arg: "size=1M"
devices:
  - match: { bdf: "0000:7b:00.*" }
    plugin: bench
EOP
MB_BROKER_LOG_LEVEL=warning mb_start_broker H "$MB_TMP/policy.yaml" --libvirt-uri ""

# The fixture with N PCI hostdevs 0000:7b:00.0-(N-1) added, as libvirt writes them live.
hostdevs=""
for f in $(seq 0 $((N - 1))); do
        hostdevs="$hostdevs    <hostdev mode='subsystem' type='pci' managed='yes'>\\n      <driver name='vfio'/>\\n      <source>\\n        <address domain='0x0000' bus='0x7b' slot='0x00' function='0x$f'/>\\n      </source>\\n      <alias name='hostdev$f'/>\\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x1$f' function='0x0'/>\\n    </hostdev>\\n"
done
sed -e "s|^  </devices>|$hostdevs  </devices>|" "$FIX/hook-stdin-live.xml" >"$MB_TMP/devices.xml"
[ "$(grep -c "bus='0x7b'" "$MB_TMP/devices.xml")" = "$N" ] || mb_fail "sed did not add the hostdevs"
printf 'bus = %s\ntimeout-ms = 10000\n' "$MB_BUS_H" >"$MB_TMP/hook.conf"
chmod 644 "$MB_TMP/hook.conf"

"$MB_BUILDDIR/tests/bench/bench-hook" --hook "$HOOK" --conf "$MB_TMP/hook.conf" --none "$FIX/hook-stdin-live.xml" \
        --devices "$MB_TMP/devices.xml" --count "$N" --runs "${MB_BENCH_HOOK_RUNS:-21}"
