#!/usr/bin/env bash
# migbroker quick start, on a fresh Debian 12:
#   ./quickstart.sh demo    install what is missing, build, run the demo
#   ./quickstart.sh check   install what is missing, build, run the whole test suite
# Other verbs: build (just install + build), deps (print the packages).
# Environment: MB_BUILD_DIR (default: ./_build), CONFIGURE_FLAGS (extra flags),
# MB_NO_INSTALL=1 (never call apt-get).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${MB_BUILD_DIR:-$top/_build}
verb=${1:-}

# The Debian packages the build and the test suite need, one place only.
packages=(
    build-essential autoconf automake libtool pkg-config
    libsystemd-dev libglib2.0-dev libyaml-dev libcmocka-dev libxml2-dev libvirt-dev libjson-glib-dev
    dbus python3 python3-jsonschema python3-yaml
    valgrind clang libclang-rt-14-dev util-linux procps iproute2 xxd
    qemu-system-x86 qemu-utils
    libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
)

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

missing_packages() {
    local p
    for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$p"
        fi
    done
}

install_deps() {
    local missing
    missing=$(missing_packages | tr '\n' ' ')
    missing=${missing% }
    [ -n "$missing" ] || return 0
    if [ "${MB_NO_INSTALL:-0}" = 1 ] || [ "$(id -u)" -ne 0 ]; then
        echo "quickstart: these Debian packages are missing; as root, run:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends $missing" >&2
        exit 1
    fi
    echo "quickstart: installing: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
}

do_build() {
    if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
        (cd "$top" && NOCONFIGURE=1 ./autogen.sh >/dev/null)
    fi
    mkdir -p "$build"
    if [ ! -f "$build/Makefile" ] || [ "$top/configure" -nt "$build/config.status" ]; then
        # shellcheck disable=SC2086
        (cd "$build" && "$top/configure" -q --enable-werror ${CONFIGURE_FLAGS:-})
    fi
    make -C "$build" -j"$(nproc)" >/dev/null
}

# Closing line in the form CI reads: "N passed, N failed, N skipped".
summarize() {
    local log=$1 pass fail skip xfail xpass err
    pass=$(sed -n 's/^# PASS: *//p' "$log" | tail -1)
    fail=$(sed -n 's/^# FAIL: *//p' "$log" | tail -1)
    skip=$(sed -n 's/^# SKIP: *//p' "$log" | tail -1)
    xfail=$(sed -n 's/^# XFAIL: *//p' "$log" | tail -1)
    xpass=$(sed -n 's/^# XPASS: *//p' "$log" | tail -1)
    err=$(sed -n 's/^# ERROR: *//p' "$log" | tail -1)
    echo "${pass:-0} passed, $(( ${fail:-0} + ${xpass:-0} + ${err:-0} )) failed, $(( ${skip:-0} + ${xfail:-0} )) skipped"
}

case "$verb" in
deps)
    printf '%s\n' "${packages[@]}"
    ;;
build)
    install_deps
    do_build
    ;;
demo)
    install_deps
    do_build
    exec "$top/tests/demo/demo.sh" "$build"
    ;;
check)
    install_deps
    do_build
    rc=0
    make -C "$build" -j"$(nproc)" check >"$build/check.out" 2>&1 || rc=$?
    grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$build/check.out" || true
    if [ "$rc" -ne 0 ]; then
        for f in $(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find "$build" -name '*.trs') 2>/dev/null); do
            echo "==== ${f%.trs}.log"
            tail -n 60 "${f%.trs}.log"
        done
    fi
    summarize "$build/check.out"
    exit "$rc"
    ;;
*)
    usage
    ;;
esac
