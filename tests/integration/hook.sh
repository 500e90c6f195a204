#!/bin/sh
# migbroker-hook as libvirtd runs it (env -i LC_ALL=C PATH=..., the domain XML
# on stdin), against a real broker on a private bus. The broker manages two
# functions: a simdev one (with its agent) given to the domain as a PCI
# hostdev, and a testing.so one declared in the domain's metadata (the
# dbus-vmstate id of the fixture's qemu:commandline). A third hostdev exists
# in sysfs but no policy rule binds it, a fourth does not exist at all: both
# are skipped. The XML is libvirt 9.0's own, from $MB_SHARED/fixtures/libvirt,
# with the devices added by sed.
#
#   1. destination: migrate begin (incoming, stdout empty), prepare begin
#      (claimed), start begin (open, state stop), started begin (nothing),
#      reconnect begin (no-op), stopped end / release end (closed, released)
#   2. source: prepare, start (running), stopped end / release end
#   3. prepare with one device claimed by another domain: exit 1, one stderr
#      line naming the device and Busy, the other device released again;
#      a metadata device the broker does not manage: exit 1
#   4. a hung broker (SIGSTOP): every call bounded by timeout-ms; reconnect
#      exits 0, prepare exits 1, both within the timeout
#   5. no broker: reconnect begin exits 0, prepare begin exits 1
#   6. nothing of ours, the bus pointing nowhere: exit 0 at once; a bad XML or
#      hook.conf: exit 1 for prepare, 0 for release
#   7. the gate alone (no full hook beside it): exit 0 for XML without
#      hostdev or migbroker metadata, "cannot run" with either
# Every call goes through migbroker-hook-gate, as libvirtd's does.
. "$MB_SRCDIR/tests/integration/lib.sh"

# What libvirtd runs: the gate, which runs the full hook beside it when the
# XML may hold a device of ours (section 7 checks the gate on its own).
MB_HOOK="$MB_BUILDDIR/hooks/migbroker-hook-gate"
mb_require_built "$MB_HOOK" "$MB_BUILDDIR/hooks/migbroker-hook" "$MB_BROKER" "$MB_WORKER" "$MB_CTL" "$MB_SIMAGENT" "$MB_SIMDEV_SO" "$MB_TESTING_SO"

FIX="${MB_SHARED:-$MB_SRCDIR/../shared}/fixtures/libvirt"
[ -f "$FIX/hook-stdin-live.xml" ] || mb_skip "no libvirt fixtures in $FIX (set MB_SHARED)"

UUID=1c9cfba1-8fff-46fc-ba3b-29faa751c687  # the fixture domain's
OTHER=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41
SIM=0000:7b:00.1 # PCI hostdev, simdev
TST=0000:7b:00.2 # metadata device, testing.so, vmstate-id vfio0
UNM=0000:7b:00.3 # PCI hostdev, in sysfs, no policy rule
ABS=0000:7b:00.4 # PCI hostdev, no such function
NS=http://migbroker.org/xmlns/domain/1

# ---- the broker ---------------------------------------------------------------
mb_start_bus H
mb_start_agent H --function "$SIM" --state-size 256K --empty
for f in $SIM $TST $UNM; do
        mb_fake_pci "$MB_TMP/sysfs-H" "$f" 0x1af4 0x1041
done
cat >"$MB_TMP/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  op-timeout-ms: 5000
plugins:
  simdev:
    path: $MB_SIMDEV_SO
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$SIM" }
    plugin: simdev
    arg: "$MB_AGENT_H"
  - match: { bdf: "$TST" }
    plugin: testing
    arg: "state-size=64K"
EOP
chmod 644 "$MB_TMP/policy.yaml"
mb_start_broker H "$MB_TMP/policy.yaml"

# ---- the domain XML -------------------------------------------------------------
# hostdev ADDR-FUNCTION: a PCI hostdev of bus 0x7b as libvirt writes it live
hostdev() {
        printf "    <hostdev mode='subsystem' type='pci' managed='yes'>\\\\n"
        printf "      <driver name='vfio'/>\\\\n"
        printf "      <source>\\\\n"
        printf "        <address domain='0x0000' bus='0x7b' slot='0x00' function='0x%s'/>\\\\n" "$1"
        printf "      </source>\\\\n"
        printf "      <alias name='hostdev%s'/>\\\\n" "$1"
        printf "      <address type='pci' domain='0x0000' bus='0x00' slot='0x0%s' function='0x0'/>\\\\n" "$1"
        printf "    </hostdev>\\\\n"
}
# metadata BDF [ATTRS]: <metadata> declaring one device
metadata() {
        printf '  <metadata>\\n    <mb:devices xmlns:mb="%s">\\n      <mb:device bdf="%s" %s/>\\n    </mb:devices>\\n  </metadata>\\n' \
                "$NS" "$1" "${2:-}"
}
DOMAIN="$MB_TMP/domain.xml"
sed -e "s|^  <memory |$(metadata "$TST" 'vmstate-id="vfio0"')  <memory |" \
    -e "s|^  </devices>|$(hostdev 1)$(hostdev 3)$(hostdev 4)  </devices>|" \
    "$FIX/hook-stdin-live.xml" >"$DOMAIN"
grep -q "function='0x3'" "$DOMAIN" && grep -q "bdf=\"$TST\"" "$DOMAIN" || mb_fail "sed did not add the devices"

# ---- helpers ----------------------------------------------------------------------
CONF="$MB_TMP/hook.conf"
write_conf() { # LINES...
        printf '%s\n' "$@" >"$CONF"
        chmod 644 "$CONF"
}
write_conf "# the private bus of this test" "bus = $MB_BUS_H" "timeout-ms = 5000"

# hook XML OP SUBOP: runs the hook as libvirtd does; sets RC and MS (milliseconds taken)
hook() {
        local start end
        start=$(date +%s%N)
        env -i LC_ALL=C PATH="$PATH" MIGBROKER_HOOK_CONF="$CONF" "$MB_HOOK" t2 "$2" "$3" - \
                <"$1" >"$MB_TMP/hook.out" 2>"$MB_TMP/hook.err"
        RC=$?
        end=$(date +%s%N)
        MS=$(( (end - start) / 1000000 ))
        mb_log "hook $2 $3: exit $RC in $MS ms$( [ -s "$MB_TMP/hook.err" ] && printf ', stderr: %s' "$(cat "$MB_TMP/hook.err")")"
}
# expect_ok WHAT: exit 0, nothing on stdout or stderr
expect_ok() {
        [ "$RC" = 0 ] || mb_fail "$1: exit $RC: $(cat "$MB_TMP/hook.err")"
        [ ! -s "$MB_TMP/hook.out" ] || mb_fail "$1: stdout not empty: $(cat "$MB_TMP/hook.out")"
        [ ! -s "$MB_TMP/hook.err" ] || mb_fail "$1: stderr not empty: $(cat "$MB_TMP/hook.err")"
}
# expect_fail WHAT LINE: exit 1, exactly LINE on stderr, stdout empty
expect_fail() {
        [ "$RC" = 1 ] || mb_fail "$1: exit $RC, expected 1"
        [ ! -s "$MB_TMP/hook.out" ] || mb_fail "$1: stdout not empty: $(cat "$MB_TMP/hook.out")"
        [ "$(wc -l <"$MB_TMP/hook.err")" = 1 ] || mb_fail "$1: stderr is not one line: $(cat "$MB_TMP/hook.err")"
        [ "$(cat "$MB_TMP/hook.err")" = "$2" ] ||
                mb_fail "$1: stderr: expected '$2', got '$(cat "$MB_TMP/hook.err")'"
}
# field BDF KEY: one property of 'migbrokerctl show --json'
field() {
        mb_ctl H show "$1" --json | sed -n "s/^  \"$2\" : \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p"
}
# expect BDF KEY VALUE WHEN
expect() {
        local got
        got=$(field "$1" "$2")
        [ "$got" = "$3" ] || mb_fail "$4: $1 $2 is '$got', expected '$3'"
}
# expect_both KEY VALUE WHEN: for the two managed devices
expect_both() {
        expect "$SIM" "$1" "$2" "$3"
        expect "$TST" "$1" "$2" "$3"
}

# ---- 1. destination of a migration ------------------------------------------------------
hook "$DOMAIN" migrate begin
expect_ok "migrate begin"
expect_both IncomingOwner "$UUID" "after migrate begin"
expect_both Owner "" "after migrate begin"
for f in $UNM $ABS; do
        mb_ctl H show "$f" >/dev/null 2>&1 && mb_fail "$f became a device object"
done

hook "$DOMAIN" prepare begin
expect_ok "prepare begin"
expect_both Owner "$UUID" "after prepare begin"
expect_both IsOpen false "after prepare begin"

hook "$DOMAIN" start begin
expect_ok "start begin"
expect_both IsOpen true "after start begin"
expect_both State stop "after start begin (incoming: waits for its state)"

hook "$DOMAIN" started begin
expect_ok "started begin"
expect_both State stop "after started begin"

hook "$DOMAIN" reconnect begin
expect_ok "reconnect begin (claimed already)"
expect_both Owner "$UUID" "after reconnect begin"
expect_both IsOpen true "after reconnect begin"

hook "$DOMAIN" stopped end
expect_ok "stopped end"
expect_both IsOpen false "after stopped end"
expect_both Owner "" "after stopped end"

hook "$DOMAIN" release end
expect_ok "release end (already released)"
expect_both Owner "" "after release end"

# ---- 2. a plain start, then the source side of a migration ------------------------------------
hook "$DOMAIN" prepare begin
expect_ok "prepare begin (source)"
hook "$DOMAIN" start begin
expect_ok "start begin (source)"
expect_both State running "after start begin without preflight"
expect_both Owner "$UUID" "after start begin (source)"
hook "$DOMAIN" stopped end
expect_ok "stopped end (source)"
hook "$DOMAIN" release end
expect_ok "release end (source)"
expect_both IsOpen false "after release end (source)"
expect_both Owner "" "after release end (source)"

# ---- 3. failures that must stop libvirt ------------------------------------------------------------
mb_ctl H claim "$TST" --owner "$OTHER" || mb_fail "claim for $OTHER"
hook "$DOMAIN" prepare begin
expect_fail "prepare begin, $TST busy" "migbroker: $TST: Busy: claimed by $OTHER"
expect "$SIM" Owner "" "the claim of $SIM undone after the failed prepare"
expect "$TST" Owner "$OTHER" "the other domain's claim untouched"

hook "$DOMAIN" migrate begin
expect_fail "migrate begin, $TST busy" "migbroker: $TST: Busy: claimed by $OTHER"
mb_ctl H release "$TST" --owner "$OTHER" || mb_fail "release for $OTHER"

# the metadata promises a managed device: its absence from the policy is an error
sed "s|bdf=\"$TST\"|bdf=\"$UNM\"|" "$DOMAIN" >"$MB_TMP/unmanaged-metadata.xml"
hook "$MB_TMP/unmanaged-metadata.xml" migrate begin
expect_fail "migrate begin, metadata device not managed" \
        "migbroker: $UNM: NotManaged: exists but no policy rule binds it (declared in the domain's metadata)"

# ---- 4. a hung broker: every call bounded --------------------------------------------------------
write_conf "bus = $MB_BUS_H" "timeout-ms = 400"
eval "BROKER_PID=\$MB_BROKER_PID_H"
# a stopped broker would not die of mb_cleanup's SIGTERM: continue it first, whatever happens
trap 'rc=$?; kill -CONT "$BROKER_PID" 2>/dev/null; (exit $rc); mb_cleanup' EXIT
kill -STOP "$BROKER_PID"
hook "$DOMAIN" reconnect begin
RECONNECT_RC=$RC RECONNECT_MS=$MS
hook "$DOMAIN" prepare begin
kill -CONT "$BROKER_PID"
trap mb_cleanup EXIT
[ "$RECONNECT_RC" = 0 ] || mb_fail "reconnect begin with a hung broker: exit $RECONNECT_RC"
[ "$RECONNECT_MS" -lt 3000 ] || mb_fail "reconnect begin with a hung broker took $RECONNECT_MS ms (timeout 400 ms)"
expect_fail "prepare begin, hung broker" "migbroker: $SIM: NoReply: no reply from migbrokerd to GetDevice within 400 ms"
[ "$MS" -lt 3000 ] || mb_fail "prepare begin with a hung broker took $MS ms (timeout 400 ms)"
expect_both Owner "" "after the hung broker"

# ---- 5. no broker at all ------------------------------------------------------------------------------
write_conf "bus = $MB_BUS_H"
mb_stop_broker H
hook "$DOMAIN" reconnect begin
[ "$RC" = 0 ] || mb_fail "reconnect begin without a broker: exit $RC"
[ ! -s "$MB_TMP/hook.out" ] || mb_fail "reconnect begin: stdout not empty"
[ "$MS" -lt 5000 ] || mb_fail "reconnect begin without a broker took $MS ms"
hook "$DOMAIN" prepare begin
expect_fail "prepare begin without a broker" \
        "migbroker: $SIM: ServiceUnknown: migbrokerd is not running (nobody owns org.migbroker1 on $MB_BUS_H)"
hook "$DOMAIN" release end
[ "$RC" = 0 ] || mb_fail "release end without a broker: exit $RC"

# ---- 6. nothing of ours; bad input ------------------------------------------------------------------------
write_conf "bus = unix:path=$MB_TMP/nowhere/socket" "timeout-ms = 5000"
printf '<domain>\n  <devices>\n    <hostdev mode="subsystem" type="usb"><source><vendor id="0x1"/><product id="0x2"/></source></hostdev>\n  </devices>\n</domain>\n' \
        >"$MB_TMP/usb.xml"
for xml in "$FIX/hook-stdin-live.xml" "$FIX/hook-stdin-with-dbus-vmstate.xml" "$FIX/domain-tcg-minimal.xml" "$MB_TMP/usb.xml"; do
        for call in "migrate begin" "prepare begin" "start begin" "stopped end" "release end" "reconnect begin"; do
                # shellcheck disable=SC2086
                hook "$xml" $call
                expect_ok "$call of $(basename "$xml") with the bus nowhere"
                [ "$MS" -lt 2000 ] || mb_fail "$call of $(basename "$xml"): $MS ms for nothing"
        done
done
# calls of libvirt that are none of ours: no connection even with devices
for call in "started begin" "stopped begin" "migrate end" "prepare end" "shutdown -"; do
        # shellcheck disable=SC2086
        hook "$DOMAIN" $call
        expect_ok "$call with the bus nowhere"
done
# ... but with devices, the bus is needed
hook "$DOMAIN" prepare begin
expect_fail "prepare begin with the bus nowhere" \
        "migbroker: cannot connect to unix:path=$MB_TMP/nowhere/socket: No such file or directory"
hook "$DOMAIN" reconnect begin
[ "$RC" = 0 ] || mb_fail "reconnect begin with the bus nowhere: exit $RC"

# cut inside the first hostdev: malformed, and (for the gate) maybe ours
head -c $(( $(grep -b -o hostdev "$DOMAIN" | head -n 1 | cut -d: -f1) + 40 )) "$DOMAIN" >"$MB_TMP/truncated.xml"
hook "$MB_TMP/truncated.xml" prepare begin
[ "$RC" = 1 ] && grep -q '^migbroker: malformed domain XML: line [0-9]*: ' "$MB_TMP/hook.err" ||
        mb_fail "prepare begin of a truncated XML: exit $RC, $(cat "$MB_TMP/hook.err")"
hook "$MB_TMP/truncated.xml" release end
[ "$RC" = 0 ] || mb_fail "release end of a truncated XML: exit $RC"

write_conf "bus = $MB_BUS_H" "timeout = 5"
hook "$DOMAIN" prepare begin
expect_fail "prepare begin with a bad hook.conf" \
        "migbroker: $CONF:2: unknown key 'timeout' (known: bus, timeout-ms, log-level)"
hook "$DOMAIN" stopped end
[ "$RC" = 0 ] || mb_fail "stopped end with a bad hook.conf: exit $RC"

# usage
"$MB_HOOK" --version | grep -q '^migbroker-hook ' || mb_fail "--version"
"$MB_HOOK" --help | grep -q 'GUEST OP SUBOP EXTRA' || mb_fail "--help"
"$MB_HOOK" t2 prepare </dev/null 2>/dev/null
[ $? = 2 ] || mb_fail "three arguments: not a usage error"

# ---- 7. the gate on its own: no full hook beside it ---------------------------------------------------
mkdir "$MB_TMP/gate"
cp "$MB_HOOK" "$MB_TMP/gate/"
for xml in "$FIX/hook-stdin-live.xml" "$FIX/hook-stdin-with-dbus-vmstate.xml" "$FIX/domain-tcg-minimal.xml"; do
        env -i LC_ALL=C "$MB_TMP/gate/migbroker-hook-gate" t2 prepare begin - <"$xml" >"$MB_TMP/gate.out" 2>&1 ||
                mb_fail "the gate alone, $(basename "$xml") (nothing of ours): exit $?, $(cat "$MB_TMP/gate.out")"
        [ ! -s "$MB_TMP/gate.out" ] || mb_fail "the gate printed something: $(cat "$MB_TMP/gate.out")"
done
# a hostdev, or our metadata namespace: the full hook is needed (and missing)
for xml in "$DOMAIN" "$MB_TMP/usb.xml"; do
        env -i LC_ALL=C "$MB_TMP/gate/migbroker-hook-gate" t2 prepare begin - <"$xml" >"$MB_TMP/gate.out" 2>&1
        RC=$?
        [ "$RC" = 1 ] && grep -q "^migbroker: cannot run $MB_TMP/gate/migbroker-hook: No such file or directory" \
                "$MB_TMP/gate.out" || mb_fail "the gate alone, $(basename "$xml"): exit $RC, $(cat "$MB_TMP/gate.out")"
done
printf '<domain><metadata><x:y xmlns:x="%s"/></metadata></domain>' "$NS" |
        env -i LC_ALL=C "$MB_TMP/gate/migbroker-hook-gate" t2 prepare begin - >"$MB_TMP/gate.out" 2>&1 &&
        mb_fail "the gate alone let a domain with migbroker metadata through"
mb_log "the gate: nothing of ours ends at once, a hostdev or migbroker metadata goes to the full hook"

mb_log "PASS"
exit 0
