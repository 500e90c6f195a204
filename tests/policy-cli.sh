#!/bin/sh
# migbrokerctl's verb dispatch, exit codes and 'policy' options: explain
# against a fake sysfs tree, --json output, the environment overrides.
set -u
ctl="${MB_BUILDDIR:?}/ctl/migbrokerctl"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
chmod 755 "$tmp"
passed=0
failed=0

# expect STATUS DESCRIPTION COMMAND...: runs COMMAND, output in $tmp/out.
expect() {
    want=$1 what=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" -eq "$want" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what: exit status $got, expected $want; output:"
        cat "$tmp/out"
    fi
}
# has DESCRIPTION TEXT: the last output contains TEXT as a line fragment.
has() {
    if grep -qF -- "$2" "$tmp/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1: output lacks '$2'; output:"
        cat "$tmp/out"
    fi
}

device() { # BDF VENDOR DEVICE
    mkdir -p "$tmp/sys/bus/pci/devices/$1"
    echo "$2" >"$tmp/sys/bus/pci/devices/$1/vendor"
    echo "$3" >"$tmp/sys/bus/pci/devices/$1/device"
}
device 0000:3b:00.1 0x1af4 0x1041
device 0000:3b:00.2 0x1af4 0x1041
device 0000:5e:00.0 0x1af4 0x1041
device 0000:5e:00.1 0x1af4 0x1000
device 0000:af:00.0 0x8086 0x1572
mkdir -p "$tmp/plugins" "$tmp/etc/policy.d"
echo x >"$tmp/plugins/simdev.so"
echo x >"$tmp/plugins/other.so"
cat >"$tmp/etc/policy.yaml" <<YAML
version: 1
settings:
  plugin-dir: $tmp/plugins
plugins:
  simdev:
    path: simdev.so
    arg: "127.0.0.1:7000"
devices:
  - match: { bdf: "0000:3b:00.1" }
    plugin: simdev
    arg: "127.0.0.1:7001"
  - match: { bdf: "0000:3b:00.*" }
    plugin: simdev
  - match: { vendor: 0x1af4, device: 0x1041 }
    plugin: simdev
YAML
cat >"$tmp/etc/policy.d/10-other.yaml" <<YAML
version: 1
plugins:
  other: { path: other.so }
devices:
  - match: { vendor: 0x1af4 }
    plugin: other
  - match: { bdf: "0000:3c:*.0" }
    plugin: other
  - match: { bdf: "0000:3c:00.*" }
    plugin: simdev
YAML
chmod -R go-w "$tmp"
P="--policy $tmp/etc/policy.yaml"

# ---- dispatch and usage
expect 2 "no command" "$ctl"
expect 2 "unknown command" "$ctl" frobnicate
has "unknown command" 'unknown command "frobnicate"'
expect 2 "unknown global option" "$ctl" --frob
expect 0 "--help" "$ctl" --help
has "--help" "policy"
expect 0 "--version" "$ctl" --version
has "--version" "migbrokerctl "
expect 2 "policy without subcommand" "$ctl" policy
expect 2 "policy unknown subcommand" "$ctl" policy frob
expect 2 "policy unknown option" "$ctl" policy check --frob
expect 2 "policy option without argument" "$ctl" policy check --policy
expect 0 "policy --help" "$ctl" policy --help
expect 2 "explain without BDF" "$ctl" policy explain $P
expect 2 "explain malformed BDF" "$ctl" policy explain 3b:00.1 $P
has "explain malformed BDF" 'malformed BDF "3b:00.1": missing the PCI domain: write "0000:3b:00.1"'
expect 2 "explain pattern" "$ctl" policy explain "0000:3b:00.*" $P
expect 1 "reload needs the daemon" "$ctl" policy reload

# ---- check: whole policy, env override, plugin files
expect 0 "check --policy" "$ctl" policy check $P
has "check --policy" "policy valid: 2 files, 2 plugins, 6 device rules"
has "check warns about overlapping patterns" 'warning: patterns "0000:3c:00.*" and "0000:3c:*.0"'
MIGBROKER_POLICY="$tmp/etc/policy.yaml" expect 0 "check with MIGBROKER_POLICY" "$ctl" policy check
has "check with MIGBROKER_POLICY" "$tmp/etc/policy.d/10-other.yaml: ok"
expect 1 "check missing default" "$ctl" policy check --policy "$tmp/nope.yaml"
has "check missing default" "$tmp/nope.yaml: error: cannot open: No such file or directory"
rm "$tmp/plugins/other.so"
expect 1 "check finds a missing plugin file" "$ctl" policy check $P
has "check finds a missing plugin file" "10-other.yaml:3:18: error: plugin \"other\": $tmp/plugins/other.so: cannot open: No such file or directory"
expect 0 "check --skip-plugin-files" "$ctl" policy check --skip-plugin-files $P
mkdir -p "$tmp/alt" && echo x >"$tmp/alt/simdev.so" && echo x >"$tmp/alt/other.so" && chmod -R go-w "$tmp/alt"
expect 0 "check --plugin-dir" "$ctl" policy check --plugin-dir "$tmp/alt" $P
MIGBROKER_PLUGIN_DIR="$tmp/alt" expect 0 "check with MIGBROKER_PLUGIN_DIR" "$ctl" policy check $P
echo x >"$tmp/plugins/other.so" && chmod go-w "$tmp/plugins/other.so"

# ---- check --json
printf 'version: 1\nplugins:\n  s: { path: s.so, agr: x }\n' >"$tmp/bad.yaml"
expect 1 "check --json" "$ctl" policy check --json --skip-plugin-files "$tmp/bad.yaml"
has "check --json" "{\"file\": \"$tmp/bad.yaml\", \"line\": 3, \"column\": 20, \"severity\": \"error\", \"message\": \"unknown key \\\"agr\\\" in plugin \\\"s\\\"; did you mean \\\"arg\\\"?\"}"
if command -v python3 >/dev/null 2>&1; then
    cp "$tmp/out" "$tmp/json"
    expect 0 "check --json is JSON" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[0]["line"] == 3 and set(d[0]) >= {"file","line","column","message"}' "$tmp/json"
fi
expect 0 "check --json on a valid policy" "$ctl" policy check --json $P
has "check --json on a valid policy" '"severity": "warning"'

# ---- explain: each rank, and none
expect 0 "explain exact" "$ctl" policy explain 0000:3B:00.1 $P --sysfs-root "$tmp/sys"
has "explain exact" "plugin:  simdev ($tmp/plugins/simdev.so)"
has "explain exact" 'arg:     "127.0.0.1:7001" (from the rule)'
has "explain exact" "rule:    $tmp/etc/policy.yaml:9: { bdf: \"0000:3b:00.1\" } -> simdev (exact BDF)"
has "explain exact" "also matching, not used (lower precedence):"
has "explain exact" "$tmp/etc/policy.yaml:12: { bdf: \"0000:3b:00.*\" } -> simdev (BDF pattern, 1 wildcard)"
has "explain exact" "$tmp/etc/policy.d/10-other.yaml:5: { vendor: 0x1af4 } -> other (vendor)"
expect 0 "explain pattern" "$ctl" policy explain 0000:3b:00.2 $P --sysfs-root "$tmp/sys"
has "explain pattern" 'arg:     "127.0.0.1:7000" (the plugin'"'"'s default)'
has "explain pattern" "(BDF pattern, 1 wildcard)"
MIGBROKER_SYSFS_ROOT="$tmp/sys" expect 0 "explain vendor+device" "$ctl" policy explain 0000:5e:00.0 $P
has "explain vendor+device" "ids:     vendor 0x1af4, device 0x1041"
has "explain vendor+device" "rule:    $tmp/etc/policy.yaml:14: { vendor: 0x1af4, device: 0x1041 } -> simdev (vendor+device)"
expect 0 "explain vendor" "$ctl" policy explain 0000:5e:00.1 $P --sysfs-root "$tmp/sys"
has "explain vendor" "-> other (vendor)"
has "explain vendor" "arg:     none (init() gets NULL)"
expect 1 "explain none" "$ctl" policy explain 0000:af:00.0 $P --sysfs-root "$tmp/sys"
has "explain none" "plugin:  none: no rule matches this device"
has "explain none" "vendor+device:  no rule for vendor 0x8086, device 0x1572"
has "explain none" "plugin probe:   not run by this command; the broker asks, in this order: simdev, other"
expect 1 "explain absent device" "$ctl" policy explain 0000:99:00.0 $P --sysfs-root "$tmp/sys"
has "explain absent device" "ids:     unknown ($tmp/sys/bus/pci/devices/0000:99:00.0: No such file or directory)"
expect 1 "explain ambiguous" "$ctl" policy explain 0000:3c:00.0 $P --sysfs-root "$tmp/sys"
has "explain ambiguous" "plugin:  none: two rules of the same rank match; the broker refuses the device"
has "explain ambiguous" "$tmp/etc/policy.d/10-other.yaml:7: { bdf: \"0000:3c:*.0\" } -> other (BDF pattern, 1 wildcard)"
has "explain ambiguous" "$tmp/etc/policy.d/10-other.yaml:9: { bdf: \"0000:3c:00.*\" } -> simdev (BDF pattern, 1 wildcard)"
expect 0 "explain --json" "$ctl" policy explain --json 0000:3b:00.1 $P --sysfs-root "$tmp/sys"
has "explain --json" '"bdf": "0000:3b:00.1", "vendor": "0x1af4", "device": "0x1041", "ids_error": null, "bound": true, "kind": "exact BDF", "plugin": "simdev"'
if command -v python3 >/dev/null 2>&1; then
    cp "$tmp/out" "$tmp/json"
    expect 0 "explain --json is JSON" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["rule"]["line"] == 9 and len(d["matching_rules"]) == 4 and d["probe_order"] == ["simdev","other"]' "$tmp/json"
fi
expect 1 "explain with an invalid policy" "$ctl" policy explain 0000:3b:00.1 --policy "$tmp/bad.yaml"
has "explain with an invalid policy" "cannot explain: the policy is invalid"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
