#!/bin/sh
# Runs every fuzz target built by 'make fuzz' for SECONDS each on a copy of
# its seed corpus tests/fuzz/corpus/NAME/ (and tests/fuzz/NAME.dict when
# present; tests/fuzz/NAME.options adds libFuzzer flags, e.g. a longer
# -timeout). Fails when a target finds a crash, a leak or a timeout; the
# reproducer is left in BUILDDIR/tests/fuzz/artifacts/.
#   tests/fuzz/run.sh SECONDS [BUILDDIR]
set -eu
seconds=${1:?usage: run.sh SECONDS [BUILDDIR]}
builddir=${2:-.}
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$builddir/tests/fuzz/artifacts"
mkdir -p "$artifacts"
found=0
status=0
for bin in "$builddir"/tests/fuzz/fuzz-*; do
    [ -x "$bin" ] && [ -f "$bin" ] || continue
    name=${bin##*/fuzz-}
    found=1
    work=$(mktemp -d)
    if [ -d "$here/corpus/$name" ]; then
        cp "$here/corpus/$name"/* "$work/" 2>/dev/null || true
    fi
    set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$name-"
    [ -f "$here/$name.dict" ] && set -- "$@" -dict="$here/$name.dict"
    if [ -f "$here/$name.options" ]; then
        # shellcheck disable=SC2046
        set -- "$@" $(grep -v '^#' "$here/$name.options")
    fi
    echo "fuzz: $name for ${seconds}s, $(ls "$work" | wc -l) seeds"
    if "$bin" "$@" "$work" >"$artifacts/$name.log" 2>&1; then
        if grep -q "^fuzz-$name: SKIP: " "$artifacts/$name.log"; then
            echo "fuzz: $name skipped: $(sed -n "s/^fuzz-$name: SKIP: //p" "$artifacts/$name.log" | head -n 1)"
        else
            echo "fuzz: $name ok: $(grep -E 'stat::number_of_executed_units' "$artifacts/$name.log" | awk '{print $2}') runs"
        fi
    else
        status=1
        echo "fuzz: $name FAILED; see $artifacts/$name.log:"
        tail -n 40 "$artifacts/$name.log"
    fi
    rm -rf "$work"
done
if [ "$found" -eq 0 ]; then
    echo "fuzz: no target built under $builddir/tests/fuzz (run 'make fuzz')" >&2
    exit 1
fi
exit "$status"
