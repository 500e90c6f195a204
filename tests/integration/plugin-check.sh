#!/bin/sh
# migbrokerctl plugin check on real plugins, no broker: simdev.so against two
# migbroker-simagents and testing.so pass every check; each fault injected
# into testing.so fails the check that triggers it with the right reason (a
# crash or a hang is reported, and the checks after it still run); each
# broken-*.so fails its abi.* check with the loader's message; the template
# plugin passes. Results are read from --json. No worker is left behind.
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e

mb_require_built "$MB_CTL" "$MB_WORKER" "$MB_SIMAGENT" "$MB_SIMDEV_SO" "$MB_TESTING_SO"
command -v python3 >/dev/null 2>&1 || mb_skip "python3 is needed to read the --json output"
MB_TEMPLATE_SO="$MB_BUILDDIR/plugins/template/.libs/template.so"
export MIGBROKER_WORKER="$MB_WORKER"
# Sanitizer builds (ignored otherwise): AddressSanitizer's quarantine keeps
# freed memory resident, which lifecycle.init-cleanup would rightly count as
# growth.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
BDF=0000:3b:00.6

# run NAME EXPECTED-EXIT ARGS...: plugin check --json into $MB_TMP/NAME.json.
run() {
        local name=$1 want=$2 rc=0
        shift 2
        "$MB_CTL" plugin check "$@" --json >"$MB_TMP/$name.json" 2>"$MB_TMP/$name.log" || rc=$?
        if [ "$rc" != "$want" ]; then
                cat "$MB_TMP/$name.json" "$MB_TMP/$name.log" >&2
                mb_fail "$name: exit status $rc, expected $want"
        fi
}

# expect NAME CHECK RESULT [TEXT]: in NAME.json, CHECK has RESULT and its
# reason contains TEXT. CHECK may end in '*' (the first check matching).
expect() {
        python3 - "$MB_TMP/$1.json" "$2" "$3" "${4:-}" <<'EOF' || mb_fail "$1: $2 is not $3${4:+ with '$4'}"
import json, sys
path, name, result, text = sys.argv[1:5]
doc = json.load(open(path))
for c in doc["checks"]:
    if c["name"] == name or (name.endswith("*") and c["name"].startswith(name[:-1])):
        ok = c["result"] == result and text in (c["reason"] or "")
        print("# %s %s %s" % (c["result"], c["name"], c["reason"]))
        sys.exit(0 if ok else 1)
print("no check %s in %s" % (name, path), file=sys.stderr)
sys.exit(1)
EOF
}

# all_pass NAME [SKIPS]: every check passed, at most SKIPS (default 0) skipped;
# the summary agrees with the list, and the document has its members.
all_pass() {
        python3 - "$MB_TMP/$1.json" "${2:-0}" <<'EOF' || mb_fail "$1: not every check passed"
import json, sys
doc = json.load(open(sys.argv[1]))
assert set(doc) >= {"plugin", "bdf", "info", "checks", "summary", "ok"}, doc.keys()
res = [c["result"] for c in doc["checks"]]
bad = [c for c in doc["checks"] if c["result"] == "FAIL"]
for c in bad:
    print("FAIL %s: %s" % (c["name"], c["reason"]), file=sys.stderr)
assert not bad
assert res.count("SKIP") <= int(sys.argv[2]), [c["name"] for c in doc["checks"] if c["result"] == "SKIP"]
assert doc["ok"] is True
s = doc["summary"]
assert (s["passed"], s["failed"], s["skipped"]) == (res.count("PASS"), 0, res.count("SKIP"))
for c in doc["checks"]:
    assert set(c) >= {"name", "result", "reason", "duration_ms"}, c
    if c["name"].startswith("timing.") and c["result"] == "PASS":
        t = c["timing"]
        assert t["calls"] >= 1 and 0 <= t["p50_ms"] <= t["max_ms"], t
print("# %s: %d passed, %d skipped" % (sys.argv[1], s["passed"], s["skipped"]))
EOF
}

before=$(mb_count_workers "$BDF")

# ---- simdev.so against two agents: everything passes, also in text mode ------
mb_start_agent SRC --function "$BDF" --state-size 8M --seed 7
mb_start_agent DST --function "$BDF" --state-size 8M --empty
run simdev 0 "$MB_SIMDEV_SO" --bdf "$BDF" --arg "$MB_AGENT_SRC" --peer-arg "$MB_AGENT_DST"
all_pass simdev
expect simdev abi.info PASS "name simdev"
expect simdev abi.info PASS "PCI IDs: 1af4:1041"
expect simdev lifecycle.init-cleanup PASS "1000 cycles"
expect simdev states.move.3-2 PASS "pre-copy -> stop-copy"
expect simdev data.round-trip PASS "identical payload"
python3 - "$MB_TMP/simdev.json" <<'EOF' || mb_fail "simdev: the JSON lacks the measured figures"
import json, sys
doc = json.load(open(sys.argv[1]))
checks = {c["name"]: c for c in doc["checks"]}
v = checks["lifecycle.init-cleanup"]["values"]
assert v["cycles"] == 1000 and v["rss_kib_before"] > 0 and v["fds_after"] <= v["fds_before"], v
assert doc["info"]["capabilities"] == ["pre-copy"] and doc["info"]["pci_ids"] == ["1af4:1041"], doc["info"]
moves = [n for n in checks if n.startswith("states.move.")]
assert len(moves) == 15, moves
EOF
# The destination function now holds the source's state.
[ "$(mb_hash "$MB_AGENT_PORT_SRC" "$BDF")" = "$(mb_hash "$MB_AGENT_PORT_DST" "$BDF")" ] ||
        mb_fail "simdev: the round trip did not move the state"

rc=0
"$MB_CTL" plugin check "$MB_SIMDEV_SO" --bdf "$BDF" --arg "$MB_AGENT_SRC" --peer-arg "$MB_AGENT_DST" \
        --iterations 100 >"$MB_TMP/simdev.txt" 2>"$MB_TMP/simdev-txt.log" || rc=$?
cat "$MB_TMP/simdev.txt"
[ "$rc" = 0 ] || mb_fail "simdev (text): exit status $rc"
grep -q '^PASS data.round-trip  *[0-9]* payload bytes' "$MB_TMP/simdev.txt" || mb_fail "simdev (text): no round-trip line"
grep -q '^summary: 37 checks: 37 passed, 0 failed, 0 skipped' "$MB_TMP/simdev.txt" || mb_fail "simdev (text): summary"
! grep -q '^FAIL\|^SKIP' "$MB_TMP/simdev.txt" || mb_fail "simdev (text): a check did not pass"

# ---- testing.so without a fault ------------------------------------------------
run testing 0 "$MB_TESTING_SO" --bdf "$BDF" --arg state-size=1M --peer-arg state-size=1M,empty
all_pass testing
expect testing data.pending-stop-copy PASS "never grew"
expect testing data.save-over-pending PASS "refused"
expect testing robust.load-while-running PASS "refused"

# Without --peer-arg the round trip is skipped, with the reason.
run testing-nopeer 0 "$MB_TESTING_SO" --bdf "$BDF" --arg state-size=64K --iterations 20
all_pass testing-nopeer 1
expect testing-nopeer data.round-trip SKIP "needs --peer-arg"

# ---- testing.so with one fault each: the check that triggers it fails ----------
# FAULT|CHECK|REASON
while IFS='|' read -r fault check reason; do
        [ -n "$fault" ] || continue
        name="fault-$(echo "$fault" | tr ':=+,' '____')"
        run "$name" 1 "$MB_TESTING_SO" --bdf "$BDF" --timeout-ms 2000 --iterations 50 \
                --arg "state-size=64K,$fault" --peer-arg "state-size=64K,empty,$fault"
        expect "$name" "$check" FAIL "$reason"
        # The checks that do not need the broken op still ran, in fresh workers.
        expect "$name" robust.set-state-before-init "$(case $fault in set_state=hang) echo SKIP ;; *) echo PASS ;; esac)"
done <<'EOF'
save=segv|data.pending-precopy|crashed: killed by signal SIGSEGV
save=abort|data.pending-precopy|crashed: killed by signal SIGABRT
save=fail:ENOSPC|data.pending-precopy|No space left on device
set_state=hang|states.move.1-0|hung: no reply within 2000 ms
set_state=fail:EIO|states.move.1-0|Input/output error
init=fail|lifecycle.init-cleanup|failed (returned NULL)
init=segv|lifecycle.init-cleanup|crashed: killed by signal SIGSEGV
update_pending=garbage|data.pending-precopy|implausible
update_pending=hang|data.pending-precopy|hung: no reply within 2000 ms
get_state=abort|states.initial|crashed: killed by signal SIGABRT
get_state=garbage|states.initial|not a v1 state
cleanup=exit:3|lifecycle.init-cleanup|crashed: exited with status 3
cleanup=leak:64K|lifecycle.init-cleanup|VmRSS grew
load=fail:EIO|data.round-trip|Input/output error
load=segv|data.round-trip|crashed: killed by signal SIGSEGV
save=garbage|data.round-trip|load(65576 bytes) of record 0 failed: Bad message
EOF
# A hang or a crash costs only that op: the others keep being checked.
expect fault-set_state_hang states.move.1-3 SKIP "hung in states.move.1-0"
expect fault-save_segv data.pending-stop-copy SKIP "crashed in data.pending-precopy"
expect fault-save_segv robust.load-while-running PASS
expect fault-get_state_abort data.pending-stop-copy PASS
expect fault-cleanup_exit_3 data.round-trip PASS
expect fault-init_fail lifecycle.bad-arg PASS "refused cleanly"
expect fault-init_fail states.initial SKIP "needs init(), which failed in lifecycle.init-cleanup"

# ---- the broken plugins: the abi.* check fails with the loader's message -------
while IFS='|' read -r plugin check reason; do
        [ -n "$plugin" ] || continue
        run "$plugin" 1 "$MB_PLUGIN_LIBS/$plugin.so" --bdf "$BDF" --iterations 20
        expect "$plugin" "$check" FAIL "$reason"
        expect "$plugin" "$check" FAIL "$MB_PLUGIN_LIBS/$plugin.so"
        expect "$plugin" abi.load "$(case $check in abi.load) echo FAIL ;; *) echo PASS ;; esac)"
        expect "$plugin" lifecycle.init-cleanup SKIP "the plugin did not load"
done <<'EOF'
broken-no-version|abi.version|missing symbol vfio_lm_get_plugin_version
broken-bad-version|abi.version|plugin API version 1, expected 0
broken-null-ops|abi.ops|vfio_lm_get_plugin_ops() returned NULL
broken-null-save|abi.ops|mandatory op 'save' is NULL in its ops table
broken-bad-info|abi.info|returned an info struct of 8 bytes
EOF
expect broken-bad-version abi.ops SKIP "not checked"

# broken-null-cleanup is a valid plugin as far as the ABI goes.
rc=0
"$MB_CTL" plugin check "$MB_PLUGIN_LIBS/broken-null-cleanup.so" --bdf "$BDF" --iterations 20 --json \
        >"$MB_TMP/null-cleanup.json" 2>"$MB_TMP/null-cleanup.log" || rc=$?
for c in abi.load abi.version abi.ops abi.info lifecycle.init-cleanup; do
        expect null-cleanup "$c" PASS
done

# ---- the template plugin passes (it declares no pre-copy: those are skipped) ----
run template 0 "$MB_TEMPLATE_SO" --bdf "$BDF" --peer-arg ""
all_pass template 6
expect template states.move.1-3 SKIP "does not declare pre-copy"
expect template data.round-trip PASS "identical payload"

# ---- usage errors (2) and a missing plugin (1) ----------------------------------
usage() {
        local rc=0
        "$MB_CTL" plugin "$@" >/dev/null 2>"$MB_TMP/usage.log" || rc=$?
        [ "$rc" = 2 ] || { cat "$MB_TMP/usage.log"; mb_fail "plugin $*: exit status $rc, expected 2"; }
}
usage
usage frobnicate
usage check
usage check a.so b.so
usage check "$MB_TESTING_SO" --iterations 0
usage check "$MB_TESTING_SO" --timeout-ms soon
usage check "$MB_TESTING_SO" --bdf 3b:00.1
usage check "$MB_TESTING_SO" --no-such-option
rc=0
"$MB_CTL" plugin check "$MB_TMP/nonexistent.so" 2>"$MB_TMP/missing.log" || rc=$?
[ "$rc" = 1 ] || mb_fail "a missing plugin: exit status $rc, expected 1"
grep -q "cannot open $MB_TMP/nonexistent.so" "$MB_TMP/missing.log" || mb_fail "a missing plugin: no message"

sleep 0.2
after=$(mb_count_workers "$BDF")
[ "$after" -le "$before" ] || { pgrep -af migbroker-worker; mb_fail "workers left behind: $before before, $after after"; }
mb_log "PASS"
