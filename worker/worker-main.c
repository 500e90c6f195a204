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
#include "stream.h"
#include "worker-plugin.h"
#include "worker-privs.h"
#include "worker-proto.h"
#include "worker-stream.h"

typedef struct Worker {
        sd_bus *bus;
        char *bdf;
        char *plugin_path;
        MbPlugin plugin;
        bool loaded;
        char load_error[512];
        void *handle;
        MbSaveSession save;
        MbLoadSession load;
        char errbuf[512];
} Worker;

static Worker W;

static int need_plugin(sd_bus_error *e) {
        if (!W.loaded)
                return mb_bus_error_setf(e, -MB_EPLUGINFAILED, "%s", W.load_error);
        return 0;
}

static int need_handle(sd_bus_error *e) {
        int r = need_plugin(e);
        if (r < 0)
                return r;
        if (!W.handle)
                return mb_bus_error_setf(e, -MB_ENOTOPEN, "the plugin has not been initialised for %s", W.bdf);
        return 0;
}

static int plugin_error(sd_bus_error *e, const char *op, int r) {
        if (r < 0)
                return mb_bus_error_setf(e, -MB_EPLUGINFAILED, "%s() failed: %s (%d)", op, strerror(-r), r);
        return mb_bus_error_setf(e, -MB_EPLUGINFAILED, "%s() failed with a positive return %d", op, r);
}

static int method_hello(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const MigbrokerPluginInfo *info = W.plugin.info;
        int r;

        r = need_plugin(e);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "ssu", W.plugin.name, W.plugin.version, W.plugin.capabilities);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(qq)");
        if (r < 0)
                return r;
        for (uint32_t i = 0; info && i < info->n_pci_ids; i++) {
                r = sd_bus_message_append(reply, "(qq)", info->pci_ids[i].vendor, info->pci_ids[i].device);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "bs", mb_plugin_probe_fn(&W.plugin) != NULL, W.plugin.name);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_probe(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MigbrokerPluginProbe probe;
        const char *bdf;
        uint16_t vendor, device;
        int r;

        r = sd_bus_message_read(m, "sqq", &bdf, &vendor, &device);
        if (r < 0)
                return r;
        r = need_plugin(e);
        if (r < 0)
                return r;
        probe = mb_plugin_probe_fn(&W.plugin);
        if (!probe)
                return sd_bus_reply_method_return(m, "b", 0);
        r = probe(bdf, vendor, device);
        log_dev_debug(bdf, "probe(%04x:%04x) returned %d", vendor, device, r);
        return sd_bus_reply_method_return(m, "b", r > 0);
}

static int method_init(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        _cleanup_free_ char *bdf_copy = NULL, *arg_copy = NULL;
        const char *bdf, *arg;
        int r;

        r = sd_bus_message_read(m, "ss", &bdf, &arg);
        if (r < 0)
                return r;
        r = need_plugin(e);
        if (r < 0)
                return r;
        if (W.handle)
                return mb_bus_error_setf(e, -EBUSY, "the plugin is already initialised for %s", W.bdf);
        /* The seed ABI passes non-const strings: give the plugin copies it may keep. */
        bdf_copy = strdup(bdf);
        arg_copy = strdup(arg);
        if (!bdf_copy || !arg_copy)
                return -ENOMEM;
        W.handle = W.plugin.ops->init(bdf_copy, arg_copy);
        if (!W.handle)
                return mb_bus_error_setf(e, -MB_EPLUGINFAILED, "init(\"%s\", \"%s\") failed (returned NULL)", bdf,
                                         arg);
        /* A plugin may keep the pointers it was given: they stay allocated. */
        bdf_copy = NULL;
        arg_copy = NULL;
        log_dev_debug(bdf, "plugin %s initialised", W.plugin.name);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_cleanup(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        int r = 0;

        mb_save_session_reset(&W.save);
        mb_load_session_reset(&W.load);
        if (W.handle && W.plugin.ops->cleanup)
                r = W.plugin.ops->cleanup(W.handle);
        W.handle = NULL;
        if (r != 0)
                return plugin_error(e, "cleanup", r);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_set_state(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        uint32_t v;
        int r;

        r = sd_bus_message_read(m, "u", &v);
        if (r < 0)
                return r;
        r = need_handle(e);
        if (r < 0)
                return r;
        r = W.plugin.ops->set_state(W.handle, v);
        if (r != 0)
                return plugin_error(e, "set_state", r);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_get_state(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        uint32_t v = 0;
        int r;

        r = need_handle(e);
        if (r < 0)
                return r;
        r = W.plugin.ops->get_state(W.handle, &v);
        if (r != 0)
                return plugin_error(e, "get_state", r);
        return sd_bus_reply_method_return(m, "u", v);
}

static int method_update_pending(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        uint64_t p = 0;
        int r;

        r = need_handle(e);
        if (r < 0)
                return r;
        r = W.plugin.ops->update_pending(W.handle, &p);
        if (r != 0)
                return plugin_error(e, "update_pending", r);
        /* The same bound as a save applies: PendingBytes never shows garbage. */
        if (p > MB_WORKER_PENDING_MAX)
                return mb_bus_error_setf(e, -MB_EPLUGINFAILED,
                                         "update_pending() reported an implausible %" PRIu64 " bytes (limit %" PRIu64 ")",
                                         p, (uint64_t) MB_WORKER_PENDING_MAX);
        return sd_bus_reply_method_return(m, "t", p);
}

static void emit_progress(void *userdata, uint64_t bytes) {
        (void) sd_bus_emit_signal(W.bus, MB_WORKER_PATH, MB_WORKER_INTERFACE, "Progress", "t", bytes);
}

static MbWorkerStreamCtx stream_ctx(void) {
        W.errbuf[0] = '\0';
        return (MbWorkerStreamCtx) {
                .plugin = &W.plugin,
                .handle = W.handle,
                .bdf = W.bdf,
                .progress = emit_progress,
                .errbuf = W.errbuf,
                .errlen = sizeof(W.errbuf),
        };
}

static int stream_error(sd_bus_error *e, int r) {
        if (W.errbuf[0])
                return mb_bus_error_setf(e, r, "%s", W.errbuf);
        return mb_bus_error_setf(e, r, NULL);
}

static int method_save(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerStreamCtx ctx;
        MbSaveResult res;
        MbStreamFormat fmt;
        const char *format;
        uint64_t max_bytes;
        uint32_t flags, stall_ms;
        int fd, r;

        r = sd_bus_message_read(m, "hstuu", &fd, &format, &max_bytes, &flags, &stall_ms);
        if (r < 0)
                return r;
        r = need_handle(e);
        if (r < 0)
                return r;
        fmt = mb_stream_format_from_string(format);
        if (fmt < 0)
                return mb_bus_error_setf(e, -EINVAL, "unknown stream format '%s'", format);
        ctx = stream_ctx();
        r = mb_worker_save(&ctx, &W.save, fd, fmt, max_bytes, flags, (int) stall_ms, &res);
        if (r < 0) {
                log_dev_debug(W.bdf, "save failed: %s", W.errbuf);
                return stream_error(e, r);
        }
        return sd_bus_reply_method_return(m, "tttb", res.bytes, res.records, res.pending_after, res.ended);
}

static int method_load(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerStreamCtx ctx;
        MbLoadResult res;
        MbStreamFormat fmt;
        const char *format;
        uint32_t flags, stall_ms;
        int fd, r;

        r = sd_bus_message_read(m, "hsuu", &fd, &format, &flags, &stall_ms);
        if (r < 0)
                return r;
        r = need_handle(e);
        if (r < 0)
                return r;
        fmt = mb_stream_format_from_string(format);
        if (fmt < 0)
                return mb_bus_error_setf(e, -EINVAL, "unknown stream format '%s'", format);
        ctx = stream_ctx();
        r = mb_worker_load(&ctx, &W.load, fd, fmt, flags, (int) stall_ms, &res);
        if (r < 0) {
                log_dev_debug(W.bdf, "load failed: %s", W.errbuf);
                return stream_error(e, r);
        }
        return sd_bus_reply_method_return(m, "ttb", res.bytes, res.records, res.ended);
}

static int method_load_finish(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerStreamCtx ctx;
        MbLoadResult res;
        int r;

        r = need_handle(e);
        if (r < 0)
                return r;
        ctx = stream_ctx();
        r = mb_worker_load_finish(&ctx, &W.load, &res);
        if (r < 0)
                return stream_error(e, r);
        return sd_bus_reply_method_return(m, "tt", res.bytes, res.records);
}

/* Conformance checks only (worker-proto.h): one op, none of the guards. */
static int method_call_op(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        _cleanup_free_ uint8_t *buf = NULL;
        const char *op;
        uint64_t value;
        void *handle;
        int null_handle, r;

        r = sd_bus_message_read(m, "stb", &op, &value, &null_handle);
        if (r < 0)
                return r;
        r = null_handle ? need_plugin(e) : need_handle(e);
        if (r < 0)
                return r;
        handle = null_handle ? NULL : W.handle;

        if (strcmp(op, "save") == 0) {
                if (value > MB_WORKER_CHUNK)
                        return mb_bus_error_setf(e, -EINVAL, "CallOp: save of %" PRIu64 " bytes, at most %u",
                                                 value, MB_WORKER_CHUNK);
                buf = calloc(1, value > 0 ? (size_t) value : 1);
                if (!buf)
                        return -ENOMEM;
                r = W.plugin.ops->save(handle, buf, value);
        } else if (strcmp(op, "set_state") == 0) {
                if (value > UINT32_MAX)
                        return mb_bus_error_setf(e, -EINVAL, "CallOp: state %" PRIu64 " is not a u32", value);
                r = W.plugin.ops->set_state(handle, (uint32_t) value);
        } else
                return mb_bus_error_setf(e, -EINVAL, "CallOp: unknown op '%s' (save or set_state)", op);
        log_dev_debug(W.bdf, "CallOp: %s(%s, %" PRIu64 ") returned %d", op, null_handle ? "NULL" : "handle",
                      value, r);
        if (r != 0)
                return plugin_error(e, op, r);
        return sd_bus_reply_method_return(m, NULL);
}

/* Unprivileged: the only peer is the broker at the other end of the
 * socketpair; sd-bus's own sender check would only cost a getuid() a call. */
static const sd_bus_vtable worker_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Hello", "", "ssua(qq)bs", method_hello, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Probe", "sqq", "b", method_probe, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Init", "ss", "", method_init, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cleanup", "", "", method_cleanup, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("SetState", "u", "", method_set_state, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetState", "", "u", method_get_state, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("UpdatePending", "", "t", method_update_pending, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Save", "hstuu", "tttb", method_save, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Load", "hsuu", "ttb", method_load, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("LoadFinish", "", "tt", method_load_finish, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("CallOp", "stb", "", method_call_op, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("Progress", "t", 0),
        SD_BUS_VTABLE_END,
};

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
        const char *user = NULL;
        int plugin_fd = -1, c, r;
        pid_t parent = 0;
        sd_id128_t id;
        char open_path[64];
        sigset_t ss;

        mb_log_set_ident("migbroker-worker");
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_BDF: W.bdf = optarg; break;
                case ARG_PLUGIN_PATH: W.plugin_path = optarg; break;
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
        if (!W.bdf || !W.plugin_path) {
                log_error("--bdf and --plugin-path are required (see --help)");
                return 2;
        }
        if (fcntl(MB_WORKER_SOCKET_FD, F_GETFD) < 0) {
                log_dev_error(W.bdf, "fd %d (the broker's socket) is not open: this program is started by migbrokerd",
                              MB_WORKER_SOCKET_FD);
                return 2;
        }

        /* Shed what the broker gave us before any vendor code runs. */
        if (mb_worker_drop_privileges(user) < 0)
                return 1;
        if (mb_worker_bind_to_parent(parent) < 0)
                return 1;
        if (mb_worker_set_no_new_privs() < 0)
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

        /* Load the plugin; a refusal is reported to the broker through Hello(). */
        if (plugin_fd >= 0)
                snprintf(open_path, sizeof(open_path), "/proc/self/fd/%d", plugin_fd);
        else
                snprintf(open_path, sizeof(open_path), "%s", "");
        r = mb_plugin_load(&W.plugin, plugin_fd >= 0 ? open_path : W.plugin_path, W.plugin_path, W.load_error,
                           sizeof(W.load_error));
        if (r < 0)
                log_dev_error(W.bdf, "%s", W.load_error);
        else
                W.loaded = true;
        if (plugin_fd >= 0)
                (void) close(plugin_fd);

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "sd_event_default: %m"), 1;
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);

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
            (r = sd_bus_add_object_vtable(W.bus, NULL, MB_WORKER_PATH, MB_WORKER_INTERFACE, worker_vtable, NULL)) < 0 ||
            (r = sd_bus_start(W.bus)) < 0 ||
            (r = sd_bus_attach_event(W.bus, event, SD_EVENT_PRIORITY_NORMAL)) < 0)
                return log_dev_error_errno(W.bdf, r, "cannot serve the broker's socket: %m"), 1;

        r = sd_event_loop(event);
        if (r < 0)
                log_dev_error_errno(W.bdf, r, "event loop failed: %m");

        /* The broker went away or told us to stop: release the device cleanly. */
        mb_save_session_reset(&W.save);
        mb_load_session_reset(&W.load);
        if (W.handle && W.plugin.ops->cleanup)
                (void) W.plugin.ops->cleanup(W.handle);
        W.handle = NULL;
        W.bus = sd_bus_flush_close_unref(W.bus);
        if (W.loaded)
                mb_plugin_unload(&W.plugin);
        return r < 0 ? 1 : 0;
}
