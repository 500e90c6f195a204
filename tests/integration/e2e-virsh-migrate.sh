#!/bin/bash
# End to end, issue 5's proof: real libvirt 9.0 and real, unmodified QEMU 7.2
# as two "hosts" A and B on one machine, `virsh migrate --live` of a TCG
# domain whose broker-managed device (simdev 0000:3b:00.1, declared in the
# domain's metadata with vmstate-id mb-nic0) is reached by QEMU's dbus-vmstate
# object on the broker's per-domain bus /run/migbroker/domain/<uuid>/bus.
#
# Each host is a private mount namespace set up by libvirt-host.sh (a system
# bus of its own, copies of libvirt's directories, the hook linked into
# hooks/qemu.d, /dev/kvm masked) with its own /run/migbroker; in it run
# dbus-daemon, libvirtd, migbrokerd (following libvirt's lifecycle events).
# The simulated DPU agents run outside (loopback TCP, shared by both).
#
# Proves: the device state moved intact (SHA-256 of the agents' functions
# equal), the destination device is `running` once the domain resumed (the
# broker follows libvirt), the source device was closed and released by the
# hook at `stopped end` / `release end`, and the destination's too when the
# domain is destroyed there. Before that, the same domain without the device
# migrates once: the log gives virsh migrate's time and QEMU's downtime
# (domjobinfo --completed) without and with the device. The domain is set up
# with migbrokerctl domain enable; after the migration come virsh save,
# virsh restore and a snapshot with memory on B.
#
# Skips (77) without root, libvirtd, virsh, QEMU with dbus-vmstate, unshare
# or nsenter. Everything started runs inside the two namespaces and is killed
# by PID at exit (also on failure); the namespaces' mounts go with them.
# MB_KEEP_TMP=1 keeps the logs.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/libvirt-host.sh"
set -e
lh_require
MB_HOOK="$MB_BUILDDIR/hooks/migbroker-hook-gate" # what libvirtd runs; it runs migbroker-hook
mb_require_built "$MB_BROKER" "$MB_WORKER" "$MB_CTL" "$MB_SIMAGENT" "$MB_SIMDEV_SO" "$MB_HOOK" "$MB_LIBVIRT_EVENTS"
FIX="${MB_SHARED:-$MB_SRCDIR/../shared}/fixtures/libvirt/domain-tcg-minimal.xml"
[ -f "$FIX" ] || mb_skip "no fixture $FIX (set MB_SHARED)"

BDF=0000:3b:00.1
VSID=mb-nic0
NAME=mbe2e-$$
UUID=$(python3 -c 'import uuid; print(uuid.uuid4())')
T0=$(date +%s.%N)
elapsed() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(date +%s.%N)"; }

# ---- cleanup: every process inside our namespaces, by PID (libvirt-host.sh) --------
made_run_migbroker=""
e2e_cleanup() {
        local rc=$?
        set +e
        trap - EXIT
        lh_cleanup "$rc" "$NAME"
        [ -z "$made_run_migbroker" ] || rmdir /run/migbroker 2>/dev/null
        mb_log "total test time $(elapsed "$T0") s"
        (exit "$rc")
        mb_cleanup
}
trap e2e_cleanup EXIT

in_host() { lh_in "$@"; }       # H CMD...: run CMD in host H's namespace
virsh_on() { lh_virsh "$@"; }  # H ARGS...

# ---- the two hosts ---------------------------------------------------------------
if [ ! -d /run/migbroker ]; then
        mkdir /run/migbroker # only the mount point; removed again at exit
        made_run_migbroker=1
fi
mb_start_agent A --function "$BDF" --state-size 256K --seed 3
mb_start_agent B --function "$BDF" --state-size 256K --empty

setup_host() { # H HOST-UUID AGENT-ADDR
        local H=$1 huuid=$2 agent=$3 R="$MB_TMP/$1"
        mkdir -p "$R/run-migbroker"
        chmod 755 "$R" "$R/run-migbroker"
        mb_fake_pci "$R/sysfs" "$BDF" 0x1af4 0x1041
        cat >"$R/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  vmm-user: libvirt-qemu
  libvirt-uri: qemu:///system
plugins:
  simdev:
    path: $MB_SIMDEV_SO
devices:
  - match: { bdf: "$BDF" }
    plugin: simdev
    arg: "$agent"
EOP
        chmod 644 "$R/policy.yaml"
        lh_start "$H" "$huuid" "$MB_HOOK" "$R/run-migbroker=/run/migbroker"
}

setup_host A 5a3d5e12-7a0e-4c9b-9f1a-0a0a0a0a0a01 "$MB_AGENT_A"
setup_host B 5a3d5e12-7a0e-4c9b-9f1a-0a0a0a0a0a02 "$MB_AGENT_B"
for H in A B; do
        lh_wait "$H"
        # The broker after libvirtd: it connects at once (it retries only every 10 s).
        R="$MB_TMP/$H"
        in_host "$H" env MIGBROKER_WORKER="$MB_WORKER" MIGBROKER_LIBVIRT_EVENTS="$MB_LIBVIRT_EVENTS" \
                "$MB_BROKER" --bus unix:path=/run/dbus/system_bus_socket \
                --policy "$R/policy.yaml" --sysfs-root "$R/sysfs" --runtime-dir /run/migbroker \
                --log-level debug >>"$MB_TMP/broker-$H.log" 2>&1 &
        eval "BROKER_PID_$H=$!"
        for _ in $(seq 100); do grep -q "following libvirt's domain lifecycle events" "$MB_TMP/broker-$H.log" && break; sleep 0.1; done
        grep -q "following libvirt's domain lifecycle events" "$MB_TMP/broker-$H.log" ||
                mb_fail "host $H: the broker does not follow libvirt"
done
mb_log "two hosts up after $(elapsed "$T0") s"

show() { # H FIELD
        mb_ctl "$1" show "$BDF" --json | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2',''))"
}
wait_field() { # H FIELD VALUE SECONDS
        for _ in $(seq $(($4 * 10))); do [ "$(show "$1" "$2")" = "$3" ] && return 0; sleep 0.1; done
        mb_fail "host $1: device $2 is '$(show "$1" "$2")', expected '$3'"
}

# ---- the domain ------------------------------------------------------------------
BUS=/run/migbroker/domain/$UUID/bus
# The fixture as it is, then migbrokerctl domain enable writes the metadata
# and the dbus-vmstate object through libvirt's API (run in A's namespace:
# A's libvirtd, the default runtime dir /run/migbroker).
sed -e "s|<name>t1</name>|<name>$NAME</name><uuid>$UUID</uuid>|" "$FIX" >"$MB_TMP/dom.xml"
virsh_on A define "$MB_TMP/dom.xml" >/dev/null

# downtime H: "Total downtime" of the last completed job of the domain on host H (ms).
downtime() {
        virsh_on "$1" domjobinfo --completed "$NAME" 2>/dev/null | sed -n 's/^Total downtime: *\([0-9][0-9]*\) .*/\1/p'
}
# ---- the same domain without the device first: the downtime to compare with ---
virsh_on A start "$NAME" >/dev/null || mb_fail "virsh start on A (without the device) failed"
t=$(date +%s.%N)
virsh_on A migrate --live "$NAME" "qemu+unix:///system?socket=$MB_TMP/B/run-libvirt/libvirt-sock" \
        --migrateuri tcp://127.0.0.1 >"$MB_TMP/migrate-plain.log" 2>&1 ||
        { cat "$MB_TMP/migrate-plain.log" >&2; mb_fail "virsh migrate without the device failed"; }
MIG_TIME_PLAIN=$(elapsed "$t")
DOWNTIME_PLAIN=$(downtime A)
[ -n "$DOWNTIME_PLAIN" ] || DOWNTIME_PLAIN=$(downtime B)
virsh_on B destroy "$NAME" >/dev/null
mb_log "without the device: virsh migrate --live took $MIG_TIME_PLAIN s, QEMU downtime ${DOWNTIME_PLAIN:-?} ms"

in_host A "$MB_CTL" domain enable "$NAME" --device "$BDF=$VSID" --connect qemu:///system >"$MB_TMP/enable.log" 2>&1 ||
        { cat "$MB_TMP/enable.log" >&2; mb_fail "migbrokerctl domain enable failed"; }
virsh_on A dumpxml --inactive "$NAME" >"$MB_TMP/dom-enabled.xml"
grep -q "<mb:device bdf=.$BDF. vmstate-id=.$VSID.*/>" "$MB_TMP/dom-enabled.xml" ||
        mb_fail "domain enable did not write the metadata: $(cat "$MB_TMP/enable.log")"
grep -q "dbus-vmstate,id=migbroker,addr=unix:path=$BUS,id-list=$VSID" "$MB_TMP/dom-enabled.xml" ||
        mb_fail "domain enable did not write the dbus-vmstate object: $(cat "$MB_TMP/enable.log")"
mb_log "migbrokerctl domain enable: $(tr '\n' ';' <"$MB_TMP/enable.log")"
t=$(date +%s.%N)
virsh_on A start "$NAME" >/dev/null || mb_fail "virsh start on A failed"
mb_log "domain started on A in $(elapsed "$t") s"
wait_field A State running 10
[ "$(show A Owner)" = "$UUID" ] || mb_fail "A: device owner '$(show A Owner)', expected $UUID"
[ -S "$MB_TMP/A/run-migbroker/domain/$UUID/bus" ] || mb_fail "A: no per-domain bus"
HASH_A=$(mb_hash "$MB_AGENT_PORT_A" "$BDF")
[ "$(mb_hash "$MB_AGENT_PORT_B" "$BDF")" != "$HASH_A" ] || mb_fail "B's function already holds A's state"
mb_log "A: device running, owner $UUID, state digest $HASH_A"

# ---- the migration ---------------------------------------------------------------
t=$(date +%s.%N)
virsh_on A migrate --live --verbose "$NAME" "qemu+unix:///system?socket=$MB_TMP/B/run-libvirt/libvirt-sock" \
        --migrateuri tcp://127.0.0.1 >"$MB_TMP/migrate.log" 2>&1 || { cat "$MB_TMP/migrate.log" >&2; mb_fail "virsh migrate failed"; }
MIG_TIME=$(elapsed "$t")
DOWNTIME=$(downtime A)
[ -n "$DOWNTIME" ] || DOWNTIME=$(downtime B)
mb_log "virsh migrate --live took $MIG_TIME s, QEMU downtime ${DOWNTIME:-?} ms"
[ "$(virsh_on B domstate "$NAME" 2>/dev/null)" = running ] || mb_fail "B: domain is $(virsh_on B domstate "$NAME" 2>&1)"
virsh_on A domstate "$NAME" 2>/dev/null | grep -q "shut off" || mb_fail "A: domain is $(virsh_on A domstate "$NAME" 2>&1)"

# The destination: running once libvirt resumed the domain, same state.
wait_field B State running 10
[ "$(show B Owner)" = "$UUID" ] || mb_fail "B: device owner '$(show B Owner)', expected $UUID"
HASH_B=$(mb_hash "$MB_AGENT_PORT_B" "$BDF")
[ "$HASH_A" = "$HASH_B" ] || mb_fail "device state differs: A $HASH_A, B $HASH_B"
# In order, on B: preflight (migrate begin), open in stop, QEMU's Load, and
# only then running, on libvirt's resume (not on the incoming QEMU's start).
python3 - "$MB_TMP/broker-B.log" "$UUID" <<'EOPY' || mb_fail "B: the broker's steps are not in order (broker-B.log above)"
import re, sys
log = open(sys.argv[1]).read().splitlines()
uuid = sys.argv[2]
steps = ["preflight ok for " + uuid, "claimed by " + uuid, "Open: session open (plugin simdev, worker",
         "state loaded", "domain " + uuid + " resumed: the device runs again"]
pos, at = 0, []
for s in steps:
    while pos < len(log) and s not in log[pos]:
        pos += 1
    if pos == len(log):
        sys.exit("missing, or out of order: " + s)
    at.append(pos)
first_running = next((i for i, l in enumerate(log) if "-> running" in l), None)
if first_running is None or first_running < at[3]:
    sys.exit("the device ran before QEMU loaded its state")
if "state stop)" not in log[at[2]]:
    sys.exit("opened in " + log[at[2]])
EOPY
mb_log "B: device running, digests equal ($HASH_B); preflight, claim, open in stop, load, then running"

# The source: closed and released by the hook (stopped end, release end).
wait_field A Owner "" 10
[ "$(show A IsOpen)" = False ] || mb_fail "A: the device is still open"
grep -q "dbus-vmstate: saved .* for QEMU (id $VSID)" "$MB_TMP/broker-A.log" || mb_fail "A: no dbus-vmstate Save"
grep -A3 "closed by $UUID" "$MB_TMP/broker-A.log" | grep -q "released by $UUID" || mb_fail "A: not closed then released"
[ ! -e "$MB_TMP/A/run-migbroker/domain/$UUID" ] || mb_fail "A: the per-domain bus survived the release"
grep -q "$UUID" "$MB_TMP/broker-A.log" || true
mb_log "A: device closed and released by the hook (IsOpen false, no owner), Save served, per-domain bus gone"

# ---- virsh save / restore on B: the same hook calls and dbus-vmstate Save/Load ---
t=$(date +%s.%N)
virsh_on B save "$NAME" "$MB_TMP/B/saved.img" >/dev/null || mb_fail "virsh save on B failed"
mb_log "virsh save took $(elapsed "$t") s"
wait_field B Owner "" 10
[ "$(grep -c "dbus-vmstate: saved .* for QEMU (id $VSID)" "$MB_TMP/broker-B.log")" -ge 1 ] ||
        mb_fail "B: no dbus-vmstate Save for virsh save"
HASH_SAVED=$(mb_hash "$MB_AGENT_PORT_B" "$BDF")
LOADS_BEFORE=$(grep -c "dbus-vmstate: state loaded" "$MB_TMP/broker-B.log")
t=$(date +%s.%N)
virsh_on B restore "$MB_TMP/B/saved.img" >/dev/null || mb_fail "virsh restore on B failed"
mb_log "virsh restore took $(elapsed "$t") s"
wait_field B State running 10
[ "$(show B Owner)" = "$UUID" ] || mb_fail "B: restored device owner '$(show B Owner)', expected $UUID"
[ "$(grep -c "dbus-vmstate: state loaded" "$MB_TMP/broker-B.log")" -gt "$LOADS_BEFORE" ] ||
        mb_fail "B: virsh restore did not load the device's state through dbus-vmstate"
[ "$(mb_hash "$MB_AGENT_PORT_B" "$BDF")" = "$HASH_SAVED" ] || mb_fail "B: state differs after restore"
[ "$(grep -c "preflight ok for $UUID" "$MB_TMP/broker-B.log")" -ge 2 ] ||
        mb_fail "B: restore begin did not preflight the device"
mb_log "B: virsh save released the device, virsh restore preflighted, claimed, opened, loaded and ran it"

# ---- a snapshot on B with the memory state: dbus-vmstate Save; both run on after --
# libvirt calls no hook for snapshots: QEMU pauses, its dbus-vmstate Save puts
# the device in stop-copy, and the broker sets it running when libvirt reports
# the domain resumed.
SAVES_BEFORE=$(grep -c "dbus-vmstate: saved .* for QEMU (id $VSID)" "$MB_TMP/broker-B.log")
t=$(date +%s.%N)
virsh_on B snapshot-create-as "$NAME" snap1 --memspec "file=$MB_TMP/B/snap1.mem,snapshot=external" \
        --no-metadata >"$MB_TMP/snapshot.log" 2>&1 || { cat "$MB_TMP/snapshot.log" >&2; mb_fail "virsh snapshot-create-as on B failed"; }
mb_log "virsh snapshot-create-as (external, with memory) took $(elapsed "$t") s"
[ "$(virsh_on B domstate "$NAME" 2>/dev/null)" = running ] || mb_fail "B: domain is $(virsh_on B domstate "$NAME" 2>&1) after the snapshot"
[ "$(grep -c "dbus-vmstate: saved .* for QEMU (id $VSID)" "$MB_TMP/broker-B.log")" -gt "$SAVES_BEFORE" ] ||
        mb_fail "B: the snapshot did not save the device's state through dbus-vmstate"
wait_field B State running 10
[ "$(show B Owner)" = "$UUID" ] || mb_fail "B: device owner '$(show B Owner)' after the snapshot, expected $UUID"
[ -s "$MB_TMP/B/snap1.mem" ] || mb_fail "B: no memory state file"
mb_log "B: snapshot saved the device's state through dbus-vmstate; domain and device run on, still owned"

# ---- destroy on B: its hook closes and releases too -----------------------------
virsh_on B destroy "$NAME" >/dev/null
wait_field B Owner "" 10
[ ! -e "$MB_TMP/B/run-migbroker/domain/$UUID" ] || mb_fail "B: the per-domain bus survived the release"
mb_log "B: destroyed, device released"

# ---- the brokers shut down (they close their libvirt connection) -----------------
for H in A B; do
        eval "p=\$BROKER_PID_$H"
        kill "$p"
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        ! kill -0 "$p" 2>/dev/null || mb_fail "host $H: the broker did not exit within 5 s of SIGTERM"
done
mb_log "brokers stopped"
mb_log "virsh migrate: $MIG_TIME s, downtime ${DOWNTIME:-?} ms with the device; $MIG_TIME_PLAIN s, ${DOWNTIME_PLAIN:-?} ms without it"
