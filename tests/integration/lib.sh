# Shared helpers of the integration tests; source it from a test script:
#   . "$MB_SRCDIR/tests/integration/lib.sh"
# The harness exports MB_BUILDDIR and MB_SRCDIR (AM_TESTS_ENVIRONMENT); run by
# hand, the defaults assume the current directory is the build tree.
# Every process started through mb_spawn is killed when the test exits, also
# when it fails; the temporary directory is removed unless MB_KEEP_TMP=1.

set -u

: "${MB_BUILDDIR:=$(pwd)}"
: "${MB_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"

MB_SIMAGENT="$MB_BUILDDIR/plugins/simdev/migbroker-simagent"
MB_DRIVER="$MB_BUILDDIR/tests/integration/plugin-driver"
MB_WORKER_DRIVER="$MB_BUILDDIR/tests/integration/mb-worker-driver"
MB_WORKER="$MB_BUILDDIR/worker/migbroker-worker"
MB_BROKER="$MB_BUILDDIR/broker/migbrokerd"
MB_LIBVIRT_EVENTS="$MB_BUILDDIR/follower/migbroker-libvirt-events"
MB_CTL="$MB_BUILDDIR/ctl/migbrokerctl"
export MB_BUILDDIR MB_SRCDIR
MB_SIMDEV_SO="$MB_BUILDDIR/plugins/simdev/.libs/simdev.so"
MB_TESTING_SO="$MB_BUILDDIR/plugins/testing/.libs/testing.so"
MB_PLUGIN_LIBS="$MB_BUILDDIR/plugins/testing/.libs"

# Sanitizer builds (MB_SANITIZERS=yes, configure --enable-sanitizers): a plugin
# that crashes on purpose (testing.so's segv fault) must die by SIGSEGV as it
# does in production, so ASan must not catch the signal and turn it into a
# report and exit status 1. The broker passes ASAN_OPTIONS on to its workers.
# Memory errors are still found (by instrumentation, not by the handler); a
# SIGSEGV of our own code then shows as a crash without ASan's report.
if [ "${MB_SANITIZERS:-no}" = yes ]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
        export ASAN_OPTIONS
fi

MB_TEST_NAME=$(basename "$0" .sh)
MB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mb-$MB_TEST_NAME.XXXXXX") || exit 99
MB_PIDS=""

mb_cleanup() {
        local rc=$? pid f
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -d "$MB_TMP" ]; then
                for f in "$MB_TMP"/*.log; do
                        [ -f "$f" ] || continue
                        echo "---- $f (last 30 lines)" >&2
                        tail -n 30 "$f" >&2
                done
        fi
        # TERM everything, give it 5 s (a stopped process gets CONT), then KILL.
        # (Callers may run under set -e: nothing here may fail.)
        for pid in $MB_PIDS; do
                kill -TERM "$pid" 2>/dev/null && kill -CONT "$pid" 2>/dev/null || true
        done
        for pid in $MB_PIDS; do
                for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        MB_PIDS=""
        # Per-domain buses outlive their broker by design: stop this test's.
        if pkill -TERM -f -- "--config-file=$MB_TMP/" 2>/dev/null; then
                sleep 0.2
                pkill -KILL -f -- "--config-file=$MB_TMP/" 2>/dev/null || true
        fi
        if [ "${MB_KEEP_TMP:-0}" = 1 ]; then
                echo "# kept $MB_TMP"
        else
                rm -rf "$MB_TMP"
        fi
}
trap mb_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mb_log() { echo "# $*"; }
mb_fail() { echo "FAIL: $*" >&2; exit 1; }
mb_skip() { echo "SKIP: $*" >&2; exit 77; }

# mb_spawn LOGNAME CMD...: runs CMD in the background, stdout+stderr to
# $MB_TMP/LOGNAME.log; the pid is in $MB_LAST_PID and is killed at exit.
mb_spawn() {
        local name=$1
        shift
        "$@" >"$MB_TMP/$name.log" 2>&1 &
        MB_LAST_PID=$!
        MB_PIDS="$MB_PIDS $MB_LAST_PID"
}

# mb_wait_file FILE [SECONDS]: waits until FILE exists and is not empty.
mb_wait_file() {
        local file=$1 tries=$(( ${2:-10} * 20 ))
        while [ ! -s "$file" ]; do
                tries=$((tries - 1))
                [ "$tries" -gt 0 ] || return 1
                sleep 0.05
        done
}

# mb_start_simagent NAME AGENT-OPTIONS...: starts migbroker-simagent on a free
# loopback port; sets MB_AGENT_PORT and MB_AGENT_PID. Log: $MB_TMP/NAME.log.
mb_start_simagent() {
        local name=$1
        shift
        rm -f "$MB_TMP/$name.port"
        mb_spawn "$name" "$MB_SIMAGENT" --listen 127.0.0.1:0 --port-file "$MB_TMP/$name.port" "$@"
        MB_AGENT_PID=$MB_LAST_PID
        if ! mb_wait_file "$MB_TMP/$name.port" 10; then
                cat "$MB_TMP/$name.log" >&2
                mb_fail "agent $name did not start"
        fi
        MB_AGENT_PORT=$(cat "$MB_TMP/$name.port")
}

# mb_hash PORT BDF: SHA-256 of a function's state.
mb_hash() {
        "$MB_SIMAGENT" hash --connect "127.0.0.1:$1" --function "$2" || mb_fail "hash of $2 on port $1 failed"
}

# mb_status_field PORT BDF FIELD: one line of 'migbroker-simagent status' (e.g. "state").
mb_status_field() {
        "$MB_SIMAGENT" status --connect "127.0.0.1:$1" --function "$2" | sed -n "s/^  $3: *//p"
}

mb_require_built() {
        local f
        for f in "$@"; do
                [ -e "$f" ] || mb_fail "$f not built (run make first)"
        done
}

# mb_track PID: stop PID at exit.
mb_track() { MB_PIDS="$MB_PIDS $1"; }

# mb_start_agent NAME ARGS...: mb_start_simagent, and MB_AGENT_<NAME>=HOST:PORT.
mb_start_agent() {
        local name=$1
        shift
        mb_start_simagent "agent-$name" "$@"
        eval "MB_AGENT_$name=127.0.0.1:$MB_AGENT_PORT"
        eval "MB_AGENT_PORT_$name=$MB_AGENT_PORT"
}

# ---- private buses, fake sysfs, brokers --------------------------------------

# mb_bus_config LISTEN [LINE]...: a dbus-daemon configuration of a
# system-bus-like bus on LISTEN, open to every local user, with LINEs added
mb_bus_config() {
    local listen=$1 line
    shift
    cat <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$listen</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
EOC
    for line in "$@"; do
        echo "  $line"
    done
    echo "</busconfig>"
}

# mb_start_bus NAME: a private dbus-daemon (system-bus-like policy, open to
# every local user); sets MB_BUS_<NAME> to its address.
mb_start_bus() {
    local name=$1
    local dir="$MB_TMP/bus-$name"
    mkdir -p "$dir"
    chmod 755 "$dir"
    mb_bus_config "unix:path=$dir/socket" \
        '<limit name="max_replies_per_connection">50000</limit>' \
        '<limit name="max_connections_per_user">2048</limit>' >"$dir/bus.conf"
    "${DBUS_DAEMON:-dbus-daemon}" --config-file="$dir/bus.conf" --nofork --nopidfile \
        --print-address=3 3>"$dir/address" >"$MB_TMP/bus-$name.log" 2>&1 &
    mb_track $!
    eval "MB_BUS_PID_$name=$!"
    mb_wait_file "$dir/address" 10 || mb_fail "dbus-daemon $name did not start"
    chmod 666 "$dir/socket" 2>/dev/null || true
    eval "MB_BUS_$name=unix:path=$dir/socket"
}

# mb_fake_pci SYSFS BDF VENDOR DEVICE: a PCI function in a fake sysfs tree.
mb_fake_pci() {
    local d="$1/bus/pci/devices/$2"
    mkdir -p "$d"
    echo "$3" >"$d/vendor"
    echo "$4" >"$d/device"
}

# mb_worker_user: the user workers drop to when the tests run as root.
mb_worker_user() { echo "${MB_TEST_WORKER_USER:-nobody}"; }

# mb_start_broker NAME POLICY [ARGS...]: migbrokerd on bus NAME with its own
# runtime dir and fake sysfs ($MB_TMP/sysfs-NAME); waits until it serves.
mb_start_broker() {
    local name=$1 policy=$2; shift 2
    local bus
    eval "bus=\$MB_BUS_$name"
    mkdir -p "$MB_TMP/sysfs-$name/bus/pci/devices" "$MB_TMP/run-$name"
    # No libvirt unless MB_BROKER_LIBVIRT_URI names one ("policy": the
    # policy's settings.libvirt-uri).
    local lv="--libvirt-uri=${MB_BROKER_LIBVIRT_URI-}"
    [ "${MB_BROKER_LIBVIRT_URI-}" != policy ] || lv=""
    MIGBROKER_WORKER="$MB_WORKER" MIGBROKER_LIBVIRT_EVENTS="$MB_LIBVIRT_EVENTS" \
        "$MB_BROKER" --bus "$bus" --policy "$policy" \
        --sysfs-root "$MB_TMP/sysfs-$name" --runtime-dir "$MB_TMP/run-$name" \
        ${lv:+"$lv"} \
        --log-level "${MB_BROKER_LOG_LEVEL:-debug}" "$@" >>"$MB_TMP/broker-$name.log" 2>&1 &
    local pid=$!
    mb_track $pid
    eval "MB_BROKER_PID_$name=$pid"
    local i=0
    until "$MB_CTL" --bus "$bus" list >/dev/null 2>&1; do
        i=$((i + 1))
        kill -0 "$pid" 2>/dev/null || mb_fail "broker $name exited; see $MB_TMP/broker-$name.log"
        [ "$i" -le 200 ] || mb_fail "broker $name did not come up"
        sleep 0.05
    done
}

# mb_stop_broker NAME [SIGNAL]: stop a broker and wait for it.
mb_stop_broker() {
    local pid
    eval "pid=\$MB_BROKER_PID_$1"
    kill -"${2:-TERM}" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# mb_ctl NAME ARGS...: migbrokerctl against broker NAME's bus.
mb_ctl() {
    local name=$1 bus; shift
    eval "bus=\$MB_BUS_$name"
    "$MB_CTL" --bus "$bus" "$@"
}

# mb_count_workers [BDF]: migbroker-worker processes of this build alive now
# (serving BDF, when given: tests running in parallel use different BDFs).
mb_count_workers() { pgrep -f -- "^$MB_WORKER --bdf ${1:-}" 2>/dev/null | wc -l; }
