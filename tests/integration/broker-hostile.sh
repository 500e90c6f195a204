#!/bin/bash
# Hostile D-Bus input: every malformed argument gets a specific error name
# and a message that says what is wrong, and changes nothing (the device
# keeps its state, owner and worker; the broker lives on):
#   - BDFs that are not PCI addresses (GetDevice): InvalidArgs;
#   - owners that are not domain UUIDs (empty, wrong shape, 64 KiB): InvalidArgs;
#   - unknown state names: InvalidArgs; "error": InvalidTransition;
#   - wrong argument types and counts: InvalidArgs (sd-bus checks signatures);
#   - unknown or mistyped options: InvalidArgs;
#   - fds of the wrong kind for SaveTo and LoadFrom (a directory, O_PATH, a
#     read-only fd to write, a write-only fd to read, an eventfd, an epoll
#     fd): InvalidArgs, the worker never sees them; fds of an acceptable kind
#     that misbehave: an unconnected datagram socket (the write fails: the
#     save session is over, the state sane), a pipe that is never read or
#     never written (Timeout after op-timeout-ms, error), an empty pipe and
#     /dev/zero for LoadFrom (StreamCorrupt);
#   - properties are read-only, also for root;
#   - an unprivileged caller's SaveTo on a device in stop-copy (broker-auth.sh
#     checks every changing call on a running device): AccessDenied, its fd
#     untouched, the save session intact (root's save afterwards is complete
#     and byte-identical);
#   - a stream whose record claims 4 GiB, or 16 MiB (the cap) and ends
#     early: StreamCorrupt, and the worker's peak RSS grows by no more than
#     the cap.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

D=0000:3b:00.1     # the device under attack (4 MiB)
V=0000:3b:00.2     # a destination for streams
U=$MB_UUID1
DEV=org.migbroker1.Device
MGR=org.migbroker1.Manager
INVALID=org.freedesktop.DBus.Error.InvalidArgs

mb_start_bus A
for f in $D $V; do mb_fake_pci "$MB_TMP/sysfs-A" $f 0x1af4 0x1041; done
POLICY=$(MB_OP_TIMEOUT_MS=1000 mb_policy_head | mb_policy "$MB_TMP/etc/policy.yaml")
cat >>"$POLICY" <<EOP
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$D" }
    plugin: testing
    arg: "state-size=4M,seed=11"
  - match: { bdf: "$V" }
    plugin: testing
    arg: "state-size=4M,empty"
EOP
mb_start_broker A "$POLICY"
BROKER=$(mb_broker_pid A)
PD=$(mb_dev_path $D)
PV=$(mb_dev_path $V)
for f in $D $V; do
        mb_expect A ok claim $f --owner $U
        mb_expect A ok open $f --owner $U
done
mb_expect A ok save $D -o "$MB_TMP/ref" --no-precopy --no-progress
REF=$(mb_sha "$MB_TMP/ref")
mb_expect A ok set-state $D running

# snapshot: what a refused call must not change.
snapshot() {
        for f in $D $V; do
                mb_ctl A --json show $f | grep -E '"(State|Owner|IsOpen|IncomingOwner|PendingBytes|VmstateId)"'
        done
        mb_workers $BROKER
}

# refused WANT-NAME TEXT PATH IFACE METHOD ARGS...: the call fails with
# WANT-NAME, its message contains TEXT, and nothing changed.
N_REFUSED=0
refused() {
        local want=$1 text=$2
        shift 2
        snapshot >"$MB_TMP/before"
        mb_expect_raw A "$want" "$@"
        if ! grep -qF -- "$text" "$MB_TMP/raw.out"; then
                cat "$MB_TMP/raw.out" >&2
                mb_fail "$3 $4: the message does not say '$text'"
        fi
        snapshot >"$MB_TMP/after"
        diff "$MB_TMP/before" "$MB_TMP/after" >&2 || mb_fail "$3 $4 ${5:-}: a refused call changed something"
        kill -0 "$BROKER" || mb_fail "the broker died"
        N_REFUSED=$((N_REFUSED + 1))
}

# --- BDFs -------------------------------------------------------------------------------------
LONG=$(head -c 4096 /dev/zero | tr '\0' 'a')
for bdf in "" "zzzz" "0000:3b:00.8" "0000:3b:20.0" "0000:3g:00.1" "10000:3b:00.1" "0000:3b:00.1 " \
        "../../../etc/passwd" "0000:3b:00.1/.." "0000:3b:00" "$LONG"; do
        refused $INVALID "is not a PCI address" /org/migbroker1 $MGR GetDevice "s:$bdf"
done
refused org.migbroker1.Error.NoSuchDevice "0000:3b:00.6" /org/migbroker1 $MGR GetDevice s:0000:3b:00.6
# Paths that decode to no device, or to no BDF at all.
refused org.freedesktop.DBus.Error.UnknownObject "Unknown object" "${PD%?}6" $DEV SetState s:stop
refused org.freedesktop.DBus.Error.UnknownObject "Unknown object" /org/migbroker1/device/_2e_2e $DEV SetState s:stop
mb_log "malformed BDFs: InvalidArgs; absent ones: NoSuchDevice or UnknownObject"

# --- owners -----------------------------------------------------------------------------------
HUGE=$(head -c 65536 /dev/zero | tr '\0' 'f')
for owner in "" "not-a-uuid" "{$U}" "${U}0" "${U%?}" "6f1c9a52x1d1e-4c5b-9b0e-3f6a2d7c8e41" \
        "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e4g" "$HUGE"; do
        for m in Claim Release Preflight Close; do
                refused $INVALID "is not a domain UUID" "$PD" $DEV $m "s:$owner"
        done
        refused $INVALID "is not a domain UUID" "$PD" $DEV Open "s:$owner" a{sv}:
done
# The message stays bounded.
refused $INVALID "is not a domain UUID" "$PD" $DEV Claim "s:$HUGE"
[ "$(wc -c <"$MB_TMP/raw.out")" -lt 2048 ] || mb_fail "the error for a 64 KiB owner is $(wc -c <"$MB_TMP/raw.out") bytes"
# Another owner, well formed: Busy / NotClaimed.
refused org.migbroker1.Error.Busy "is claimed by $U" "$PD" $DEV Claim s:$MB_UUID2
refused org.migbroker1.Error.NotClaimed "is not claimed by $MB_UUID2" "$PD" $DEV Release s:$MB_UUID2
refused org.migbroker1.Error.NotClaimed "is not claimed by $MB_UUID2" "$PD" $DEV Close s:$MB_UUID2
# Upper case is the same UUID (normalised): a no-op claim.
mb_expect_raw A ok "$PD" $DEV Claim "s:${U^^}"
mb_expect_prop A $D Owner $U
mb_log "malformed owners: InvalidArgs with a bounded message; another owner: Busy or NotClaimed"

# --- states -----------------------------------------------------------------------------------
for s in "" bogus RUNNING "running " stopcopy 1 "pre-copy,stop"; do
        refused $INVALID "unknown state '$s'" "$PD" $DEV SetState "s:$s"
done
refused org.migbroker1.Error.InvalidTransition "the error state cannot be requested" "$PD" $DEV SetState s:error
mb_log "unknown states: InvalidArgs; 'error': InvalidTransition"

# --- types, counts, options -------------------------------------------------------------------
refused $INVALID "" "$PD" $DEV SetState u:1
refused $INVALID "" "$PD" $DEV SetState
refused $INVALID "" "$PD" $DEV SetState s:stop s:stop
refused $INVALID "" "$PD" $DEV Claim u:7
refused $INVALID "" "$PD" $DEV Open s:$U
refused $INVALID "" "$PD" $DEV SaveTo s:/tmp/x a{sv}:
refused $INVALID "" "$PD" $DEV Reset b:true
refused $INVALID "" /org/migbroker1 $MGR GetDevice u:1
refused org.freedesktop.DBus.Error.UnknownMethod "" "$PD" $DEV Frobnicate
refused $INVALID "unknown option 'bogus'" "$PD" $DEV Open s:$U a{sv}:bogus=s:x
refused $INVALID "vmstate-id 'a b' is not" "$PD" $DEV Open s:$U "a{sv}:vmstate-id=s:a b"
refused $INVALID "option 'vmstate-id' must be a string" "$PD" $DEV Open s:$U a{sv}:vmstate-id=u:1
mb_expect A ok set-state $D stop-copy
refused $INVALID "unknown format 'zip'" "$PD" $DEV SaveTo "h>$MB_TMP/o" a{sv}:format=s:zip
refused $INVALID "option 'format' must be a string" "$PD" $DEV SaveTo "h>$MB_TMP/o" a{sv}:format=u:1
refused $INVALID "option 'max-bytes' must be a uint64" "$PD" $DEV SaveTo "h>$MB_TMP/o" a{sv}:max-bytes=s:1
refused $INVALID "unknown option 'max-bytes'" "$PD" $DEV LoadFrom "h<$MB_TMP/ref" a{sv}:max-bytes=t:1
[ -s "$MB_TMP/o" ] && mb_fail "a refused SaveTo wrote to its fd"
mb_log "wrong types and counts, unknown methods and options: refused by name"

# --- SaveTo: fds of the wrong kind (the device is in stop-copy) --------------------------------
echo data >"$MB_TMP/plain"
refused $INVALID "the file descriptor is a directory" "$PD" $DEV SaveTo "h:dir=$MB_TMP" a{sv}:
refused $INVALID "not open for writing" "$PD" $DEV SaveTo "h:rdonly=$MB_TMP/plain" a{sv}:
refused $INVALID "not open for writing" "$PD" $DEV SaveTo "h:opath=$MB_TMP/plain" a{sv}:
refused $INVALID "not open for writing" "$PD" $DEV SaveTo h:pipe-idle a{sv}:
refused $INVALID "cannot write a stream to a" "$PD" $DEV SaveTo h:eventfd a{sv}:
refused $INVALID "cannot write a stream to a" "$PD" $DEV SaveTo h:epoll a{sv}:
mb_expect_eq "the file a refused SaveTo was given" "$(cat "$MB_TMP/plain")" data
# Acceptable kinds that fail: the session is over, the device sane.
WD=$(mb_workers $BROKER | head -n 1)
mb_expect_raw A System.Error.ENOTCONN "$PD" $DEV SaveTo h:dgram a{sv}:
mb_expect_prop A $D State stop-copy
mb_expect_raw A org.migbroker1.Error.InvalidTransition "$PD" $DEV SaveTo "h>$MB_TMP/o" a{sv}:
mb_expect A ok set-state $D running
mb_expect A ok set-state $D stop-copy
# A socket whose peer never reads: no progress for op-timeout-ms.
mb_expect_raw A org.migbroker1.Error.Timeout "$PD" $DEV SaveTo h:socket a{sv}:
grep -q "made no progress for 1000 ms" "$MB_TMP/raw.out" || mb_fail "unread socket: $(cat "$MB_TMP/raw.out")"
mb_expect_prop A $D State error
mb_expect A ok reset $D
mb_expect_prop A $D State running
mb_log "SaveTo: wrong fd kinds InvalidArgs; an unconnected socket ends the session; an unread one is a Timeout"

# --- LoadFrom: fds of the wrong kind (V in resuming) -------------------------------------------
mb_expect A ok set-state $V resuming
refused $INVALID "the file descriptor is a directory" "$PV" $DEV LoadFrom "h:dir=$MB_TMP" a{sv}:
refused $INVALID "not open for reading" "$PV" $DEV LoadFrom "h:wronly=$MB_TMP/plain" a{sv}:
refused $INVALID "not open for reading" "$PV" $DEV LoadFrom "h:opath=$MB_TMP/ref" a{sv}:
refused $INVALID "not open for reading" "$PV" $DEV LoadFrom h:pipe-broken a{sv}:
refused $INVALID "cannot read a stream from a" "$PV" $DEV LoadFrom h:eventfd a{sv}:
mb_expect_eq "the file a refused LoadFrom was given" "$(cat "$MB_TMP/plain")" data
# An empty stream: nothing loaded; leaving resuming is StreamCorrupt.
mb_expect_raw A ok "$PV" $DEV LoadFrom h:pipe-eof a{sv}:
mb_expect_eq "bytes of an empty stream" "$(sed -n 2p "$MB_TMP/raw.out")" 0
mb_expect A StreamCorrupt set-state $V stop
mb_last_message | grep -q "the incoming stream is incomplete" || mb_fail "empty stream: $(mb_last_message)"
mb_expect A ok reset $V
# /dev/zero: not a stream.
mb_expect A ok set-state $V resuming
mb_expect_raw A org.migbroker1.Error.StreamCorrupt "$PV" $DEV LoadFrom "h</dev/zero" a{sv}:
mb_expect_prop A $V State error
mb_expect A ok reset $V
# A writer that never writes: a stall.
mb_expect A ok set-state $V resuming
mb_expect_raw A org.migbroker1.Error.Timeout "$PV" $DEV LoadFrom h:pipe-idle a{sv}:
mb_expect_prop A $V State error
mb_expect A ok reset $V
mb_log "LoadFrom: wrong fd kinds InvalidArgs; empty: StreamCorrupt on leaving resuming; /dev/zero StreamCorrupt; a silent pipe Timeout"

# --- properties are read-only -----------------------------------------------------------------
refused org.freedesktop.DBus.Error.PropertyReadOnly "" "$PD" org.freedesktop.DBus.Properties Set \
        s:$DEV s:State v:s:stop
mb_log "properties: read-only"

# --- an unprivileged SaveTo in stop-copy ------------------------------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
        NOBODY=$(mb_worker_user)
        chmod 755 "$MB_TMP"
        mkdir -m 1777 "$MB_TMP/pub"
        mb_expect A ok set-state $D stop-copy
        snapshot >"$MB_TMP/before"
        setpriv --reuid="$NOBODY" --regid="$(id -g "$NOBODY")" --clear-groups \
                "$MB_BUS_CALL" "$MB_BUS_A" "$PD" $DEV SaveTo "h>$MB_TMP/pub/stolen" a{sv}: >"$MB_TMP/raw.out" 2>&1
        mb_expect_eq "SaveTo as $NOBODY in stop-copy" "$(head -n 1 "$MB_TMP/raw.out")" org.migbroker1.Error.AccessDenied
        [ -s "$MB_TMP/pub/stolen" ] && mb_fail "a refused SaveTo wrote the state"
        snapshot >"$MB_TMP/after"
        diff "$MB_TMP/before" "$MB_TMP/after" >&2 || mb_fail "the refused SaveTo changed something"
        # The session is intact: root's SaveTo writes the whole stream.
        mb_expect_raw A ok "$PD" $DEV SaveTo "h>$MB_TMP/after-denied" a{sv}:
        mb_expect_eq "the save after a denied one" "$(mb_sha "$MB_TMP/after-denied")" "$REF"
        mb_expect A ok set-state $D running
        mb_log "SaveTo as $NOBODY in stop-copy: AccessDenied, nothing written, the session intact"
else
        mb_log "not root or no setpriv: the unprivileged SaveTo is not checked"
fi

# --- a stream that claims a huge record -------------------------------------------------------
TOOL="$MB_PYTHON $MB_SRCDIR/tests/integration/mb-stream-tool.py"
$TOOL "$MB_TMP/ref" "$MB_TMP/huge" oversize 1 4294967295 || mb_fail "cannot craft a stream"
$TOOL "$MB_TMP/ref" "$MB_TMP/at-cap" oversize 1 16777216 || mb_fail "cannot craft a stream"
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
for crafted in huge at-cap; do
        mb_expect A ok set-state $V resuming
        WV=$(for p in $(mb_workers $BROKER); do tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "--bdf $V " && echo $p; done)
        [ -n "$WV" ] || mb_fail "no worker for $V"
        before=$(hwm_kb "$WV")
        if [ $crafted = huge ]; then
                # Refused from the record header alone.
                mb_expect_raw A org.migbroker1.Error.StreamCorrupt "$PV" $DEV LoadFrom "h<$MB_TMP/$crafted" a{sv}:
                grep -q "record 1: length 4294967295 exceeds the cap" "$MB_TMP/raw.out" ||
                        mb_fail "$crafted: $(cat "$MB_TMP/raw.out")"
                what=$(sed -n 2p "$MB_TMP/raw.out")
        else
                # At the cap: the rest of the stream is read as record 1, which
                # EOF leaves incomplete; leaving resuming says so.
                mb_expect_raw A ok "$PV" $DEV LoadFrom "h<$MB_TMP/$crafted" a{sv}:
                mb_expect A StreamCorrupt set-state $V stop
                what=$(mb_last_message)
        fi
        after=$(hwm_kb "$WV")
        [ -n "$before" ] && [ -n "$after" ] || mb_fail "no VmHWM for worker $WV"
        mb_log "$crafted: $what; worker peak RSS $before -> $after kB"
        [ $((after - before)) -le $((16 * 1024 + 4096)) ] ||
                mb_fail "$crafted: the worker's peak RSS grew by $((after - before)) kB"
        mb_expect_prop A $V State error
        mb_expect A ok reset $V
done

kill -0 "$BROKER" || mb_fail "the broker died"
for f in $D $V; do mb_expect A ok release $f --owner $U; done
sleep 0.3
mb_expect_eq "workers at the end" "$(mb_count_workers $BROKER)" 0
mb_expect_eq "zombie children of the broker" "$(mb_zombies $BROKER)" ""
mb_log "$N_REFUSED refused calls changed nothing"
mb_log "PASS"
exit 0
