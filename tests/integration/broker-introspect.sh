#!/bin/sh
# The introspection XML shipped in data/ (installed to
# $(datadir)/dbus-1/interfaces) describes exactly the interfaces the running
# migbrokerd exposes: org.migbroker1.Manager on /org/migbroker1 and
# org.migbroker1.Device on a device object (closed and open), compared by
# tests/integration/mb-introspect-compare.py after normalisation.
. "$MB_SRCDIR/tests/integration/lib.sh"
. "$MB_SRCDIR/tests/integration/broker-lib.sh"

mb_require_broker

CMP="$MB_PYTHON $MB_SRCDIR/tests/integration/mb-introspect-compare.py"
MANAGER_XML=$MB_SRCDIR/data/org.migbroker1.Manager.xml
DEVICE_XML=$MB_SRCDIR/data/org.migbroker1.Device.xml
D1=0000:3b:00.1
P1=$(mb_dev_path $D1)

mb_start_bus A
mb_fake_pci "$MB_TMP/sysfs-A" $D1 0x1af4 0x1041
POLICY=$(mb_policy "$MB_TMP/etc/policy.yaml" <<EOP
$(mb_policy_head)
plugins:
  testing:
    path: $MB_TESTING_SO
devices:
  - match: { bdf: "$D1" }
    plugin: testing
EOP
)
mb_start_broker A "$POLICY"

introspect() { # PATH OUT
        mb_busctl A introspect --xml-interface org.migbroker1 "$1" >"$2" || mb_fail "introspection of $1 failed"
}

# The comparison itself catches a difference (a dropped argument, a changed
# type, an extra member) and ignores formatting and member order.
sed 's|<arg type="s" name="bdf" direction="in"/>||' "$MANAGER_XML" >"$MB_TMP/bad1.xml"
sed 's|name="Devices" type="ao"|name="Devices" type="as"|' "$MANAGER_XML" >"$MB_TMP/bad2.xml"
sed 's|<method name="Rescan">|<method name="Rescan2"></method><method name="Rescan">|' "$MANAGER_XML" >"$MB_TMP/bad3.xml"
for bad in bad1 bad2 bad3; do
        $CMP org.migbroker1.Manager "$MANAGER_XML" "$MB_TMP/$bad.xml" 2>/dev/null &&
                mb_fail "the comparison missed the change in $bad.xml"
done
tr '\n' ' ' <"$MANAGER_XML" | sed 's|>  *<|><|g' >"$MB_TMP/oneline.xml"
$CMP org.migbroker1.Manager "$MANAGER_XML" "$MB_TMP/oneline.xml" || mb_fail "whitespace made a difference"
"$MB_PYTHON" - "$MANAGER_XML" "$MB_TMP/reversed.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
tree = ET.parse(sys.argv[1])
iface = tree.getroot().find("interface")
members = list(iface)
for m in members:
    iface.remove(m)
iface.extend(reversed(members))
tree.write(sys.argv[2])
EOF
$CMP org.migbroker1.Manager "$MANAGER_XML" "$MB_TMP/reversed.xml" || mb_fail "member order made a difference"

# The shipped files are well-formed and hold one interface each.
for f in "$MANAGER_XML" "$DEVICE_XML"; do
        n=$(grep -c '<interface ' "$f")
        mb_expect_eq "interfaces in $(basename "$f")" "$n" 1
done

# Manager, and the ObjectManager beside it.
introspect /org/migbroker1 "$MB_TMP/manager.xml"
$CMP org.migbroker1.Manager "$MANAGER_XML" "$MB_TMP/manager.xml" ||
        mb_fail "data/org.migbroker1.Manager.xml does not match the running broker"
grep -q '<interface name="org.freedesktop.DBus.ObjectManager">' "$MB_TMP/manager.xml" ||
        mb_fail "/org/migbroker1 has no ObjectManager"
grep -q '<node name="device"/>' "$MB_TMP/manager.xml" || mb_fail "/org/migbroker1 does not list the device subtree"

# The device subtree enumerates the device; the device object, closed then open.
introspect /org/migbroker1/device "$MB_TMP/devices.xml"
grep -q "<node name=\"${P1##*/}\"/>" "$MB_TMP/devices.xml" || mb_fail "/org/migbroker1/device does not list $P1"
introspect "$P1" "$MB_TMP/device.xml"
$CMP org.migbroker1.Device "$DEVICE_XML" "$MB_TMP/device.xml" ||
        mb_fail "data/org.migbroker1.Device.xml does not match the running broker"
mb_expect A ok claim $D1 --owner $MB_UUID1
mb_expect A ok open $D1 --owner $MB_UUID1
introspect "$P1" "$MB_TMP/device-open.xml"
$CMP org.migbroker1.Device "$DEVICE_XML" "$MB_TMP/device-open.xml" ||
        mb_fail "an open device exposes another interface"
mb_expect A ok release $D1 --owner $MB_UUID1

# No Device interface anywhere else; no Manager interface on a device.
grep -q 'org.migbroker1.Device' "$MB_TMP/manager.xml" && mb_fail "/org/migbroker1 exposes org.migbroker1.Device"
grep -q 'org.migbroker1.Manager' "$MB_TMP/device.xml" && mb_fail "$P1 exposes org.migbroker1.Manager"

mb_log "PASS"
exit 0
