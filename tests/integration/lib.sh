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
MB_SIMDEV_SO="$MB_BUILDDIR/plugins/simdev/.libs/simdev.so"
MB_TESTING_SO="$MB_BUILDDIR/plugins/testing/.libs/testing.so"
MB_PLUGIN_LIBS="$MB_BUILDDIR/plugins/testing/.libs"

MB_TEST_NAME=$(basename "$0" .sh)
MB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mb-$MB_TEST_NAME.XXXXXX") || exit 99
MB_PIDS=""

mb_cleanup() {
        local pid
        for pid in $MB_PIDS; do
                kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        done
        MB_PIDS=""
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
