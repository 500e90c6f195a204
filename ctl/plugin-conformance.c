/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fsm.h"
#include "macro.h"
#include "plugin-abi.h"
#include "plugin-conformance.h"
#include "stream-payload.h"
#include "stream.h"
#include "v1-moves.h"
#include "worker-client.h"
#include "worker-proto.h"

#define V1_RUNNING VFIO_DEVICE_STATE_RUNNING
#define V1_PRECOPY (VFIO_DEVICE_STATE_RUNNING | VFIO_DEVICE_STATE_SAVING)
#define V1_STOPCOPY VFIO_DEVICE_STATE_SAVING
#define V1_RESUMING VFIO_DEVICE_STATE_RESUMING

/* Pre-copy rounds of the round trip's saves (the second finds what the first left). */
#define ROUND_TRIP_PRECOPY_ROUNDS 2
/* What save-over-pending leaves pending before asking for one byte more. */
#define OVER_PENDING_REMAINDER 4096u
/* The payload robust.load-while-running offers. */
#define STRAY_LOAD_LEN 4096u
/* Bound on the steps of data.pending-stop-copy (it needs about 5). */
#define STOP_COPY_STEPS_MAX 1000

/* A call's outcome when the check's verdict is already recorded: the op
 * crashed or hung (FAIL), or it is known broken from an earlier check (SKIP). */
#define CALL_ABORTED (-ECANCELED)

/* The plugin ops as the checks call them; the worker methods map onto them. */
typedef enum Op {
        OP_INIT,
        OP_CLEANUP,
        OP_SET_STATE,
        OP_GET_STATE,
        OP_UPDATE_PENDING,
        OP_SAVE,
        OP_LOAD,
        _OP_MAX,
        OP_NONE = -1, /* Hello, LoadFinish: no plugin op of their own */
} Op;

static const char *const op_names[_OP_MAX] = {
        [OP_INIT] = "init",
        [OP_CLEANUP] = "cleanup",
        [OP_SET_STATE] = "set_state",
        [OP_GET_STATE] = "get_state",
        [OP_UPDATE_PENDING] = "update_pending",
        [OP_SAVE] = "save",
        [OP_LOAD] = "load",
};

static const char *const result_names[_MB_CHECK_RESULT_MAX] = {
        [MB_CHECK_PASS] = "PASS",
        [MB_CHECK_FAIL] = "FAIL",
        [MB_CHECK_SKIP] = "SKIP",
};

const char *mb_check_result_to_string(MbCheckResult r) {
        return r >= 0 && r < _MB_CHECK_RESULT_MAX ? result_names[r] : NULL;
}

/* What loading the plugin once (spawn + Hello) said, for the abi.* checks. */
typedef struct AbiOutcome {
        bool loaded;
        MbAbiStep failed_step;
        char *failure;              /* the loader's message, or how the worker died */
        uint64_t usec;
} AbiOutcome;

typedef struct Checker {
        const MbConformanceConfig *cfg;
        MbConformance *out;
        sd_event *event;
        MbOpTimings *timings;

        MbWorker *worker;           /* the current worker, or NULL */
        bool has_handle;            /* Init succeeded, no Cleanup since */
        bool state_known;
        uint32_t state;             /* the plugin's v1 state, when known */
        uint32_t initial_state;     /* what get_state said right after the last init */

        bool load_refused;          /* the loader refused the plugin: nothing else can run */
        char *load_failure;         /* why the plugin did not load */
        bool precopy;
        AbiOutcome abi;

        char *broken[_OP_MAX];      /* "crashed in CHECK": later checks needing the op skip */
        char *init_failed;          /* the check in which init() with --arg failed */

        MbCheck *cur;
        bool decided;
} Checker;

/* ---- verdicts ------------------------------------------------------------- */

/* One line, control characters escaped (the bad-arg check echoes "\x01invalid"). */
static char *sanitize(const char *s) {
        GString *g = g_string_sized_new(strlen(s));

        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        g_string_append_printf(g, "\\x%02x", *p);
                else
                        g_string_append_c(g, (char) *p);
        return g_string_free(g, FALSE);
}

static void verdictv(Checker *c, MbCheckResult res, const char *fmt, va_list ap) _printf_(3, 0);
static void verdictv(Checker *c, MbCheckResult res, const char *fmt, va_list ap) {
        g_autofree char *text = NULL;

        if (c->decided)
                return; /* the first verdict of a check stands */
        text = g_strdup_vprintf(fmt, ap);
        c->cur->result = res;
        c->cur->reason = sanitize(text);
        c->decided = true;
}

static void pass(Checker *c, const char *fmt, ...) _printf_(2, 3);
static void pass(Checker *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        verdictv(c, MB_CHECK_PASS, fmt, ap);
        va_end(ap);
}

static void fail(Checker *c, const char *fmt, ...) _printf_(2, 3);
static void fail(Checker *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        verdictv(c, MB_CHECK_FAIL, fmt, ap);
        va_end(ap);
}

static void skip(Checker *c, const char *fmt, ...) _printf_(2, 3);
static void skip(Checker *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        verdictv(c, MB_CHECK_SKIP, fmt, ap);
        va_end(ap);
}

static void add_value(Checker *c, const char *key, uint64_t value) {
        if (c->cur->n_values < MB_CHECK_VALUES_MAX)
                c->cur->values[c->cur->n_values++] = (MbCheckValue) { key, value };
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static unsigned timeout_ms(const Checker *c) {
        return (unsigned) (c->cfg->timeout_usec / 1000);
}

static const char *error_text(int r, const sd_bus_error *e) {
        if (e && e->message)
                return e->message;
        return strerror(r < 0 ? -r : r);
}

static const char *v1_name(uint32_t v) {
        return mb_v1_state_name(v) ?: "not a v1 state";
}

/* ---- workers -------------------------------------------------------------- */

/* Kills the worker and reaps it (a killed worker is gone within ms): no
 * zombie, nothing left on the event loop. */
static void drop_worker(Checker *c) {
        if (c->worker && mb_worker_alive(c->worker)) {
                mb_worker_kill(c->worker, NULL);
                for (unsigned i = 0; i < 50 && mb_worker_alive(c->worker); i++)
                        if (sd_event_run(c->event, 100 * 1000) < 0)
                                break;
        }
        c->worker = mb_worker_unref(c->worker);
        c->has_handle = false;
        c->state_known = false;
}

/* Lets a live worker go gracefully (it runs cleanup() if it still has a handle). */
static void stop_worker(Checker *c) {
        if (c->worker && mb_worker_usable(c->worker))
                (void) mb_worker_stop(c->worker, c->cfg->timeout_usec);
        drop_worker(c);
}

/* Sends m and waits. Returns 0, a negative errno the worker replied (e set:
 * PluginFailed, NotOpen...), or CALL_ABORTED with the verdict recorded. */
static int call(Checker *c, Op op, sd_bus_message *m, bool stall, sd_bus_error *e, sd_bus_message **reply) {
        uint64_t t0;
        int r;

        if (op != OP_NONE && c->broken[op]) {
                skip(c, "needs %s(), which %s", op_names[op], c->broken[op]);
                return CALL_ABORTED;
        }
        /* A Save call asks update_pending() first. */
        if (op == OP_SAVE && c->broken[OP_UPDATE_PENDING]) {
                skip(c, "needs update_pending(), which %s", c->broken[OP_UPDATE_PENDING]);
                return CALL_ABORTED;
        }

        t0 = now_usec();
        r = mb_worker_call_sync(c->worker, m, c->cfg->timeout_usec, stall, e, reply);
        if (r == -MB_ETIMEOUT || r == -MB_EPLUGINCRASHED || (r < 0 && !sd_bus_error_is_set(e))) {
                const char *death = mb_worker_death(c->worker);
                const char *what = op != OP_NONE ? op_names[op] : sd_bus_message_get_member(m);

                if (r == -MB_ETIMEOUT) {
                        fail(c, "hung: no reply within %u ms (in %s)", timeout_ms(c), what);
                        if (op != OP_NONE)
                                c->broken[op] = g_strdup_printf("hung in %s", c->cur->name);
                } else if (r == -MB_EPLUGINCRASHED || death) {
                        fail(c, "crashed: %s (in %s)", death ?: error_text(r, e), what);
                        if (op != OP_NONE)
                                c->broken[op] = g_strdup_printf("crashed in %s", c->cur->name);
                } else {
                        fail(c, "cannot call %s in the worker: %s", what, error_text(r, e));
                }
                drop_worker(c);
                return CALL_ABORTED;
        }
        if (op != OP_NONE && (r >= 0 || r == -MB_EPLUGINFAILED))
                (void) mb_op_timings_add(c->timings, op_names[op], now_usec() - t0);
        return r;
}

/* A new method call; on failure the verdict is recorded. */
static int new_call(Checker *c, sd_bus_message **m, const char *member) {
        int r = mb_worker_new_call(c->worker, m, member);

        if (r < 0) {
                fail(c, "cannot build a %s call: %s", member, strerror(-r));
                drop_worker(c);
                return CALL_ABORTED;
        }
        return 0;
}

/* Fills the plugin description from a Hello reply. */
static int read_hello(Checker *c, sd_bus_message *reply) {
        MbPluginDescription *d = &c->out->plugin;
        const char *name, *version, *stream_name;
        uint32_t caps;
        int probe, r;

        r = sd_bus_message_read(reply, "ssu", &name, &version, &caps);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(qq)");
        if (r < 0)
                return r;
        g_clear_pointer(&d->pci_ids, g_free);
        d->n_pci_ids = 0;
        for (;;) {
                uint16_t vendor, device;

                r = sd_bus_message_read(reply, "(qq)", &vendor, &device);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                d->pci_ids = g_renew(MigbrokerPciId, d->pci_ids, d->n_pci_ids + 1);
                d->pci_ids[d->n_pci_ids++] = (MigbrokerPciId) { vendor, device };
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "bs", &probe, &stream_name);
        if (r < 0)
                return r;
        g_free(d->name);
        g_free(d->version);
        d->name = g_strdup(name);
        d->version = g_strdup(version);
        d->capabilities = caps;
        d->has_probe = probe;
        d->loaded = true;
        c->precopy = caps & MIGBROKER_PLUGIN_CAP_PRECOPY;
        return 0;
}

/* Spawns a worker and asks it how loading the plugin went. Returns 0 when the
 * plugin is loaded; CALL_ABORTED (verdict recorded) otherwise. */
static int spawn_worker(Checker *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        const MbWorkerConfig wc = {
                .worker_path = c->cfg->worker_path,
                .bdf = c->cfg->bdf,
                .plugin_path = c->cfg->plugin_path,
                .plugin_fd = c->cfg->plugin_fd,
                .user = c->cfg->user,
                .log_level = c->cfg->worker_log_level,
        };
        int r;

        drop_worker(c);
        r = mb_worker_spawn(c->event, &wc, &c->worker);
        if (r < 0) {
                fail(c, "cannot start %s: %s", c->cfg->worker_path, strerror(-r));
                c->worker = NULL;
                return CALL_ABORTED;
        }
        r = new_call(c, &m, "Hello");
        if (r < 0)
                return r;
        r = call(c, OP_NONE, m, false, &e, &reply);
        if (r == CALL_ABORTED) {
                if (!c->load_failure)
                        c->load_failure = g_strdup(c->cur->reason);
                c->load_refused = true;
                return r;
        }
        if (r < 0) {
                /* The loader refused the plugin: PluginFailed with its message. */
                fail(c, "%s", error_text(r, &e));
                c->load_refused = true;
                if (!c->load_failure)
                        c->load_failure = g_strdup(error_text(r, &e));
                if (!c->out->plugin.refusal && r == -MB_EPLUGINFAILED)
                        c->out->plugin.refusal = g_strdup(error_text(r, &e));
                drop_worker(c);
                return CALL_ABORTED;
        }
        r = read_hello(c, reply);
        if (r < 0) {
                fail(c, "cannot read the worker's Hello reply: %s", strerror(-r));
                drop_worker(c);
                return CALL_ABORTED;
        }
        return 0;
}

/* A live worker whose plugin is loaded. */
static int ensure_worker(Checker *c) {
        if (c->load_refused) {
                skip(c, "the plugin did not load (see abi.*)");
                return CALL_ABORTED;
        }
        if (c->worker && mb_worker_usable(c->worker))
                return 0;
        return spawn_worker(c);
}

/* ---- plugin ops ----------------------------------------------------------- */

static int op_init(Checker *c, const char *arg, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = new_call(c, &m, "Init");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", c->cfg->bdf, arg);
        if (r < 0)
                return fail(c, "cannot build an Init call: %s", strerror(-r)), CALL_ABORTED;
        r = call(c, OP_INIT, m, false, e, NULL);
        if (r >= 0)
                c->has_handle = true;
        return r;
}

static int op_cleanup(Checker *c, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = new_call(c, &m, "Cleanup");
        if (r < 0)
                return r;
        r = call(c, OP_CLEANUP, m, false, e, NULL);
        if (r != CALL_ABORTED)
                c->has_handle = false; /* the worker drops the handle even when cleanup() fails */
        c->state_known = false;
        return r;
}

static int op_set_state(Checker *c, uint32_t v, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = new_call(c, &m, "SetState");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "u", v);
        if (r < 0)
                return fail(c, "cannot build a SetState call: %s", strerror(-r)), CALL_ABORTED;
        r = call(c, OP_SET_STATE, m, false, e, NULL);
        if (r >= 0) {
                c->state = v;
                c->state_known = mb_v1_state_valid(v);
        } else {
                c->state_known = false;
        }
        return r;
}

static int op_get_state(Checker *c, uint32_t *v, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = new_call(c, &m, "GetState");
        if (r < 0)
                return r;
        r = call(c, OP_GET_STATE, m, false, e, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "u", v);
        if (r < 0)
                return fail(c, "cannot read a GetState reply: %s", strerror(-r)), CALL_ABORTED;
        return 0;
}

static int op_update_pending(Checker *c, uint64_t *p, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = new_call(c, &m, "UpdatePending");
        if (r < 0)
                return r;
        r = call(c, OP_UPDATE_PENDING, m, false, e, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "t", p);
        if (r < 0)
                return fail(c, "cannot read an UpdatePending reply: %s", strerror(-r)), CALL_ABORTED;
        return 0;
}

typedef struct SaveReply {
        uint64_t bytes, records, pending_after;
        bool ended;
} SaveReply;

static int op_save(Checker *c, int fd, MbStreamFormat format, uint64_t max_bytes, uint32_t flags, SaveReply *ret,
                   sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int ended = 0, r;

        r = new_call(c, &m, "Save");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "hstuu", fd, mb_stream_format_to_string(format), max_bytes, flags,
                                  timeout_ms(c));
        if (r < 0)
                return fail(c, "cannot build a Save call: %s", strerror(-r)), CALL_ABORTED;
        r = call(c, OP_SAVE, m, true, e, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "tttb", &ret->bytes, &ret->records, &ret->pending_after, &ended);
        if (r < 0)
                return fail(c, "cannot read a Save reply: %s", strerror(-r)), CALL_ABORTED;
        ret->ended = ended;
        return 0;
}

static int op_load(Checker *c, int fd, MbStreamFormat format, uint32_t flags, bool *ret_ended, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        uint64_t bytes, records;
        int ended = 0, r;

        r = new_call(c, &m, "Load");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "hsuu", fd, mb_stream_format_to_string(format), flags, timeout_ms(c));
        if (r < 0)
                return fail(c, "cannot build a Load call: %s", strerror(-r)), CALL_ABORTED;
        r = call(c, OP_LOAD, m, true, e, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "ttb", &bytes, &records, &ended);
        if (r < 0)
                return fail(c, "cannot read a Load reply: %s", strerror(-r)), CALL_ABORTED;
        if (ret_ended)
                *ret_ended = ended;
        return 0;
}

static int op_load_finish(Checker *c, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = new_call(c, &m, "LoadFinish");
        if (r < 0)
                return r;
        return call(c, OP_NONE, m, false, e, NULL);
}

/* One op without the worker's guards (worker-proto.h, CallOp). */
static int op_call_direct(Checker *c, Op op, uint64_t value, bool null_handle, sd_bus_error *e) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = new_call(c, &m, "CallOp");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "stb", op_names[op], value, (int) null_handle);
        if (r < 0)
                return fail(c, "cannot build a CallOp call: %s", strerror(-r)), CALL_ABORTED;
        return call(c, op, m, false, e, NULL);
}

/* ---- sessions: a worker with an initialised, running instance ------------- */

/* Moves the plugin along the v1 calls QEMU's v1 code makes for the v2 move to
 * target. On failure records why (doing what) and returns CALL_ABORTED. */
static int drive_to(Checker *c, uint32_t target, const char *doing) {
        uint32_t calls[MB_FSM_V1_CALLS_MAX];
        size_t n;
        int r;

        if (!c->state_known) {
                fail(c, "%s: the plugin's state is unknown", doing);
                return CALL_ABORTED;
        }
        r = mb_fsm_v1_calls(mb_state_from_v1(c->state), mb_state_from_v1(target), true, calls, &n);
        if (r < 0) {
                fail(c, "%s: no move from %u (%s) to %u (%s)", doing, c->state, v1_name(c->state), target,
                     v1_name(target));
                return CALL_ABORTED;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                uint32_t from = c->state;

                r = op_set_state(c, calls[i], &e);
                if (r == CALL_ABORTED)
                        return r;
                if (r < 0) {
                        fail(c, "%s: set_state(%u) in %u (%s) failed: %s", doing, calls[i], from, v1_name(from),
                             error_text(r, &e));
                        return CALL_ABORTED;
                }
        }
        return 0;
}

/* Init with arg, learn the state, move to running. The main arg's failure
 * marks init broken for the checks that follow. */
static int open_session(Checker *c, const char *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        bool main_arg = arg == c->cfg->arg;
        uint32_t v;
        int r;

        if (main_arg && c->init_failed) {
                skip(c, "needs init(), which failed in %s", c->init_failed);
                return CALL_ABORTED;
        }
        r = ensure_worker(c);
        if (r < 0)
                return r;
        if (c->has_handle) {
                r = op_cleanup(c, &e);
                if (r == CALL_ABORTED)
                        return r;
                sd_bus_error_free(&e);
        }
        r = op_init(c, arg, &e);
        if (r == CALL_ABORTED)
                return r;
        if (r < 0) {
                fail(c, "%s", error_text(r, &e));
                if (main_arg)
                        c->init_failed = g_strdup(c->cur->name);
                return CALL_ABORTED;
        }
        sd_bus_error_free(&e);

        if (c->broken[OP_GET_STATE]) {
                v = V1_RUNNING; /* what QEMU assumes after init */
        } else {
                r = op_get_state(c, &v, &e);
                if (r == CALL_ABORTED)
                        return r;
                if (r < 0) {
                        fail(c, "get_state() after init failed: %s", error_text(r, &e));
                        return CALL_ABORTED;
                }
        }
        c->initial_state = v;
        if (!mb_v1_state_valid(v)) {
                fail(c, "get_state() after init reports %" PRIu32 " (0x%" PRIx32 "), not a v1 state (0..4)", v, v);
                /* The checks that follow run without it, as if it were broken. */
                c->broken[OP_GET_STATE] = g_strdup_printf("reported %" PRIu32 " after init in %s", v, c->cur->name);
                drop_worker(c);
                return CALL_ABORTED;
        }
        c->state = v;
        c->state_known = true;
        return drive_to(c, V1_RUNNING, "moving to running after init");
}

/* Back to running and cleanup(); a worker left in doubt is killed. */
static void close_session(Checker *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        bool ok = true;
        int r;

        if (!c->worker)
                return;
        if (!c->has_handle)
                return;
        if (!c->state_known && !c->broken[OP_GET_STATE]) {
                uint32_t v;

                r = op_get_state(c, &v, &e);
                if (r == CALL_ABORTED)
                        return;
                if (r >= 0 && mb_v1_state_valid(v)) {
                        c->state = v;
                        c->state_known = true;
                }
                sd_bus_error_free(&e);
        }
        if (!c->state_known)
                ok = false;
        else if (c->state != V1_RUNNING) {
                if (c->broken[OP_SET_STATE])
                        ok = false;
                else if (drive_to(c, V1_RUNNING, "moving back to running before cleanup") < 0)
                        ok = false;
        }
        if (!c->worker)
                return;
        if (!ok || c->broken[OP_CLEANUP]) {
                drop_worker(c);
                return;
        }
        r = op_cleanup(c, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "cleanup() failed: %s", error_text(r, &e));
                drop_worker(c);
        }
}

static int open_null(Checker *c, int flags) {
        int fd = open("/dev/null", flags | O_CLOEXEC);

        if (fd < 0) {
                fail(c, "cannot open /dev/null: %m");
                return CALL_ABORTED;
        }
        return fd;
}

/* An unlinked temporary file for a stream. */
static int open_temp(Checker *c) {
        g_autofree char *path = g_build_filename(g_get_tmp_dir(), "migbrokerctl-plugin-check-XXXXXX", NULL);
        int fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);

        if (fd < 0) {
                fail(c, "cannot create a temporary file in %s: %m", g_get_tmp_dir());
                return CALL_ABORTED;
        }
        (void) unlink(path);
        return fd;
}

static bool pending_plausible(Checker *c, uint64_t p, const char *where) {
        if (p <= MB_WORKER_PENDING_MAX)
                return true;
        fail(c, "update_pending() reported %" PRIu64 " bytes %s: implausible (more than 2^40)", p, where);
        return false;
}

/* ---- /proc ----------------------------------------------------------------- */

static int proc_rss_kib(pid_t pid, uint64_t *ret) {
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int) pid);
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");
        int r = -ENODATA;

        if (!f)
                return -errno;
        while (getline(&line, &size, f) >= 0)
                if (strncmp(line, "VmRSS:", 6) == 0) {
                        *ret = g_ascii_strtoull(line + 6, NULL, 10);
                        r = 0;
                        break;
                }
        (void) fclose(f);
        return r;
}

static int proc_fd_count(pid_t pid, uint64_t *ret) {
        g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        struct dirent *de;
        uint64_t n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        (void) closedir(d);
        *ret = n;
        return 0;
}

typedef struct ProcSample {
        uint64_t rss_kib;
        uint64_t fds;
} ProcSample;

static int proc_sample(Checker *c, ProcSample *s) {
        pid_t pid = mb_worker_pid(c->worker);
        int r;

        r = proc_rss_kib(pid, &s->rss_kib);
        if (r < 0) {
                fail(c, "cannot read VmRSS of the worker (/proc/%d/status): %s", (int) pid, strerror(-r));
                return CALL_ABORTED;
        }
        r = proc_fd_count(pid, &s->fds);
        if (r < 0) {
                fail(c, "cannot count the worker's fds (/proc/%d/fd): %s", (int) pid, strerror(-r));
                return CALL_ABORTED;
        }
        return 0;
}

/* ---- ABI -------------------------------------------------------------------- */

/* Loads the plugin once (spawn + Hello) and keeps the outcome for abi.*. */
static void probe_abi(Checker *c) {
        MbCheck scratch = {};
        MbCheck *saved = c->cur;
        bool saved_decided = c->decided;
        uint64_t t0 = now_usec();

        c->cur = &scratch;
        c->decided = false;
        if (spawn_worker(c) >= 0) {
                c->abi.loaded = true;
        } else {
                c->abi.failure = scratch.reason ? MB_TAKE_PTR(scratch.reason) : g_strdup("the worker did not load it");
                c->abi.failed_step = c->out->plugin.refusal ? mb_abi_step_from_refusal(c->out->plugin.refusal)
                                                            : MB_ABI_LOAD;
        }
        c->abi.usec = now_usec() - t0;
        c->cur = saved;
        c->decided = saved_decided;
}

static void check_abi(Checker *c, const void *arg) {
        MbAbiStep step = *(const MbAbiStep *) arg;
        const MbPluginDescription *d = &c->out->plugin;

        if (step == MB_ABI_LOAD) {
                probe_abi(c);
                c->cur->duration_usec = MB_MAX(c->abi.usec, (uint64_t) 1);
        }
        if (!c->abi.loaded) {
                if (step < c->abi.failed_step)
                        pass(c, "%s", mb_abi_step_description(step));
                else if (step == c->abi.failed_step)
                        fail(c, "%s", c->abi.failure);
                else
                        skip(c, "not checked: the loader refused the plugin at %s",
                             mb_abi_step_check_name(c->abi.failed_step));
                return;
        }
        if (step != MB_ABI_INFO) {
                pass(c, "%s", mb_abi_step_description(step));
                return;
        }

        g_autoptr(GString) ids = g_string_new(NULL);
        for (size_t i = 0; i < d->n_pci_ids; i++) {
                if (d->pci_ids[i].device == MIGBROKER_PCI_ANY_ID)
                        g_string_append_printf(ids, "%s%04x:*", i ? " " : "", d->pci_ids[i].vendor);
                else
                        g_string_append_printf(ids, "%s%04x:%04x", i ? " " : "", d->pci_ids[i].vendor,
                                               d->pci_ids[i].device);
        }
        add_value(c, "capabilities", d->capabilities);
        add_value(c, "pci_ids", d->n_pci_ids);
        pass(c, "name %s, version %s, capabilities: %s, PCI IDs: %s, probe: %s", d->name,
             d->version && *d->version ? d->version : "(none)",
             d->capabilities & MIGBROKER_PLUGIN_CAP_PRECOPY ? "pre-copy" : "none (no pre-copy)",
             ids->len > 0 ? ids->str : "none", d->has_probe ? "yes" : "no");
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void check_init_cleanup(Checker *c, const void *arg) {
        const unsigned n = c->cfg->iterations;
        const unsigned warm = MB_MIN(10u, n / 10);
        ProcSample before = {}, after = {};
        int r;

        r = ensure_worker(c);
        if (r < 0)
                return;
        if (c->has_handle)
                close_session(c);
        for (unsigned i = 1; i <= n; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                /* Measured after a few cycles: the first ones fill caches. */
                if (i == warm + 1 && proc_sample(c, &before) < 0)
                        return;
                r = op_init(c, c->cfg->arg, &e);
                if (r == CALL_ABORTED)
                        return;
                if (r < 0) {
                        fail(c, "init() failed in cycle %u of %u: %s", i, n, error_text(r, &e));
                        c->init_failed = g_strdup(c->cur->name);
                        return;
                }
                r = op_cleanup(c, &e);
                if (r == CALL_ABORTED)
                        return;
                if (r < 0) {
                        fail(c, "cleanup() failed in cycle %u of %u: %s", i, n, error_text(r, &e));
                        return;
                }
        }
        if (proc_sample(c, &after) < 0)
                return;

        add_value(c, "cycles", n);
        add_value(c, "rss_kib_before", before.rss_kib);
        add_value(c, "rss_kib_after", after.rss_kib);
        add_value(c, "fds_before", before.fds);
        add_value(c, "fds_after", after.fds);
        if (after.rss_kib > before.rss_kib + c->cfg->rss_tolerance_kib)
                fail(c, "worker VmRSS grew by %" PRIu64 " KiB over %u init/cleanup cycles: %" PRIu64 " -> %" PRIu64
                     " KiB (tolerance %" PRIu64 " KiB)", after.rss_kib - before.rss_kib, n - warm, before.rss_kib,
                     after.rss_kib, c->cfg->rss_tolerance_kib);
        else if (after.fds > before.fds)
                fail(c, "the worker's open fds grew over %u init/cleanup cycles: %" PRIu64 " -> %" PRIu64, n - warm,
                     before.fds, after.fds);
        else
                pass(c, "%u cycles; worker VmRSS %" PRIu64 " -> %" PRIu64 " KiB (%+" PRId64 ", tolerance %" PRIu64
                     " KiB), fds %" PRIu64 " -> %" PRIu64, n, before.rss_kib, after.rss_kib,
                     (int64_t) after.rss_kib - (int64_t) before.rss_kib, c->cfg->rss_tolerance_kib, before.fds,
                     after.fds);
}

static void check_bad_arg(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = ensure_worker(c);
        if (r < 0)
                return;
        if (c->has_handle)
                close_session(c);
        r = op_init(c, MB_CONFORMANCE_BAD_ARG, &e);
        if (r == CALL_ABORTED)
                return;
        if (r == -MB_EPLUGINFAILED) {
                pass(c, "refused cleanly: %s", error_text(r, &e));
                return;
        }
        if (r < 0) {
                fail(c, "init() with a bad argument: unexpected error %s", error_text(r, &e));
                return;
        }
        /* Accepted: legitimate for a plugin that takes no argument. Its state
         * is learnt (get_state) before the cleanup. */
        c->state_known = false;
        close_session(c);
        pass(c, "init(\"%s\") returned a handle: the plugin ignores or accepts its argument",
             MB_CONFORMANCE_BAD_ARG);
}

/* ---- states ------------------------------------------------------------------- */

static void check_initial_state(Checker *c, const void *arg) {
        uint32_t v;

        if (open_session(c, c->cfg->arg) < 0)
                return;
        v = c->initial_state;
        close_session(c);
        if (c->broken[OP_GET_STATE])
                skip(c, "needs get_state(), which %s", c->broken[OP_GET_STATE]);
        else if (v == V1_RUNNING)
                pass(c, "get_state() after init: %u (running)", v);
        else
                pass(c, "get_state() after init: %u (%s), not running: the device kept the state an earlier "
                     "user left; the checks move it to running first", v, v1_name(v));
}

static void check_move(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        const MbV1Move *mv = arg;
        g_autofree char *doing = NULL;
        uint32_t v;
        int r;

        if (mb_v1_move_touches_precopy(mv) && !c->precopy) {
                skip(c, "the plugin does not declare pre-copy (MIGBROKER_PLUGIN_CAP_PRECOPY)");
                return;
        }
        if (open_session(c, c->cfg->arg) < 0)
                return;
        doing = g_strdup_printf("reaching %u (%s)", mv->from, v1_name(mv->from));
        if (drive_to(c, mv->from, doing) < 0)
                goto out;
        r = op_set_state(c, mv->to, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "set_state(%u) in %u (%s) was refused: %s", mv->to, mv->from, v1_name(mv->from),
                     error_text(r, &e));
                goto out;
        }
        sd_bus_error_free(&e);
        r = op_get_state(c, &v, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "get_state() after set_state(%u) failed: %s", mv->to, error_text(r, &e));
                c->state_known = false;
                goto out;
        }
        if (v != mv->to) {
                fail(c, "get_state() reports %" PRIu32 " (%s) after set_state(%u) from %u was accepted", v,
                     v1_name(v), mv->to, mv->from);
                c->state = v;
                c->state_known = mb_v1_state_valid(v);
                goto out;
        }
        close_session(c);
        pass(c, "%s -> %s: set_state(%u) accepted, get_state() = %u", v1_name(mv->from), v1_name(mv->to), mv->to,
             v);
        return;
out:
        close_session(c);
}

static void check_invalid_states(Checker *c, const void *arg) {
        static const uint32_t invalid[] = { 5, MIGBROKER_V1_STATE_ERROR, 7, 8, UINT32_MAX };
        g_autofree char *example = NULL;

        if (open_session(c, c->cfg->arg) < 0)
                return;
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                uint32_t v;
                int r;

                r = op_set_state(c, invalid[i], &e);
                if (r == CALL_ABORTED)
                        return;
                if (r >= 0) {
                        fail(c, "set_state(%" PRIu32 ") was accepted: values other than 0..4 must be refused "
                             "(-EINVAL)", invalid[i]);
                        c->state_known = false;
                        goto out;
                }
                if (r != -MB_EPLUGINFAILED) {
                        fail(c, "set_state(%" PRIu32 "): unexpected error %s", invalid[i], error_text(r, &e));
                        goto out;
                }
                if (!example)
                        example = g_strdup(error_text(r, &e));
                sd_bus_error_free(&e);
                r = op_get_state(c, &v, &e);
                if (r == CALL_ABORTED)
                        return;
                if (r < 0) {
                        fail(c, "get_state() after set_state(%" PRIu32 ") was refused failed: %s", invalid[i],
                             error_text(r, &e));
                        goto out;
                }
                c->state = v;
                c->state_known = mb_v1_state_valid(v);
                if (v != V1_RUNNING) {
                        fail(c, "after refusing set_state(%" PRIu32 "), get_state() reports %" PRIu32
                             " (%s) instead of 1 (running)", invalid[i], v, v1_name(v));
                        goto out;
                }
        }
        close_session(c);
        pass(c, "5, 6, 7, 8 and 0xffffffff refused (%s); the state stayed 1 (running)", example);
        return;
out:
        close_session(c);
}

/* ---- data ------------------------------------------------------------------------ */

static void check_pending_precopy(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_close_ int fd = -1;
        uint64_t first, after;
        SaveReply sr;
        int r;

        if (!c->precopy) {
                skip(c, "the plugin does not declare pre-copy (MIGBROKER_PLUGIN_CAP_PRECOPY)");
                return;
        }
        if (open_session(c, c->cfg->arg) < 0)
                return;
        if (drive_to(c, V1_PRECOPY, "entering pre-copy") < 0)
                goto out;
        r = op_update_pending(c, &first, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "update_pending() in pre-copy failed: %s", error_text(r, &e));
                goto out;
        }
        if (!pending_plausible(c, first, "in pre-copy"))
                goto out;
        fd = open_null(c, O_WRONLY);
        if (fd < 0)
                goto out;
        r = op_save(c, fd, MB_STREAM_FORMAT_RAW, 0, MB_WORKER_SAVE_BEGIN, &sr, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "saving a pre-copy round failed: %s", error_text(r, &e));
                goto out;
        }
        r = op_update_pending(c, &after, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "update_pending() after a pre-copy round failed: %s", error_text(r, &e));
                goto out;
        }
        if (!pending_plausible(c, after, "in pre-copy after a round"))
                goto out;
        add_value(c, "pending_first", first);
        add_value(c, "pending_after_round", after);
        close_session(c);
        pass(c, "%" PRIu64 " bytes pending in pre-copy, a round saved them in %" PRIu64 " save() calls; %" PRIu64
             " pending after it", first, sr.records, after);
        return;
out:
        close_session(c);
}

static void check_pending_stopcopy(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_close_ int fd = -1;
        uint64_t first, prev, saved = 0, step, calls = 0;
        unsigned steps = 0;
        int r;

        if (open_session(c, c->cfg->arg) < 0)
                return;
        if (drive_to(c, V1_STOPCOPY, "entering stop-copy") < 0)
                goto out;
        r = op_update_pending(c, &first, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "update_pending() in stop-copy failed: %s", error_text(r, &e));
                goto out;
        }
        if (!pending_plausible(c, first, "in stop-copy"))
                goto out;
        fd = open_null(c, O_WRONLY);
        if (fd < 0)
                goto out;

        /* Save in steps of a quarter, asking update_pending() after each. */
        step = MB_MAX(first / 4, (uint64_t) 1);
        prev = first;
        while (prev > 0) {
                SaveReply sr;
                uint64_t payload, now;

                if (++steps > STOP_COPY_STEPS_MAX) {
                        fail(c, "pending still %" PRIu64 " bytes after %u saves in stop-copy", prev,
                             STOP_COPY_STEPS_MAX);
                        goto out;
                }
                r = op_save(c, fd, MB_STREAM_FORMAT_RAW, step, steps == 1 ? MB_WORKER_SAVE_BEGIN : 0, &sr, &e);
                if (r == CALL_ABORTED)
                        return;
                if (r < 0) {
                        fail(c, "saving in stop-copy failed after %" PRIu64 " of %" PRIu64 " bytes: %s", saved,
                             first, error_text(r, &e));
                        goto out;
                }
                /* Raw format: one round header of 8 bytes, then the payload. */
                payload = sr.bytes >= MB_STREAM_RAW_ROUND_HDR_LEN ? sr.bytes - MB_STREAM_RAW_ROUND_HDR_LEN : 0;
                saved += payload;
                calls += sr.records;
                r = op_update_pending(c, &now, &e);
                if (r == CALL_ABORTED)
                        return;
                if (r < 0) {
                        fail(c, "update_pending() in stop-copy failed after %" PRIu64 " bytes were saved: %s",
                             saved, error_text(r, &e));
                        goto out;
                }
                if (payload > prev || now > prev - payload) {
                        fail(c, "pending grew in stop-copy: %" PRIu64 " bytes reported after saving %" PRIu64
                             " of the %" PRIu64 " reported before (at most %" PRIu64 " expected)", now, payload,
                             prev, payload > prev ? 0 : prev - payload);
                        goto out;
                }
                if (payload == 0) {
                        fail(c, "update_pending() reports %" PRIu64 " bytes in stop-copy, but a save round took "
                             "none", prev);
                        goto out;
                }
                prev = now;
        }
        add_value(c, "pending_first", first);
        add_value(c, "saved", saved);
        close_session(c);
        if (first == 0)
                pass(c, "0 bytes pending in stop-copy: a device without state");
        else
                pass(c, "%" PRIu64 " bytes pending at stop-copy, never grew, reached 0 after %" PRIu64
                     " bytes in %u rounds (%" PRIu64 " save() calls)", first, saved, steps, calls);
        return;
out:
        close_session(c);
}

static void check_save_over_pending(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_close_ int fd = -1;
        uint64_t first, left;
        int r;

        if (open_session(c, c->cfg->arg) < 0)
                return;
        if (drive_to(c, V1_STOPCOPY, "entering stop-copy") < 0)
                goto out;
        r = op_update_pending(c, &first, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "update_pending() in stop-copy failed: %s", error_text(r, &e));
                goto out;
        }
        if (!pending_plausible(c, first, "in stop-copy"))
                goto out;
        if (first > OVER_PENDING_REMAINDER) {
                SaveReply sr;

                fd = open_null(c, O_WRONLY);
                if (fd < 0)
                        goto out;
                r = op_save(c, fd, MB_STREAM_FORMAT_RAW, first - OVER_PENDING_REMAINDER, MB_WORKER_SAVE_BEGIN, &sr,
                            &e);
                if (r == CALL_ABORTED)
                        return;
                if (r < 0) {
                        fail(c, "saving in stop-copy failed: %s", error_text(r, &e));
                        goto out;
                }
        }
        r = op_update_pending(c, &left, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "update_pending() in stop-copy failed: %s", error_text(r, &e));
                goto out;
        }
        if (left >= MB_WORKER_CHUNK) {
                close_session(c);
                skip(c, "update_pending() still reports %" PRIu64 " bytes: cannot ask for more than that in one "
                     "save() call", left);
                return;
        }
        sd_bus_error_free(&e);
        r = op_call_direct(c, OP_SAVE, left + 1, false, &e);
        if (r == CALL_ABORTED)
                return;
        if (r >= 0) {
                fail(c, "save(%" PRIu64 " bytes) with %" PRIu64 " pending was accepted: a plugin must refuse more "
                     "than it reported (-EINVAL)", left + 1, left);
                c->state_known = false;
                goto out;
        }
        if (r != -MB_EPLUGINFAILED) {
                fail(c, "save() beyond pending: unexpected error %s", error_text(r, &e));
                goto out;
        }
        close_session(c);
        pass(c, "save(%" PRIu64 " bytes) with %" PRIu64 " pending refused: %s", left + 1, left, error_text(r, &e));
        return;
out:
        close_session(c);
}

typedef struct StreamStats {
        uint64_t bytes;
        uint64_t records;
} StreamStats;

/* A migration's save, from running: pre-copy rounds when the plugin can, then
 * stop-copy until nothing is pending, with the end record. */
static int save_migration(Checker *c, int fd, const char *who, StreamStats *st) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        uint32_t flags = MB_WORKER_SAVE_BEGIN;
        g_autofree char *entering_precopy = g_strdup_printf("%s: entering pre-copy", who);
        g_autofree char *entering_stopcopy = g_strdup_printf("%s: entering stop-copy", who);
        SaveReply sr;
        int r;

        *st = (StreamStats) {};
        if (c->precopy) {
                if (drive_to(c, V1_PRECOPY, entering_precopy) < 0)
                        return CALL_ABORTED;
                for (unsigned i = 0; i < ROUND_TRIP_PRECOPY_ROUNDS; i++) {
                        r = op_save(c, fd, MB_STREAM_FORMAT_FRAMED, 0, flags, &sr, &e);
                        if (r == CALL_ABORTED)
                                return r;
                        if (r < 0) {
                                fail(c, "%s: pre-copy round %u failed: %s", who, i + 1, error_text(r, &e));
                                return CALL_ABORTED;
                        }
                        sd_bus_error_free(&e);
                        flags = 0;
                        st->bytes += sr.bytes;
                        st->records += sr.records;
                }
        }
        if (drive_to(c, V1_STOPCOPY, entering_stopcopy) < 0)
                return CALL_ABORTED;
        r = op_save(c, fd, MB_STREAM_FORMAT_FRAMED, 0, flags | MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, &sr,
                    &e);
        if (r == CALL_ABORTED)
                return r;
        if (r < 0) {
                fail(c, "%s: stop-copy failed: %s", who, error_text(r, &e));
                return CALL_ABORTED;
        }
        st->bytes += sr.bytes;
        st->records += sr.records;
        if (!sr.ended) {
                fail(c, "%s: stop-copy ended with %" PRIu64 " bytes still pending", who, sr.pending_after);
                return CALL_ABORTED;
        }
        return 0;
}

static void check_round_trip(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_close_ int first = -1, second = -1;
        StreamStats st1, st2;
        MbPayloadDiff diff;
        char errbuf[256];
        bool ended = false;
        uint32_t v;
        int r;

        if (!c->cfg->peer_arg) {
                skip(c, "needs --peer-arg: the argument of a second instance to load the saved state into");
                return;
        }
        first = open_temp(c);
        if (first < 0)
                return;
        second = open_temp(c);
        if (second < 0)
                return;

        /* The source: --arg. */
        if (open_session(c, c->cfg->arg) < 0)
                return;
        if (save_migration(c, first, "saving from the --arg instance", &st1) < 0)
                goto out;
        close_session(c);
        if (c->decided)
                return;

        /* The destination: --peer-arg, in a fresh worker as on another host. */
        stop_worker(c);
        if (open_session(c, c->cfg->peer_arg) < 0)
                return;
        if (drive_to(c, V1_RESUMING, "the --peer-arg instance: entering resuming") < 0)
                goto out;
        if (lseek(first, 0, SEEK_SET) < 0) {
                fail(c, "cannot rewind the saved stream: %m");
                goto out;
        }
        r = op_load(c, first, MB_STREAM_FORMAT_FRAMED, MB_WORKER_LOAD_BEGIN, &ended, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0) {
                fail(c, "loading into the --peer-arg instance failed: %s", error_text(r, &e));
                goto out;
        }
        r = op_load_finish(c, &e);
        if (r == CALL_ABORTED)
                return;
        if (r < 0 || !ended) {
                fail(c, "the stream loaded into the --peer-arg instance is incomplete: %s", error_text(r, &e));
                goto out;
        }
        if (drive_to(c, V1_RUNNING, "the --peer-arg instance: leaving resuming for running after the load") < 0)
                goto out;
        if (!c->broken[OP_GET_STATE]) {
                r = op_get_state(c, &v, &e);
                if (r == CALL_ABORTED)
                        return;
                if (r < 0 || v != V1_RUNNING) {
                        fail(c, "the --peer-arg instance reports %s after set_state(1) following the load",
                             r < 0 ? error_text(r, &e) : v1_name(v));
                        goto out;
                }
        }

        /* Saved again from the destination: the same payload. */
        if (save_migration(c, second, "saving from the --peer-arg instance", &st2) < 0)
                goto out;
        close_session(c);
        stop_worker(c);
        if (c->decided)
                return;

        if (lseek(first, 0, SEEK_SET) < 0 || lseek(second, 0, SEEK_SET) < 0) {
                fail(c, "cannot rewind the saved streams: %m");
                return;
        }
        r = mb_stream_payload_compare(first, second, &diff, errbuf, sizeof(errbuf));
        if (r < 0) {
                fail(c, "cannot compare the two streams: %s", errbuf);
                return;
        }
        add_value(c, "payload_bytes", diff.bytes_a);
        add_value(c, "records_first", diff.records_a);
        add_value(c, "records_second", diff.records_b);
        if (!diff.equal) {
                fail(c, "the state saved again from the --peer-arg instance differs from the state loaded into it, "
                     "from payload byte %" PRIu64 " (%" PRIu64 " vs %" PRIu64 " bytes; a device that changes by "
                     "itself between the saves cannot pass this check)", diff.first_diff, diff.bytes_a,
                     diff.bytes_b);
                return;
        }
        pass(c, "%" PRIu64 " payload bytes in %" PRIu64 " records saved from --arg, loaded into --peer-arg, saved "
             "again: identical payload (%" PRIu64 " records)", diff.bytes_a, diff.records_a, diff.records_b);
        return;
out:
        close_session(c);
        stop_worker(c);
}

/* ---- robustness ------------------------------------------------------------------- */

static void check_set_state_before_init(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        /* A fresh process: nothing was ever initialised in it. */
        if (!c->load_refused)
                stop_worker(c);
        r = ensure_worker(c);
        if (r < 0)
                return;
        r = op_call_direct(c, OP_SET_STATE, V1_RUNNING, true, &e);
        if (r == CALL_ABORTED)
                return;
        if (r >= 0) {
                fail(c, "set_state(NULL handle, 1) before any init() returned 0: it must fail");
                stop_worker(c);
                return;
        }
        if (r != -MB_EPLUGINFAILED) {
                fail(c, "set_state() before init: unexpected error %s", error_text(r, &e));
                return;
        }
        stop_worker(c);
        pass(c, "set_state(NULL handle, 1) before init() refused: %s", error_text(r, &e));
}

/* After a refused call in running, the device must still be running. */
static int still_running(Checker *c, const char *after) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        uint32_t v;
        int r;

        if (c->broken[OP_GET_STATE])
                return 0;
        r = op_get_state(c, &v, &e);
        if (r == CALL_ABORTED)
                return r;
        if (r < 0) {
                fail(c, "get_state() after %s failed: %s", after, error_text(r, &e));
                return CALL_ABORTED;
        }
        c->state = v;
        c->state_known = mb_v1_state_valid(v);
        if (v != V1_RUNNING) {
                fail(c, "after %s, get_state() reports %" PRIu32 " (%s) instead of 1 (running)", after, v,
                     v1_name(v));
                return CALL_ABORTED;
        }
        return 0;
}

static void check_save_while_running(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_autofree char *msg = NULL;
        int r;

        if (open_session(c, c->cfg->arg) < 0)
                return;
        r = op_call_direct(c, OP_SAVE, STRAY_LOAD_LEN, false, &e);
        if (r == CALL_ABORTED)
                return;
        if (r >= 0) {
                fail(c, "save(%u bytes) while running returned 0: save outside the saving states must fail "
                     "(-EINVAL)", STRAY_LOAD_LEN);
                goto out;
        }
        if (r != -MB_EPLUGINFAILED) {
                fail(c, "save() while running: unexpected error %s", error_text(r, &e));
                goto out;
        }
        msg = g_strdup(error_text(r, &e));
        if (still_running(c, "a refused save()") < 0)
                goto out;
        close_session(c);
        pass(c, "save(%u bytes) while running refused: %s", STRAY_LOAD_LEN, msg);
        return;
out:
        close_session(c);
}

static void check_load_while_running(Checker *c, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_close_ int rd = -1, wr = -1;
        g_autofree uint8_t *buf = NULL;
        g_autofree char *msg = NULL;
        int p[2], r;

        if (open_session(c, c->cfg->arg) < 0)
                return;
        /* One raw round (be64 length, then the bytes): the worker hands it to load(). */
        if (pipe2(p, O_CLOEXEC) < 0) {
                fail(c, "pipe: %m");
                goto out;
        }
        rd = p[0];
        wr = p[1];
        buf = g_malloc0(MB_STREAM_RAW_ROUND_HDR_LEN + STRAY_LOAD_LEN);
        mb_stream_raw_round_encode(buf, STRAY_LOAD_LEN);
        if (write(wr, buf, MB_STREAM_RAW_ROUND_HDR_LEN + STRAY_LOAD_LEN) !=
            (ssize_t) (MB_STREAM_RAW_ROUND_HDR_LEN + STRAY_LOAD_LEN)) {
                fail(c, "cannot write the stray stream: %m");
                goto out;
        }
        wr = mb_safe_close(wr);
        r = op_load(c, rd, MB_STREAM_FORMAT_RAW, MB_WORKER_LOAD_BEGIN, NULL, &e);
        if (r == CALL_ABORTED)
                return;
        if (r >= 0) {
                fail(c, "load(%u bytes) while running returned 0: load outside resuming must fail (-EINVAL)",
                     STRAY_LOAD_LEN);
                c->state_known = false;
                goto out;
        }
        if (r != -MB_EPLUGINFAILED) {
                fail(c, "load() while running: unexpected error %s", error_text(r, &e));
                goto out;
        }
        msg = g_strdup(error_text(r, &e));
        if (still_running(c, "a refused load()") < 0)
                goto out;
        close_session(c);
        pass(c, "refused: %s", msg);
        return;
out:
        close_session(c);
}

/* ---- timing ------------------------------------------------------------------------- */

static void check_timing(Checker *c, const void *arg) {
        const char *op = arg;
        MbTimingStats st;

        if (mb_op_timings_stats(c->timings, op, &st) < 0) {
                skip(c, "%s() never returned during the checks", op);
                return;
        }
        c->cur->has_timing = true;
        c->cur->timing = st;
        pass(c, "p50 %.3f ms, p90 %.3f ms, max %.3f ms over %zu call%s%s", st.p50_usec / 1000.0,
             st.p90_usec / 1000.0, st.max_usec / 1000.0, st.n, st.n == 1 ? "" : "s",
             strcmp(op, "save") == 0 || strcmp(op, "load") == 0 ?
                     " (a worker Save/Load call: one round of plugin calls plus the stream I/O)" : "");
}

/* ---- the suite -------------------------------------------------------------------------- */

typedef void (*CheckFn)(Checker *c, const void *arg);

static void run_check(Checker *c, const char *name, CheckFn fn, const void *arg) {
        MbCheck *chk = g_new0(MbCheck, 1);
        uint64_t t0 = now_usec();

        chk->name = g_strdup(name);
        c->cur = chk;
        c->decided = false;
        if (c->load_refused && fn != check_abi && fn != check_timing)
                skip(c, "the plugin did not load (see abi.*)");
        else
                fn(c, arg);
        if (!c->decided)
                fail(c, "internal error: the check reached no verdict");
        if (chk->duration_usec == 0)
                chk->duration_usec = now_usec() - t0;
        c->out->checks = g_renew(MbCheck *, c->out->checks, c->out->n_checks + 1);
        c->out->checks[c->out->n_checks++] = chk;
        c->out->counts[chk->result]++;
        if (c->cfg->report)
                c->cfg->report(chk, c->cfg->userdata);
        c->cur = NULL;
}

static void check_free(MbCheck *chk) {
        if (!chk)
                return;
        g_free(chk->name);
        g_free(chk->reason);
        g_free(chk);
}

void mb_conformance_free(MbConformance *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_checks; i++)
                check_free(c->checks[i]);
        g_free(c->checks);
        g_free(c->plugin.refusal);
        g_free(c->plugin.name);
        g_free(c->plugin.version);
        g_free(c->plugin.pci_ids);
        g_free(c);
}

int mb_conformance_run(const MbConformanceConfig *cfg, MbConformance **ret) {
        static const MbAbiStep abi_steps[_MB_ABI_STEP_MAX] = { MB_ABI_LOAD, MB_ABI_VERSION, MB_ABI_OPS, MB_ABI_INFO };
        _cleanup_(mb_conformance_freep) MbConformance *out = NULL;
        _cleanup_(mb_op_timings_freep) MbOpTimings *timings = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        MbV1Move moves[MB_V1_MOVES_MAX];
        size_t n_moves;
        Checker c;
        int r;

        if (!cfg->worker_path || !cfg->plugin_path || !cfg->bdf || !cfg->arg || cfg->iterations == 0)
                return -EINVAL;
        r = mb_error_register();
        if (r < 0)
                return r;
        r = sd_event_new(&event);
        if (r < 0)
                return r;
        out = g_new0(MbConformance, 1);
        timings = mb_op_timings_new();
        c = (Checker) { .cfg = cfg, .out = out, .event = event, .timings = timings };

        for (size_t i = 0; i < ELEMENTSOF(abi_steps); i++)
                run_check(&c, mb_abi_step_check_name(abi_steps[i]), check_abi, &abi_steps[i]);

        run_check(&c, "lifecycle.init-cleanup", check_init_cleanup, NULL);
        run_check(&c, "lifecycle.bad-arg", check_bad_arg, NULL);

        run_check(&c, "states.initial", check_initial_state, NULL);
        n_moves = mb_v1_moves(true, moves);
        for (size_t i = 0; i < n_moves; i++) {
                char name[64];

                snprintf(name, sizeof(name), "states.move.%u-%u", moves[i].from, moves[i].to);
                run_check(&c, name, check_move, &moves[i]);
        }
        run_check(&c, "states.invalid-values", check_invalid_states, NULL);

        run_check(&c, "data.pending-precopy", check_pending_precopy, NULL);
        run_check(&c, "data.pending-stop-copy", check_pending_stopcopy, NULL);
        run_check(&c, "data.save-over-pending", check_save_over_pending, NULL);
        run_check(&c, "data.round-trip", check_round_trip, NULL);

        run_check(&c, "robust.set-state-before-init", check_set_state_before_init, NULL);
        run_check(&c, "robust.save-while-running", check_save_while_running, NULL);
        run_check(&c, "robust.load-while-running", check_load_while_running, NULL);

        for (size_t i = 0; i < _OP_MAX; i++) {
                char name[64];

                snprintf(name, sizeof(name), "timing.%s", op_names[i]);
                run_check(&c, name, check_timing, op_names[i]);
        }

        stop_worker(&c);
        g_free(c.abi.failure);
        for (size_t i = 0; i < _OP_MAX; i++)
                g_free(c.broken[i]);
        g_free(c.init_failed);
        g_free(c.load_failure);
        *ret = MB_TAKE_PTR(out);
        return 0;
}
