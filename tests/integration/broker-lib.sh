# Helpers of the broker integration tests (tests/integration/broker-*.sh),
# sourced after lib.sh:
#   . "$MB_SRCDIR/tests/integration/lib.sh"
#   . "$MB_SRCDIR/tests/integration/broker-lib.sh"
# Every check fails the test with a message naming what was expected and what
# came; the last migbrokerctl output is in $MB_TMP/last.out.

# The interpreter itself, not a wrapper (a pyenv shim costs 0.1 s a call).
MB_PYTHON=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)' 2>/dev/null) || MB_PYTHON=python3

# Two domain UUIDs.
MB_UUID1=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41
MB_UUID2=1b4e28ba-2fa1-11d2-883f-0016d3cca427

MB_BUS_CALL="$MB_BUILDDIR/tests/integration/mb-bus-call"
MB_TESTING_NOPRECOPY_SO="$MB_BUILDDIR/plugins/testing/.libs/testing-noprecopy.so"

mb_require_broker() {
        mb_require_built "$MB_BROKER" "$MB_CTL" "$MB_WORKER" "$MB_TESTING_SO" "$MB_BUS_CALL" "$@"
        command -v "$MB_PYTHON" >/dev/null 2>&1 || mb_skip "python3 is needed"
        command -v busctl >/dev/null 2>&1 || mb_skip "busctl is needed"
        command -v "${DBUS_DAEMON:-dbus-daemon}" >/dev/null 2>&1 || mb_skip "dbus-daemon is needed"
}

# mb_policy FILE: writes stdin to FILE (mode 644, as the broker requires) and
# prints FILE.
mb_policy() {
        mkdir -p "$(dirname "$1")"
        cat >"$1"
        chmod 644 "$1"
        echo "$1"
}

# mb_policy_head: the settings every test policy starts with.
mb_policy_head() {
        cat <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  op-timeout-ms: ${MB_OP_TIMEOUT_MS:-10000}
EOP
}

# mb_json KEY: the value of KEY in the JSON object on stdin (strings bare,
# booleans true/false, lists joined by ',', absent keys empty).
mb_json() {
        "$MB_PYTHON" -I -S -c '
import json, sys
d = json.load(sys.stdin)
v = d.get(sys.argv[1]) if isinstance(d, dict) else None
if isinstance(v, bool):
    print("true" if v else "false")
elif isinstance(v, list):
    print(",".join(str(x) for x in v))
elif v is None:
    print("")
else:
    print(v)' "$1"
}

# mb_call NAME ARGS...: migbrokerctl --json ARGS on broker NAME; prints "ok"
# on success, else the error's short name ("Busy", "InvalidArgs", ...).
mb_call() {
        local name=$1 rc
        shift
        mb_ctl "$name" --json "$@" >"$MB_TMP/last.out" 2>"$MB_TMP/last.err"
        rc=$?
        if [ "$rc" = 0 ]; then
                echo ok
        elif grep -q '"error"' "$MB_TMP/last.out"; then
                mb_json error <"$MB_TMP/last.out"
        else
                echo "exit$rc"
        fi
}

# mb_expect NAME WANT ARGS...: mb_call must print WANT.
mb_expect() {
        local name=$1 want=$2 got
        shift 2
        got=$(mb_call "$name" "$@")
        if [ "$got" != "$want" ]; then
                cat "$MB_TMP/last.out" "$MB_TMP/last.err" >&2
                mb_fail "migbrokerctl $*: got '$got', expected '$want'"
        fi
}

# mb_last_message: the message of the last failed mb_call (or what it printed).
mb_last_message() {
        if grep -q '"message"' "$MB_TMP/last.out"; then
                mb_json message <"$MB_TMP/last.out"
        else
                cat "$MB_TMP/last.out" "$MB_TMP/last.err"
        fi
}

# mb_prop NAME BDF PROPERTY: a device property, from 'migbrokerctl show --json'.
mb_prop() {
        mb_ctl "$1" --json show "$2" >"$MB_TMP/show.out" 2>&1 || {
                cat "$MB_TMP/show.out" >&2
                mb_fail "show $2 failed"
        }
        mb_json "$3" <"$MB_TMP/show.out"
}

# mb_expect_prop NAME BDF PROPERTY WANT
mb_expect_prop() {
        local got
        got=$(mb_prop "$1" "$2" "$3")
        [ "$got" = "$4" ] || mb_fail "$2: $3 is '$got', expected '$4'"
}

# mb_wait_prop NAME BDF PROPERTY WANT [SECONDS]: polls until it holds.
mb_wait_prop() {
        local tries=$(( ${5:-10} * 10 )) got
        while :; do
                got=$(mb_prop "$1" "$2" "$3")
                [ "$got" = "$4" ] && return 0
                tries=$((tries - 1))
                [ "$tries" -gt 0 ] || mb_fail "$2: $3 stayed '$got', expected '$4'"
                sleep 0.1
        done
}

mb_expect_eq() { # WHAT GOT WANT
        [ "$2" = "$3" ] || mb_fail "$1: got '$2', expected '$3'"
}

# mb_busctl NAME ARGS...: busctl on broker NAME's bus.
mb_busctl() {
        local name=$1 bus
        shift
        eval "bus=\$MB_BUS_$name"
        busctl --address="$bus" "$@"
}

# mb_dev_path BDF: the device's object path (sd_bus_path_encode).
mb_dev_path() {
        "$MB_PYTHON" -c '
import sys
s = sys.argv[1]
out = []
for i, c in enumerate(s):
    if (c.isascii() and c.isalpha()) or (c.isdigit() and i > 0):
        out.append(c)
    else:
        out.append("_%02x" % ord(c))
print("/org/migbroker1/device/" + "".join(out))' "$1"
}

# mb_raw_call NAME PATH INTERFACE METHOD ARGS...: a raw D-Bus call with
# mb-bus-call (ARGS as it takes them: s:TEXT, h<FILE, a{sv}:K=s:V, ...);
# prints "ok" or the D-Bus error name in full (e.g.
# org.freedesktop.DBus.Error.InvalidArgs). Output in $MB_TMP/raw.out.
mb_raw_call() {
        local name=$1 bus
        shift
        eval "bus=\$MB_BUS_$name"
        "$MB_BUS_CALL" "$bus" "$@" >"$MB_TMP/raw.out" 2>&1
        head -n 1 "$MB_TMP/raw.out"
}

# mb_expect_raw NAME WANT PATH INTERFACE METHOD ARGS...
mb_expect_raw() {
        local name=$1 want=$2 got
        shift 2
        got=$(mb_raw_call "$name" "$@")
        if [ "$got" != "$want" ]; then
                cat "$MB_TMP/raw.out" >&2
                mb_fail "$3 $4 ${5:-}: got '$got', expected '$want'"
        fi
}

# mb_broker_pid NAME
mb_broker_pid() { eval "echo \$MB_BROKER_PID_$1"; }

# mb_workers PID: the pids of migbroker-worker processes whose parent is PID.
mb_workers() {
        local p
        for p in $(pgrep -P "$1" 2>/dev/null); do
                case "$(cat "/proc/$p/comm" 2>/dev/null)" in
                migbroker-work*) echo "$p" ;;
                esac
        done
}

mb_count_workers() { mb_workers "$1" | wc -l | tr -d ' '; }

# mb_zombies PID: the children of PID that are zombies.
mb_zombies() { ps -o pid=,stat= --ppid "$1" 2>/dev/null | awk '$2 ~ /^Z/ { print $1 }'; }

# mb_monitor_start NAME COUNT OUTFILE: 'migbrokerctl monitor --json --count
# COUNT' in the background, ready (its match rules are installed) when this
# returns; MB_MONITOR_PID is its pid. mb_monitor_wait waits for it to end.
mb_monitor_start() {
        local name=$1 count=$2 out=$3 bus before i=0
        eval "bus=\$MB_BUS_$name"
        before=$(mb_match_rules "$bus")
        # --foreground: timeout then sends the monitor SIGTERM alone; its
        # usual SIGCONT after it can land while a sanitizer build's monitor is
        # in LeakSanitizer's exit-time check, which stops the process with
        # SIGSTOP (ptrace): SIGCONT discards that stop and the check waits forever.
        timeout --foreground 30 "$MB_CTL" --bus "$bus" --json monitor --count "$count" >"$out" 2>"$out.err" &
        MB_MONITOR_PID=$!
        MB_PIDS="$MB_PIDS $MB_MONITOR_PID"
        if [ "$before" = "-1" ]; then
                sleep 1 # no Debug.Stats on this dbus-daemon: give it time
                return 0
        fi
        while [ "$(mb_match_rules "$bus")" -lt $((before + 3)) ]; do
                i=$((i + 1))
                [ "$i" -le 200 ] || mb_fail "the monitor did not subscribe"
                sleep 0.05
        done
}

# mb_match_rules BUS: the number of match rules for the broker's signals
# (InterfacesRemoved, PropertiesChanged, InterfacesAdded) on the bus, or -1.
mb_match_rules() {
        local out
        out=$(busctl --address="$1" call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus.Debug.Stats GetAllMatchRules 2>/dev/null) || { echo -1; return; }
        printf '%s\n' "$out" | grep -oE "member=.{0,2}(PropertiesChanged|InterfacesAdded|InterfacesRemoved)" | wc -l |
                tr -d ' '
}

# mb_monitor_wait [SECONDS]: waits for the last monitor to see its COUNT events.
mb_monitor_wait() {
        local tries=$(( ${1:-10} * 20 ))
        while kill -0 "$MB_MONITOR_PID" 2>/dev/null; do
                tries=$((tries - 1))
                [ "$tries" -gt 0 ] || return 1
                sleep 0.05
        done
        wait "$MB_MONITOR_PID" 2>/dev/null
}

# mb_sha FILE: SHA-256 of a file.
mb_sha() { sha256sum "$1" | cut -d' ' -f1; }

# mb_log_mark NAME: remembers where broker NAME's log ends; mb_traced_calls
# NAME BDF OP prints the OP calls testing.so (with 'trace') traced since, as
# "ARGS=RESULT" words, e.g. "3=0 2=0" for set_state(3) = 0, set_state(2) = 0.
mb_log_mark() { MB_LOG_MARK=$(wc -l <"$MB_TMP/broker-$1.log"); }
mb_traced_calls() {
        tail -n "+$((MB_LOG_MARK + 1))" "$MB_TMP/broker-$1.log" |
                sed -n "s/^testing: $2: $3(\([^)]*\)) = \(-\{0,1\}[0-9a-zA-Z]*\).*/\1=\2/p" | tr '\n' ' ' | sed 's/ $//'
}
