/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migbrokerd: the broker daemon. Parses options, owns org.migbroker1, loads
 * the policy, restores recorded claims, then serves D-Bus until SIGTERM.
 * SIGHUP reloads the policy.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "manager-dbus.h"
#include "manager.h"
#include "runtime-state.h"

#define SHUTDOWN_WORKER_USEC (5u * 1000 * 1000)

static void help(void) {
        printf("Usage: %s [OPTIONS]\n\n"
               "The migbroker daemon: runs vendor VFIO migration plugins in per-device\n"
               "worker processes and serves them on D-Bus as org.migbroker1.\n\n"
               "  --bus ADDRESS         connect to this bus instead of the system bus\n"
               "  --policy PATH         main policy file (default /etc/migbroker/policy.yaml,\n"
               "                        drop-ins from policy.d/ beside it; env MIGBROKER_POLICY)\n"
               "  --sysfs-root DIR      read PCI functions under DIR (default /sys; env MIGBROKER_SYSFS_ROOT)\n"
               "  --plugin-dir DIR      override settings.plugin-dir (env MIGBROKER_PLUGIN_DIR)\n"
               "  --runtime-dir DIR     override settings.runtime-dir (env MIGBROKER_RUNTIME_DIR)\n"
               "  --worker PATH         the migbroker-worker binary (env MIGBROKER_WORKER)\n"
               "  --worker-user USER    override settings.worker-user (used when run as root)\n"
               "  --libvirt-uri URI     override settings.libvirt-uri; \"\" disables following libvirt\n"
               "                        (env MIGBROKER_LIBVIRT_URI)\n"
               "  --log-level LEVEL     err, warning, notice, info (default) or debug\n"
               "  -h --help             show this help\n"
               "     --version          show the version\n\n"
               "Signals: SIGHUP reloads the policy, SIGTERM shuts down cleanly.\n"
               "See migbrokerd(8).\n",
               program_invocation_short_name);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Manager *m = userdata;

        log_info("SIGHUP: reloading the policy");
        if (manager_load_policy(m, &e) < 0)
                log_error("reload refused, the running policy stays: %s", e.message);
        return 0;
}

static const char *env_or(const char *v, const char *env) {
        const char *e = getenv(env);
        return v ? v : (e && *e ? e : NULL);
}

static void shutdown_sessions(Manager *m) {
        GHashTableIter it;
        gpointer value;

        m->shutting_down = true;
        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Device *d = value;
                if (d->worker) {
                        log_dev_info(d->bdf, "stopping the session's worker");
                        (void) mb_worker_stop(d->worker, SHUTDOWN_WORKER_USEC);
                }
        }
}

int main(int argc, char *argv[]) {
        enum { ARG_BUS = 0x100, ARG_POLICY, ARG_SYSFS, ARG_PLUGIN_DIR, ARG_RUNTIME_DIR, ARG_WORKER, ARG_WORKER_USER,
               ARG_LOG_LEVEL, ARG_VERSION, ARG_LIBVIRT_URI };
        static const struct option options[] = {
                { "bus", required_argument, NULL, ARG_BUS },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS },
                { "plugin-dir", required_argument, NULL, ARG_PLUGIN_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "worker", required_argument, NULL, ARG_WORKER },
                { "worker-user", required_argument, NULL, ARG_WORKER_USER },
                { "libvirt-uri", required_argument, NULL, ARG_LIBVIRT_URI },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_autoptr(Manager) m = NULL;
        ManagerConfig cfg = {};
        const char *level = getenv("MIGBROKER_LOG_LEVEL");
        sigset_t ss;
        int c, r;

        mb_log_set_ident("migbrokerd");
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_BUS: cfg.bus_address = optarg; break;
                case ARG_POLICY: cfg.policy_path = optarg; break;
                case ARG_SYSFS: cfg.sysfs_root = optarg; break;
                case ARG_PLUGIN_DIR: cfg.plugin_dir = optarg; break;
                case ARG_RUNTIME_DIR: cfg.runtime_dir = optarg; break;
                case ARG_WORKER: cfg.worker_path = optarg; break;
                case ARG_WORKER_USER: cfg.worker_user = optarg; break;
                case ARG_LIBVIRT_URI: cfg.libvirt_uri = optarg; break;
                case ARG_LOG_LEVEL: level = optarg; break;
                case 'h': help(); return 0;
                case ARG_VERSION: printf("migbrokerd %s\n", PACKAGE_VERSION); return 0;
                default: return 2;
                }
        }
        if (optind < argc) {
                log_error("unexpected argument '%s' (see --help)", argv[optind]);
                return 2;
        }
        if (level) {
                r = mb_log_parse_level(level);
                if (r < 0) {
                        log_error("unknown log level '%s' (err, warning, notice, info, debug)", level);
                        return 2;
                }
                mb_log_set_level(r);
        }
        /* A dbus-vmstate Save or Load moves a state of up to 1 MiB through
         * buffers of its size (the data read, the reply) inside QEMU's
         * downtime. Keep such buffers in the heap and the heap's top when
         * they are freed, so the next one does not fault in fresh pages
         * (about 0.3 ms per MiB here). The broker keeps up to 8 MiB of freed
         * heap for it. */
        if (mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024) == 0 || mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024) == 0)
                log_debug("mallopt() refused the heap thresholds");
        cfg.policy_path = (char *) env_or(cfg.policy_path, "MIGBROKER_POLICY");
        cfg.sysfs_root = (char *) env_or(cfg.sysfs_root, "MIGBROKER_SYSFS_ROOT");
        cfg.plugin_dir = (char *) env_or(cfg.plugin_dir, "MIGBROKER_PLUGIN_DIR");
        cfg.runtime_dir = (char *) env_or(cfg.runtime_dir, "MIGBROKER_RUNTIME_DIR");
        if (!cfg.libvirt_uri && getenv("MIGBROKER_LIBVIRT_URI"))
                cfg.libvirt_uri = getenv("MIGBROKER_LIBVIRT_URI");

        /* sd-event handles these; SIGCHLD for the workers. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigaddset(&ss, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        r = manager_new(&cfg, &m);
        if (r < 0)
                return 1;
        r = manager_load_policy(m, &e);
        if (r < 0) {
                log_error("cannot start without a valid policy (see above)");
                return 1;
        }
        r = sd_bus_request_name(m->bus, MANAGER_BUS_NAME, 0);
        if (r < 0) {
                if (r == -EEXIST)
                        log_error("%s is already owned on this bus: is another migbrokerd running?", MANAGER_BUS_NAME);
                else
                        log_error_errno(r, "cannot own %s: %m (is the D-Bus policy data/org.migbroker1.conf installed?)",
                                        MANAGER_BUS_NAME);
                return 1;
        }
        /* Only the broker that owns the name may touch the records. No call is
         * dispatched before the event loop runs, so clients see the restored state. */
        r = runtime_state_restore(m);
        if (r < 0)
                log_warning_errno(r, "cannot restore recorded claims: %m");

        manager_follow_libvirt(m);

        (void) sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        (void) sd_notify(0, "READY=1\nSTATUS=Serving org.migbroker1");
        log_info("migbrokerd %s ready on %s", PACKAGE_VERSION, cfg.bus_address ?: "the system bus");

        r = sd_event_loop(m->event);
        if (r < 0)
                log_error_errno(r, "event loop failed: %m");

        (void) sd_notify(0, "STOPPING=1");
        log_info("shutting down");
        shutdown_sessions(m);
        (void) sd_bus_release_name(m->bus, MANAGER_BUS_NAME);
        return r < 0 ? 1 : 0;
}
