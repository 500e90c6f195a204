#!/bin/bash
# Downtime of a real QEMU live migration (QEMU A -> QEMU B on this machine,
# over a unix socket) with one dbus-vmstate device of MB_BENCH_VMSTATE_BYTES
# (default 1 MiB - 64 bytes: just under QEMU's 1 MiB limit, framing
# included), served by the broker (bench plugin, per-domain buses, as
# tests/integration/vmstate-qemu.sh runs it), against the same QEMU with the
# trivial helper bench-vmstate-helper returning as many bytes. Also, for
# context, the same QEMU without dbus-vmstate. QMP query-migrate's
# "downtime" (ms) of MB_BENCH_QEMU_RUNS (45) migrations of each, interleaved;
# medians; the ratio is the median of the per-run ratios.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
FIGURE="QEMU downtime, dbus-vmstate via broker (vs helper)"
TARGET="<= 1.1x"

row() { # FIGURE MIGBROKER BASELINE RATIO TARGET VERDICT
        printf '%-50s %16s %16s %8s %10s\n' "$1" "$2" "$3" "$4" "$5"
        [ -z "${MB_BENCH_TSV:-}" ] || printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$MB_BENCH_TSV"
}
skip() { # REASON
        printf '%-50s skipped (%s)\n' "$FIGURE" "$1"
        [ -z "${MB_BENCH_TSV:-}" ] || printf '%s\tskipped (%s)\t-\t-\t%s\tskipped\n' "$FIGURE" "$1" "$TARGET" >>"$MB_BENCH_TSV"
        exit 0
}
QEMU=$(command -v qemu-system-x86_64 || true)
NO_QEMU=""
if [ "${MB_BENCH_QEMU:-1}" = 0 ]; then
        NO_QEMU="MB_BENCH_QEMU=0"
elif [ -z "$QEMU" ]; then
        NO_QEMU="qemu-system-x86_64 is not installed"
elif ! "$QEMU" -object help 2>/dev/null | grep -q dbus-vmstate; then
        NO_QEMU="this QEMU has no dbus-vmstate"
elif ! python3 -c 'import json, socket' 2>/dev/null; then
        NO_QEMU="no python3 for QMP"
fi
SO="$MB_BUILDDIR/tests/bench/.libs/bench-plugin.so"
HELPER="$MB_BUILDDIR/tests/bench/bench-vmstate-helper"
mb_require_built "$MB_BROKER" "$MB_WORKER" "$SO" "$HELPER"

BDF=0000:3b:00.1
TRIAL=0000:3b:00.2 # same length: the same header size
UUID=3f1e7c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b
VMID=mb-nic0
BYTES=${MB_BENCH_VMSTATE_BYTES:-1048512}
RUNS=${MB_BENCH_QEMU_RUNS:-45}
QMP="python3 $MB_SRCDIR/tests/integration/qmp.py"

write_policy() { # HOST SIZE
        cat >"$MB_TMP/etc-$1/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  vmm-user: $(id -un)
plugins:
  bench:
    path: $SO
devices:
  - match: { bdf: "$BDF" }
    plugin: bench
    arg: "size=$2"
  - match: { bdf: "$TRIAL" }
    plugin: bench
    arg: "size=65536"
EOP
}

# ---- two "hosts": a bus and a broker each ------------------------------------------
for host in A B; do
        mb_start_bus "$host"
        mkdir -p "$MB_TMP/etc-$host"
        write_policy "$host" 65536
        mb_fake_pci "$MB_TMP/sysfs-$host" "$BDF" 0x1af4 0x1041
        mb_fake_pci "$MB_TMP/sysfs-$host" "$TRIAL" 0x1af4 0x1041
        MB_BROKER_LOG_LEVEL=warning mb_start_broker "$host" "$MB_TMP/etc-$host/policy.yaml" --libvirt-uri ""
done

# The framing's size (header, record headers, end record): a trial save.
OTHER=5d0c7a1e-2b3c-4d5e-8f90-a1b2c3d4e5f6
mb_ctl A claim "$TRIAL" --owner "$OTHER"
mb_ctl A open "$TRIAL" --owner "$OTHER"
mb_ctl A set-state "$TRIAL" stop-copy
mb_ctl A save "$TRIAL" -o "$MB_TMP/trial.stream" >/dev/null
mb_ctl A release "$TRIAL" --owner "$OTHER"
FRAMING=$(( $(stat -c %s "$MB_TMP/trial.stream") - 65536 ))
SIZE=$((BYTES - FRAMING))
[ "$SIZE" -gt 0 ] || mb_fail "MB_BENCH_VMSTATE_BYTES=$BYTES is smaller than the framing ($FRAMING bytes)"
for host in A B; do
        write_policy "$host" "$SIZE"
        mb_ctl "$host" policy reload >/dev/null
done

mb_ctl A claim "$BDF" --owner "$UUID"
mb_ctl A open "$BDF" --owner "$UUID" --vmstate-id "$VMID"
mb_ctl B preflight "$BDF" --owner "$UUID"
mb_ctl B claim "$BDF" --owner "$UUID"
mb_ctl B open "$BDF" --owner "$UUID" --vmstate-id "$VMID"
# What the broker's Save will return: the same stream, checked once.
mb_ctl A set-state "$BDF" stop-copy
mb_ctl A save "$BDF" -o "$MB_TMP/check.stream" >/dev/null
mb_ctl A set-state "$BDF" running
GOT=$(stat -c %s "$MB_TMP/check.stream")
[ "$GOT" = "$BYTES" ] || mb_fail "the broker's stream has $GOT bytes, expected $BYTES"
BUS_A="$MB_TMP/run-A/domain/$UUID/bus"
BUS_B="$MB_TMP/run-B/domain/$UUID/bus"
[ -S "$BUS_A" ] && [ -S "$BUS_B" ] || mb_fail "the domain buses do not exist"

# ---- the trivial helpers, each on a bus of its own ------------------------------------
for host in HA HB; do
        mb_start_bus "$host"
        addr=""
        eval "addr=\$MB_BUS_$host"
        mb_spawn "helper-$host" "$HELPER" --bus "$addr" --id "$VMID" --size "$BYTES" --ready "$MB_TMP/helper-$host.ready"
        mb_wait_file "$MB_TMP/helper-$host.ready" 10 || mb_fail "helper $host did not start"
done

# ---- Save() alone, as QEMU calls it at stop-copy, without QEMU ------------------------------
CALLS=${MB_BENCH_QEMU_RUNS:-45}
read -r SAVE_B BYTES_B < <("$HELPER" --call-save --bus "unix:path=$BUS_A" --calls "$CALLS" \
        --between "'$MB_CTL' --bus '$MB_BUS_A' set-state $BDF running")
read -r SAVE_H BYTES_H < <("$HELPER" --call-save --bus "$MB_BUS_HA" --calls "$CALLS")
[ "$BYTES_B" = "$BYTES" ] && [ "$BYTES_H" = "$BYTES" ] || mb_fail "Save() returned $BYTES_B (broker) and $BYTES_H (helper) bytes, expected $BYTES"
mb_ctl A set-state "$BDF" running
SAVE_R=$(python3 -c "print(f'{$SAVE_B / $SAVE_H:.2f}')")
# Load() of the broker's own stream on B (it ends running: no libvirt here)
read -r LOAD_B _ < <("$HELPER" --call-load "$MB_TMP/check.stream" --bus "unix:path=$BUS_B" --calls "$CALLS")
read -r LOAD_H _ < <("$HELPER" --call-load "$MB_TMP/check.stream" --bus "$MB_BUS_HB" --calls "$CALLS")
LOAD_R=$(python3 -c "print(f'{$LOAD_B / $LOAD_H:.2f}')")

report_save() {
        printf '%-50s %16s %16s %8s %10s\n' figure migbroker baseline ratio target
        row "dbus-vmstate Save() of $BYTES bytes (vs helper)" "$SAVE_B ms" "$SAVE_H ms" "${SAVE_R}x" report -
        row "dbus-vmstate Load() of $BYTES bytes (vs helper)" "$LOAD_B ms" "$LOAD_H ms" "${LOAD_R}x" report -
}
if [ -n "$NO_QEMU" ]; then
        echo
        report_save
        skip "$NO_QEMU"
fi

# ---- one migration -------------------------------------------------------------------------
# migrate NAME [BUS-A BUS-B]: QEMU A -> QEMU B; echoes the downtime in ms.
N_MIG=0
migrate() {
        local name=$1 busa=${2:-} busb=${3:-} q pa pb status="" json
        N_MIG=$((N_MIG + 1))
        local d="$MB_TMP/mig-$N_MIG"
        mkdir -p "$d"
        # shellcheck disable=SC2054 # q35,accel=tcg is one argument
        local common=(-machine q35,accel=tcg -m 64 -nographic -display none -nodefaults -serial none -monitor none)
        local va=() vb=()
        if [ -n "$busa" ]; then
                va=(-object "dbus-vmstate,id=dv0,addr=unix:path=$busa,id-list=$VMID")
                vb=(-object "dbus-vmstate,id=dv0,addr=unix:path=$busb,id-list=$VMID")
        fi
        "$QEMU" "${common[@]}" -qmp "unix:$d/A.qmp,server=on,wait=off" "${va[@]}" >"$d/qemu-A.log" 2>&1 &
        pa=$!
        "$QEMU" "${common[@]}" -qmp "unix:$d/B.qmp,server=on,wait=off" "${vb[@]}" \
                -incoming "unix:$d/mig.sock" >"$d/qemu-B.log" 2>&1 &
        pb=$!
        mb_track "$pa"
        mb_track "$pb"
        for q in A B; do
                for _ in $(seq 200); do [ -S "$d/$q.qmp" ] && break; sleep 0.05; done
                $QMP "$d/$q.qmp" migrate-set-capabilities \
                        '{"capabilities":[{"capability":"return-path","state":true}]}' >/dev/null
        done
        for _ in $(seq 200); do [ -S "$d/mig.sock" ] && break; sleep 0.05; done
        $QMP "$d/A.qmp" migrate "{\"uri\":\"unix:$d/mig.sock\"}" >/dev/null
        for _ in $(seq 600); do
                json=$($QMP "$d/A.qmp" query-migrate)
                status=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",""))')
                case "$status" in completed|failed|cancelled) break ;; esac
                sleep 0.05
        done
        kill "$pa" "$pb" 2>/dev/null || true
        wait "$pa" "$pb" 2>/dev/null || true
        if [ "$status" != completed ]; then
                echo "# $name migration $N_MIG: $status: $(cat "$d/qemu-A.log" "$d/qemu-B.log" | tr '\n' ' ')" >&2
                echo nan
                return 0
        fi
        echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["downtime"])'
}

# The devices back where a migration expects them: the source running, the
# destination running too (without libvirt it goes running after Load; a
# Load from running goes through resuming).
reset_devices() {
        mb_ctl A set-state "$BDF" running
        [ "$(mb_ctl B show "$BDF" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["State"])')" = running ] ||
                mb_ctl B set-state "$BDF" running
}

BROKER=() HELPERS=() PLAIN=()
for i in $(seq 1 "$RUNS"); do
        if [ $((i % 2)) = 1 ]; then
                b=$(migrate broker "$BUS_A" "$BUS_B"); reset_devices
                h=$(migrate helper "${MB_BUS_HA#unix:path=}" "${MB_BUS_HB#unix:path=}")
        else
                h=$(migrate helper "${MB_BUS_HA#unix:path=}" "${MB_BUS_HB#unix:path=}")
                b=$(migrate broker "$BUS_A" "$BUS_B"); reset_devices
        fi
        p=$(migrate plain)
        echo "# run $i/$RUNS: downtime via broker $b ms, via trivial helper $h ms, without dbus-vmstate $p ms" >&2
        BROKER+=("$b") HELPERS+=("$h") PLAIN+=("$p")
done

# ---- report ------------------------------------------------------------------------------
read -r MB MH MP MR VERDICT < <(python3 - "${BROKER[*]}" "${HELPERS[*]}" "${PLAIN[*]}" <<'EOP'
import math, statistics, sys
b, h, p = ([float(x) for x in s.split()] for s in sys.argv[1:4])
pairs = [x / y for x, y in zip(b, h) if not math.isnan(x) and not math.isnan(y) and y > 0]
med = lambda v: statistics.median([x for x in v if not math.isnan(x)]) if [x for x in v if not math.isnan(x)] else float("nan")
r = statistics.median(pairs) if pairs else float("nan")
print(f"{med(b):.1f} {med(h):.1f} {med(p):.1f} {r:.2f} {'pass' if r <= 1.1 else 'miss' if pairs else '-'}")
EOP
)
echo
echo "QEMU $("$QEMU" --version | head -1 | sed 's/.*version //'): $RUNS migrations of each, TCG guest of 64 MiB, dbus-vmstate state $BYTES bytes ($SIZE payload + $FRAMING framing)"
echo
report_save
row "$FIGURE" "$MB ms" "$MH ms" "${MR}x" "$TARGET" "$VERDICT"
row "QEMU downtime without dbus-vmstate (context)" "$MP ms" "-" "-" "report" "-"
