#!/bin/sh
# The test fixtures themselves: testing.so's faults do what README.md says
# (exit statuses through plugin-driver), it round-trips without faults, the
# broken-*.so are refused by seed 000's loader checks (broken-null-cleanup is
# accepted), and the template plugin round-trips, in-tree and built standalone
# with its own Makefile.
. "$MB_SRCDIR/tests/integration/lib.sh"

mb_require_built "$MB_DRIVER" "$MB_TESTING_SO"
D=$MB_DRIVER
T=$MB_TESTING_SO

# expect STATUS DESCRIPTION plugin-driver-args...
expect() {
        local want=$1 what=$2 got
        shift 2
        timeout 10 "$D" "$@" >"$MB_TMP/out" 2>"$MB_TMP/err"
        got=$?
        [ "$got" = "$want" ] || { cat "$MB_TMP/err"; mb_fail "$what: exit status $got, expected $want"; }
        mb_log "$what: exit status $got"
}

# --- faults -------------------------------------------------------------------
expect 139 "save=segv (SIGSEGV)"     save "$T" --arg save=segv -o /dev/null
expect 134 "get_state=abort"          save "$T" --arg get_state=abort -o /dev/null
expect 3   "set_state=exit:3"         save "$T" --arg set_state=exit:3 -o /dev/null
expect 1   "init=fail"                save "$T" --arg init=fail -o /dev/null
expect 1   "save=fail:ENOSPC+after:2" save "$T" --arg save=fail:ENOSPC+after:2,state-size=3M -o /dev/null
grep -q 'injected failure -28' "$MB_TMP/err" || mb_fail "ENOSPC not injected"
expect 1   "update_pending=garbage"   save "$T" --arg update_pending=garbage -o /dev/null
expect 1   "get_state=garbage"        save "$T" --arg get_state=garbage -o /dev/null
expect 1   "unknown key"              save "$T" --arg frobnicate=1 -o /dev/null
grep -q "unknown key 'frobnicate'" "$MB_TMP/err" || mb_fail "unknown key not reported"
expect 124 "load=hang (killed by timeout)" load "$T" --arg load=hang -i /dev/zero
start=$(date +%s%N)
expect 0   "cleanup=slow:300"         save "$T" --arg cleanup=slow:300 -o /dev/null
[ $(( ($(date +%s%N) - start) / 1000000 )) -ge 300 ] || mb_fail "cleanup=slow:300 was not slow"
expect 0   "save=leak:1M"             save "$T" --arg save=leak:1M,state-size=4M -o /dev/null

# --- round trip without faults, pre-copy with dirtying, 1-byte loads ----------
expect 0 "testing save" save "$T" --arg state-size=256K,seed=5,dirty=16K --rounds 3 -o "$MB_TMP/t.stream"
grep -q 'pre-copy round 2: [1-9]' "$MB_TMP/err" || mb_fail "testing.so: no dirtied pages in pre-copy"
expect 0 "testing load, 1-byte pieces" load "$T" --arg state-size=256K,empty --chunk 1 -i "$MB_TMP/t.stream"
expect 1 "testing load into another size" load "$T" --arg state-size=512K,empty -i "$MB_TMP/t.stream"

# --- the loader's refusals ------------------------------------------------------
for name in no-version bad-version null-ops null-save bad-info; do
        expect 3 "broken-$name refused" check "$MB_PLUGIN_LIBS/broken-$name.so"
done
expect 0 "broken-null-cleanup accepted" check "$MB_PLUGIN_LIBS/broken-null-cleanup.so"
grep -q 'cleanup: no' "$MB_TMP/out" || mb_fail "broken-null-cleanup has a cleanup"
expect 0 "broken-null-cleanup runs" save "$MB_PLUGIN_LIBS/broken-null-cleanup.so" -o /dev/null

# --- the template -------------------------------------------------------------
TPL="$MB_BUILDDIR/plugins/template/.libs/template.so"
expect 0 "template check" check "$TPL"
expect 0 "template save" save "$TPL" -o "$MB_TMP/tpl.stream"
expect 0 "template load, 3-byte pieces" load "$TPL" --chunk 3 -i "$MB_TMP/tpl.stream"
if command -v "${CC:-cc}" >/dev/null 2>&1 && command -v make >/dev/null 2>&1; then
        mkdir "$MB_TMP/vendor"
        cp "$MB_SRCDIR/plugins/template/template.c" "$MB_SRCDIR/plugins/template/Makefile" "$MB_TMP/vendor/"
        make -s -C "$MB_TMP/vendor" PLUGIN_CFLAGS="-I$MB_SRCDIR/include" CFLAGS="-O2 -Wall -Wextra -Werror" \
                >"$MB_TMP/vendor.log" 2>&1 || { cat "$MB_TMP/vendor.log"; mb_fail "standalone template build failed"; }
        expect 0 "standalone template check" check "$MB_TMP/vendor/template.so"
else
        mb_log "no compiler or make: standalone template build skipped"
fi

mb_log "PASS"
exit 0
