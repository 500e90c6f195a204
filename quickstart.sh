#!/bin/sh
# Quick start from a source checkout: build out of tree, then run the simdev
# demo: a seeded, dirtying source agent and an empty destination agent on
# loopback, a pre-copy save and a load through the simdev plugin, and the
# SHA-256 of both functions. NOTE: written on wip/simdev as a placeholder for
# the project's quick start; the broker demo belongs here once it exists.
set -eu
src=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$src/_build}

if [ ! -x "$build/plugins/simdev/migbroker-simagent" ]; then
        (cd "$src" && ./autogen.sh >/dev/null)
        mkdir -p "$build"
        (cd "$build" && "$src/configure" -q && make -j"$(nproc)" >/dev/null)
fi

MB_BUILDDIR=$build MB_SRCDIR=$src MB_KEEP_TMP=${MB_KEEP_TMP:-0} \
        sh "$src/tests/integration/simdev-roundtrip.sh"
