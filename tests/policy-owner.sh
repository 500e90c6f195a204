#!/bin/sh
# Policy files and plugins must be owned by root or by the uid running the
# check, and not be group- or other-writable: checked as root, and as an
# ordinary uid (nobody, through setpriv). Skips when not root.
set -u
ctl="${MB_BUILDDIR:?}/ctl/migbrokerctl"
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (to create files owned by others)"
    exit 77
fi
if ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
    echo "SKIP: needs setpriv (util-linux) and a user 'nobody'"
    exit 77
fi
nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)
as_nobody() {
    setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups "$@"
}
if ! as_nobody "$ctl" --version >/dev/null 2>&1; then
    echo "SKIP: $ctl is not executable by nobody (build in a world-readable directory)"
    exit 77
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
chmod 755 "$tmp"
passed=0
failed=0
check() { # WHO WANT_STATUS WANT_TEXT FILE
    who=$1 want=$2 text=$3 file=$4
    if [ "$who" = root ]; then
        "$ctl" policy check --skip-plugin-files "$file" >"$tmp/out" 2>&1
    else
        as_nobody "$ctl" policy check --skip-plugin-files "$file" >"$tmp/out" 2>&1
    fi
    got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$text" "$tmp/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: as $who, $(stat -c '%U %a' "$file") $file: status $got (want $want), want '$text' in:"
        cat "$tmp/out"
    fi
}
policy() { # NAME OWNER MODE
    printf 'version: 1\n' >"$tmp/$1"
    chown "$2" "$tmp/$1"
    chmod "$3" "$tmp/$1"
    echo "$tmp/$1"
}

f=$(policy root.yaml 0:0 0644)
check root 0 "policy valid" "$f"
check nobody 0 "policy valid" "$f"
f=$(policy nobody.yaml "$nobody_uid:$nobody_gid" 0644)
check root 1 "$f: error: refusing a policy file owned by uid $nobody_uid (nobody): it must be owned by root" "$f"
check nobody 0 "policy valid" "$f"
f=$(policy daemon.yaml 1:1 0644)
daemon=$(getent passwd 1 | cut -d: -f1)
check nobody 1 "refusing a policy file owned by uid 1${daemon:+ ($daemon)}: it must be owned by root or by uid $nobody_uid (nobody), which runs this program" "$f"
f=$(policy group-writable.yaml 0:0 0664)
check root 1 "refusing a policy file with mode 0664 (group-writable)" "$f"
check nobody 1 "refusing a policy file with mode 0664 (group-writable)" "$f"
f=$(policy nobody-other-writable.yaml "$nobody_uid:$nobody_gid" 0646)
check nobody 1 "refusing a policy file with mode 0646 (other-writable)" "$f"

# A plugin is held to the same rules, reported where the policy names it.
mkdir -p "$tmp/plugins"
echo x >"$tmp/plugins/p.so"
chown "$nobody_uid" "$tmp/plugins/p.so"
printf 'version: 1\nplugins:\n  p: { path: %s/plugins/p.so }\n' "$tmp" >"$tmp/with-plugin.yaml"
"$ctl" policy check "$tmp/with-plugin.yaml" >"$tmp/out" 2>&1
if [ $? -eq 1 ] && grep -qF "with-plugin.yaml:3:14: error: plugin \"p\": $tmp/plugins/p.so: refusing a plugin owned by uid $nobody_uid (nobody): it must be owned by root" "$tmp/out"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "FAIL: plugin owned by nobody accepted by root:"
    cat "$tmp/out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
