#!/bin/sh
# Logging to the journal, broker and workers alike. In a private mount
# namespace a stand-in for journald's native socket
# (/run/systemd/journal/socket, on a tmpfs over /run) records what is sent
# to it; the broker's stderr is "the journal" (JOURNAL_STREAM names it, as
# systemd sets it for a service):
#   - the broker's lines about a device carry MIGBROKER_BDF, and so do its
#     worker's (the worker inherits JOURNAL_STREAM, and nothing else of the
#     broker's environment but PATH, the locale and the sanitizers' options);
#   - with journald gone, nothing is lost: the lines go to stderr.
if [ -z "${MB_JOURNAL_NS:-}" ]; then
        command -v unshare >/dev/null 2>&1 || { echo "SKIP: no unshare" >&2; exit 77; }
        unshare -m true 2>/dev/null || { echo "SKIP: cannot create a mount namespace" >&2; exit 77; }
        MB_JOURNAL_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

D=0000:3d:00.1
U=$MB_UUID1

mount -t tmpfs -o mode=0755 tmpfs /run || mb_skip "cannot mount a tmpfs over /run"
mkdir -p /run/systemd/journal
"$MB_PYTHON" - "$MB_TMP/journal.jsonl" >"$MB_TMP/journald.log" 2>&1 <<'EOPY' &
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
os.chmod("/run/systemd/journal/socket", 0o666)
open(sys.argv[1] + ".ready", "w").write("1")
with open(sys.argv[1], "a") as out:
    while True:
        data = s.recv(1 << 20)
        fields = {}
        for line in data.decode("utf-8", "replace").split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v
        out.write(json.dumps(fields) + "\n")
        out.flush()
EOPY
JOURNALD=$!
mb_track $JOURNALD
mb_wait_file "$MB_TMP/journal.jsonl.ready" 5 || mb_fail "the journal stand-in did not start"

mb_start_bus A
mb_fake_pci "$MB_TMP/sysfs-A" $D 0x1af4 0x1041
POLICY=$(mb_policy_head | mb_policy "$MB_TMP/etc/policy.yaml")
cat >>"$POLICY" <<EOP
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$D" }
    plugin: testing
EOP
: >"$MB_TMP/broker-A.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$MB_TMP/broker-A.log")
export JOURNAL_STREAM
mb_start_broker A "$POLICY"
unset JOURNAL_STREAM
BROKER=$(mb_broker_pid A)

mb_expect A ok claim $D --owner $U
mb_expect A ok open $D --owner $U
W=$(mb_workers "$BROKER")
[ -n "$W" ] || mb_fail "no worker"
tr '\0' '\n' <"/proc/$W/environ" | sort >"$MB_TMP/worker.env"
grep -qx "JOURNAL_STREAM=$(tr '\0' '\n' <"/proc/$BROKER/environ" | sed -n 's/^JOURNAL_STREAM=//p')" "$MB_TMP/worker.env" ||
        mb_fail "the worker did not inherit JOURNAL_STREAM: $(cat "$MB_TMP/worker.env")"
sed 's/=.*//' "$MB_TMP/worker.env" | grep -vxE 'PATH|LC_ALL|JOURNAL_STREAM|ASAN_OPTIONS|UBSAN_OPTIONS|LSAN_OPTIONS' &&
        mb_fail "the worker's environment has more than it should: $(cat "$MB_TMP/worker.env")"
mb_expect A ok close $D --owner $U

# Both processes' lines about the device reached the socket with the field.
"$MB_PYTHON" - "$MB_TMP/journal.jsonl" "$D" <<'EOPY' || mb_fail "the journal did not get both processes' device lines"
import json, sys
bdf = sys.argv[2]
seen = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("MIGBROKER_BDF") == bdf:
        assert e["MESSAGE"].startswith(bdf + ": "), e
        assert e.get("PRIORITY", "").isdigit(), e
        seen.setdefault(e.get("SYSLOG_IDENTIFIER"), e["MESSAGE"])
print("# lines with MIGBROKER_BDF:", seen)
sys.exit(0 if {"migbrokerd", "migbroker-worker"} <= set(seen) else 1)
EOPY
grep -q "$D" "$MB_TMP/broker-A.log" && mb_fail "device lines went to stderr as well as to the journal: $(grep "$D" "$MB_TMP/broker-A.log")"
mb_log "broker and worker log natively, with MIGBROKER_BDF"

# journald stops (its socket stays, nobody reads it): the lines fall back to
# stderr, nothing is lost.
kill "$JOURNALD"
wait "$JOURNALD" 2>/dev/null
mb_expect A ok open $D --owner $U
mb_expect A ok close $D --owner $U
grep -q "^migbrokerd\[[0-9]*\]: $D: " "$MB_TMP/broker-A.log" || mb_fail "the broker's lines were lost without journald"
grep -q "^migbroker-worker\[[0-9]*\]: $D: " "$MB_TMP/broker-A.log" || mb_fail "the worker's lines were lost without journald"
mb_log "without journald both fall back to stderr"
mb_log "PASS"
exit 0
