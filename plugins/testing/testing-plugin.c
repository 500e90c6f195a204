/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testing.so: a correct memory-backed migration plugin (the simdev device
 * core, in process) whose ops can be made to crash, hang, exit, fail, lie or
 * leak on demand through the init() argument (README.md). For tests only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migbroker/plugin.h"
#include "simdev-function.h"
#include "testing-args.h"
#include "testing-fault.h"

#define TESTING_GARBAGE_STATE 0xdeadbeefu
#define TESTING_GARBAGE_BYTE  0xa5

typedef struct TestingHandle {
        TestingConfig cfg;
        uint64_t calls[_TESTING_OP_MAX];
        SimdevFunction *fn;
        uint64_t budget;          /* last update_pending report minus what save() took since */
} TestingHandle;

static uint64_t init_calls; /* init has no handle yet: its counter is per process */

static void tlog(const char *bdf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tlog(const char *bdf, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        (void) fprintf(stderr, "testing: %s: %s\n", bdf ? bdf : "?", msg);
}

static int enter(TestingHandle *h, TestingOp op, bool *garbage) {
        TestingVerdict v = testing_fault_enter(&h->cfg.faults[op], &h->calls[op]);

        *garbage = v == TESTING_GARBAGE;
        if (v == TESTING_FAIL) {
                tlog(h->fn->bdf, "%s: injected failure -%" PRIu64, testing_op_to_string(op), h->cfg.faults[op].param);
                return -(int) h->cfg.faults[op].param;
        }
        return 0;
}

static void *do_init(char *devid, char *arg, bool *trace) {
        char err[256];
        TestingConfig cfg;
        TestingHandle *h;
        int r;

        if (testing_args_parse(arg, &cfg, err, sizeof(err)) < 0) {
                tlog(devid, "init: invalid argument: %s", err);
                return NULL;
        }
        *trace = cfg.trace;
        if (testing_fault_enter(&cfg.faults[TESTING_OP_INIT], &init_calls) != TESTING_PROCEED) {
                tlog(devid, "init: injected failure");
                return NULL;
        }

        h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->cfg = cfg;
        h->calls[TESTING_OP_INIT] = init_calls;
        r = simdev_function_new(&h->fn, devid && *devid ? devid : "unnamed", cfg.state_size, cfg.empty, cfg.seed);
        if (r < 0) {
                tlog(devid, "init: cannot create a %" PRIu64 "-byte device: %s", cfg.state_size, strerror(-r));
                free(h);
                return NULL;
        }
        return h;
}

static int do_save(void *handle, uint8_t *state, uint64_t len) {
        TestingHandle *h = handle;
        bool garbage;
        int r;

        if (!h || (!state && len > 0))
                return -EINVAL;
        r = enter(h, TESTING_OP_SAVE, &garbage);
        if (r < 0)
                return r;
        if (len > h->budget) {
                tlog(h->fn->bdf, "save: %" PRIu64 " bytes requested, only %" PRIu64 " reported pending", len,
                     h->budget);
                return -EINVAL;
        }
        r = simdev_function_save(h->fn, state, len);
        if (r < 0) {
                tlog(h->fn->bdf, "save: %s", h->fn->error);
                return r;
        }
        h->budget -= len;
        /* garbage: the save goes on as usual (pending shrinks, the stream
         * ends), only the bytes it hands over are worthless. */
        if (garbage)
                memset(state, TESTING_GARBAGE_BYTE, len);
        return 0;
}

static int do_load(void *handle, uint8_t *state, uint64_t len) {
        TestingHandle *h = handle;
        bool garbage;
        int r;

        if (!h || (!state && len > 0))
                return -EINVAL;
        r = enter(h, TESTING_OP_LOAD, &garbage);
        if (r < 0)
                return r;
        r = simdev_function_load(h->fn, state, len);
        if (r < 0)
                tlog(h->fn->bdf, "load: %s", h->fn->error);
        return r;
}

static int do_update_pending(void *handle, uint64_t *pending_bytes) {
        TestingHandle *h = handle;
        bool garbage;
        int r;

        if (!h || !pending_bytes)
                return -EINVAL;
        r = enter(h, TESTING_OP_UPDATE_PENDING, &garbage);
        if (r < 0)
                return r;
        if (garbage) {
                *pending_bytes = h->budget = UINT64_MAX;
                return 0;
        }
        /* The device "ran" since the last round: dirty some pages (pre-copy only). */
        if (h->cfg.dirty > 0 && h->fn->state == 3)
                (void) simdev_function_dirty_pages(h->fn, (h->cfg.dirty + h->fn->page_size - 1) / h->fn->page_size);
        *pending_bytes = h->budget = simdev_function_pending(h->fn);
        return 0;
}

static int do_set_state(void *handle, uint32_t value) {
        TestingHandle *h = handle;
        bool garbage;
        int r;

        if (!h)
                return -EINVAL;
        r = enter(h, TESTING_OP_SET_STATE, &garbage);
        if (r < 0)
                return r;
        r = simdev_function_set_state(h->fn, value);
        if (r < 0) {
                tlog(h->fn->bdf, "set_state(%" PRIu32 "): %s", value, h->fn->error);
                return r;
        }
        if (!(value & VFIO_DEVICE_STATE_SAVING))
                h->budget = 0;
        return 0;
}

static int do_get_state(void *handle, uint32_t *value) {
        TestingHandle *h = handle;
        bool garbage;
        int r;

        if (!h || !value)
                return -EINVAL;
        r = enter(h, TESTING_OP_GET_STATE, &garbage);
        if (r < 0)
                return r;
        *value = garbage ? TESTING_GARBAGE_STATE : h->fn->state;
        return 0;
}

static int do_cleanup(void *handle) {
        TestingHandle *h = handle;
        bool garbage;
        int r;

        if (!h)
                return -EINVAL;
        r = enter(h, TESTING_OP_CLEANUP, &garbage);
        /* Freed even when the injected result is a failure: nobody calls again. */
        simdev_function_free(h->fn);
        free(h);
        return r;
}

/* ---- the ops as the plugin exports them: trace, when asked, each call ---- */

static void *testing_init(char *devid, char *arg) {
        bool trace = false;
        void *h = do_init(devid, arg, &trace);

        if (trace)
                tlog(devid, "init(\"%s\") = %s", arg ? arg : "", h ? "ok" : "NULL");
        return h;
}

/* Whether h traces its calls; copies its BDF, which cleanup() frees. */
static bool tracing(const TestingHandle *h, char *bdf, size_t size) {
        if (!h || !h->cfg.trace)
                return false;
        (void) snprintf(bdf, size, "%s", h->fn->bdf);
        return true;
}

static int testing_save(void *handle, uint8_t *state, uint64_t len) {
        char bdf[64];
        bool trace = tracing(handle, bdf, sizeof(bdf));
        int r = do_save(handle, state, len);

        if (trace)
                tlog(bdf, "save(%" PRIu64 ") = %d", len, r);
        return r;
}

static int testing_load(void *handle, uint8_t *state, uint64_t len) {
        char bdf[64];
        bool trace = tracing(handle, bdf, sizeof(bdf));
        int r = do_load(handle, state, len);

        if (trace)
                tlog(bdf, "load(%" PRIu64 ") = %d", len, r);
        return r;
}

static int testing_update_pending(void *handle, uint64_t *pending_bytes) {
        char bdf[64];
        bool trace = tracing(handle, bdf, sizeof(bdf));
        int r = do_update_pending(handle, pending_bytes);

        if (trace)
                tlog(bdf, "update_pending() = %d, pending %" PRIu64, r, r == 0 ? *pending_bytes : 0);
        return r;
}

static int testing_set_state(void *handle, uint32_t value) {
        char bdf[64];
        bool trace = tracing(handle, bdf, sizeof(bdf));
        int r = do_set_state(handle, value);

        if (trace)
                tlog(bdf, "set_state(%" PRIu32 ") = %d", value, r);
        return r;
}

static int testing_get_state(void *handle, uint32_t *value) {
        char bdf[64];
        bool trace = tracing(handle, bdf, sizeof(bdf));
        int r = do_get_state(handle, value);

        if (trace)
                tlog(bdf, "get_state() = %d, state %" PRIu32, r, r == 0 ? *value : 0);
        return r;
}

static int testing_cleanup(void *handle) {
        char bdf[64];
        bool trace = tracing(handle, bdf, sizeof(bdf));
        int r = do_cleanup(handle);

        if (trace)
                tlog(bdf, "cleanup() = %d", r);
        return r;
}

static VFIOMigrationPluginOps testing_ops = {
        .init = testing_init,
        .save = testing_save,
        .load = testing_load,
        .update_pending = testing_update_pending,
        .set_state = testing_set_state,
        .get_state = testing_get_state,
        .cleanup = testing_cleanup,
};

/* testing-noprecopy.so is built from these sources with -DTESTING_NO_PRECOPY:
 * the same device, reporting no pre-copy capability (the info is static). */
static const MigbrokerPluginInfo testing_info = {
        .struct_size = sizeof(MigbrokerPluginInfo),
#ifdef TESTING_NO_PRECOPY
        .capabilities = 0,
        .name = "testing-noprecopy",
#else
        .capabilities = MIGBROKER_PLUGIN_CAP_PRECOPY,
        .name = "testing",
#endif
        .version = "1.0",
        .pci_ids = NULL,
        .n_pci_ids = 0,
        .probe = NULL,
};

int vfio_lm_get_plugin_version(void);
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void);
const MigbrokerPluginInfo *migbroker_get_plugin_info(void);

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return &testing_ops;
}

const MigbrokerPluginInfo *migbroker_get_plugin_info(void) {
        return &testing_info;
}
