#!/bin/sh
# migbrokerctl domain show's view of the broker, without libvirtd: libvirt's
# in-process test driver (test:///FILE) holds the domain, a broker on a
# private bus manages one of its devices. Checks each case show tells apart:
# a metadata device the broker manages (claimed by another domain: a note),
# a hostdev it does not manage (the hook leaves it alone), a metadata device
# it does not know (the hook will refuse to start), an excluded one, the
# missing dbus-vmstate object; then the broker gone (unreachable, the XML's
# devices still listed, exit 0), a policy that cannot be read (the defaults,
# with a note), and enable/disable on the test driver (one process: the
# definition lives as long as the command).
. "$MB_SRCDIR/tests/integration/lib.sh"
set -e
mb_require_built "$MB_BROKER" "$MB_WORKER" "$MB_CTL" "$MB_TESTING_SO"
command -v python3 >/dev/null || mb_skip "python3 is not installed"
unset LIBVIRT_DEFAULT_URI MIGBROKER_RUNTIME_DIR

UUID=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41
OTHER=11111111-1d1e-4c5b-9b0e-3f6a2d7c8e41
MAN=0000:6d:00.1 # metadata, managed (testing.so)
HOST=0000:6d:00.2 # a hostdev the broker does not know
GONE=0000:6d:00.4 # metadata, no such function
EXCL=0000:6d:00.3 # manage="no"

mb_start_bus S
mb_fake_pci "$MB_TMP/sysfs-S" "$MAN" 0x1af4 0x1041
cat >"$MB_TMP/policy.yaml" <<EOP
version: 1
settings:
  worker-user: $(mb_worker_user)
  runtime-dir: /run/mb-test-show
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$MAN" }
    plugin: testing
EOP
chmod 644 "$MB_TMP/policy.yaml"
mb_start_broker S "$MB_TMP/policy.yaml"
mb_ctl S claim "$MAN" --owner "$OTHER"

cat >"$MB_TMP/node.xml" <<EOX
<node>
  <domain type='test'>
    <name>vm1</name>
    <uuid>$UUID</uuid>
    <metadata>
      <mb:devices xmlns:mb="http://migbroker.org/xmlns/domain/1">
        <mb:device bdf="$MAN" vmstate-id="nic0"/>
        <mb:device bdf="$GONE"/>
        <mb:device bdf="$EXCL" manage="no"/>
      </mb:devices>
    </metadata>
    <memory>65536</memory>
    <os><type>hvm</type></os>
    <devices>
      <hostdev mode='subsystem' type='pci' managed='yes'>
        <source><address domain='0' bus='0x6d' slot='0' function='2'/></source>
      </hostdev>
    </devices>
  </domain>
</node>
EOX
URI="test://$MB_TMP/node.xml"
export MIGBROKER_POLICY="$MB_TMP/policy.yaml"
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); v=($2); print(v)" "$1"; }
expect_in() { # FILE TEXT
        grep -qF -- "$2" "$1" || { cat "$1" >&2; mb_fail "'$2' is not in $(basename "$1")"; }
}

mb_ctl S domain show vm1 -c "$URI" >"$MB_TMP/show.out"
expect_in "$MB_TMP/show.out" "Bus:          unix:path=/run/mb-test-show/domain/$UUID/bus"
expect_in "$MB_TMP/show.out" "dbus-vmstate: missing: the metadata gives vmstate ids (nic0)"
expect_in "$MB_TMP/show.out" "Broker:       reachable"
grep -qE "^$MAN +metadata +nic0 +running +$OTHER +testing\$" "$MB_TMP/show.out" || { cat "$MB_TMP/show.out" >&2; mb_fail "$MAN"; }
expect_in "$MB_TMP/show.out" "$HOST  hostdev          -                (not managed by the broker: the hook leaves it alone)"
expect_in "$MB_TMP/show.out" "$GONE  metadata         -                (the broker does not manage it: NoSuchDevice)"
expect_in "$MB_TMP/show.out" "Excluded (manage=\"no\"): $EXCL"
expect_in "$MB_TMP/show.out" "note: $MAN is claimed by another domain ($OTHER)"
expect_in "$MB_TMP/show.out" "note: $GONE: the broker says NoSuchDevice"
mb_ctl S domain show "$UUID" -c "$URI" --json >"$MB_TMP/show.json"
[ "$(json "$MB_TMP/show.json" '[(x["bdf"], x["metadata"], x["hostdev"], x["broker"]["managed"]) for x in d["devices"]]')" = \
  "[('$MAN', True, False, True), ('$HOST', False, True, False), ('$GONE', True, False, False)]" ] ||
        mb_fail "show --json: $(cat "$MB_TMP/show.json")"
[ "$(json "$MB_TMP/show.json" 'd["vmstate_object"]["state"], d["excluded"], d["broker"]["reachable"]')" = \
  "('missing', ['$EXCL'], True)" ] || mb_fail "show --json: $(cat "$MB_TMP/show.json")"
mb_log "show: managed, claimed by another, unmanaged hostdev, unknown metadata device, excluded, missing object"

# enable then show in one process is not possible (the test driver's state
# is per process): enable's output says it all.
mb_ctl S domain enable vm1 -c "$URI" >"$MB_TMP/enable.out"
expect_in "$MB_TMP/enable.out" "vm1: added dbus-vmstate object migbroker: -object dbus-vmstate,id=migbroker,addr=unix:path=/run/mb-test-show/domain/$UUID/bus,id-list=nic0"
mb_ctl S domain disable vm1 -c "$URI" --device "$HOST" >"$MB_TMP/disable.out" 2>&1
expect_in "$MB_TMP/disable.out" "vm1: note: $HOST is not in the domain's migbroker metadata"
expect_in "$MB_TMP/disable.out" "vm1: note: $HOST is a PCI host device of the domain"
expect_in "$MB_TMP/disable.out" "vm1: note: the metadata gives vmstate ids (nic0) but no dbus-vmstate object names the broker's bus (domain enable adds it)"
expect_in "$MB_TMP/disable.out" "vm1: nothing to change"

# The broker gone: still exit 0, the XML's devices listed.
mb_stop_broker S
mb_ctl S domain show vm1 -c "$URI" >"$MB_TMP/gone.out"
expect_in "$MB_TMP/gone.out" "Broker:       unreachable (ServiceUnknown:"
grep -qE "^$MAN +metadata +nic0 +\? +\? +\?\$" "$MB_TMP/gone.out" || { cat "$MB_TMP/gone.out" >&2; mb_fail "no broker"; }

# A policy that cannot be read: show goes on with the defaults, enable does not.
MIGBROKER_POLICY="$MB_TMP/none.yaml" mb_ctl S domain show vm1 -c "$URI" >"$MB_TMP/nopolicy.out"
expect_in "$MB_TMP/nopolicy.out" "Bus:          unix:path=/run/migbroker/domain/$UUID/bus"
expect_in "$MB_TMP/nopolicy.out" "note: cannot read the policy for its settings: $MB_TMP/none.yaml: cannot open"
rc=0; MIGBROKER_POLICY="$MB_TMP/none.yaml" mb_ctl S domain enable vm1 -c "$URI" --json >"$MB_TMP/nopolicy.json" || rc=$?
[ "$rc" = 1 ] && [ "$(json "$MB_TMP/nopolicy.json" 'd["error"]')" = PolicyInvalid ] ||
        mb_fail "enable without a readable policy: rc $rc $(cat "$MB_TMP/nopolicy.json")"
mb_log "no broker: unreachable, exit 0; no policy: show uses the defaults, enable refuses"
