#!/bin/bash
# migbroker-libvirt-events and the broker's supervision of it, without a
# libvirtd (libvirt's in-process test driver, a socket nobody may reach, and a
# fake follower; broker-libvirt.sh runs the real one against a real libvirtd):
#  - the program alone: --help, --version, usage errors, "connected" on
#    test:///default, then "running UUID" for its running domain, exit 0 when
#    its stdout closes or on SIGTERM, distinct statuses for no connection and
#    permission denied (a local socket only: a TLS key it may not read is
#    no connection), no capabilities left when it runs as root, death with
#    its parent, and --parent 1 (a broker that is a container's init);
#  - the broker parses its lines strictly (bad ones warned about once and
#    ignored, a resumed domain's stopped device runs) and logs its stderr
#    lines at their priority;
#  - it runs as the broker's child (as the worker user under root), is
#    restarted after SIGKILL, a permission denial of the worker user makes
#    a root broker follow as root (said once, with how to avoid it), no follower is left after the broker stops, none runs with an
#    empty URI;
#  - a follower that floods its pipes does not stop the broker answering
#    (repeated "connected" ignored, stderr lines rate-limited); one that
#    never says "connected" is stopped after the connect timeout and
#    retried; "running UUID" runs only the devices a dbus-vmstate Load left
#    waiting for the resume; a reload that changes settings.worker-user
#    restarts the follower as the new user.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"
set -e
mb_require_broker "$MB_LIBVIRT_EVENTS"
F="$MB_LIBVIRT_EVENTS"
BDF=0000:3c:00.1
USER_ARG=()
[ "$(id -u)" != 0 ] || USER_ARG=(--user "$(mb_worker_user)")

# gone PID: the process has ended (a zombie of someone else counts).
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
status_of() { set +e; "$@" >/dev/null 2>&1; echo $?; set -e; }

# ---- the program alone --------------------------------------------------------
"$F" --help | grep -q "^Usage: migbroker-libvirt-events" || mb_fail "--help"
"$F" --version | grep -q "^migbroker-libvirt-events " || mb_fail "--version"
[ "$(status_of "$F")" = 2 ] || mb_fail "no URI is not a usage error"
[ "$(status_of "$F" --bogus test:///default)" = 2 ] || mb_fail "an unknown option is not a usage error"

# "connected" first; the reader going away ends it with status 0 (the
# pipeline returns only once it has exited).
line=$(timeout 10 "$F" test:///default 2>"$MB_TMP/alone.err" | head -n1; echo "st=${PIPESTATUS[0]}")
[ "$line" = "connected
st=0" ] || mb_fail "test:///default: expected 'connected' and status 0 when stdout closed, got: $line"
# Then the domains that run now (test:///default's "test"): the events of
# while no follower was connected are lost, the domains' states are not.
line=$(timeout 10 "$F" test:///default 2>/dev/null | head -n2 | tail -n1)
[ "$line" = "running 6695eb01-f6a4-8304-79aa-97f2502e193f" ] ||
        mb_fail "test:///default: expected its running domain after 'connected', got: $line"

"$F" test:///default >"$MB_TMP/term.out" 2>"$MB_TMP/term.err" &
pid=$!
mb_wait_file "$MB_TMP/term.out" 10 || mb_fail "no 'connected' line"
kill -TERM "$pid"
set +e; wait "$pid"; st=$?; set -e
[ "$st" = 0 ] || mb_fail "SIGTERM: status $st, expected 0"
[ "$(head -n1 "$MB_TMP/term.out")" = connected ] || mb_fail "stdout: $(cat "$MB_TMP/term.out")"

# As root (the broker's fall back), it keeps no capability.
if [ "$(id -u)" = 0 ]; then
        "$F" test:///default >"$MB_TMP/caps.out" 2>"$MB_TMP/caps.err" &
        pid=$!
        mb_wait_file "$MB_TMP/caps.out" 10 || mb_fail "no 'connected' line"
        grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' "/proc/$pid/status"
        bad=$(grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' "/proc/$pid/status" | grep -v '[[:space:]]0*$' || true)
        kill -TERM "$pid"
        wait "$pid" || true
        [ -z "$bad" ] || mb_fail "the follower running as root kept capabilities: $bad"
fi

# --parent 1: a broker that is a container's init is a parent like any other.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
        line=$(timeout 10 unshare --pid --fork sh -c "\"$F\" --parent 1 test:///default | head -n1" 2>"$MB_TMP/pid1.err")
        [ "$line" = connected ] || mb_fail "--parent 1 under pid 1: got '$line' ($(cat "$MB_TMP/pid1.err"))"
fi

# No daemon behind the socket: 3. A socket out of reach: 4 (as the worker
# user under root, which the test's 0700 directory keeps out; the locked
# directory keeps out everybody else).
mkdir -p "$MB_TMP/nodaemon" "$MB_TMP/locked"
chmod 000 "$MB_TMP/locked"
NOSOCK="qemu+unix:///system?socket=$MB_TMP/nodaemon/sock"
LOCKED="qemu+unix:///system?socket=$MB_TMP/locked/sock"
[ "$(status_of "$F" "$NOSOCK")" = 3 ] || mb_fail "no daemon: not status 3"
set +e; "$F" "${USER_ARG[@]}" "$LOCKED" >/dev/null 2>"$MB_TMP/denied.err"; st=$?; set -e
[ "$st" = 4 ] || mb_fail "permission denied: status $st, expected 4 ($(cat "$MB_TMP/denied.err"))"
grep -q "^<5>cannot connect to .*(permission denied)" "$MB_TMP/denied.err" ||
        mb_fail "permission denied: stderr says $(cat "$MB_TMP/denied.err")"
# A TLS URI whose CA certificate this user may not read: our own files, not
# libvirtd's refusal (root would present the host's TLS identity): 3.
TLS="qemu+tls://127.0.0.1/system?pkipath=$MB_TMP/locked"
set +e; "$F" "${USER_ARG[@]}" "$TLS" >/dev/null 2>"$MB_TMP/tls.err"; st=$?; set -e
[ "$st" = 3 ] || mb_fail "TLS key out of reach: status $st, expected 3 ($(cat "$MB_TMP/tls.err"))"

# It dies with its parent (PR_SET_PDEATHSIG).
# (started from a subshell: not a job of ours, whose death bash would report)
sh_pid=$( (sh -c "\"$F\" test:///default >/dev/null 2>&1 & echo \$! >\"$MB_TMP/orphan.pid\"; exec sleep 60" \
        >/dev/null 2>&1 & echo $!) )
mb_wait_file "$MB_TMP/orphan.pid" 10 || mb_fail "the follower did not start"
orphan=$(cat "$MB_TMP/orphan.pid")
sleep 0.3
! gone "$orphan" || mb_fail "the follower ended on its own"
kill -KILL "$sh_pid"
for _ in $(seq 50); do gone "$orphan" && break; sleep 0.1; done
gone "$orphan" || mb_fail "the follower (pid $orphan) outlived its parent"
mb_log "the program alone: connected, statuses 0/2/3/4, dies with its parent"

# ---- the broker's side, with a fake follower -----------------------------------
mb_start_bus F
mb_fake_pci "$MB_TMP/sysfs-F" "$BDF" 0x1af4 0x1041
POLICY=$(mb_policy "$MB_TMP/policy.yaml" <<EOP
$(mb_policy_head)
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$BDF" }
    plugin: testing
EOP
)
cat >"$MB_TMP/fake-follower" <<EOS
#!/bin/sh
echo connected
while [ ! -e "$MB_TMP/go" ]; do sleep 0.05; done
echo "bogus line"
echo "resumed not-a-uuid"
echo "<4>a warning of the fake" >&2
echo "resumed $MB_UUID1"
exec sleep 60
EOS
chmod 755 "$MB_TMP/fake-follower"
MB_LIBVIRT_EVENTS="$MB_TMP/fake-follower" MB_BROKER_LIBVIRT_URI=fake:///x mb_start_broker F "$POLICY"
for _ in $(seq 50); do grep -q "following libvirt's domain lifecycle events on fake:///x" "$MB_TMP/broker-F.log" && break; sleep 0.1; done
grep -q "following libvirt's domain lifecycle events on fake:///x" "$MB_TMP/broker-F.log" || mb_fail "no 'connected'"
mb_ctl F claim "$BDF" --owner "$MB_UUID1" >/dev/null
mb_ctl F open "$BDF" --owner "$MB_UUID1" >/dev/null
mb_ctl F set-state "$BDF" stop >/dev/null
touch "$MB_TMP/go"
for _ in $(seq 100); do [ "$(mb_ctl F show "$BDF" --json | mb_json State)" = running ] && break; sleep 0.1; done
[ "$(mb_ctl F show "$BDF" --json | mb_json State)" = running ] || mb_fail "'resumed UUID' did not set the device running"
[ "$(grep -c "not of its protocol" "$MB_TMP/broker-F.log")" = 2 ] || mb_fail "the bad lines were not both logged"
[ "$(grep -c "warning: the libvirt events follower (pid [0-9]*) wrote a line that is not of its protocol" "$MB_TMP/broker-F.log")" = 1 ] ||
        mb_fail "not exactly one warning about bad lines"
grep -q 'not of its protocol: "bogus line": ignored' "$MB_TMP/broker-F.log" || mb_fail "the bad line is not quoted"
grep -q "warning: libvirt-events\[[0-9]*\]: a warning of the fake" "$MB_TMP/broker-F.log" ||
        mb_fail "the follower's stderr line was not logged at its priority"
mb_ctl F release "$BDF" --owner "$MB_UUID1" >/dev/null
mb_stop_broker F
mb_log "fake follower: strict lines, one warning, resumed runs the device, stderr at its priority"

# A follower that floods both pipes: the broker still answers at once; the
# repeated "connected" is not logged again, its stderr is rate-limited.
cat >"$MB_TMP/flood-follower" <<'EOS'
#!/bin/sh
yes "<6>noise on stderr" >&2 &
exec yes connected
EOS
chmod 755 "$MB_TMP/flood-follower"
n=$(wc -l <"$MB_TMP/broker-F.log")
MB_LIBVIRT_EVENTS="$MB_TMP/flood-follower" MB_BROKER_LIBVIRT_URI=fake:///flood mb_start_broker F "$POLICY"
sleep 1
for _ in 1 2 3; do
        t0=$(date +%s%N)
        timeout 30 "$MB_CTL" --bus "$MB_BUS_F" list >/dev/null || mb_fail "flood: migbrokerctl list failed"
        ms=$((($(date +%s%N) - t0) / 1000000))
        [ "$ms" -lt 3000 ] || mb_fail "flood: migbrokerctl list took $ms ms"
done
mb_stop_broker F
tail -n "+$((n + 1))" "$MB_TMP/broker-F.log" >"$MB_TMP/flood.log"
[ "$(grep -c "following libvirt's domain lifecycle events on fake:///flood" "$MB_TMP/flood.log")" = 1 ] ||
        mb_fail "flood: the repeated 'connected' was not ignored"
noise=$(grep -c "noise on stderr" "$MB_TMP/flood.log" || true)
[ "$noise" -le 200 ] || mb_fail "flood: $noise stderr lines logged"
grep -q "libvirt-events\[[0-9]*\]: [0-9]* lines suppressed (more than 100 in 10 s)" "$MB_TMP/flood.log" ||
        mb_fail "flood: the suppressed stderr lines were not counted"
mb_log "flooding follower: the broker answers (last list in $ms ms), $noise stderr lines logged"

# A follower that never says "connected" (libvirtd accepts, never answers):
# stopped after the connect timeout (30 s; 1 s here), said, retried.
cat >"$MB_TMP/mute-follower" <<EOS
#!/bin/sh
echo \$\$ >>"$MB_TMP/mute.pids"
exec sleep 60
EOS
chmod 755 "$MB_TMP/mute-follower"
MIGBROKER_TEST_LIBVIRT_CONNECT_TIMEOUT_MS=1000 MB_LIBVIRT_EVENTS="$MB_TMP/mute-follower" \
        MB_BROKER_LIBVIRT_URI=fake:///mute mb_start_broker F "$POLICY"
for _ in $(seq 150); do [ "$(wc -l <"$MB_TMP/mute.pids" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.1; done
[ "$(wc -l <"$MB_TMP/mute.pids" 2>/dev/null || echo 0)" -ge 2 ] || mb_fail "mute: the follower was not retried"
mute1=$(head -n1 "$MB_TMP/mute.pids")
grep -q "warning: migbroker-libvirt-events (pid $mute1) has not connected to fake:///mute in 1 s: libvirtd does not answer; restarting it" \
        "$MB_TMP/broker-F.log" || mb_fail "mute: the timeout was not logged"
gone "$mute1" || mb_fail "mute: the follower that did not connect (pid $mute1) still runs"
mb_stop_broker F
mb_log "mute follower: stopped after the connect timeout, retried"

# "running UUID" (a follower that reconnected): only a device that a
# dbus-vmstate Load left in stop waiting for the resume runs; one its owner
# stopped stays stopped, a pre-copy one (a migration's running source) saves on.
V=0000:3c:00.2 S=0000:3c:00.3 PC=0000:3c:00.4
for b in $V $S $PC; do mb_fake_pci "$MB_TMP/sysfs-F" "$b" 0x1af4 0x1041; done
POLICY3=$(mb_policy "$MB_TMP/policy3.yaml" <<EOP
$(mb_policy_head)
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$V" }
    plugin: testing
    arg: "state-size=4K"
  - match: { bdf: "$S" }
    plugin: testing
  - match: { bdf: "$PC" }
    plugin: testing
EOP
)
cat >"$MB_TMP/running-follower" <<EOS
#!/bin/sh
echo connected
while [ ! -e "$MB_TMP/go-running" ]; do sleep 0.05; done
echo "running $MB_UUID1"
exec sleep 60
EOS
chmod 755 "$MB_TMP/running-follower"
MB_LIBVIRT_EVENTS="$MB_TMP/running-follower" MB_BROKER_LIBVIRT_URI=fake:///running mb_start_broker F "$POLICY3"
for _ in $(seq 50); do grep -q "events on fake:///running" "$MB_TMP/broker-F.log" && break; sleep 0.1; done
for b in $V $S $PC; do mb_ctl F claim "$b" --owner "$MB_UUID1" >/dev/null; done
mb_expect_raw F ok "$(mb_dev_path $V)" org.migbroker1.Device Open "s:$MB_UUID1" a{sv}:vmstate-id=s:mb-v0
mb_ctl F open "$S" --owner "$MB_UUID1" >/dev/null
mb_ctl F open "$PC" --owner "$MB_UUID1" >/dev/null
mb_ctl F set-state "$S" stop >/dev/null
mb_ctl F set-state "$PC" pre-copy >/dev/null
DOMAIN_BUS="unix:path=$MB_TMP/run-F/domain/$MB_UUID1/bus"
helper=$(busctl --address="$DOMAIN_BUS" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        ListQueuedOwners s org.qemu.VMState1 | awk '{ print $3 }' | tr -d '"')
[ -n "$helper" ] || mb_fail "running: no dbus-vmstate helper on the domain's bus"
busctl --address="$DOMAIN_BUS" call "$helper" /org/qemu/VMState1 org.qemu.VMState1 Save >"$MB_TMP/vm.state" ||
        mb_fail "running: dbus-vmstate Save failed"
# shellcheck disable=SC2046
busctl --address="$DOMAIN_BUS" call "$helper" /org/qemu/VMState1 org.qemu.VMState1 Load $(cat "$MB_TMP/vm.state") ||
        mb_fail "running: dbus-vmstate Load failed"
[ "$(mb_ctl F show "$V" --json | mb_json State)" = stop ] || mb_fail "running: the loaded device does not wait in stop"
touch "$MB_TMP/go-running"
for _ in $(seq 100); do [ "$(mb_ctl F show "$V" --json | mb_json State)" = running ] && break; sleep 0.1; done
[ "$(mb_ctl F show "$V" --json | mb_json State)" = running ] ||
        mb_fail "running: the device a Load left waiting for the resume does not run"
[ "$(mb_ctl F show "$S" --json | mb_json State)" = stop ] || mb_fail "running: the device its owner stopped runs"
[ "$(mb_ctl F show "$PC" --json | mb_json State)" = pre-copy ] || mb_fail "running: the pre-copy device left pre-copy"
for b in $V $S $PC; do mb_ctl F release "$b" --owner "$MB_UUID1" >/dev/null; done
mb_stop_broker F
mb_log "running UUID: the loaded device runs, a stopped one and a pre-copy one do not"

# A reload that changes settings.worker-user restarts the follower as the new user.
OTHER_USER=daemon
id "$OTHER_USER" >/dev/null 2>&1 || OTHER_USER=$(id -un)
[ "$OTHER_USER" != "$(mb_worker_user)" ] || OTHER_USER=root
cp "$POLICY" "$MB_TMP/policy-user.yaml"
cat >"$MB_TMP/user-follower" <<EOS
#!/bin/sh
echo "\$*" >>"$MB_TMP/user.args"
echo connected
exec sleep 60
EOS
chmod 755 "$MB_TMP/user-follower"
MB_LIBVIRT_EVENTS="$MB_TMP/user-follower" MB_BROKER_LIBVIRT_URI=fake:///user mb_start_broker F "$MB_TMP/policy-user.yaml"
for _ in $(seq 50); do [ -s "$MB_TMP/user.args" ] && break; sleep 0.1; done
grep -q -- "--user $(mb_worker_user) " "$MB_TMP/user.args" || mb_fail "user: not started as $(mb_worker_user): $(cat "$MB_TMP/user.args")"
sed -i "s|worker-user: .*|worker-user: $OTHER_USER|" "$MB_TMP/policy-user.yaml"
mb_ctl F policy reload >/dev/null || mb_fail "user: the reload was refused"
for _ in $(seq 50); do [ "$(wc -l <"$MB_TMP/user.args")" -ge 2 ] && break; sleep 0.1; done
tail -n1 "$MB_TMP/user.args" | grep -q -- "--user $OTHER_USER " ||
        mb_fail "user: not restarted as $OTHER_USER: $(cat "$MB_TMP/user.args")"
mb_stop_broker F
mb_log "worker-user reloaded: the follower restarted as $OTHER_USER"

# ---- the broker's side, with the real follower -----------------------------------
# Broker T follows test:///default; broker P a socket its follower may not reach.
mb_start_bus T
mb_start_bus P
MB_BROKER_LIBVIRT_URI=test:///default mb_start_broker T "$POLICY"
MB_BROKER_LIBVIRT_URI="$LOCKED" mb_start_broker P "$POLICY"
follower_of() { eval "pgrep -P \"\$MB_BROKER_PID_$1\" -f -- \"^\$MB_LIBVIRT_EVENTS \"" | head -n1; }
for _ in $(seq 50); do grep -q "following libvirt's domain lifecycle events on test:///default" "$MB_TMP/broker-T.log" && break; sleep 0.1; done
grep -q "following libvirt's domain lifecycle events on test:///default" "$MB_TMP/broker-T.log" || mb_fail "T: not following"
FPID=$(follower_of T)
[ -n "$FPID" ] || mb_fail "T: no follower child"
want_uid=$(id -u)
[ "$(id -u)" != 0 ] || want_uid=$(id -u "$(mb_worker_user)")
[ "$(ps -o uid= -p "$FPID" | tr -d ' ')" = "$want_uid" ] || mb_fail "T: the follower's uid is not $want_uid"
! grep -q libvirt "/proc/$MB_BROKER_PID_T/maps" || mb_fail "T: the broker's process maps libvirt"

kill -KILL "$FPID"
for _ in $(seq 200); do
        [ "$(grep -c "following libvirt's domain lifecycle events" "$MB_TMP/broker-T.log")" -ge 2 ] && break
        sleep 0.1
done
[ "$(grep -c "following libvirt's domain lifecycle events" "$MB_TMP/broker-T.log")" -ge 2 ] || mb_fail "T: not restarted"
grep -q "warning: the libvirt events follower of test:///default was killed by signal SIGKILL: restarting it in 10 s" \
        "$MB_TMP/broker-T.log" || mb_fail "T: the death was not logged"
FPID2=$(follower_of T)
[ -n "$FPID2" ] && [ "$FPID2" != "$FPID" ] || mb_fail "T: no new follower"
gone "$FPID" || mb_fail "T: the killed follower was not reaped"
mb_log "real follower: uid $want_uid, broker's child, restarted after SIGKILL"

# P: the worker user was refused. Under root the broker follows as root
# instead, once, and says how to keep the follower unprivileged (root then
# finds no daemon behind the socket: retried every 10 s, logged once);
# otherwise the denial is logged once, retried every 10 s.
[ "$(grep -c "started .* for $LOCKED" "$MB_TMP/broker-P.log")" -ge 2 ] || mb_fail "P: the follower was not retried"
grep -q "libvirt-events\[[0-9]*\]: cannot connect to .*(permission denied)" "$MB_TMP/broker-P.log" ||
        mb_fail "P: the follower's reason was not logged"
if [ "$(id -u)" = 0 ]; then
        [ "$(grep -c "libvirtd refused a read-only connection to .* as user '$(mb_worker_user)' (no polkit, or unix_sock_ro_perms): following libvirt as root instead" "$MB_TMP/broker-P.log")" = 1 ] ||
                mb_fail "P: the fall back to root was not logged exactly once"
        grep -q "auth_unix_ro = \"none\"" "$MB_TMP/broker-P.log" || mb_fail "P: the notice does not say how to avoid root"
        # Root without capabilities may not search the locked directory either:
        # refused too, and said, naming the user and uid.
        grep -qF "warning: no libvirt connection to $LOCKED: permission denied to user 'root' (uid 0)" "$MB_TMP/broker-P.log" ||
                mb_fail "P: root's refusal was not logged naming user and uid"
        PF=$(follower_of P)
        [ -z "$PF" ] || [ "$(ps -o uid= -p "$PF" | tr -d ' ')" = 0 ] || mb_fail "P: the follower does not run as root"
        mb_log "permission denied to the worker user: followed as root, said once how to avoid it"
else
        # (the tests log at debug level: the retries' lines are there, without "warning:")
        [ "$(grep -c "no libvirt connection to .*: permission denied to" "$MB_TMP/broker-P.log")" -ge 2 ] ||
                mb_fail "P: the retry's denial is not in the debug log"
        [ "$(grep -c "warning: no libvirt connection to .*: permission denied to user '$(id -un)' (uid $(id -u))" "$MB_TMP/broker-P.log")" = 1 ] ||
                mb_fail "P: the permission denial was not logged exactly once as a warning, naming user and uid"
        mb_log "permission denied: logged once"
fi

# Stopping the broker stops and reaps its follower.
mb_stop_broker T
gone "$FPID2" || mb_fail "T: the follower (pid $FPID2) outlived the broker"
PPID_F=$(follower_of P)
mb_stop_broker P
[ -z "$PPID_F" ] || gone "$PPID_F" || mb_fail "P: the follower (pid $PPID_F) outlived the broker"

# An empty URI: no follower.
n=$(wc -l <"$MB_TMP/broker-T.log")
MB_BROKER_LIBVIRT_URI="" mb_start_broker T "$POLICY"
sleep 0.5
[ -z "$(follower_of T)" ] || mb_fail "a follower runs with an empty URI"
! tail -n "+$((n + 1))" "$MB_TMP/broker-T.log" | grep -q "started .*migbroker-libvirt-events" ||
        mb_fail "empty URI: a follower was started"
mb_log "broker stopped: no follower left; empty URI: none started"
