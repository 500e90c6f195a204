/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "stream.h"
#include "worker-proto.h"
#include "worker-server.h"

/* Both sessions, then the plugin's cleanup(): what it returned. */
static int server_release(MbWorkerServer *w) {
        int r = 0;

        mb_save_session_reset(&w->save);
        mb_load_session_reset(&w->load);
        if (w->handle && w->plugin.ops->cleanup)
                r = w->plugin.ops->cleanup(w->handle);
        w->handle = NULL;
        /* Nothing calls the plugin with that handle any more. */
        free(w->init_bdf);
        free(w->init_arg);
        w->init_bdf = w->init_arg = NULL;
        return r;
}

static int need_plugin(MbWorkerServer *w, sd_bus_error *e) {
        if (!w->loaded)
                return mb_bus_error_setf(e, -MB_EPLUGINFAILED, "%s", w->load_error);
        return 0;
}

static int need_handle(MbWorkerServer *w, sd_bus_error *e) {
        int r = need_plugin(w, e);
        if (r < 0)
                return r;
        if (!w->handle)
                return mb_bus_error_setf(e, -MB_ENOTOPEN, "the plugin has not been initialised for %s", w->bdf);
        return 0;
}

static int plugin_error(sd_bus_error *e, const char *op, int r) {
        if (r < 0)
                return mb_bus_error_setf(e, -MB_EPLUGINFAILED, "%s() failed: %s (%d)", op, strerror(-r), r);
        return mb_bus_error_setf(e, -MB_EPLUGINFAILED, "%s() failed with a positive return %d", op, r);
}

static int method_hello(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const MigbrokerPluginInfo *info = w->plugin.info;
        int r;

        r = need_plugin(w, e);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "ssu", w->plugin.name, w->plugin.version, w->plugin.capabilities);
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
        r = sd_bus_message_append(reply, "bs", mb_plugin_probe_fn(&w->plugin) != NULL, w->plugin.name);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_probe(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        MigbrokerPluginProbe probe;
        const char *bdf;
        uint16_t vendor, device;
        int r;

        r = sd_bus_message_read(m, "sqq", &bdf, &vendor, &device);
        if (r < 0)
                return r;
        r = need_plugin(w, e);
        if (r < 0)
                return r;
        probe = mb_plugin_probe_fn(&w->plugin);
        if (!probe)
                return sd_bus_reply_method_return(m, "b", 0);
        r = probe(bdf, vendor, device);
        log_dev_debug(bdf, "probe(%04x:%04x) returned %d", vendor, device, r);
        return sd_bus_reply_method_return(m, "b", r > 0);
}

static int method_init(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        _cleanup_free_ char *bdf_copy = NULL, *arg_copy = NULL;
        const char *bdf, *arg;
        int r;

        r = sd_bus_message_read(m, "ss", &bdf, &arg);
        if (r < 0)
                return r;
        r = need_plugin(w, e);
        if (r < 0)
                return r;
        if (w->handle)
                return mb_bus_error_setf(e, -EBUSY, "the plugin is already initialised for %s", w->bdf);
        /* The seed ABI passes non-const strings: give the plugin copies it may keep. */
        bdf_copy = strdup(bdf);
        arg_copy = strdup(arg);
        if (!bdf_copy || !arg_copy)
                return -ENOMEM;
        w->handle = w->plugin.ops->init(bdf_copy, arg_copy);
        if (!w->handle)
                return mb_bus_error_setf(e, -MB_EPLUGINFAILED, "init(\"%s\", \"%s\") failed (returned NULL)", bdf,
                                         arg);
        /* A plugin may keep the pointers it was given: they stay allocated until cleanup(). */
        w->init_bdf = MB_TAKE_PTR(bdf_copy);
        w->init_arg = MB_TAKE_PTR(arg_copy);
        log_dev_debug(bdf, "plugin %s initialised", w->plugin.name);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_cleanup(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        int r;

        r = server_release(w);
        if (r != 0)
                return plugin_error(e, "cleanup", r);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_set_state(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        uint32_t v;
        int r;

        r = sd_bus_message_read(m, "u", &v);
        if (r < 0)
                return r;
        r = need_handle(w, e);
        if (r < 0)
                return r;
        r = w->plugin.ops->set_state(w->handle, v);
        if (r != 0)
                return plugin_error(e, "set_state", r);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_get_state(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        uint32_t v = 0;
        int r;

        r = need_handle(w, e);
        if (r < 0)
                return r;
        r = w->plugin.ops->get_state(w->handle, &v);
        if (r != 0)
                return plugin_error(e, "get_state", r);
        return sd_bus_reply_method_return(m, "u", v);
}

static int method_update_pending(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        uint64_t p = 0;
        int r;

        r = need_handle(w, e);
        if (r < 0)
                return r;
        r = w->plugin.ops->update_pending(w->handle, &p);
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
        MbWorkerServer *w = userdata;

        (void) sd_bus_emit_signal(w->bus, MB_WORKER_PATH, MB_WORKER_INTERFACE, "Progress", "t", bytes);
}

static MbWorkerStreamCtx stream_ctx(MbWorkerServer *w) {
        w->errbuf[0] = '\0';
        return (MbWorkerStreamCtx) {
                .plugin = &w->plugin,
                .handle = w->handle,
                .bdf = w->bdf,
                .progress = emit_progress,
                .userdata = w,
                .errbuf = w->errbuf,
                .errlen = sizeof(w->errbuf),
        };
}

static int stream_error(MbWorkerServer *w, sd_bus_error *e, int r) {
        if (w->errbuf[0])
                return mb_bus_error_setf(e, r, "%s", w->errbuf);
        return mb_bus_error_setf(e, r, NULL);
}

static int method_save(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
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
        r = need_handle(w, e);
        if (r < 0)
                return r;
        fmt = mb_stream_format_from_string(format);
        if (fmt < 0)
                return mb_bus_error_setf(e, -EINVAL, "unknown stream format '%s'", format);
        ctx = stream_ctx(w);
        r = mb_worker_save(&ctx, &w->save, fd, fmt, max_bytes, flags, (int) stall_ms, &res);
        if (r < 0) {
                log_dev_debug(w->bdf, "save failed: %s", w->errbuf);
                return stream_error(w, e, r);
        }
        return sd_bus_reply_method_return(m, "tttb", res.bytes, res.records, res.pending_after, res.ended);
}

static int method_load(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        MbWorkerStreamCtx ctx;
        MbLoadResult res;
        MbStreamFormat fmt;
        const char *format;
        uint32_t flags, stall_ms;
        int fd, r;

        r = sd_bus_message_read(m, "hsuu", &fd, &format, &flags, &stall_ms);
        if (r < 0)
                return r;
        r = need_handle(w, e);
        if (r < 0)
                return r;
        fmt = mb_stream_format_from_string(format);
        if (fmt < 0)
                return mb_bus_error_setf(e, -EINVAL, "unknown stream format '%s'", format);
        ctx = stream_ctx(w);
        r = mb_worker_load(&ctx, &w->load, fd, fmt, flags, (int) stall_ms, &res);
        if (r < 0) {
                log_dev_debug(w->bdf, "load failed: %s", w->errbuf);
                return stream_error(w, e, r);
        }
        return sd_bus_reply_method_return(m, "ttb", res.bytes, res.records, res.ended);
}

static int method_load_finish(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        MbWorkerStreamCtx ctx;
        MbLoadResult res;
        int r;

        r = need_handle(w, e);
        if (r < 0)
                return r;
        ctx = stream_ctx(w);
        r = mb_worker_load_finish(&ctx, &w->load, &res);
        if (r < 0)
                return stream_error(w, e, r);
        return sd_bus_reply_method_return(m, "tt", res.bytes, res.records);
}

/* Conformance checks only (worker-proto.h): one op, none of the guards. */
static int method_call_op(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        MbWorkerServer *w = userdata;
        _cleanup_free_ uint8_t *buf = NULL;
        const char *op;
        uint64_t value;
        void *handle;
        int null_handle, r;

        r = sd_bus_message_read(m, "stb", &op, &value, &null_handle);
        if (r < 0)
                return r;
        r = null_handle ? need_plugin(w, e) : need_handle(w, e);
        if (r < 0)
                return r;
        handle = null_handle ? NULL : w->handle;

        if (strcmp(op, "save") == 0) {
                if (value > MB_WORKER_CHUNK)
                        return mb_bus_error_setf(e, -EINVAL, "CallOp: save of %" PRIu64 " bytes, at most %u",
                                                 value, MB_WORKER_CHUNK);
                buf = calloc(1, value > 0 ? (size_t) value : 1);
                if (!buf)
                        return -ENOMEM;
                r = w->plugin.ops->save(handle, buf, value);
        } else if (strcmp(op, "set_state") == 0) {
                if (value > UINT32_MAX)
                        return mb_bus_error_setf(e, -EINVAL, "CallOp: state %" PRIu64 " is not a u32", value);
                r = w->plugin.ops->set_state(handle, (uint32_t) value);
        } else
                return mb_bus_error_setf(e, -EINVAL, "CallOp: unknown op '%s' (save or set_state)", op);
        log_dev_debug(w->bdf, "CallOp: %s(%s, %" PRIu64 ") returned %d", op, null_handle ? "NULL" : "handle",
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

int mb_worker_server_attach(MbWorkerServer *w, sd_bus *bus) {
        w->bus = bus;
        return sd_bus_add_object_vtable(bus, NULL, MB_WORKER_PATH, MB_WORKER_INTERFACE, worker_vtable, w);
}

void mb_worker_server_release(MbWorkerServer *w) {
        (void) server_release(w);
}
