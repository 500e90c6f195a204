#!/bin/sh
# migbroker-qemu-shim.so is loaded into QEMU: it may link libsystemd and libc
# and nothing else, resolve every symbol (no undefined ones left for QEMU's
# namespace), and export the two seed ABI symbols only.
. "$MB_SRCDIR/tests/integration/lib.sh"

SHIM="$MB_BUILDDIR/plugins/qemu-shim/.libs/migbroker-qemu-shim.so"
mb_require_built "$SHIM"
command -v readelf >/dev/null 2>&1 || mb_skip "readelf (binutils) is not installed"

needed=$(readelf -d "$SHIM" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
# A sanitizer build (configure --enable-sanitizers) links every object with
# the sanitizers' runtimes: those two, and only there, are expected.
if [ "${MB_SANITIZERS:-no}" = yes ]; then
        needed=$(echo "$needed" | tr ' ' '\n' | grep -v -E '^lib(asan|ubsan)\.so\.[0-9]+$' | sed '/^$/d' | tr '\n' ' ')
fi
mb_log "NEEDED: $needed"
[ "$needed" = "libc.so.6 libsystemd.so.0 " ] || mb_fail "the shim links more than libsystemd and libc: $needed"

# What the loader resolves for the shim itself: its two libraries, the vdso
# and the loader (libsystemd's own dependencies are listed after them).
if command -v ldd >/dev/null 2>&1; then
        ldd "$SHIM" >"$MB_TMP/ldd.out" 2>&1 || { cat "$MB_TMP/ldd.out"; mb_fail "ldd failed"; }
        cat "$MB_TMP/ldd.out"
        ! grep -q "not found" "$MB_TMP/ldd.out" || mb_fail "an unresolved library"
        grep -q "libsystemd.so.0 => " "$MB_TMP/ldd.out" || mb_fail "libsystemd not resolved"
        grep -q "libc.so.6 => " "$MB_TMP/ldd.out" || mb_fail "libc not resolved"
fi

exported=$(readelf --dyn-syms -W "$SHIM" | awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' | sort | tr '\n' ' ')
mb_log "exported: $exported"
[ "$exported" = "vfio_lm_get_plugin_ops vfio_lm_get_plugin_version " ] || mb_fail "unexpected exports: $exported"

mb_log "PASS"
exit 0
