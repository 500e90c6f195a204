#!/bin/sh
# Runs 'migbrokerctl policy check' on every fixture under tests/data/policy:
# each valid/*.yaml passes; each invalid/NAME.yaml (or invalid/NAME.policy/,
# a main file with its policy.d) fails with exit 1 and exactly the stderr in
# invalid/NAME.err. The fixtures are copied first so their mode is 0644
# whatever the checkout's umask was.
set -u
ctl="${MB_BUILDDIR:?}/ctl/migbrokerctl"
data="${MB_SRCDIR:?}/tests/data/policy"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
cp -R "$data/valid" "$data/invalid" "$tmp/" || exit 99
chmod -R u+rwX,go-w "$tmp"

passed=0
failed=0
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}

cd "$tmp/valid" || exit 99
for f in *.yaml; do
    if out=$("$ctl" policy check --skip-plugin-files "$f" 2>&1); then
        passed=$((passed + 1))
    else
        fail "valid/$f: $out"
    fi
done

cd "$tmp/invalid" || exit 99
for err in *.err; do
    name=${err%.err}
    if [ -d "$name.policy" ]; then
        set -- --policy "$name.policy/policy.yaml"
    else
        set -- "$name.yaml"
    fi
    "$ctl" policy check --skip-plugin-files "$@" >/dev/null 2>"$tmp/got"
    rc=$?
    if [ "$rc" -ne 1 ]; then
        fail "invalid/$name: exit status $rc, expected 1"
    elif ! diff -u "$err" "$tmp/got" >"$tmp/diff"; then
        fail "invalid/$name: stderr differs from $name.err"
        cat "$tmp/diff"
    else
        passed=$((passed + 1))
    fi
done
for f in *.yaml; do
    [ -f "${f%.yaml}.err" ] || fail "invalid/$f has no ${f%.yaml}.err"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
