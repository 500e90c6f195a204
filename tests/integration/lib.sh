# Shared helpers for migbroker's integration tests (sourced, not run).
# Every test: `. "$MB_SRCDIR/tests/integration/lib.sh"; mb_setup`, then uses
# the helpers below. Whatever mb_* starts is stopped on exit, also on failure.
set -eu

: "${MB_BUILDDIR:?run through make check, or export MB_BUILDDIR}"
: "${MB_SRCDIR:?}"

MB_WORKER="$MB_BUILDDIR/worker/migbroker-worker"
MB_DRIVER="$MB_BUILDDIR/tests/integration/mb-worker-driver"
MB_SIMAGENT="$MB_BUILDDIR/plugins/simdev/migbroker-simagent"
MB_SIMDEV_SO="$MB_BUILDDIR/plugins/simdev/.libs/simdev.so"
MB_TESTING_SO="$MB_BUILDDIR/plugins/testing/.libs/testing.so"
MB_BROKER="$MB_BUILDDIR/broker/migbrokerd"
MB_CTL="$MB_BUILDDIR/ctl/migbrokerctl"
export MB_BUILDDIR MB_SRCDIR

MB_PIDS=""
MB_TMP=""

mb_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
mb_fail() { mb_log "FAIL: $*"; exit 1; }
mb_skip() { mb_log "SKIP: $*"; exit 77; }

mb_cleanup() {
    local rc=$?
    set +e
    for p in $MB_PIDS; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in $MB_PIDS; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ -n "$MB_TMP" ] && [ -d "$MB_TMP" ]; then
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
            for f in "$MB_TMP"/*.log; do
                [ -f "$f" ] || continue
                echo "---- $f (last 40 lines)" >&2
                tail -n 40 "$f" >&2
            done
        fi
        rm -rf "$MB_TMP"
    fi
    exit "$rc"
}

mb_setup() {
    MB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mbtest.XXXXXX")
    chmod 755 "$MB_TMP"
    trap mb_cleanup EXIT
    trap 'exit 130' INT TERM
}

# mb_track PID: stop PID at exit.
mb_track() { MB_PIDS="$MB_PIDS $1"; }

# mb_wait_file FILE [SECONDS]: wait until FILE exists and is non-empty.
mb_wait_file() {
    local f=$1 t=${2:-10} i=0
    while [ ! -s "$f" ]; do
        i=$((i + 1))
        [ "$i" -le $((t * 20)) ] || mb_fail "timed out waiting for $f"
        sleep 0.05
    done
}

# mb_start_agent NAME ARGS...: start a simulated DPU agent on a free loopback
# port; sets MB_AGENT_<NAME> to HOST:PORT.
mb_start_agent() {
    local name=$1; shift
    local pf="$MB_TMP/agent-$name.port"
    "$MB_SIMAGENT" --listen 127.0.0.1:0 --port-file "$pf" "$@" >"$MB_TMP/agent-$name.log" 2>&1 &
    mb_track $!
    mb_wait_file "$pf"
    eval "MB_AGENT_$name=127.0.0.1:$(cat "$pf")"
}

# mb_agent_hash ADDR BDF: SHA-256 of a simulated function's state.
mb_agent_hash() {
    "$MB_SIMAGENT" hash --connect "$1" --function "$2"
}

# mb_children_of PID: direct children still alive.
mb_children_of() { pgrep -P "$1" 2>/dev/null || true; }

# mb_no_process_named NAME: assert no process with that exact name is left
# that was started from our temporary directory or build tree.
mb_count_workers() { pgrep -f -- "$MB_WORKER" 2>/dev/null | wc -l; }

mb_assert_eq() {
    [ "$1" = "$2" ] || mb_fail "${3:-values differ}: '$1' != '$2'"
}

# ---- private buses, fake sysfs, brokers --------------------------------------

# mb_start_bus NAME: a private dbus-daemon (system-bus-like policy, open to
# every local user); sets MB_BUS_<NAME> to its address.
mb_start_bus() {
    local name=$1 dir="$MB_TMP/bus-$name"
    mkdir -p "$dir"
    chmod 755 "$dir"
    cat >"$dir/bus.conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$dir/socket</listen>
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
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_connections_per_user">2048</limit>
</busconfig>
EOC
    "${DBUS_DAEMON:-dbus-daemon}" --config-file="$dir/bus.conf" --nofork --nopidfile \
        --print-address=3 3>"$dir/address" >"$MB_TMP/bus-$name.log" 2>&1 &
    mb_track $!
    mb_wait_file "$dir/address"
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
    MIGBROKER_WORKER="$MB_WORKER" "$MB_BROKER" --bus "$bus" --policy "$policy" \
        --sysfs-root "$MB_TMP/sysfs-$name" --runtime-dir "$MB_TMP/run-$name" \
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
