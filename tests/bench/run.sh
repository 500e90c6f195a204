#!/bin/bash
# 'make bench': runs every benchmark of tests/bench, then prints one summary
# table (Markdown) of all their rows with a verdict per row, and writes it to
# $MB_BUILDDIR/bench-summary.md (the rows alone: bench-results.tsv).
# Never fails on a figure: a benchmark that breaks is reported and the others
# still run; the exit status is 0 unless the set-up itself is broken.
#
#   MB_BENCH_ONLY="policy broker fleet hook qemu"   which parts, in this order
# Every other knob is listed in docs/performance.md.
set -u
: "${MB_BUILDDIR:?}" "${MB_SRCDIR:?}"
export MB_BUILDDIR MB_SRCDIR
B="$MB_BUILDDIR/tests/bench"
S="$MB_SRCDIR/tests/bench"
export MB_BENCH_TSV="$MB_BUILDDIR/bench-results.tsv"
SUMMARY="$MB_BUILDDIR/bench-summary.md"
: >"$MB_BENCH_TSV"
START=$(date +%s)

part() { # NAME COMMAND...: runs one benchmark under the reaper (bench-reaper.c says why)
        local name=$1 t0 rc
        shift
        echo
        echo "==== $name"
        t0=$(date +%s)
        "$B/bench-reaper" "$@"
        rc=$?
        echo "# $name: $(( $(date +%s) - t0 )) s, exit $rc"
        if [ "$rc" != 0 ]; then
                printf '%s\tfailed (exit %s; see the output above)\t-\t-\t-\tfailed\n' "$name" "$rc" >>"$MB_BENCH_TSV"
        fi
}

for p in ${MB_BENCH_ONLY:-policy broker fleet hook qemu}; do
        case "$p" in
        policy) part policy "$B/bench-policy" ;;
        broker) part broker bash "$S/bench-broker.sh" ;;
        fleet) part fleet bash "$S/bench-fleet.sh" ;;
        hook) part hook bash "$S/bench-hook.sh" ;;
        qemu) part qemu bash "$S/bench-vmstate.sh" ;;
        *) echo "run.sh: unknown part '$p' in MB_BENCH_ONLY" >&2 ;;
        esac
done

{
        echo "Taken $(date -u '+%Y-%m-%d %H:%M UTC') on $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)," \
                "$(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
                "kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
                "$(( $(date +%s) - START )) s."
        echo
        echo "| figure | migbroker | baseline | ratio | target | verdict |"
        echo "|---|---|---|---|---|---|"
        # (a figure indented in a benchmark's own table details the row above it)
        awk -F'\t' '{ sub(/^ +/, "", $1); printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$MB_BENCH_TSV"
} >"$SUMMARY"
echo
echo "==== summary ($SUMMARY)"
echo
cat "$SUMMARY"
exit 0
