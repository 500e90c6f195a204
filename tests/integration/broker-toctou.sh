#!/bin/bash
# Policy files and plugins are checked on the fd they are read or loaded
# from (contract §6: owned by root or the broker's uid, not group- or
# other-writable), so swapping the file between the check and the use does
# not get an untrusted file in. A racer (python, a tight loop of atomic
# renames) swaps:
#   - the policy file between a trusted version (root, 0644, PluginArg
#     "seed=1") and an untrusted one (owned by nobody, "seed=666") while
#     ReloadPolicy runs 150 times: each reload either loads seed=1 or is
#     refused (PolicyInvalid naming the owner); seed=666 never shows;
#   - the plugin file between testing.so (root, 0755) and
#     testing-noprecopy.so (owned by nobody) while a device is opened and
#     closed 40 times: each Open either runs testing.so (Capabilities
#     pre-copy) or is refused (PluginFailed naming the owner);
#   - the plugin's mode between 0755 and 0777 (chmod, no rename): each Open
#     either succeeds or is refused for the mode; both happen, so the mode is
#     checked at each use, not remembered.
# Needs root (chown); else 77.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker "$MB_TESTING_NOPRECOPY_SO"
[ "$(id -u)" = 0 ] || mb_skip "not root: cannot make files owned by another user"

D=0000:3b:00.1
U=$MB_UUID1
NOBODY=$(mb_worker_user)
PD=$(mb_dev_path $D)
ETC="$MB_TMP/etc"
PLUGDIR="$MB_TMP/plugins"
mkdir -p "$ETC" "$PLUGDIR"
chmod 755 "$ETC" "$PLUGDIR"

# policy SEED PLUGIN: the text of a policy.
policy() {
        mb_policy_head
        cat <<EOP
plugins:
  testing:
    path: $2
devices:
  - match: { bdf: "$D" }
    plugin: testing
    arg: "seed=$1"
EOP
}
policy 1 "$MB_TESTING_SO" >"$ETC/good"
policy 666 "$MB_TESTING_SO" >"$ETC/evil"
chmod 644 "$ETC/good" "$ETC/evil"
chown "$NOBODY" "$ETC/evil"
cp "$ETC/good" "$ETC/policy.yaml"
chmod 644 "$ETC/policy.yaml"

mb_start_bus A
mb_fake_pci "$MB_TMP/sysfs-A" $D 0x1af4 0x1041
mb_start_broker A "$ETC/policy.yaml"
mb_expect_prop A $D PluginArg seed=1

# racer NAME MODE ARGS...: the racer in the background until $MB_TMP/stop-NAME exists.
#   swap TARGET A B: rename hard links of A and B over TARGET in turn
#   chmod TARGET: flip TARGET's mode between 0755 and 0777
racer() {
        local name=$1
        shift
        rm -f "$MB_TMP/stop-$name"
        cat >"$MB_TMP/racer.py" <<'EOF'
import os, sys, time
stop, mode, target = sys.argv[1:4]
n = 0
deadline = time.monotonic() + 120
while not os.path.exists(stop) and time.monotonic() < deadline:
    if mode == "swap":
        for src in sys.argv[4:6]:
            tmp = target + ".tmp"
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.link(src, tmp)
            os.rename(tmp, target)
    else:
        os.chmod(target, 0o777)
        os.chmod(target, 0o755)
    n += 1
print("%d rounds" % n)
EOF
        mb_spawn "racer-$name" "$MB_PYTHON" "$MB_TMP/racer.py" "$MB_TMP/stop-$name" "$@"
        RACER_PID=$MB_LAST_PID
}
racer_stop() {
        touch "$MB_TMP/stop-$1"
        wait "$RACER_PID" || mb_fail "racer $1 failed: $(cat "$MB_TMP/racer-$1.log")"
        mb_log "racer $1: $(cat "$MB_TMP/racer-$1.log")"
}

# --- the policy file swapped during reloads ---------------------------------------------------
racer policy swap "$ETC/policy.yaml" "$ETC/good" "$ETC/evil"
ok=0 refused=0
for _ in $(seq 150); do
        got=$(mb_raw_call A /org/migbroker1 org.migbroker1.Manager ReloadPolicy)
        case "$got" in
        ok) ok=$((ok + 1)) ;;
        org.migbroker1.Error.PolicyInvalid)
                grep -q "refusing a policy file owned by uid $(id -u "$NOBODY")" "$MB_TMP/raw.out" ||
                        mb_fail "a refused reload for another reason: $(cat "$MB_TMP/raw.out")"
                refused=$((refused + 1)) ;;
        *) mb_fail "ReloadPolicy: $got: $(cat "$MB_TMP/raw.out")" ;;
        esac
        arg=$(mb_prop A $D PluginArg)
        [ "$arg" = seed=1 ] || mb_fail "the untrusted policy was loaded (PluginArg $arg)"
done
racer_stop policy
mb_log "policy swapped during 150 reloads: $ok loaded the trusted file, $refused refused the untrusted one, none loaded it"
[ "$ok" -gt 0 ] && [ "$refused" -gt 0 ] || mb_fail "the race did not happen both ways ($ok loaded, $refused refused)"
cp "$ETC/good" "$ETC/policy.yaml.new" && mv -f "$ETC/policy.yaml.new" "$ETC/policy.yaml"

# --- the plugin swapped during opens ----------------------------------------------------------
cp "$MB_TESTING_SO" "$PLUGDIR/good.so"
cp "$MB_TESTING_NOPRECOPY_SO" "$PLUGDIR/evil.so"
chmod 755 "$PLUGDIR/good.so" "$PLUGDIR/evil.so"
chown "$NOBODY" "$PLUGDIR/evil.so"
cp "$PLUGDIR/good.so" "$PLUGDIR/t.so"
policy 1 "$PLUGDIR/t.so" >"$ETC/policy.yaml.new"
chmod 644 "$ETC/policy.yaml.new"
mv -f "$ETC/policy.yaml.new" "$ETC/policy.yaml"
mb_expect A ok policy reload
mb_expect A ok claim $D --owner $U

# open_close_loop N WHY-PATTERN: N Opens; an opened session must run testing.so.
open_close_loop() {
        local n=$1 pattern=$2 got caps
        ok=0 refused=0
        for _ in $(seq "$n"); do
                got=$(mb_raw_call A "$PD" org.migbroker1.Device Open s:$U a{sv}:)
                case "$got" in
                ok)
                        caps=$(mb_prop A $D Capabilities)
                        [ "$caps" = pre-copy ] || mb_fail "an Open loaded the untrusted plugin (Capabilities '$caps')"
                        mb_expect A ok close $D --owner $U
                        ok=$((ok + 1)) ;;
                org.migbroker1.Error.PluginFailed)
                        grep -q -- "$pattern" "$MB_TMP/raw.out" ||
                                mb_fail "an Open refused for another reason: $(cat "$MB_TMP/raw.out")"
                        refused=$((refused + 1)) ;;
                *) mb_fail "Open: $got: $(cat "$MB_TMP/raw.out")" ;;
                esac
                mb_expect_prop A $D IsOpen false
        done
}
racer plugin swap "$PLUGDIR/t.so" "$PLUGDIR/good.so" "$PLUGDIR/evil.so"
open_close_loop 40 "refusing a plugin owned by uid $(id -u "$NOBODY")"
racer_stop plugin
mb_log "plugin swapped during 40 opens: $ok ran testing.so, $refused refused the untrusted file, none ran it"
[ "$ok" -gt 0 ] && [ "$refused" -gt 0 ] || mb_fail "the race did not happen both ways ($ok opened, $refused refused)"

# --- the plugin's mode flipped during opens -------------------------------------------------
cp "$PLUGDIR/good.so" "$PLUGDIR/t.so.new" && mv -f "$PLUGDIR/t.so.new" "$PLUGDIR/t.so"
racer mode chmod "$PLUGDIR/t.so"
open_close_loop 40 "refusing a plugin with mode 0777"
racer_stop mode
mb_log "plugin mode flipped during 40 opens: $ok opened, $refused refused for the mode"
[ "$ok" -gt 0 ] && [ "$refused" -gt 0 ] || mb_fail "the race did not happen both ways ($ok opened, $refused refused)"

mb_expect A ok release $D --owner $U
mb_log "PASS"
exit 0
