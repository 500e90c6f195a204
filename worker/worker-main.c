/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migbroker-worker: one process per open device. It loads one vendor plugin
 * and serves its ops to the broker over a peer-to-peer sd-bus connection on
 * the socketpair end it inherits as fd 3 (it is the server side: after it
 * drops privileges its own credentials no longer match the socket's).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "log.h"
#include "privs.h"
#include "stream.h"
#include "worker-plugin.h"
#include "worker-proto.h"
#include "worker-server.h"

static MbWorkerServer W;

/* A process a plugin forks starts as any program would: SIGTERM and SIGINT
 * unblocked (the worker blocks them for its event loop), SIGPIPE default. */
static void plugin_child_after_fork(void) {
        sigset_t ss;

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        (void) sigprocmask(SIG_UNBLOCK, &ss, NULL); /* fails only on invalid arguments */
        (void) signal(SIGPIPE, SIG_DFL);
}

static void help(void) {
        printf("Usage: %s --bdf BDF --plugin-path PATH [OPTIONS]\n\n"
               "The per-device plugin host of migbroker. Started by migbrokerd with one end\n"
               "of a socketpair as fd %d; not meant to be run by hand.\n\n"
               "  --bdf BDF            the device this worker serves\n"
               "  --plugin-path PATH   the plugin, for messages (and loading when no --plugin-fd)\n"
               "  --plugin-fd N        load the plugin from this already opened and checked fd\n"
               "  --user USER          drop to this user when started as root\n"
               "  --parent PID         die if this process is not our parent\n"
               "  --log-level LEVEL    err, warning, notice, info or debug\n"
               "  -h --help            show this help\n"
               "     --version         show the version\n",
               program_invocation_short_name, MB_WORKER_SOCKET_FD);
}

int main(int argc, char *argv[]) {
        enum { ARG_BDF = 0x100, ARG_PLUGIN_PATH, ARG_PLUGIN_FD, ARG_USER, ARG_PARENT, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = {
                { "bdf", required_argument, NULL, ARG_BDF },
                { "plugin-path", required_argument, NULL, ARG_PLUGIN_PATH },
                { "plugin-fd", required_argument, NULL, ARG_PLUGIN_FD },
                { "user", required_argument, NULL, ARG_USER },
                { "parent", required_argument, NULL, ARG_PARENT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        const char *user = NULL, *plugin_path = NULL;
        int plugin_fd = -1, c, r;
        pid_t parent = 0;
        sd_id128_t id;
        char open_path[64];
        sigset_t ss;

        mb_log_set_ident("migbroker-worker");
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_BDF: W.bdf = optarg; break;
                case ARG_PLUGIN_PATH: plugin_path = optarg; break;
                case ARG_PLUGIN_FD: plugin_fd = atoi(optarg); break;
                case ARG_USER: user = optarg; break;
                case ARG_PARENT: parent = (pid_t) atoi(optarg); break;
                case ARG_LOG_LEVEL:
                        r = mb_log_parse_level(optarg);
                        if (r < 0) {
                                log_error("unknown log level '%s'", optarg);
                                return 2;
                        }
                        mb_log_set_level(r);
                        break;
                case 'h': help(); return 0;
                case ARG_VERSION: printf("migbroker-worker %s\n", PACKAGE_VERSION); return 0;
                default: return 2;
                }
        }
        if (!W.bdf || !plugin_path) {
                log_error("--bdf and --plugin-path are required (see --help)");
                return 2;
        }
        if (fcntl(MB_WORKER_SOCKET_FD, F_GETFD) < 0) {
                log_dev_error(W.bdf, "fd %d (the broker's socket) is not open: this program is started by migbrokerd",
                              MB_WORKER_SOCKET_FD);
                return 2;
        }

        /* Shed what the broker gave us before any vendor code runs. */
        if (mb_privs_drop(user) < 0)
                return 1;
        if (mb_privs_bind_to_parent(parent) < 0)
                return 1;
        if (mb_privs_set_no_new_privs() < 0)
                return 1;
        {
                int keep[] = { MB_WORKER_SOCKET_FD, plugin_fd };
                (void) mb_fd_close_all_except(keep, ELEMENTSOF(keep));
        }
        /* Plugins may print: keep their output on stderr, never on the broker's stdout. */
        (void) dup2(STDERR_FILENO, STDOUT_FILENO);
        (void) signal(SIGPIPE, SIG_IGN);
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        r = pthread_atfork(NULL, NULL, plugin_child_after_fork);
        if (r != 0)
                return log_dev_error_errno(W.bdf, -r, "pthread_atfork: %m"), 1;

        /* A save or load session allocates 1 MiB buffers (the record being
         * built or read) and frees them when the next session begins. Keep
         * them in the heap and keep freed heap: the next session reuses warm
         * pages instead of faulting in fresh ones (about 0.3 ms per MiB, in
         * the downtime of a dbus-vmstate Save or Load). A worker that never
         * streams holds none of it. Not before the fds are closed: a log
         * line opens the journal's socket, which closing would pull from
         * under sd-journal (ASan's allocator refuses mallopt, and says so). */
        if (mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024) == 0 || mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024) == 0)
                log_dev_debug(W.bdf, "mallopt() refused the heap thresholds");

        /* Load the plugin; a refusal is reported to the broker through Hello(). */
        if (plugin_fd >= 0)
                snprintf(open_path, sizeof(open_path), "/proc/self/fd/%d", plugin_fd);
        else
                snprintf(open_path, sizeof(open_path), "%s", "");
        r = mb_plugin_load(&W.plugin, plugin_fd >= 0 ? open_path : plugin_path, plugin_path, W.load_error,
                           sizeof(W.load_error));
        if (r < 0)
                log_dev_error(W.bdf, "%s", W.load_error);
        else
                W.loaded = true;
        if (plugin_fd >= 0)
                (void) close(plugin_fd);

        /* Not sd_event_default(): a default loop checks its thread with a
         * gettid() in every pass. */
        r = sd_event_new(&event);
        if (r < 0)
                return log_error_errno(r, "sd_event_new: %m"), 1;
        /* Blocked above: without these the worker would ignore a SIGTERM. */
        if ((r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL)) < 0)
                return log_dev_error_errno(W.bdf, r, "cannot watch SIGTERM and SIGINT: %m"), 1;

        r = sd_bus_new(&W.bus);
        if (r < 0)
                return log_error_errno(r, "sd_bus_new: %m"), 1;
        r = sd_id128_randomize(&id);
        if (r < 0)
                return log_error_errno(r, "sd_id128_randomize: %m"), 1;
        if ((r = sd_bus_set_fd(W.bus, MB_WORKER_SOCKET_FD, MB_WORKER_SOCKET_FD)) < 0 ||
            (r = sd_bus_set_server(W.bus, 1, id)) < 0 ||
            (r = sd_bus_negotiate_fds(W.bus, 1)) < 0 ||
            (r = sd_bus_set_exit_on_disconnect(W.bus, 1)) < 0 ||
            (r = mb_worker_server_attach(&W, W.bus)) < 0 ||
            (r = sd_bus_start(W.bus)) < 0 ||
            (r = sd_bus_attach_event(W.bus, event, SD_EVENT_PRIORITY_NORMAL)) < 0)
                return log_dev_error_errno(W.bdf, r, "cannot serve the broker's socket: %m"), 1;

        r = sd_event_loop(event);
        if (r < 0)
                log_dev_error_errno(W.bdf, r, "event loop failed: %m");

        /* The broker went away or told us to stop: release the device cleanly. */
        mb_worker_server_release(&W);
        W.bus = sd_bus_flush_close_unref(W.bus);
        if (W.loaded)
                mb_plugin_unload(&W.plugin);
        return r < 0 ? 1 : 0;
}
