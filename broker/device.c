/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"
#include "error.h"
#include "log.h"
#include "manager.h"
#include "migbroker/plugin.h"
#include "policy-load.h"
#include "stream.h"
#include "vmstate.h"
#include "domain-bus.h"
#include "worker-proto.h"

/* A queued D-Bus call beyond this many per device is refused as Busy. */
#define DEVICE_QUEUE_MAX 64
/* Reset backoff: 250 ms doubling up to 8 s; forgotten after a quiet minute. */
#define RESPAWN_BASE_USEC (250u * 1000)
#define RESPAWN_MAX_USEC (8u * 1000 * 1000)
#define RESPAWN_QUIET_USEC (60u * 1000 * 1000)

typedef void (*StepFn)(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply);

/* ---- bindings ----------------------------------------------------------- */

void device_binding_clear(DeviceBinding *b) {
        g_clear_pointer(&b->policy, mb_policy_unref);
        b->plugin = NULL;
        g_clear_pointer(&b->plugin_name, g_free);
        g_clear_pointer(&b->plugin_path, g_free);
        g_clear_pointer(&b->arg, g_free);
        g_clear_pointer(&b->rule, g_free);
        g_clear_pointer(&b->match_kind, g_free);
}

int device_binding_copy(DeviceBinding *dst, const DeviceBinding *src) {
        DeviceBinding n = {
                .policy = src->policy ? mb_policy_ref(src->policy) : NULL,
                .plugin = src->plugin,
                .plugin_name = g_strdup(src->plugin_name),
                .plugin_path = g_strdup(src->plugin_path),
                .arg = g_strdup(src->arg),
                .rule = g_strdup(src->rule),
                .match_kind = g_strdup(src->match_kind),
        };
        device_binding_clear(dst);
        *dst = n;
        return 0;
}

bool device_binding_equal(const DeviceBinding *a, const DeviceBinding *b) {
        /* What D-Bus shows; the policy object itself changes on every reload. */
        return g_strcmp0(a->plugin_name, b->plugin_name) == 0 && g_strcmp0(a->plugin_path, b->plugin_path) == 0 &&
               g_strcmp0(a->arg, b->arg) == 0 && g_strcmp0(a->rule, b->rule) == 0 &&
               g_strcmp0(a->match_kind, b->match_kind) == 0;
}

/* ---- lifetime ----------------------------------------------------------- */

Device *device_new(Manager *m, const char *bdf) {
        Device *d = g_new0(Device, 1);
        int r;

        d->n_ref = 1;
        d->manager = m;
        g_strlcpy(d->bdf, bdf, sizeof(d->bdf));
        r = sd_bus_path_encode("/org/migbroker1/device", bdf, &d->path);
        if (r < 0) {
                g_free(d);
                return NULL;
        }
        d->state = MB_STATE_RUNNING;
        g_queue_init(&d->ops);
        return d;
}

Device *device_ref(Device *d) {
        d->n_ref++;
        return d;
}

static void op_free(DeviceOp *op);

Device *device_unref(Device *d) {
        if (!d || --d->n_ref > 0)
                return NULL;
        g_assert(g_queue_is_empty(&d->ops));
        d->defer = sd_event_source_disable_unref(d->defer);
        d->worker = mb_worker_unref(d->worker);
        device_binding_clear(&d->binding);
        device_binding_clear(&d->session_binding);
        d->vmstate = vmstate_free(d->vmstate);
        g_free(d->owner);
        g_free(d->incoming_owner);
        g_free(d->vmstate_id);
        g_free(d->stream_name);
        free(d->path);
        g_free(d);
        return NULL;
}

/* ---- announcements ------------------------------------------------------ */

const char *device_state_string(const Device *d) {
        return mb_state_to_string(d->state);
}

bool device_has_precopy(const Device *d) {
        return d->capabilities & MIGBROKER_PLUGIN_CAP_PRECOPY;
}

void device_set_state(Device *d, MbState s) {
        if (s != MB_STATE_STOP)
                d->awaiting_resume = false;
        if (d->state == s)
                return;
        log_dev_info(d->bdf, "state %s -> %s", mb_state_to_string(d->state), mb_state_to_string(s));
        manager_device_changing(d->manager, d, "State");
        d->state = s;
        manager_device_changed(d->manager, d, "State", NULL);
}

void device_set_owner(Device *d, const char *owner) {
        if (g_strcmp0(d->owner, owner) == 0)
                return;
        manager_device_changing(d->manager, d, "Owner");
        g_free(d->owner);
        d->owner = g_strdup(owner);
        manager_device_changed(d->manager, d, "Owner", NULL);
        manager_device_persist(d->manager, d);
}

void device_set_pending(Device *d, uint64_t pending) {
        if (d->pending_bytes == pending)
                return;
        d->pending_bytes = pending;
        manager_device_changed(d->manager, d, "PendingBytes", NULL);
}

void device_set_incoming(Device *d, const char *owner) {
        if (g_strcmp0(d->incoming_owner, owner) == 0)
                return;
        g_free(d->incoming_owner);
        d->incoming_owner = g_strdup(owner);
        manager_device_changed(d->manager, d, "IncomingOwner", NULL);
        manager_device_persist(d->manager, d);
}

static void set_open(Device *d, bool open) {
        if (d->open == open)
                return;
        d->open = open;
        /* Capabilities shows the session's: it appears with the session. */
        if (open && d->capabilities != 0)
                manager_device_changed(d->manager, d, "IsOpen", "Capabilities", NULL);
        else
                manager_device_changed(d->manager, d, "IsOpen", NULL);
        manager_device_persist(d->manager, d);
}

/* ---- the operation queue ------------------------------------------------ */

static int on_defer(sd_event_source *s, void *userdata);

static void queue_kick(Device *d) {
        if (d->op_running || g_queue_is_empty(&d->ops))
                return;
        if (!d->defer) {
                if (sd_event_add_defer(d->manager->event, &d->defer, on_defer, d) < 0) {
                        log_dev_error(d->bdf, "cannot schedule the next operation");
                        return;
                }
        }
        (void) sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
}

void device_queue_run(Device *d) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        DeviceOp *op;
        int r;

        if (d->op_running || g_queue_is_empty(&d->ops))
                return;
        /* Started here: the pass queue_kick() asked for has nothing to do. */
        if (d->defer)
                (void) sd_event_source_set_enabled(d->defer, SD_EVENT_OFF);
        op = g_queue_peek_head(&d->ops);
        d->op_running = true;
        r = op->start(op, &e);
        if (r < 0)
                device_op_finish(op, r, &e);
}

static int on_defer(sd_event_source *s, void *userdata) {
        device_queue_run(userdata);
        return 0;
}

DeviceOp *device_op_new(Device *d, const char *name, DeviceOpStart start, DeviceOpDone done, void *userdata) {
        DeviceOp *op = g_new0(DeviceOp, 1);

        op->device = device_ref(d);
        op->name = name;
        op->start = start;
        op->done = done;
        op->userdata = userdata;
        op->fd = -1;
        op->saved_error = SD_BUS_ERROR_NULL;
        return op;
}

static void op_free(DeviceOp *op) {
        if (!op)
                return;
        op->fd = mb_safe_close(op->fd);
        op->aux_worker = mb_worker_unref(op->aux_worker);
        op->timer = sd_event_source_disable_unref(op->timer);
        sd_bus_error_free(&op->saved_error);
        sd_bus_message_unref(op->message);
        g_free(op->owner);
        g_free(op->vmstate_id);
        device_unref(op->device);
        g_free(op);
}

size_t device_queue_length(const Device *d) {
        return g_queue_get_length((GQueue *) &d->ops);
}

int device_op_enqueue(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;

        if (g_queue_get_length(&d->ops) >= DEVICE_QUEUE_MAX) {
                int r = mb_bus_error_setf(error, -MB_EBUSY, "%s: too many queued calls", d->bdf);
                op_free(op);
                return r;
        }
        g_queue_push_tail(&d->ops, op);
        queue_kick(d);
        return 0;
}

void device_op_finish(DeviceOp *op, int r, const sd_bus_error *error) {
        Device *d = device_ref(op->device);

        g_assert(g_queue_peek_head(&d->ops) == op);
        g_queue_pop_head(&d->ops);
        d->op_running = false;
        if (op->done)
                op->done(op, r, error, op->userdata);
        op_free(op);
        queue_kick(d);
        if (g_queue_is_empty(&d->ops))
                manager_device_idle(d->manager, d);
        device_unref(d);
}

void device_op_finish_errorf(DeviceOp *op, int r, const char *fmt, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;

        va_start(ap, fmt);
        r = mb_bus_error_setfv(&e, r, fmt, ap);
        va_end(ap);
        device_op_finish(op, r, &e);
}

/* ---- worker calls from an operation --------------------------------------- */

typedef struct OpCall {
        DeviceOp *op;
        StepFn next;
} OpCall;

static void on_worker_reply(MbWorker *w, int r, const sd_bus_error *e, sd_bus_message *reply, void *userdata) {
        OpCall *c = userdata;
        DeviceOp *op = c->op;
        StepFn next = c->next;
        Manager *m = op->device->manager;

        g_free(c);
        next(op, r, e, reply);
        /* A reply of the worker is an event of its own (a call that fails
         * may end in on_child() or on_timer(), which go on after this):
         * what it changed is announced now, after the D-Bus reply that next()
         * may have sent, instead of in a pass of the event loop of its own. */
        if (reply)
                manager_flush_changes(m);
}

/* Calls member on the device's worker; next gets the result. */
static int op_call(DeviceOp *op, StepFn next, bool stall, const char *member, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        Device *d = op->device;
        OpCall *c;
        va_list ap;
        int r;

        if (!d->worker)
                return -MB_ENOTOPEN;
        r = mb_worker_new_call(d->worker, &m, member);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        c = g_new0(OpCall, 1);
        c->op = op;
        c->next = next;
        r = mb_worker_call(d->worker, m, manager_op_timeout_usec(d->manager), stall, on_worker_reply, c);
        if (r < 0)
                g_free(c);
        return r;
}

/* Calls member, finishing the operation at once when the call cannot start. */
#define OP_CALL(op, next, stall, member, ...)                                                          \
        do {                                                                                           \
                int _r = op_call((op), (next), (stall), (member), __VA_ARGS__);                        \
                if (_r < 0) {                                                                          \
                        device_op_finish_errorf((op), _r, "%s of %s: cannot call the worker: %s",      \
                                                (op)->name, (op)->device->bdf, strerror(-_r));         \
                        return;                                                                        \
                }                                                                                      \
        } while (0)

/* ---- session end, errors -------------------------------------------------- */

static void session_reset_flags(Device *d) {
        d->awaiting_resume = false;
        d->save_fresh = d->save_ended = false;
        d->load_fresh = d->load_started = d->load_ended = false;
}

void device_session_drop(Device *d, const char *why) {
        d->vmstate = vmstate_free(d->vmstate);
        /* D-Bus shows the session's binding while open, the policy's after. */
        bool binding_shown_changes = d->open && !device_binding_equal(&d->session_binding, &d->binding);

        if (d->worker) {
                if (why)
                        log_dev_info(d->bdf, "stopping the worker: %s", why);
                d->worker = mb_worker_unref(d->worker);
        }
        session_reset_flags(d);
        device_binding_clear(&d->session_binding);
        g_clear_pointer(&d->stream_name, g_free);
        if (d->capabilities != 0) {
                d->capabilities = 0;
                manager_device_changed(d->manager, d, "Capabilities", NULL);
        }
        device_set_pending(d, 0);
        set_open(d, false);
        if (binding_shown_changes)
                manager_device_changed(d->manager, d, "Plugin", "PluginArg", "Rule", NULL);
        device_set_state(d, MB_STATE_RUNNING);
}

/* The worker died by itself (a crash while idle, or after a failed call). */
static void on_worker_exit(MbWorker *w, const char *reason, void *userdata) {
        Device *d = userdata;

        if (w != d->worker)
                return;
        log_dev_error(d->bdf, "the plugin's worker (pid %d) ended: %s", (int) mb_worker_pid(w), reason);
        d->worker = mb_worker_unref(d->worker);
        session_reset_flags(d);
        if (d->open)
                device_set_state(d, MB_STATE_ERROR);
}

/* The call failed: if the worker is gone (crash, timeout), the device is in error. */
static void note_worker_failure(Device *d, int r, const sd_bus_error *e) {
        if (r == -MB_EPLUGINCRASHED || r == -MB_ETIMEOUT || (d->worker && !mb_worker_usable(d->worker))) {
                /* A timeout was logged where the worker was killed. */
                if (e && e->message && r != -MB_ETIMEOUT)
                        log_dev_error(d->bdf, "%s", e->message);
                /* Killed or dead: let go (the event loop reaps it). */
                d->worker = mb_worker_unref(d->worker);
                if (d->open)
                        device_set_state(d, MB_STATE_ERROR);
        }
}

static bool worker_gone(Device *d) {
        return !d->worker || !mb_worker_usable(d->worker);
}

/* ---- Preflight ------------------------------------------------------------ */

static void preflight_hello(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply);

static int spawn_worker(Device *d, const DeviceBinding *b, MbWorker **ret, sd_bus_error *error) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        _cleanup_close_ int fd = -1;
        int r;

        if (!b->plugin)
                return mb_bus_error_setf(error, -MB_ENOTMANAGED, "%s is not bound to a plugin", d->bdf);
        fd = mb_policy_open_plugin(b->plugin, diags);
        if (fd < 0) {
                const MbDiag *diag = mb_diag_list_size(diags) > 0 ? mb_diag_list_get(diags, 0) : NULL;
                return mb_bus_error_setf(error, -MB_EPLUGINFAILED, "%s: %s", d->bdf,
                                         diag ? diag->message : strerror(-fd));
        }
        MbWorkerConfig cfg = {
                .worker_path = manager_worker_path(d->manager),
                .bdf = d->bdf,
                .plugin_path = b->plugin_path,
                .plugin_fd = fd,
                .user = manager_worker_user(d->manager),
                .log_level = -1,
        };
        r = mb_worker_spawn(d->manager->event, &cfg, ret);
        if (r < 0)
                return mb_bus_error_setf(error, r, "cannot start a worker for %s: %s", d->bdf, strerror(-r));
        return 0;
}

static int preflight_start(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;
        OpCall *c;
        int r;

        if (!d->managed)
                return mb_bus_error_setf(error, -MB_ENOTMANAGED, "%s is not managed by the current policy", d->bdf);
        if (d->owner && strcmp(d->owner, op->owner) != 0)
                return mb_bus_error_setf(error, -MB_EBUSY, "%s is claimed by %s", d->bdf, d->owner);
        if (d->open && d->owner && strcmp(d->owner, op->owner) == 0) {
                /* Already open for this owner: nothing to check. */
                device_op_finish(op, 0, NULL);
                return 0;
        }

        /* Is the plugin loadable? Ask a short-lived worker. */
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = spawn_worker(d, &d->binding, &op->aux_worker, error);
                if (r < 0)
                        return r;
                r = mb_worker_new_call(op->aux_worker, &m, "Hello");
                if (r < 0)
                        return mb_bus_error_setf(error, r, "cannot start a worker for %s: %s", d->bdf, strerror(-r));
                c = g_new0(OpCall, 1);
                c->op = op;
                c->next = preflight_hello;
                r = mb_worker_call(op->aux_worker, m, manager_op_timeout_usec(d->manager), false, on_worker_reply, c);
                if (r < 0) {
                        g_free(c);
                        return mb_bus_error_setf(error, r, "cannot start a worker for %s: %s", d->bdf, strerror(-r));
                }
                return 0;
        }
}

static void preflight_hello(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;

        op->aux_worker = mb_worker_unref(op->aux_worker);
        if (r < 0) {
                device_op_finish_errorf(op, -MB_EPLUGINFAILED, "%s: plugin %s is not loadable: %s", d->bdf,
                                        d->binding.plugin_name, e && e->message ? e->message : strerror(-r));
                return;
        }
        device_set_incoming(d, op->owner);
        log_dev_info(d->bdf, "preflight ok for %s (plugin %s)", op->owner, d->binding.plugin_name);
        device_op_finish(op, 0, NULL);
}

int device_preflight(Device *d, const char *owner, DeviceOpDone done, void *ud, sd_bus_error *error) {
        DeviceOp *op = device_op_new(d, "Preflight", preflight_start, done, ud);

        op->owner = g_strdup(owner);
        return device_op_enqueue(op, error);
}

/* ---- Claim / Release ---------------------------------------------------------- */

/* The claim ends: the last device of a domain stops the domain's bus. */
void device_release_claim(Device *d) {
        g_autofree char *owner = g_strdup(d->owner);

        device_set_incoming(d, NULL);
        if (d->vmstate_id) {
                g_clear_pointer(&d->vmstate_id, g_free);
                manager_device_changed(d->manager, d, "VmstateId", NULL);
        }
        device_set_owner(d, NULL);
        if (owner && !manager_domain_has_devices(d->manager, owner))
                (void) domain_bus_stop(d->manager, owner);
}

int device_claim(Device *d, const char *owner, sd_bus_error *error) {
        if (d->owner) {
                if (strcmp(d->owner, owner) == 0)
                        return 0;
                return mb_bus_error_setf(error, -MB_EBUSY, "%s is claimed by %s", d->bdf, d->owner);
        }
        if (!d->managed)
                return mb_bus_error_setf(error, -MB_ENOTMANAGED, "%s is not managed by the current policy", d->bdf);
        if (d->incoming_owner && strcmp(d->incoming_owner, owner) != 0) {
                log_dev_info(d->bdf, "claim by %s replaces the preflight mark of %s", owner, d->incoming_owner);
                device_set_incoming(d, NULL);
        }
        log_dev_info(d->bdf, "claimed by %s", owner);
        device_set_owner(d, owner);
        /* QEMU needs the domain's dbus-vmstate bus before it starts. */
        if (domain_bus_ensure(d->manager, owner) < 0)
                log_dev_warning(d->bdf, "the bus of domain %s could not be started: dbus-vmstate will not work", owner);
        return 0;
}

static void close_cleanup_done(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply);

static int close_start(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;
        int r;

        if (!d->owner || strcmp(d->owner, op->owner) != 0)
                return mb_bus_error_setf(error, -MB_ENOTCLAIMED, "%s is not claimed by %s", d->bdf, op->owner);
        if (!d->open) {
                if (op->step == 1) /* Release: closing first is optional */
                        goto release;
                device_op_finish(op, 0, NULL);
                return 0;
        }
        if (worker_gone(d)) {
                device_session_drop(d, "closed after the worker ended");
                if (op->step == 1)
                        goto release;
                device_op_finish(op, 0, NULL);
                return 0;
        }
        r = op_call(op, close_cleanup_done, false, "Cleanup", NULL);
        if (r < 0) {
                device_session_drop(d, "closed");
                if (op->step == 1)
                        goto release;
                device_op_finish(op, 0, NULL);
        }
        return 0;
release:
        log_dev_info(d->bdf, "released by %s", op->owner);
        device_release_claim(d);
        device_op_finish(op, 0, NULL);
        return 0;
}

static void close_cleanup_done(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;

        /* Close always succeeds: the session ends whatever cleanup() said. */
        if (r < 0)
                log_dev_warning(d->bdf, "the plugin's cleanup failed: %s", e && e->message ? e->message : strerror(-r));
        device_session_drop(d, "closed");
        device_set_incoming(d, NULL);
        if (op->step == 1) {
                log_dev_info(d->bdf, "released by %s", op->owner);
                device_release_claim(d);
        } else {
                log_dev_info(d->bdf, "closed by %s", op->owner);
        }
        device_op_finish(op, 0, NULL);
}

int device_close(Device *d, const char *owner, DeviceOpDone done, void *ud, sd_bus_error *error) {
        DeviceOp *op = device_op_new(d, "Close", close_start, done, ud);

        op->owner = g_strdup(owner);
        return device_op_enqueue(op, error);
}

int device_release(Device *d, const char *owner, DeviceOpDone done, void *ud, sd_bus_error *error) {
        DeviceOp *op;

        if (!d->owner || strcmp(d->owner, owner) != 0)
                return mb_bus_error_setf(error, -MB_ENOTCLAIMED, "%s is not claimed by %s", d->bdf, owner);
        op = device_op_new(d, "Release", close_start, done, ud);
        op->owner = g_strdup(owner);
        op->step = 1; /* close if open, then release */
        return device_op_enqueue(op, error);
}

/* ---- v1 call sequences ------------------------------------------------------- */

static void v1_step(DeviceOp *op);
static void v1_after_call(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply);
static void v1_after_failure_getstate(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply);
static void v1_done(DeviceOp *op);
static void open_finish(DeviceOp *op);

/* Runs op->calls[call_idx..], then v1_done(). */
static void v1_step(DeviceOp *op) {
        if (op->call_idx >= op->n_calls) {
                v1_done(op);
                return;
        }
        log_dev_debug(op->device->bdf, "set_state(%u)", op->calls[op->call_idx]);
        OP_CALL(op, v1_after_call, false, "SetState", "u", op->calls[op->call_idx]);
}

static void v1_after_call(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;

        if (r >= 0) {
                op->call_idx++;
                v1_step(op);
                return;
        }
        note_worker_failure(d, r, e);
        if (worker_gone(d)) {
                device_op_finish(op, r, e);
                return;
        }
        /* The plugin refused: the device is where get_state says, or in error. */
        op->saved_r = r;
        if (e)
                (void) sd_bus_error_copy(&op->saved_error, e);
        OP_CALL(op, v1_after_failure_getstate, false, "GetState", NULL);
}

/* Reset: a plugin in the v1 error state leaves it by set_state(RUNNING), the
 * reset of v1 (QEMU's v1 code reset a device in error the same way). */
static bool reset_v1_error(DeviceOp *op, uint32_t v1) {
        Device *d = op->device;

        if (!op->is_reset || op->step != 10 || op->v1_reset_tried || mb_state_from_v1(v1) != MB_STATE_ERROR)
                return false;
        log_dev_info(d->bdf, "reset: the plugin reports the error state (%u): set_state(%u) resets it", v1,
                     VFIO_DEVICE_STATE_RUNNING);
        op->v1_reset_tried = true;
        sd_bus_error_free(&op->saved_error);
        op->calls[0] = VFIO_DEVICE_STATE_RUNNING;
        op->n_calls = 1;
        op->call_idx = 0;
        v1_step(op);
        return true;
}

static void v1_after_failure_getstate(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;
        uint32_t v1 = MIGBROKER_V1_STATE_ERROR;

        if (r >= 0 && sd_bus_message_read(reply, "u", &v1) < 0)
                v1 = MIGBROKER_V1_STATE_ERROR;
        if (r >= 0 && reset_v1_error(op, v1))
                return;
        note_worker_failure(d, r, e);
        device_set_state(d, r < 0 ? MB_STATE_ERROR : mb_state_from_v1(v1));
        log_dev_warning(d->bdf, "%s failed: %s; the plugin reports state %u (%s)", op->name,
                        op->saved_error.message ?: "plugin error", v1, device_state_string(d));
        device_op_finish(op, op->saved_r, &op->saved_error);
}

static void pending_after_transition(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;
        uint64_t p = 0;

        if (r >= 0 && sd_bus_message_read(reply, "t", &p) >= 0)
                device_set_pending(d, p);
        else {
                /* The move is done: only a dead worker fails it. */
                log_dev_warning(d->bdf, "%s: PendingBytes not refreshed: %s", op->name,
                                e && e->message ? e->message : strerror(r < 0 ? -r : EBADMSG));
                note_worker_failure(d, r, e);
        }
        if (r < 0 && worker_gone(d)) {
                device_op_finish(op, r, e);
                return;
        }
        device_op_finish(op, 0, NULL);
}

static void enter_state(Device *d, MbState target) {
        MbState from = d->state;

        if (!mb_state_is_saving(from) && mb_state_is_saving(target)) {
                d->save_fresh = true;
                d->save_ended = false;
        }
        if (!mb_state_is_saving(target))
                d->save_fresh = d->save_ended = false;
        if (target == MB_STATE_RESUMING && from != MB_STATE_RESUMING) {
                d->load_fresh = true;
                d->load_started = d->load_ended = false;
        }
        if (target != MB_STATE_RESUMING)
                d->load_fresh = d->load_started = d->load_ended = false;
        device_set_state(d, target);
        /* The incoming migration is over once the device runs. */
        if (target == MB_STATE_RUNNING && d->incoming_owner)
                device_set_incoming(d, NULL);
}

static void v1_done(DeviceOp *op) {
        Device *d = op->device;

        if (op->step == 10) { /* part of Open/Reset */
                enter_state(d, op->target);
                open_finish(op);
                return;
        }
        enter_state(d, op->target);
        if (mb_state_is_saving(op->target)) {
                /* Refreshed here, or by the SaveTo the caller sends next. */
                if (!op->no_pending_refresh) {
                        OP_CALL(op, pending_after_transition, false, "UpdatePending", NULL);
                        return;
                }
        } else {
                device_set_pending(d, 0);
        }
        device_op_finish(op, 0, NULL);
}

/* ---- SetState ------------------------------------------------------------- */

static int set_state_start(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;
        int r;

        if (!d->open)
                return mb_bus_error_setf(error, -MB_ENOTOPEN, "%s has no open session", d->bdf);
        if (d->state == MB_STATE_ERROR)
                return mb_bus_error_setf(error, -MB_EINVALIDTRANSITION,
                                         "%s is in state error: only Reset or Close leave it", d->bdf);
        r = mb_fsm_v1_calls(d->state, op->target, device_has_precopy(d), op->calls, &op->n_calls);
        if (r < 0) {
                if ((op->target == MB_STATE_PRE_COPY || d->state == MB_STATE_PRE_COPY) && !device_has_precopy(d))
                        return mb_bus_error_setf(error, r, "%s: plugin %s has no pre-copy capability", d->bdf,
                                                 d->session_binding.plugin_name);
                return mb_bus_error_setf(error, r, "%s: no transition from %s to %s", d->bdf, device_state_string(d),
                                         mb_state_to_string(op->target));
        }
        if (d->state == MB_STATE_RESUMING && op->target != MB_STATE_RESUMING && !d->load_ended) {
                log_dev_error(d->bdf, "leaving resuming for %s without a complete stream: the device goes to error",
                              mb_state_to_string(op->target));
                device_set_state(d, MB_STATE_ERROR);
                return mb_bus_error_setf(error, -MB_ESTREAMCORRUPT,
                                         "%s: the incoming stream is incomplete (no end record%s); the device is now in error",
                                         d->bdf, d->load_started ? "" : ", nothing was loaded");
        }
        if (op->n_calls == 0) {
                device_op_finish(op, 0, NULL);
                return 0;
        }
        op->call_idx = 0;
        v1_step(op);
        return 0;
}

int device_set_target_state_full(Device *d, MbState target, unsigned flags, DeviceOpDone done, void *ud,
                                 sd_bus_error *error) {
        DeviceOp *op;

        if (target == MB_STATE_ERROR)
                return mb_bus_error_setf(error, -MB_EINVALIDTRANSITION, "the error state cannot be requested");
        op = device_op_new(d, "SetState", set_state_start, done, ud);
        op->target = target;
        op->no_pending_refresh = flags & DEVICE_STATE_NO_PENDING_REFRESH;
        return device_op_enqueue(op, error);
}

int device_set_target_state(Device *d, MbState target, DeviceOpDone done, void *ud, sd_bus_error *error) {
        return device_set_target_state_full(d, target, 0, done, ud, error);
}

/* ---- Open / Reset ----------------------------------------------------------- */

static void open_hello(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply);
static void open_init(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply);
static void open_get_state(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply);

static void open_fail(DeviceOp *op, int r, const sd_bus_error *e, const char *what) {
        Device *d = op->device;
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        bool crashed = r == -MB_EPLUGINCRASHED || r == -MB_ETIMEOUT;

        if (!crashed)
                r = -MB_EPLUGINFAILED;
        mb_bus_error_setf(&err, r, "%s: %s: %s", d->bdf, what, e && e->message ? e->message : strerror(-r));
        log_dev_error(d->bdf, "%s", err.message);
        d->worker = mb_worker_unref(d->worker);
        if (op->is_reset) /* the device stays in error */
                device_set_state(d, MB_STATE_ERROR);
        else
                device_session_drop(d, NULL);
        device_op_finish(op, r, &err);
}

static void open_spawn(DeviceOp *op) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Device *d = op->device;
        int r;

        r = spawn_worker(d, &d->session_binding, &d->worker, &e);
        if (r < 0) {
                open_fail(op, r, &e, "cannot start the plugin");
                return;
        }
        mb_worker_set_exit_handler(d->worker, on_worker_exit, d);
        d->last_respawn_usec = g_get_monotonic_time();
        OP_CALL(op, open_hello, false, "Hello", NULL);
}

static void open_hello(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;
        const char *name, *version;
        uint32_t caps;

        if (r < 0 || sd_bus_message_read(reply, "ssu", &name, &version, &caps) < 0) {
                open_fail(op, r < 0 ? r : -EBADMSG, e, "the plugin cannot be loaded");
                return;
        }
        if (d->open && caps != d->capabilities) { /* Reset: the plugin file may have changed */
                d->capabilities = caps;
                manager_device_changed(d->manager, d, "Capabilities", NULL);
        }
        d->capabilities = caps;
        g_free(d->stream_name);
        d->stream_name = g_strdup(name);
        log_dev_debug(d->bdf, "plugin %s %s loaded in worker %d", name, version, (int) mb_worker_pid(d->worker));
        OP_CALL(op, open_init, false, "Init", "ss", d->bdf, d->session_binding.arg ?: "");
}

static void open_init(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        if (r < 0) {
                open_fail(op, r, e, "the plugin's init failed");
                return;
        }
        OP_CALL(op, open_get_state, false, "GetState", NULL);
}

static void open_get_state(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;
        uint32_t v1;
        MbState s;

        if (r < 0 || sd_bus_message_read(reply, "u", &v1) < 0) {
                open_fail(op, r < 0 ? r : -EBADMSG, e, "the plugin's get_state failed");
                return;
        }
        s = mb_state_from_v1(v1);
        if (s == MB_STATE_ERROR) {
                op->step = 10;
                if (reset_v1_error(op, v1))
                        return;
                open_fail(op, -MB_EPLUGINFAILED, NULL, "the plugin reports the error state after init");
                return;
        }
        /* The session exists from here on; reach the initial state. */
        set_open(d, true);
        d->state = s;
        session_reset_flags(d);
        if (s == op->target) {
                enter_state(d, op->target);
                manager_device_changed(d->manager, d, "State", NULL);
                open_finish(op);
                return;
        }
        r = mb_fsm_v1_calls(s, op->target, device_has_precopy(d), op->calls, &op->n_calls);
        if (r < 0) {
                open_fail(op, r, NULL, "the plugin's initial state cannot reach the session's first state");
                return;
        }
        op->call_idx = 0;
        op->step = 10;
        v1_step(op);
}

static void open_finish(DeviceOp *op) {
        Device *d = op->device;

        /* QEMU's dbus-vmstate reaches this device through the domain's bus. */
        if (d->vmstate_id && !d->vmstate && !op->is_reset) {
                g_autofree char *address = NULL;
                int r = domain_bus_ensure(d->manager, d->owner);

                if (r >= 0)
                        address = domain_bus_address(d->manager, d->owner);
                if (!address || vmstate_new(d, address, d->vmstate_id, &d->vmstate) < 0) {
                        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                        mb_bus_error_setf(&e, -MB_EPLUGINFAILED,
                                          "%s: cannot serve dbus-vmstate id %s on the bus of domain %s (see the broker's log)",
                                          d->bdf, d->vmstate_id, d->owner);
                        device_session_drop(d, "dbus-vmstate helper failed");
                        device_op_finish(op, -MB_EPLUGINFAILED, &e);
                        return;
                }
        }

        log_dev_info(d->bdf, "%s: session open (plugin %s, worker %d, state %s)", op->name,
                     d->session_binding.plugin_name, (int) mb_worker_pid(d->worker), device_state_string(d));
        device_set_pending(d, 0);
        manager_device_persist(d->manager, d);
        device_op_finish(op, 0, NULL);
}

static int open_start(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;

        if (!d->owner || strcmp(d->owner, op->owner) != 0)
                return mb_bus_error_setf(error, -MB_ENOTCLAIMED, "%s is not claimed by %s", d->bdf, op->owner);
        if (d->open) {
                device_op_finish(op, 0, NULL);
                return 0;
        }
        if (!d->managed)
                return mb_bus_error_setf(error, -MB_ENOTMANAGED, "%s is not managed by the current policy", d->bdf);
        device_binding_copy(&d->session_binding, &d->binding);
        if (op->vmstate_id && g_strcmp0(op->vmstate_id, d->vmstate_id) != 0) {
                g_free(d->vmstate_id);
                d->vmstate_id = g_strdup(op->vmstate_id);
                manager_device_changed(d->manager, d, "VmstateId", NULL);
        }
        op->target = d->incoming_owner && strcmp(d->incoming_owner, op->owner) == 0 ? MB_STATE_STOP
                                                                                     : MB_STATE_RUNNING;
        open_spawn(op);
        return 0;
}

int device_open(Device *d, const char *owner, const char *vmstate_id, DeviceOpDone done, void *ud,
                sd_bus_error *error) {
        DeviceOp *op = device_op_new(d, "Open", open_start, done, ud);

        op->owner = g_strdup(owner);
        op->vmstate_id = g_strdup(vmstate_id);
        return device_op_enqueue(op, error);
}

static int reset_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        DeviceOp *op = userdata;

        op->timer = sd_event_source_disable_unref(op->timer);
        open_spawn(op);
        return 0;
}

static int reset_start(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;
        uint64_t now = g_get_monotonic_time(), delay = 0;
        int r;

        if (!d->open)
                return mb_bus_error_setf(error, -MB_ENOTOPEN, "%s has no open session", d->bdf);

        d->worker = mb_worker_unref(d->worker);
        session_reset_flags(d);
        if (d->last_respawn_usec && now - d->last_respawn_usec < RESPAWN_QUIET_USEC)
                d->respawns++;
        else
                d->respawns = 0;
        if (d->respawns > 0)
                delay = MB_MIN((uint64_t) RESPAWN_BASE_USEC << MB_MIN(d->respawns - 1, 10u), (uint64_t) RESPAWN_MAX_USEC);
        op->target = MB_STATE_RUNNING;
        op->is_reset = true;
        log_dev_info(d->bdf, "reset: respawning the worker%s", delay ? " after a backoff" : "");
        if (delay == 0) {
                open_spawn(op);
                return 0;
        }
        r = sd_event_add_time_relative(d->manager->event, &op->timer, CLOCK_MONOTONIC, delay, 1000, reset_timer, op);
        if (r < 0)
                return mb_bus_error_setf(error, r, "cannot schedule the respawn: %s", strerror(-r));
        return 0;
}

int device_reset(Device *d, DeviceOpDone done, void *ud, sd_bus_error *error) {
        DeviceOp *op = device_op_new(d, "Reset", reset_start, done, ud);

        return device_op_enqueue(op, error);
}

/* ---- RefreshPending --------------------------------------------------------- */

static void refresh_done(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;
        uint64_t p;

        if (r < 0) {
                note_worker_failure(d, r, e);
                device_op_finish(op, r, e);
                return;
        }
        if (sd_bus_message_read(reply, "t", &p) < 0) {
                device_op_finish_errorf(op, -EBADMSG, "malformed reply from the worker");
                return;
        }
        device_set_pending(d, p);
        op->result = p;
        device_op_finish(op, 0, NULL);
}

static int refresh_start(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;
        int r;

        if (!d->open)
                return mb_bus_error_setf(error, -MB_ENOTOPEN, "%s has no open session", d->bdf);
        if (worker_gone(d))
                return mb_bus_error_setf(error, -MB_EINVALIDTRANSITION, "%s is in state error: Reset or Close it",
                                         d->bdf);
        r = op_call(op, refresh_done, false, "UpdatePending", NULL);
        if (r < 0)
                return mb_bus_error_setf(error, r, "%s: cannot call the worker: %s", d->bdf, strerror(-r));
        return 0;
}

int device_refresh_pending(Device *d, DeviceOpDone done, void *ud, sd_bus_error *error) {
        DeviceOp *op = device_op_new(d, "RefreshPending", refresh_start, done, ud);

        return device_op_enqueue(op, error);
}

/* ---- SaveTo / LoadFrom -------------------------------------------------------- */

/* An error on the caller's fd leaves the device as it is but breaks the session. */
static bool is_fd_error(Device *d, int r) {
        return !worker_gone(d) && r != -MB_EPLUGINFAILED && r != -MB_ESTREAMCORRUPT;
}

static void save_done(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;
        uint64_t bytes, records, pending;
        int ended;

        if (r < 0) {
                note_worker_failure(d, r, e);
                if (is_fd_error(d, r)) {
                        log_dev_warning(d->bdf, "save session broken: %s", e && e->message ? e->message : strerror(-r));
                        d->save_ended = true; /* no further SaveTo in this session */
                } else if (!worker_gone(d)) {
                        device_set_state(d, MB_STATE_ERROR);
                }
                device_op_finish(op, r, e);
                return;
        }
        if (sd_bus_message_read(reply, "tttb", &bytes, &records, &pending, &ended) < 0) {
                device_op_finish_errorf(op, -EBADMSG, "malformed reply from the worker");
                return;
        }
        d->save_fresh = false;
        d->save_ended = ended;
        device_set_pending(d, pending);
        op->result = bytes;
        log_dev_debug(d->bdf, "SaveTo: %" PRIu64 " bytes in %" PRIu64 " records, %" PRIu64 " pending%s", bytes,
                      records, pending, ended ? ", stream ended" : "");
        device_op_finish(op, 0, NULL);
}

static int save_start(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;
        uint32_t flags = 0;
        int r;

        if (!d->open)
                return mb_bus_error_setf(error, -MB_ENOTOPEN, "%s has no open session", d->bdf);
        if (!mb_state_is_saving(d->state))
                return mb_bus_error_setf(error, -MB_EINVALIDTRANSITION,
                                         "%s: SaveTo needs state pre-copy or stop-copy, the device is in %s", d->bdf,
                                         device_state_string(d));
        if (d->save_ended)
                return mb_bus_error_setf(error, -MB_EINVALIDTRANSITION,
                                         "%s: the save session has ended; leave the saving states to start another",
                                         d->bdf);
        if (d->save_fresh)
                flags |= MB_WORKER_SAVE_BEGIN;
        if (d->state == MB_STATE_STOP_COPY)
                flags |= MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END;
        if (op->zero_copy)
                flags |= MB_WORKER_SAVE_ZERO_COPY;
        r = op_call(op, save_done, true, "Save", "hstuu", op->fd, mb_stream_format_to_string(op->format),
                    op->max_bytes, flags, (uint32_t) (manager_op_timeout_usec(d->manager) / 1000));
        if (r < 0)
                return mb_bus_error_setf(error, r, "%s: cannot call the worker: %s", d->bdf, strerror(-r));
        op->fd = mb_safe_close(op->fd);
        return 0;
}

int device_save_to(Device *d, int fd, int format, uint64_t max_bytes, bool zero_copy, DeviceOpDone done, void *ud,
                   sd_bus_error *error) {
        DeviceOp *op;
        int copy;

        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return mb_bus_error_setf(error, -errno, "cannot keep the file descriptor: %m");
        op = device_op_new(d, "SaveTo", save_start, done, ud);
        op->fd = copy;
        op->format = format;
        op->max_bytes = max_bytes;
        op->zero_copy = zero_copy;
        return device_op_enqueue(op, error);
}

static void load_done(DeviceOp *op, int r, const sd_bus_error *e, sd_bus_message *reply) {
        Device *d = op->device;
        uint64_t bytes, records;
        int ended;

        if (r < 0) {
                note_worker_failure(d, r, e);
                if (r == -MB_ESTREAMCORRUPT || r == -MB_EPLUGINFAILED) {
                        log_dev_error(d->bdf, "LoadFrom failed: %s; the device goes to error",
                                      e && e->message ? e->message : strerror(-r));
                        device_set_state(d, MB_STATE_ERROR);
                }
                device_op_finish(op, r, e);
                return;
        }
        if (sd_bus_message_read(reply, "ttb", &bytes, &records, &ended) < 0) {
                device_op_finish_errorf(op, -EBADMSG, "malformed reply from the worker");
                return;
        }
        d->load_fresh = false;
        d->load_started = true;
        d->load_ended = ended;
        op->result = bytes;
        log_dev_debug(d->bdf, "LoadFrom: %" PRIu64 " bytes in %" PRIu64 " records%s", bytes, records,
                      ended ? ", stream complete" : "");
        device_op_finish(op, 0, NULL);
}

static int load_start(DeviceOp *op, sd_bus_error *error) {
        Device *d = op->device;
        int r;

        if (!d->open)
                return mb_bus_error_setf(error, -MB_ENOTOPEN, "%s has no open session", d->bdf);
        if (d->state != MB_STATE_RESUMING)
                return mb_bus_error_setf(error, -MB_EINVALIDTRANSITION,
                                         "%s: LoadFrom needs state resuming, the device is in %s", d->bdf,
                                         device_state_string(d));
        r = op_call(op, load_done, true, "Load", "hsuu", op->fd, mb_stream_format_to_string(op->format),
                    d->load_fresh ? MB_WORKER_LOAD_BEGIN : 0u,
                    (uint32_t) (manager_op_timeout_usec(d->manager) / 1000));
        if (r < 0)
                return mb_bus_error_setf(error, r, "%s: cannot call the worker: %s", d->bdf, strerror(-r));
        op->fd = mb_safe_close(op->fd);
        return 0;
}

int device_load_from(Device *d, int fd, int format, DeviceOpDone done, void *ud, sd_bus_error *error) {
        DeviceOp *op;
        int copy;

        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return mb_bus_error_setf(error, -errno, "cannot keep the file descriptor: %m");
        op = device_op_new(d, "LoadFrom", load_start, done, ud);
        op->fd = copy;
        op->format = format;
        return device_op_enqueue(op, error);
}
