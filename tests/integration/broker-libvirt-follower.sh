#!/bin/bash
# migbroker-libvirt-events and the broker's supervision of it, without a
# libvirtd (libvirt's in-process test driver, a socket nobody may reach, and a
# fake follower; broker-libvirt.sh runs the real one against a real libvirtd):
#  - the program alone: --help, --version, usage errors, "connected" on
#    test:///default, exit 0 when its stdout closes or on SIGTERM, distinct
#    statuses for no connection and permission denied, death with its parent;
#  - the broker parses its lines strictly (bad ones warned about once and
#    ignored, a resumed domain's stopped device runs) and logs its stderr
#    lines at their priority;
#  - it runs as the broker's child (as the worker user under root), is
#    restarted after SIGKILL, a permission denial of the worker user makes
#    a root broker follow as root (said once, with how to avoid it), no follower is left after the broker stops, none runs with an
#    empty URI.
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

"$F" test:///default >"$MB_TMP/term.out" 2>"$MB_TMP/term.err" &
pid=$!
mb_wait_file "$MB_TMP/term.out" 10 || mb_fail "no 'connected' line"
kill -TERM "$pid"
set +e; wait "$pid"; st=$?; set -e
[ "$st" = 0 ] || mb_fail "SIGTERM: status $st, expected 0"
[ "$(cat "$MB_TMP/term.out")" = connected ] || mb_fail "stdout: $(cat "$MB_TMP/term.out")"

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
        # (notices and the retries' debug lines look alike in the test's log)
        grep -qF "no libvirt connection to $LOCKED: devices run right after a dbus-vmstate Load" "$MB_TMP/broker-P.log" ||
                mb_fail "P: root's failure to connect was not logged"
        ! grep -q "permission denied to" "$MB_TMP/broker-P.log" || mb_fail "P: root was reported as refused"
        PF=$(follower_of P)
        [ -z "$PF" ] || [ "$(ps -o uid= -p "$PF" | tr -d ' ')" = 0 ] || mb_fail "P: the follower does not run as root"
        mb_log "permission denied to the worker user: followed as root, said once how to avoid it"
else
        # (the tests log at debug level: the retries' lines are there, without "warning:")
        [ "$(grep -c "no libvirt connection to .*: permission denied to" "$MB_TMP/broker-P.log")" -ge 2 ] ||
                mb_fail "P: the retry's denial is not in the debug log"
        [ "$(grep -c "warning: no libvirt connection to .*: permission denied to" "$MB_TMP/broker-P.log")" = 1 ] ||
                mb_fail "P: the permission denial was not logged exactly once as a warning"
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
