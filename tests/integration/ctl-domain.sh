#!/bin/bash
# migbrokerctl domain enable|disable|show against a real libvirtd (9.0) and
# QEMU (7.2): a private "host" (a mount namespace held by `sleep infinity`,
# with its own /etc/libvirt copy, /run/libvirt, /var/lib/libvirt,
# /var/cache/libvirt, /var/log/libvirt, a system bus of its own in /run/dbus,
# /dev/kvm masked, migbroker-hook linked into hooks/qemu.d) running libvirtd;
# migbrokerd outside it on that system bus, its runtime dir under $MB_TMP
# (the policy's settings.runtime-dir, which migbrokerctl reads); simdev
# functions 0000:8c:00.1 and .2 on one simulated agent. The host is set up
# by libvirt-host.sh.
#
#   1. a defined TCG domain: show (nothing), enable (metadata and
#      <qemu:commandline> dbus-vmstate object in the persistent XML, libvirt
#      keeps them), enable again (nothing to change, XML identical), a second
#      device by UUID (id-list a,,b), --dry-run, --runtime-dir, --json, errors
#      (unknown domain, bad BDF, an id in use), the object on QEMU's command
#      line (virsh domxml-to-native)
#   2. start: the hook claims and opens both devices with their ids, QEMU's
#      dbus-vmstate object holds id-list "mb-nic0,mb-nic1" (QMP qom-get);
#      show: the broker's state and owner, the object matches; show from
#      outside the namespace through --connect and LIBVIRT_DEFAULT_URI
#   3. disable one device while running: the persistent XML changes, the
#      running domain keeps its own (show says a restart is needed)
#   4. undefine while running (transient): enable is refused, show works
#   5. destroyed and defined again, the broker stopped: show lists the XML's
#      devices and says the broker is unreachable; disable all
#
# Skips (77) without root, libvirtd, virsh, QEMU with dbus-vmstate, unshare,
# nsenter or the libvirt-qemu user. Every process in the namespace is killed
# by PID at exit (also on failure); the namespace's mounts go with it.
# MB_KEEP_TMP=1 keeps the logs.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/libvirt-host.sh"
set -e
lh_require
MB_HOOK="$MB_BUILDDIR/hooks/migbroker-hook-gate" # what libvirtd runs; it runs migbroker-hook
mb_require_built "$MB_BROKER" "$MB_WORKER" "$MB_CTL" "$MB_SIMAGENT" "$MB_SIMDEV_SO" "$MB_HOOK"
unset LIBVIRT_DEFAULT_URI DBUS_SYSTEM_BUS_ADDRESS MIGBROKER_RUNTIME_DIR

BDF1=0000:8c:00.1
BDF2=0000:8c:00.2
NAME=mbctl-$$
UUID=$(python3 -c 'import uuid; print(uuid.uuid4())')
R="$MB_TMP/host"
# QEMU runs as libvirt-qemu and must reach RUN/domain/UUID/bus
chmod 755 "$MB_TMP"
RUN="$MB_TMP/run"
BUS_PATH="$RUN/domain/$UUID/bus"
OBJ1="dbus-vmstate,id=migbroker,addr=unix:path=$BUS_PATH,id-list=mb-nic0"
OBJ2="dbus-vmstate,id=migbroker,addr=unix:path=$BUS_PATH,id-list=mb-nic0,,mb-nic1"

# ---- cleanup: every process of the host, by PID (libvirt-host.sh) ------------
ctl_domain_cleanup() {
        local rc=$?
        set +e
        trap - EXIT
        lh_cleanup "$rc" "$NAME"
        (exit "$rc")
        mb_cleanup
}
trap ctl_domain_cleanup EXIT

in_host() { lh_in host "$@"; }
V() { lh_virsh host "$@"; }
# ctl ARGS...: migbrokerctl in the namespace, with the defaults (qemu:///system,
# the system bus) and the test's policy
ctl() { in_host env MIGBROKER_POLICY="$R/policy.yaml" "$MB_CTL" "$@"; }
# json FILE EXPR: a Python expression on the JSON document `d` of FILE
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); v=($2); print(v)" "$1"; }
expect_in() { # FILE TEXT
        grep -qF -- "$2" "$1" || { cat "$1" >&2; mb_fail "'$2' is not in $(basename "$1")"; }
}

# ---- the host -----------------------------------------------------------------
mb_start_agent A --function "$BDF1" --function "$BDF2" --state-size 64K --seed 5
mkdir -p "$R" "$RUN"
chmod 755 "$RUN"
mb_fake_pci "$MB_TMP/sysfs" "$BDF1" 0x1af4 0x1041
mb_fake_pci "$MB_TMP/sysfs" "$BDF2" 0x1af4 0x1041
cat >"$R/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  vmm-user: libvirt-qemu
  runtime-dir: $RUN
  libvirt-uri: qemu:///system
plugins:
  simdev:
    path: $MB_SIMDEV_SO
devices:
  - match: { bdf: "0000:8c:00.*" }
    plugin: simdev
    arg: "$MB_AGENT_A"
EOP
chmod 644 "$R/policy.yaml"

lh_start host 5a3d5e12-7a0e-4c9b-9f1a-0a0a0a0a0c0d "$MB_HOOK"
lh_wait host
SYSBUS=$MB_BUS_host

# The broker, outside the namespace, on its system bus; no libvirt connection.
MIGBROKER_WORKER="$MB_WORKER" "$MB_BROKER" --bus "$SYSBUS" --policy "$R/policy.yaml" --sysfs-root "$MB_TMP/sysfs" \
        --libvirt-uri "" --log-level debug >>"$MB_TMP/broker.log" 2>&1 &
BROKER_PID=$!
mb_track "$BROKER_PID"
for _ in $(seq 200); do "$MB_CTL" --bus "$SYSBUS" list >/dev/null 2>&1 && break; sleep 0.05; done
"$MB_CTL" --bus "$SYSBUS" list >/dev/null 2>&1 || mb_fail "the broker did not come up"
mb_log "host up: libvirtd in the namespace, broker on its system bus"

# ---- 1. a defined domain ---------------------------------------------------------
cat >"$MB_TMP/dom.xml" <<EOX
<domain type='qemu'>
  <name>$NAME</name>
  <uuid>$UUID</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOX
V define "$MB_TMP/dom.xml" >/dev/null

ctl domain show "$NAME" >"$MB_TMP/show0.out"
expect_in "$MB_TMP/show0.out" "(no devices: the hook leaves this domain alone)"
expect_in "$MB_TMP/show0.out" "dbus-vmstate: none needed"
ctl domain show "$NAME" --json >"$MB_TMP/show0.json"
[ "$(json "$MB_TMP/show0.json" 'len(d["devices"]), d["vmstate_object"]["state"], d["bus_address"]')" = \
  "(0, 'none', 'unix:path=$BUS_PATH')" ] || mb_fail "show --json of a bare domain: $(cat "$MB_TMP/show0.json")"

ctl domain enable "$NAME" --device "$BDF1" --vmstate-id mb-nic0 >"$MB_TMP/enable1.out"
expect_in "$MB_TMP/enable1.out" "$NAME: added device $BDF1 (vmstate id mb-nic0)"
expect_in "$MB_TMP/enable1.out" "$NAME: added dbus-vmstate object migbroker: -object $OBJ1"
expect_in "$MB_TMP/enable1.out" "$NAME: defined; the change takes effect at the domain's next start"
V dumpxml --inactive "$NAME" >"$MB_TMP/def1.xml"
expect_in "$MB_TMP/def1.xml" "<mb:device bdf=\"$BDF1\" vmstate-id=\"mb-nic0\"/>"
expect_in "$MB_TMP/def1.xml" "<qemu:arg value='$OBJ1'/>"
expect_in "$MB_TMP/def1.xml" "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
mb_log "enable: metadata and dbus-vmstate object in libvirt's definition"

ctl domain enable "$NAME" --device "$BDF1" --vmstate-id mb-nic0 >"$MB_TMP/enable2.out"
[ "$(cat "$MB_TMP/enable2.out")" = "$NAME: nothing to change" ] || mb_fail "enable twice: $(cat "$MB_TMP/enable2.out")"
V dumpxml --inactive "$NAME" >"$MB_TMP/def2.xml"
cmp -s "$MB_TMP/def1.xml" "$MB_TMP/def2.xml" || mb_fail "enable twice changed the definition"
mb_log "enable again: nothing to change, definition identical"

# By UUID, a second device, JSON; first a dry run.
ctl domain enable "$UUID" --device "$BDF2=mb-nic1" --dry-run --json >"$MB_TMP/dry.json"
[ "$(json "$MB_TMP/dry.json" 'd["changed"], d["defined"], [c["kind"] for c in d["changes"]]')" = \
  "(True, False, ['device-added', 'object-changed'])" ] || mb_fail "dry run: $(cat "$MB_TMP/dry.json")"
V dumpxml --inactive "$NAME" | cmp -s - "$MB_TMP/def1.xml" || mb_fail "a dry run changed the definition"
ctl domain enable "$UUID" --device "$BDF2=mb-nic1" --json >"$MB_TMP/enable3.json"
[ "$(json "$MB_TMP/enable3.json" 'd["domain"], d["uuid"], d["defined"], d["changes"][1]["message"]')" = \
  "('$NAME', '$UUID', True, 'changed dbus-vmstate object migbroker: id-list mb-nic0 -> mb-nic0,mb-nic1')" ] ||
        mb_fail "enable --json: $(cat "$MB_TMP/enable3.json")"
V dumpxml --inactive "$NAME" >"$MB_TMP/def3.xml"
expect_in "$MB_TMP/def3.xml" "<qemu:arg value='$OBJ2'/>"
# --runtime-dir wins over the policy (dry run: the object would move)
ctl domain enable "$NAME" --runtime-dir /srv/mb --dry-run >"$MB_TMP/rundir.out"
expect_in "$MB_TMP/rundir.out" "would have changed dbus-vmstate object migbroker: addr unix:path=$BUS_PATH -> unix:path=/srv/mb/domain/$UUID/bus"
mb_log "enable by UUID, --json, --dry-run, --runtime-dir: as expected"

# Errors: exit 1 for what libvirt or the domain refuses, 2 for usage.
rc=0; ctl domain enable no-such-domain-$$ --device "$BDF1" --json >"$MB_TMP/err1.json" || rc=$?
[ "$rc" = 1 ] && [ "$(json "$MB_TMP/err1.json" 'd["error"]')" = NoSuchDomain ] || mb_fail "unknown domain: rc $rc"
rc=0; ctl domain enable "$NAME" --device "$BDF1" --device 0000:8c:00.3=mb-nic1 2>"$MB_TMP/err2.out" || rc=$?
[ "$rc" = 1 ] || mb_fail "an id in use: rc $rc"
expect_in "$MB_TMP/err2.out" "Conflict: $NAME: vmstate id 'mb-nic1' is already given to $BDF2 in the domain's metadata"
rc=0; ctl domain enable "$NAME" --device 8c:00.1 2>"$MB_TMP/err3.out" || rc=$?
[ "$rc" = 2 ] || mb_fail "a bad BDF: rc $rc"
expect_in "$MB_TMP/err3.out" "'8c:00.1' is not a PCI address"
V dumpxml --inactive "$NAME" | cmp -s - "$MB_TMP/def3.xml" || mb_fail "a refused enable changed the definition"
mb_log "errors: unknown domain 1 (NoSuchDomain), id in use 1 (Conflict), bad BDF 2"

# libvirt puts the object on QEMU's command line.
V domxml-to-native --format qemu-argv --domain "$NAME" >"$MB_TMP/argv" 2>&1 || { cat "$MB_TMP/argv" >&2; mb_fail "domxml-to-native"; }
expect_in "$MB_TMP/argv" "-object $OBJ2"

# ---- 2. start: the hook opens the devices, QEMU gets the object ---------------------
t0=$(date +%s)
V start "$NAME" >/dev/null || mb_fail "virsh start failed"
mb_log "domain started in $(( $(date +%s) - t0 )) s"
V qemu-monitor-command "$NAME" '{"execute":"qom-get","arguments":{"path":"/objects/migbroker","property":"id-list"}}' \
        >"$MB_TMP/qom.json"
[ "$(json "$MB_TMP/qom.json" 'd["return"]')" = "mb-nic0,mb-nic1" ] || mb_fail "QEMU's id-list: $(cat "$MB_TMP/qom.json")"
[ -S "$BUS_PATH" ] || mb_fail "no per-domain bus at $BUS_PATH"

ctl domain show "$NAME" >"$MB_TMP/show1.out"
expect_in "$MB_TMP/show1.out" "dbus-vmstate: ok: -object $OBJ2"
expect_in "$MB_TMP/show1.out" "Broker:       reachable"
grep -qE "^$BDF1 +metadata +mb-nic0 +running +$UUID +simdev\$" "$MB_TMP/show1.out" || {
        cat "$MB_TMP/show1.out" >&2; mb_fail "show: $BDF1"; }
grep -qE "^$BDF2 +metadata +mb-nic1 +running +$UUID +simdev\$" "$MB_TMP/show1.out" || {
        cat "$MB_TMP/show1.out" >&2; mb_fail "show: $BDF2"; }
ctl domain show "$NAME" --json >"$MB_TMP/show1.json"
[ "$(json "$MB_TMP/show1.json" '[(x["bdf"], x["broker"]["owner"], x["broker"]["vmstate_id"], x["broker"]["is_open"]) for x in d["devices"]], d["restart_needed"], d["active"]')" = \
  "([('$BDF1', '$UUID', 'mb-nic0', True), ('$BDF2', '$UUID', 'mb-nic1', True)], False, True)" ] ||
        mb_fail "show --json of the running domain: $(cat "$MB_TMP/show1.json")"
mb_log "started: the hook opened both devices, QEMU's id-list is mb-nic0,mb-nic1, show agrees"

# From outside the namespace: libvirt's read-only socket, the broker's bus.
RO="qemu+unix:///system?socket=$R/run-libvirt/libvirt-sock-ro"
MIGBROKER_POLICY="$R/policy.yaml" "$MB_CTL" domain show "$NAME" --connect "$RO" --bus "$SYSBUS" >"$MB_TMP/show2.out"
cmp -s "$MB_TMP/show1.out" "$MB_TMP/show2.out" || mb_fail "show through --connect differs"
LIBVIRT_DEFAULT_URI="$RO" "$MB_CTL" domain show "$UUID" --runtime-dir "$RUN" --bus "$SYSBUS" >"$MB_TMP/show3.out"
cmp -s "$MB_TMP/show1.out" "$MB_TMP/show3.out" || mb_fail "show through LIBVIRT_DEFAULT_URI differs"

# ---- 3. disable one device while running ------------------------------------------------
ctl domain disable "$NAME" --device "$BDF2" >"$MB_TMP/disable1.out"
expect_in "$MB_TMP/disable1.out" "$NAME: removed device $BDF2 (vmstate id mb-nic1)"
expect_in "$MB_TMP/disable1.out" "$NAME: changed dbus-vmstate object migbroker: id-list mb-nic0,mb-nic1 -> mb-nic0"
expect_in "$MB_TMP/disable1.out" "the domain is running: the change takes effect at its next start"
V dumpxml --inactive "$NAME" >"$MB_TMP/def4.xml"
expect_in "$MB_TMP/def4.xml" "<qemu:arg value='$OBJ1'/>"
V dumpxml "$NAME" | grep -qF "<qemu:arg value='$OBJ2'/>" || mb_fail "the running domain's XML changed"
ctl domain show "$NAME" --json >"$MB_TMP/show4.json"
[ "$(json "$MB_TMP/show4.json" 'd["restart_needed"], [x["bdf"] for x in d["devices"]]')" = "(True, ['$BDF1'])" ] ||
        mb_fail "show after disable: $(cat "$MB_TMP/show4.json")"
mb_log "disable while running: the definition changed, the running domain did not (restart needed)"

# ---- 4. a transient domain ---------------------------------------------------------------
V undefine "$NAME" >/dev/null
rc=0; ctl domain enable "$NAME" --device "$BDF1" --json >"$MB_TMP/transient.json" || rc=$?
[ "$rc" = 1 ] && [ "$(json "$MB_TMP/transient.json" 'd["error"]')" = TransientDomain ] ||
        mb_fail "enable of a transient domain: rc $rc $(cat "$MB_TMP/transient.json")"
ctl domain show "$NAME" >"$MB_TMP/show5.out"
expect_in "$MB_TMP/show5.out" "running, transient"
expect_in "$MB_TMP/show5.out" "dbus-vmstate: ok: -object $OBJ2"
mb_log "transient: enable refused (TransientDomain), show reads the live XML"

# ---- 5. no broker ----------------------------------------------------------------------------
V destroy "$NAME" >/dev/null
for _ in $(seq 100); do [ ! -e "$RUN/domain/$UUID" ] && break; sleep 0.1; done
[ ! -e "$RUN/domain/$UUID" ] || mb_fail "the hook did not release the devices at destroy"
V define "$MB_TMP/def4.xml" >/dev/null
kill "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
ctl domain show "$NAME" >"$MB_TMP/show6.out"
expect_in "$MB_TMP/show6.out" "Broker:       unreachable"
grep -qE "^$BDF1 +metadata +mb-nic0 +\?" "$MB_TMP/show6.out" || { cat "$MB_TMP/show6.out" >&2; mb_fail "show without a broker"; }
ctl domain show "$NAME" --json >"$MB_TMP/show6.json"
[ "$(json "$MB_TMP/show6.json" 'd["broker"]["reachable"], d["devices"][0]["broker"]')" = "(False, None)" ] ||
        mb_fail "show --json without a broker: $(cat "$MB_TMP/show6.json")"
ctl domain disable "$NAME" >"$MB_TMP/disable2.out"
expect_in "$MB_TMP/disable2.out" "$NAME: removed device $BDF1 (vmstate id mb-nic0)"
expect_in "$MB_TMP/disable2.out" "$NAME: removed dbus-vmstate object migbroker (no device has a vmstate id)"
V dumpxml --inactive "$NAME" >"$MB_TMP/def5.xml"
! grep -q 'migbroker\|qemu:arg' "$MB_TMP/def5.xml" || mb_fail "disable left something: $(cat "$MB_TMP/def5.xml")"
ctl domain disable "$NAME" >"$MB_TMP/disable3.out" 2>&1
expect_in "$MB_TMP/disable3.out" "$NAME: nothing to change"
mb_log "no broker: show lists the XML's devices; disable all removed the metadata and the object"
