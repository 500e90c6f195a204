# libvirt-host.sh: libvirt "hosts" on one machine for the integration tests
# (sourced after lib.sh). Each host H is a private mount namespace, held by
# `sleep infinity`, in which run a system bus of its own and libvirtd. Its
# directories live in $MB_TMP/H and are bind-mounted over the real ones:
#   /run/dbus           dbus/ (the system bus's socket: $MB_BUS_H from outside)
#   /etc/libvirt        etc-libvirt/, a copy with no domains or autostart,
#                       host_uuid set, logs to /var/log/libvirt/libvirtd.log,
#                       read-only clients not asked about (auth_unix_ro),
#                       no cgroups or QEMU namespaces, the hook linked as
#                       hooks/qemu.d/50-migbroker
#   /run/libvirt        run-libvirt/
#   /var/lib/libvirt    lib-libvirt/, a copy
#   /var/log/libvirt    log-libvirt/
#   /var/cache/libvirt  $MB_TMP/cache-libvirt, one copy for every host
#   /dev/kvm            masked (a root-only plain file), when it exists
# plus the test's own SRC=DST bind mounts.
#
# One capabilities cache for all hosts (same QEMU, same machine): libvirt
# probes QEMU once (about 4 s), not once per host. /dev/kvm is hidden: where
# it exists but is root-only, libvirt 9.0 finds "KVM was enabled when
# probing, but it is not available now" and probes QEMU again on every
# lookup, 4 s each (40 s for a define). Domains are TCG.
#
# lh_cleanup kills every process in the hosts' namespaces by PID (also on
# failure); the namespaces' mounts go with them.

LH_HOSTS=""

# lh_require: skip (77) unless this machine can run libvirt hosts.
lh_require() {
        [ "$(id -u)" = 0 ] || mb_skip "needs root (libvirtd, mount namespaces)"
        local t
        for t in libvirtd virsh unshare nsenter dbus-daemon qemu-system-x86_64 python3; do
                command -v "$t" >/dev/null || mb_skip "$t is not installed"
        done
        qemu-system-x86_64 -object help 2>/dev/null | grep -q dbus-vmstate || mb_skip "this QEMU has no dbus-vmstate"
        getent passwd libvirt-qemu >/dev/null || mb_skip "no libvirt-qemu user"
}

# lh_ns_pids NS: the processes in that mount namespace (e.g. mnt:[4026532301])
lh_ns_pids() {
        local p
        [ -n "$1" ] || return 0
        for p in /proc/[0-9]*; do
                [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
        done
}

# lh_in H CMD...: run CMD in host H's namespace
lh_in() {
        local P
        eval "P=\${LH_HOLDER_$1:-}"
        [ -n "$P" ] || mb_fail "no libvirt host '$1'"
        shift
        nsenter -t "$P" -m "$@"
}

# lh_virsh H ARGS...: virsh on host H's libvirtd
lh_virsh() {
        local h=$1
        shift
        lh_in "$h" virsh -c qemu:///system "$@"
}

# lh_start H HOST-UUID HOOK [SRC=DST]...: prepare and start host H (its
# libvirtd starts in the background: lh_wait H)
lh_start() {
        local H=$1 huuid=$2 hook=$3 R="$MB_TMP/$1" P m mounts=""
        shift 3
        if [ ! -d "$MB_TMP/cache-libvirt" ]; then
                cp -a /var/cache/libvirt "$MB_TMP/cache-libvirt"
                rm -f "$MB_TMP"/cache-libvirt/qemu/capabilities/*.xml
                install -m 600 /dev/null "$MB_TMP/no-kvm"
        fi
        mkdir -p "$R"/{dbus,run-libvirt,log-libvirt/qemu}
        chmod 755 "$R" "$R"/{dbus,run-libvirt}
        cp -a /etc/libvirt "$R/etc-libvirt"
        cp -a /var/lib/libvirt "$R/lib-libvirt"
        rm -f "$R"/etc-libvirt/qemu/*.xml "$R"/etc-libvirt/qemu/autostart/* "$R"/etc-libvirt/qemu/networks/autostart/*
        rm -rf "$R/etc-libvirt/hooks"
        mkdir -p "$R/etc-libvirt/hooks/qemu.d"
        ln -s "$hook" "$R/etc-libvirt/hooks/qemu.d/50-migbroker"
        cat >>"$R/etc-libvirt/libvirtd.conf" <<EOC

# migbroker test host $H
host_uuid = "$huuid"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
# The broker's migbroker-libvirt-events connects read-only as the worker
# user; libvirtd would ask polkit about a client that is not root, and no
# polkitd serves this host's bus: the socket's permissions decide alone.
auth_unix_ro = "none"
EOC
        cat >>"$R/etc-libvirt/qemu.conf" <<EOC

# migbroker test host $H
stdio_handler = "file"
cgroup_controllers = [ ]
namespaces = [ ]
EOC
        mb_bus_config unix:path=/run/dbus/system_bus_socket >"$R/system-bus.conf"
        for m in "$@"; do
                mounts="$mounts
                mount --bind '${m%%=*}' '${m#*=}'"
        done

        unshare --mount --propagation private sleep infinity &
        P=$!
        eval "LH_HOLDER_$H=$P"
        LH_HOSTS="$LH_HOSTS $H"
        for _ in $(seq 100); do
                [ "$(readlink /proc/$P/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] && break
                sleep 0.02
        done
        [ "$(readlink /proc/$P/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] || mb_fail "host $H: no namespace"
        eval "LH_NS_$H='$(readlink /proc/$P/ns/mnt)'"
        lh_in "$H" sh -e -c "
                mount --bind '$R/dbus' /run/dbus
                mount --bind '$R/etc-libvirt' /etc/libvirt
                mount --bind '$R/run-libvirt' /run/libvirt
                mount --bind '$R/lib-libvirt' /var/lib/libvirt
                mount --bind '$MB_TMP/cache-libvirt' /var/cache/libvirt
                mount --bind '$R/log-libvirt' /var/log/libvirt$mounts
                if [ -e /dev/kvm ]; then mount --bind '$MB_TMP/no-kvm' /dev/kvm; fi"
        lh_in "$H" dbus-daemon --config-file="$R/system-bus.conf" --nofork --nopidfile >"$MB_TMP/sysbus-$H.log" 2>&1 &
        for _ in $(seq 100); do [ -S "$R/dbus/system_bus_socket" ] && break; sleep 0.05; done
        [ -S "$R/dbus/system_bus_socket" ] || mb_fail "host $H: the system bus did not start"
        eval "MB_BUS_$H=unix:path=$R/dbus/system_bus_socket"
        lh_in "$H" libvirtd -d -p "$R/libvirtd.pid"
}

# lh_wait H: until host H's libvirtd answers (2 min at most)
lh_wait() {
        for _ in $(seq 240); do lh_virsh "$1" list >/dev/null 2>&1 && return 0; sleep 0.5; done
        mb_fail "host $1: libvirtd did not come up"
}

# lh_cleanup RC [DOMAIN]: destroy and undefine DOMAIN on every host, show the
# libvirt logs when RC is a failure, then kill every process of the hosts:
# SIGTERM for 5 s (libvirtd may still spawn one while it dies: look again
# each round), then SIGKILL.
lh_cleanup() {
        local rc=$1 dom=${2:-} H P NS f alive round
        for H in $LH_HOSTS; do
                eval "P=\$LH_HOLDER_$H"
                kill -0 "$P" 2>/dev/null || continue
                if [ -n "$dom" ]; then
                        nsenter -t "$P" -m virsh -c qemu:///system destroy "$dom" >/dev/null 2>&1
                        nsenter -t "$P" -m virsh -c qemu:///system undefine "$dom" >/dev/null 2>&1
                fi
                if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
                        for f in "$MB_TMP/$H"/log-libvirt/qemu/*.log "$MB_TMP/$H"/log-libvirt/libvirtd.log; do
                                [ -f "$f" ] && { echo "---- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; }
                        done
                fi
        done
        for round in $(seq 70); do
                alive=""
                for H in $LH_HOSTS; do
                        eval "NS=\${LH_NS_$H:-}"
                        alive="$alive $(lh_ns_pids "$NS")"
                done
                [ -n "${alive// /}" ] || break
                if [ "$round" -le 50 ]; then
                        # shellcheck disable=SC2086
                        kill $alive 2>/dev/null
                else
                        [ "$round" != 51 ] || echo "# still alive 5 s after SIGTERM, killed:$alive" >&2
                        # shellcheck disable=SC2086
                        kill -KILL $alive 2>/dev/null
                fi
                sleep 0.1
        done
        return 0
}
