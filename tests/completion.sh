#!/bin/sh
# data/bash-completion/migbrokerctl: a few completions, driven through
# COMP_WORDS/COMP_CWORD as bash would, against a stand-in migbrokerctl that
# prints what `migbrokerctl list --json` prints. The completion uses plain
# bash (compgen), not the bash-completion package's helpers, so this needs
# only bash with programmable completion: without it, the test is skipped.
if [ -z "${BASH_VERSION:-}" ]; then
        command -v bash >/dev/null 2>&1 || { echo "SKIP: bash is not installed"; exit 77; }
        exec bash "$0" "$@"
fi
set -u
type compgen complete >/dev/null 2>&1 || { echo "SKIP: this bash has no programmable completion"; exit 77; }

: "${MB_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
COMPLETION="$MB_SRCDIR/data/bash-completion/migbrokerctl"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mb-completion.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT

# A stand-in broker client: json-glib's pretty layout, as `list --json` prints it.
mkdir "$TMP/bin" "$TMP/states"
cat >"$TMP/bin/migbrokerctl" <<'EOS'
#!/bin/sh
echo "$*" >>"$MB_COMPLETION_ARGS"
case " $* " in
*" list --json "*) ;;
*) exit 1 ;;
esac
cat <<'EOJ'
[
  {
    "bdf" : "0000:3b:00.1",
    "plugin" : "simdev",
    "state" : "running",
    "owner" : "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41",
    "rule" : "/etc/migbroker/policy.yaml:9",
    "path" : "/org/migbroker1/device/_30000_3a3b_3a00_2e1"
  },
  {
    "bdf" : "0000:3b:00.2",
    "plugin" : "simdev",
    "state" : "running",
    "owner" : "",
    "rule" : "/etc/migbroker/policy.yaml:12",
    "path" : "/org/migbroker1/device/_30000_3a3b_3a00_2e2"
  }
]
EOJ
EOS
chmod +x "$TMP/bin/migbrokerctl"
export MB_COMPLETION_ARGS="$TMP/args"
PATH="$TMP/bin:$PATH"

. "$COMPLETION" || { echo "FAIL: cannot source $COMPLETION"; exit 1; }
complete -p migbrokerctl | grep -q -- '-F _migbrokerctl' || { echo "FAIL: no completion registered"; exit 1; }

failures=0
# check EXPECTED WORD...: completes the last WORD the way bash splits a
# command line (':' and '=' are separate words, as COMP_WORDBREAKS has them)
# and compares the sorted candidates with EXPECTED (space-separated).
check() {
        local expected=$1 got
        shift
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMPREPLY=()
        _migbrokerctl migbrokerctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>"$TMP/stderr"
        got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
        if [ "$got" != "$expected" ] || [ -s "$TMP/stderr" ]; then
                echo "FAIL: '${COMP_WORDS[*]}': got '$got', expected '$expected'"
                cat "$TMP/stderr"
                failures=$((failures + 1))
        else
                echo "ok: '${COMP_WORDS[*]}' -> '$got'"
        fi
}

# verbs and options
check "show"                          migbrokerctl sh
check "save set-state show"           migbrokerctl s
check "claim close"                   migbrokerctl --json cl
check "--bus"                         migbrokerctl --b
check "--max-bytes"                   migbrokerctl save 0000 : 3b : 00.1 --ma
check "framed raw"                    migbrokerctl save 0000 : 3b : 00.1 --format ""
check "raw"                           migbrokerctl load 0000 : 3b : 00.1 --format = r
check "check explain reload"          migbrokerctl policy ""
check "check"                         migbrokerctl plugin ""
check "--peer-arg"                    migbrokerctl plugin check x.so --pe
check ""                              migbrokerctl plugin check x.so --arg ""
# device addresses from `list --json`, also after a ':' word break
check "0000:3b:00.1 0000:3b:00.2"     migbrokerctl show ""
check "00.1 00.2"                     migbrokerctl reset 0000 : 3b : 00.
check "00.2"                          migbrokerctl claim 0000 : 3b : 00.2
check ""                              migbrokerctl show 0000 : 3b : 00.1 ""
# the states of set-state
check "stop stop-copy"                migbrokerctl set-state 0000 : 3b : 00.1 st
check "pre-copy"                      migbrokerctl set-state 0000 : 3b : 00.1 p
# owners for --owner
check "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41" migbrokerctl release 0000 : 3b : 00.1 --owner ""
# --bus is passed on to the lookup
: >"$MB_COMPLETION_ARGS"
check "0000:3b:00.1 0000:3b:00.2"     migbrokerctl --bus unix : path = /run/x show ""
grep -q -- '--bus unix:path=/run/x --timeout 2 list --json' "$MB_COMPLETION_ARGS" ||
        { echo "FAIL: the lookup did not get --bus: $(cat "$MB_COMPLETION_ARGS")"; failures=$((failures + 1)); }
# domain: its commands, libvirt's domains (from virsh), the devices for --device
cat >"$TMP/bin/virsh" <<'EOS'
#!/bin/sh
echo "virsh $*" >>"$MB_COMPLETION_ARGS"
printf 'vm1\nvm2\nweb\n'
EOS
chmod +x "$TMP/bin/virsh"
check "disable enable show"           migbrokerctl domain ""
check "vm1 vm2"                       migbrokerctl domain show vm
check ""                              migbrokerctl domain show vm1 ""
check "--device --dry-run"            migbrokerctl domain disable vm1 --d
check "--no-vmstate"                  migbrokerctl domain enable vm1 --n
check "0000:3b:00.1 0000:3b:00.2"     migbrokerctl domain enable vm1 --device ""
: >"$MB_COMPLETION_ARGS"
check "web"                           migbrokerctl domain enable --connect qemu : ///system w
grep -q -- '^virsh -q -r -c qemu:///system list --all --name$' "$MB_COMPLETION_ARGS" ||
        { echo "FAIL: virsh did not get the URI: $(cat "$MB_COMPLETION_ARGS")"; failures=$((failures + 1)); }
# files for -o and -i
: >"$TMP/states/dev.mig"
: >"$TMP/states/dev.raw"
check "$TMP/states/dev.mig $TMP/states/dev.raw" migbrokerctl save 0000 : 3b : 00.1 -o "$TMP/states/d"
check "$TMP/states/dev.mig"           migbrokerctl load 0000 : 3b : 00.1 --input "$TMP/states/dev.m"
# policy explain lists sysfs functions (no broker needed)
mkdir -p "$TMP/sysfs/bus/pci/devices/0000:5e:00.0" "$TMP/sysfs/bus/pci/devices/0000:5e:00.1"
check "00.0 00.1"                     migbrokerctl policy explain --sysfs-root "$TMP/sysfs" 0000 : 5e : 00.
# no broker answering: quietly nothing
cat >"$TMP/bin/migbrokerctl" <<'EOS'
#!/bin/sh
echo "migbrokerctl: list: ServiceUnknown: The name org.migbroker1 was not provided by any .service files" >&2
exit 1
EOS
check ""                              migbrokerctl show ""
check "stop-copy"                     migbrokerctl set-state 0000 : 3b : 00.1 stop-

[ "$failures" -eq 0 ] || { echo "$failures completion check(s) failed"; exit 1; }
echo "all completion checks passed"
