#!/bin/sh
# migbroker-qemu-shim.so driven exactly as seed 000's QEMU drives a plugin
# (tests/integration/plugin-driver, and shim-ops for single ops), against a
# private bus and migbrokerd whose devices are simdev functions:
#  1. QEMU with simdev.so in-process saves; QEMU with the shim loads into a
#     broker device opened after Preflight (it starts in stop): equal SHA-256;
#  2. the reverse, with pre-copy rounds of a dirtying device: equal SHA-256;
#  3. the bytes save() gives QEMU through the shim are the bytes simdev.so
#     gives it in-process (two agents with one seed, no dirtying), stop-copy
#     only and with a pre-copy round; timings of a 16 MiB save both ways;
#  4. failures: init on unmanaged, absent, unopened and other-owner devices and
#     with bad arguments; set_state(5..8) is -EINVAL; save of more than
#     pending is -EIO; load into a running device fails without SIGPIPE; the
#     VMM user gets -EACCES unless its command line carries the owner's -uuid
#     (as root only); a frozen broker makes every op fail at the timeout, a
#     killed broker or bus at once; no descriptor leaks; one cycle under
#     valgrind when it is there.
. "$MB_SRCDIR/tests/integration/lib.sh"

SHIM="$MB_BUILDDIR/plugins/qemu-shim/.libs/migbroker-qemu-shim.so"
OPS="$MB_BUILDDIR/tests/integration/shim-ops"
mb_require_built "$MB_SIMAGENT" "$MB_DRIVER" "$MB_SIMDEV_SO" "$MB_BROKER" "$MB_WORKER" "$MB_CTL" "$SHIM" "$OPS"

OWNER=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41
OTHER=0b3c1f2e-6a0d-4c52-9d11-8f3e2a7b9c10
# Functions: 1 in-process -> shim, 2 shim -> in-process, 3 and 7 byte identity,
# 4 failures (its own broker), 5 managed but never opened, 6 in sysfs, no rule.
F1=0000:3b:00.1 F2=0000:3b:00.2 F3=0000:3b:00.3 F4=0000:3b:00.4
F5=0000:3b:00.5 F6=0000:3b:00.6 F7=0000:3b:00.7 F9=0000:3b:01.1
SIZE=16M

mb_start_agent SRC1 --function $F1 --state-size $SIZE --seed 42 --dirty-rate 2M
mb_start_agent DST1 --function $F1 --state-size $SIZE --empty
mb_start_agent SRC2 --function $F2 --state-size $SIZE --seed 7 --dirty-rate 2M
mb_start_agent DST2 --function $F2 --state-size $SIZE --empty
mb_start_agent IDA --function $F3 --function $F7 --function $F5 --state-size $SIZE --seed 99
mb_start_agent IDB --function $F3 --function $F7 --state-size $SIZE --seed 99
mb_start_agent FAIL --function $F4 --state-size 256K --seed 5

# policy FILE RULE...: a policy whose rules are "BDF=AGENT"; VMM user 'daemon'.
VMM_USER=daemon
policy() {
        file=$1
        shift
        cat >"$file" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  vmm-user: $VMM_USER
  op-timeout-ms: 10000
plugins:
  simdev:
    path: $MB_SIMDEV_SO
devices:
EOP
        for rule in "$@"; do
                printf '  - match: { bdf: "%s" }\n    plugin: simdev\n    arg: "%s"\n' "${rule%%=*}" "${rule#*=}" >>"$file"
        done
        chmod 644 "$file"
}

mb_start_bus S
for f in $F1 $F2 $F3 $F5 $F6 $F7; do
        mb_fake_pci "$MB_TMP/sysfs-S" $f 0x1af4 0x1041
done
policy "$MB_TMP/policy-S.yaml" "$F1=$MB_AGENT_DST1" "$F2=$MB_AGENT_SRC2" "$F3=$MB_AGENT_IDA" \
        "$F5=$MB_AGENT_IDA" "$F7=$MB_AGENT_IDA"
MB_BROKER_LOG_LEVEL=info mb_start_broker S "$MB_TMP/policy-S.yaml"
ARG="timeout-ms=20000,bus=$MB_BUS_S"

state_of() { mb_ctl S show "$1" | sed -n 's/^ *State: //p'; }

# op_field FILE OP FIELD: r or ms of the first line of OP in shim-ops output.
op_field() { awk -v op="$2" -v f="$3" '$1 == op { for (i = 2; i <= NF; i++) if (index($i, f "=") == 1) { print substr($i, length(f) + 2); exit } }' "$1"; }

# expect_op FILE OP R MAX_MS [MIN_MS]: OP returned R within MAX_MS (and not before MIN_MS).
expect_op() {
        r=$(op_field "$1" "$2" r)
        ms=$(op_field "$1" "$2" ms)
        [ -n "$r" ] || { cat "$1"; mb_fail "$2 did not run"; }
        [ "$r" = "$3" ] || { cat "$1"; mb_fail "$2 returned $r, expected $3"; }
        awk -v ms="$ms" -v max="$4" -v min="${5:-0}" 'BEGIN { exit !(ms <= max && ms >= min) }' ||
                mb_fail "$2 took $ms ms, expected ${5:-0}..$4"
        mb_log "$2: r=$r in $ms ms"
}

# no_fd_leak FILE: descriptors after cleanup and dlclose equal those before init.
no_fd_leak() {
        line=$(grep '^fds ' "$1")
        [ "${line#fds before=}" != "$line" ] || mb_fail "no fd count in $1"
        before=$(echo "$line" | sed 's/.*before=\([0-9-]*\).*/\1/')
        after=$(echo "$line" | sed 's/.*after=\([0-9-]*\).*/\1/')
        [ "$before" = "$after" ] || { cat "$1"; mb_fail "descriptors leaked: $before before init, $after after cleanup"; }
}

# driver LOG ARGS...: plugin-driver, its stderr to LOG, fails the test when it fails.
driver() {
        log=$1
        shift
        "$MB_DRIVER" "$@" 2>"$MB_TMP/$log" || { cat "$MB_TMP/$log"; mb_fail "plugin-driver $* failed"; }
        cat "$MB_TMP/$log"
}

plugin_secs() { sed -n 's/.*, \([0-9.]*\) s in plugin ops.*/\1/p' "$MB_TMP/$1"; }

# --- 1. in-process save -> load through the shim --------------------------------
mb_log "1. QEMU with simdev.so in-process -> QEMU with the shim"
driver save1.err save "$MB_SIMDEV_SO" --arg "$MB_AGENT_SRC1" --bdf $F1 --rounds 3 --round-delay-ms 100 \
        -o "$MB_TMP/t1.raw"
mb_ctl S preflight $F1 --owner $OWNER
mb_ctl S claim $F1 --owner $OWNER
mb_ctl S open $F1 --owner $OWNER
[ "$(state_of $F1)" = stop ] || mb_fail "a device opened after preflight is in $(state_of $F1), not stop"
driver load1.err load "$SHIM" --arg "$ARG" --bdf $F1 -i "$MB_TMP/t1.raw"
h_src=$(mb_hash "$MB_AGENT_PORT_SRC1" $F1)
h_dst=$(mb_hash "$MB_AGENT_PORT_DST1" $F1)
mb_log "source $h_src, broker's device $h_dst"
[ "$h_src" = "$h_dst" ] || mb_fail "state differs after loading through the shim"
[ "$(state_of $F1)" = running ] || mb_fail "the device is in $(state_of $F1) after the load, not running"

# --- 2. save through the shim -> in-process load ------------------------------------
mb_log "2. QEMU with the shim -> QEMU with simdev.so in-process"
mb_ctl S claim $F2 --owner $OWNER
mb_ctl S open $F2 --owner $OWNER
driver save2.err save "$SHIM" --arg "$ARG" --bdf $F2 --rounds 3 --round-delay-ms 100 -o "$MB_TMP/t2.raw"
grep -q 'pre-copy round 2: [1-9]' "$MB_TMP/save2.err" || mb_fail "no dirtied pages in pre-copy round 2 through the shim"
[ "$(state_of $F2)" = stop ] || mb_fail "the device is in $(state_of $F2) after the save, not stop"
driver load2.err load "$MB_SIMDEV_SO" --arg "$MB_AGENT_DST2" --bdf $F2 -i "$MB_TMP/t2.raw"
h_src=$(mb_hash "$MB_AGENT_PORT_SRC2" $F2)
h_dst=$(mb_hash "$MB_AGENT_PORT_DST2" $F2)
mb_log "broker's device $h_src, destination $h_dst"
[ "$h_src" = "$h_dst" ] || mb_fail "state differs after saving through the shim"

# --- 3. byte identity ---------------------------------------------------------------
mb_log "3. the bytes of save() through the shim are those of simdev.so in-process"
mb_ctl S claim $F3 --owner $OWNER
mb_ctl S open $F3 --owner $OWNER
mb_ctl S claim $F7 --owner $OWNER
mb_ctl S open $F7 --owner $OWNER
driver save3-ref.err save "$MB_SIMDEV_SO" --arg "$MB_AGENT_IDB" --bdf $F3 -o "$MB_TMP/t3.ref"
driver save3-shim.err save "$SHIM" --arg "$ARG" --bdf $F3 -o "$MB_TMP/t3.shim"
cmp "$MB_TMP/t3.ref" "$MB_TMP/t3.shim" || mb_fail "stop-copy bytes differ between in-process and the shim"
mb_log "stop-copy only: $(wc -c <"$MB_TMP/t3.ref") bytes identical;" \
        "16 MiB save: in-process $(plugin_secs save3-ref.err) s, through the shim $(plugin_secs save3-shim.err) s in plugin ops"
driver save7-ref.err save "$MB_SIMDEV_SO" --arg "$MB_AGENT_IDB" --bdf $F7 --rounds 2 -o "$MB_TMP/t7.ref"
driver save7-shim.err save "$SHIM" --arg "$ARG" --bdf $F7 --rounds 2 -o "$MB_TMP/t7.shim"
cmp "$MB_TMP/t7.ref" "$MB_TMP/t7.shim" || mb_fail "pre-copy bytes differ between in-process and the shim"
mb_log "with a pre-copy round: $(wc -c <"$MB_TMP/t7.ref") bytes identical"

# --- 4. failures ---------------------------------------------------------------------
mb_log "4. failures"
# init_fails BDF ARG PATTERN: init returns NULL, one stderr line names the device and PATTERN.
init_fails() {
        "$OPS" "$SHIM" "$1" "$2" get_state >"$MB_TMP/init.out" 2>"$MB_TMP/init.err"
        rc=$?
        [ "$rc" = 1 ] || { cat "$MB_TMP/init.out" "$MB_TMP/init.err"; mb_fail "init on $1 with '$2': exit $rc, expected 1"; }
        [ "$(wc -l <"$MB_TMP/init.err")" = 1 ] || { cat "$MB_TMP/init.err"; mb_fail "init failure: not one line"; }
        grep -q "^migbroker-qemu-shim: $1: init: .*$3" "$MB_TMP/init.err" ||
                { cat "$MB_TMP/init.err"; mb_fail "init on $1: message does not match '$3'"; }
        mb_log "init $1: $(cat "$MB_TMP/init.err")"
}
init_fails $F6 "$ARG" "GetDevice: NotManaged: "
init_fails $F9 "$ARG" "GetDevice: NoSuchDevice: "
init_fails $F5 "$ARG" "not open"
init_fails $F3 "owner=$OTHER,$ARG" "claimed by $OWNER, not by owner=$OTHER"
init_fails $F3 "colour=blue" "invalid argument 'colour=blue': unknown option"
init_fails $F3 "bus=unix:path=$MB_TMP/no-such-socket" "No such file or directory"
"$OPS" "$SHIM" $F3 "owner=$OWNER,$ARG" get_state >"$MB_TMP/owner.out" || mb_fail "init with the right owner failed"

# set_state outside 0..4: -EINVAL, no call made, the state unchanged.
"$OPS" "$SHIM" $F3 "$ARG" set_state=5 set_state=6 set_state=7 set_state=8 set_state=4294967295 get_state \
        >"$MB_TMP/v1.out" 2>"$MB_TMP/v1.err" || { cat "$MB_TMP/v1.out" "$MB_TMP/v1.err"; mb_fail "shim-ops failed"; }
for v in 5 6 7 8 4294967295; do
        expect_op "$MB_TMP/v1.out" set_state=$v -22 100
done
[ "$(op_field "$MB_TMP/v1.out" get_state value)" = 0 ] || mb_fail "state changed by refused set_state calls"
grep -q "set_state: 5 is not a state QEMU may set" "$MB_TMP/v1.err" || { cat "$MB_TMP/v1.err"; mb_fail "no message for set_state(5)"; }
no_fd_leak "$MB_TMP/v1.out"

# The failure broker: its own bus, one small device, killed at the end.
mb_start_bus F
BUS_F_PID=${MB_PIDS##* }
mb_fake_pci "$MB_TMP/sysfs-F" $F4 0x1af4 0x1041
policy "$MB_TMP/policy-F.yaml" "$F4=$MB_AGENT_FAIL"
MB_BROKER_LOG_LEVEL=info mb_start_broker F "$MB_TMP/policy-F.yaml"
mb_ctl F claim $F4 --owner $OWNER
mb_ctl F open $F4 --owner $OWNER
FARG="timeout-ms=1000,bus=$MB_BUS_F"

# save() of more than is pending: the broker sends a shorter round: -EIO, said so.
"$OPS" "$SHIM" $F4 "$FARG" set_state=2 update_pending >"$MB_TMP/pend.out" || mb_fail "shim-ops failed"
pending=$(op_field "$MB_TMP/pend.out" update_pending value)
[ "${pending:-0}" -gt 0 ] || { cat "$MB_TMP/pend.out"; mb_fail "nothing pending in stop-copy"; }
"$OPS" "$SHIM" $F4 "$FARG" save=$((pending + 4096)) set_state=1 >"$MB_TMP/more.out" 2>"$MB_TMP/more.err" ||
        mb_fail "shim-ops failed"
expect_op "$MB_TMP/more.out" save=$((pending + 4096)) -5 2000
grep -q "a round of $pending bytes where save() asked for $((pending + 4096))" "$MB_TMP/more.err" ||
        { cat "$MB_TMP/more.err"; mb_fail "no message for the short round"; }
no_fd_leak "$MB_TMP/more.out"

# load() into a running device: the broker refuses and closes the socket while
# the shim still writes 4 MiB: an error, not SIGPIPE (shim-ops keeps its default).
[ "$(mb_ctl F show $F4 | sed -n 's/^ *State: //p')" = running ] || mb_fail "$F4 not running"
"$OPS" "$SHIM" $F4 "$FARG" load=4194304 get_state >"$MB_TMP/pipe.out" 2>"$MB_TMP/pipe.err"
rc=$?
[ "$rc" = 0 ] || { cat "$MB_TMP/pipe.out" "$MB_TMP/pipe.err"; mb_fail "shim-ops exit $rc (a signal is 128+N)"; }
expect_op "$MB_TMP/pipe.out" load=4194304 -22 2000
grep -q "LoadFrom(4194304 bytes): InvalidTransition: " "$MB_TMP/pipe.err" || { cat "$MB_TMP/pipe.err"; mb_fail "no message"; }
grep -q "^cleanup r=0" "$MB_TMP/pipe.out" || mb_fail "cleanup failed"
no_fd_leak "$MB_TMP/pipe.out"

# A full cycle through the shim leaves no descriptor behind (and valgrind, if
# installed, finds no error and no definite leak in the shim).
CYCLE="set_state=3 update_pending save=4096 set_state=2 update_pending set_state=0 set_state=1"
"$OPS" "$SHIM" $F4 "$FARG" $CYCLE >"$MB_TMP/cycle.out" 2>&1 || { cat "$MB_TMP/cycle.out"; mb_fail "cycle failed"; }
for op in set_state=3 update_pending save=4096 set_state=2 set_state=0 set_state=1; do
        expect_op "$MB_TMP/cycle.out" $op 0 1000
done
no_fd_leak "$MB_TMP/cycle.out"
if [ "${MB_SANITIZERS:-no}" = yes ]; then
        # valgrind cannot run ASan binaries; this build's sanitizers check the same cycle.
        mb_log "sanitizer build: skipped the memcheck run"
elif command -v valgrind >/dev/null 2>&1; then
        valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
                --show-leak-kinds=definite --suppressions="$MB_SRCDIR/tests/valgrind.supp" \
                "$OPS" "$SHIM" $F4 "timeout-ms=20000,bus=$MB_BUS_F" $CYCLE >"$MB_TMP/vg.out" 2>"$MB_TMP/vg.err"
        rc=$?
        [ "$rc" = 0 ] || { cat "$MB_TMP/vg.out" "$MB_TMP/vg.err"; mb_fail "valgrind: exit $rc"; }
        mb_log "valgrind: no error, no definite leak over init, $CYCLE, cleanup"
else
        mb_log "valgrind not installed: skipped the memcheck run"
fi

# The VMM user may drive a device only from the QEMU of the domain that claimed
# it (its command line carries -uuid OWNER); shim-ops plays that QEMU.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 && id "$VMM_USER" >/dev/null 2>&1; then
        chmod 755 "$MB_TMP" # the bus socket lies below it
        as_vmm() { setpriv --reuid="$VMM_USER" --regid="$VMM_USER" --clear-groups "$OPS" "$SHIM" $F4 "$FARG" "$@"; }
        as_vmm get_state update_pending -uuid $OWNER >"$MB_TMP/auth-ok.out" 2>"$MB_TMP/auth-ok.err" ||
                { cat "$MB_TMP/auth-ok.out" "$MB_TMP/auth-ok.err"; mb_fail "shim-ops as $VMM_USER failed"; }
        expect_op "$MB_TMP/auth-ok.out" update_pending 0 1000
        as_vmm get_state update_pending -uuid $OTHER >"$MB_TMP/auth-no.out" 2>"$MB_TMP/auth-no.err" ||
                { cat "$MB_TMP/auth-no.out" "$MB_TMP/auth-no.err"; mb_fail "shim-ops as $VMM_USER failed"; }
        expect_op "$MB_TMP/auth-no.out" get_state 0 1000 # properties are open to all
        expect_op "$MB_TMP/auth-no.out" update_pending -13 1000
        grep -q "RefreshPending: AccessDenied: uid $(id -u "$VMM_USER") may not call RefreshPending" "$MB_TMP/auth-no.err" ||
                { cat "$MB_TMP/auth-no.err"; mb_fail "no AccessDenied message"; }
        mb_log "VMM user: allowed from the owner's QEMU, AccessDenied (-EACCES) from another domain's"
else
        mb_log "not root (or no setpriv, no user $VMM_USER): skipped the VMM-user authorization check"
fi

# gone OPSFILE ACTION: init while the broker serves, ACTION, then every op.
ALL_OPS="get_state update_pending set_state=1 save=4096 load=4096"
gone() {
        rm -f "$MB_TMP/ready" "$MB_TMP/go"
        "$OPS" "$SHIM" $F4 "$FARG" ready="$MB_TMP/ready" wait="$MB_TMP/go" $ALL_OPS >"$1" 2>"$1.err" &
        pid=$!
        mb_track $pid
        mb_wait_file "$MB_TMP/ready" 10 || true
        [ -e "$MB_TMP/ready" ] || { cat "$1" "$1.err"; mb_fail "shim-ops did not get through init"; }
        eval "$2"
        touch "$MB_TMP/go"
        wait $pid
        rc=$?
        [ "$rc" = 0 ] || { cat "$1" "$1.err"; mb_fail "shim-ops exit $rc after: $2"; }
        grep -q "^cleanup r=0" "$1" || mb_fail "cleanup failed after: $2"
        no_fd_leak "$1"
}

# A frozen broker: every op fails with -ETIMEDOUT at timeout-ms (1000).
eval "BROKER_F=\$MB_BROKER_PID_F"
gone "$MB_TMP/frozen.out" 'kill -STOP $BROKER_F'
kill -CONT "$BROKER_F"
for op in $ALL_OPS; do
        expect_op "$MB_TMP/frozen.out" $op -110 2500 950
done
grep -q "no reply from the broker within 1000 ms" "$MB_TMP/frozen.out.err" || mb_fail "no timeout message"

# A killed broker: every op fails at once (the bus knows no org.migbroker1).
gone "$MB_TMP/killed.out" 'kill -KILL $BROKER_F; wait $BROKER_F 2>/dev/null'
for op in $ALL_OPS; do
        r=$(op_field "$MB_TMP/killed.out" $op r)
        [ "${r:-0}" -lt 0 ] || { cat "$MB_TMP/killed.out"; mb_fail "$op succeeded without a broker"; }
        expect_op "$MB_TMP/killed.out" $op "$r" 500
done

# A dead bus: every op fails at once (the connection is gone).
MB_BROKER_LOG_LEVEL=info mb_start_broker F "$MB_TMP/policy-F.yaml"
mb_ctl F claim $F4 --owner $OWNER
mb_ctl F open $F4 --owner $OWNER
gone "$MB_TMP/nobus.out" 'kill -KILL $BUS_F_PID; wait $BUS_F_PID 2>/dev/null'
for op in $ALL_OPS; do
        r=$(op_field "$MB_TMP/nobus.out" $op r)
        [ "${r:-0}" -lt 0 ] || { cat "$MB_TMP/nobus.out"; mb_fail "$op succeeded without a bus"; }
        expect_op "$MB_TMP/nobus.out" $op "$r" 500
done
mb_log "errors without a bus: $(sort -u "$MB_TMP/nobus.out.err" | head -2 | tr '\n' ' ')"

mb_log "PASS"
exit 0
