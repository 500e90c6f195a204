/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "fsm.h"
#include "macro.h"
#include "migbroker/plugin.h"

static const char *const state_names[_MB_STATE_MAX] = {
        [MB_STATE_RUNNING] = "running",
        [MB_STATE_STOP] = "stop",
        [MB_STATE_PRE_COPY] = "pre-copy",
        [MB_STATE_STOP_COPY] = "stop-copy",
        [MB_STATE_RESUMING] = "resuming",
        [MB_STATE_ERROR] = "error",
};

const char *mb_state_to_string(MbState s) {
        if (s < 0 || s >= _MB_STATE_MAX)
                return NULL;
        return state_names[s];
}

MbState mb_state_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _MB_STATE_MAX; i++)
                if (strcmp(state_names[i], s) == 0)
                        return (MbState) i;
        return -EINVAL;
}

uint32_t mb_state_to_v1(MbState s) {
        switch (s) {
        case MB_STATE_RUNNING: return VFIO_DEVICE_STATE_RUNNING;
        case MB_STATE_STOP: return VFIO_DEVICE_STATE_STOP;
        case MB_STATE_PRE_COPY: return VFIO_DEVICE_STATE_RUNNING | VFIO_DEVICE_STATE_SAVING;
        case MB_STATE_STOP_COPY: return VFIO_DEVICE_STATE_SAVING;
        case MB_STATE_RESUMING: return VFIO_DEVICE_STATE_RESUMING;
        default: return MIGBROKER_V1_STATE_ERROR;
        }
}

bool mb_v1_state_valid(uint32_t v1) {
        return v1 <= VFIO_DEVICE_STATE_RESUMING;
}

MbState mb_state_from_v1(uint32_t v1) {
        switch (v1) {
        case VFIO_DEVICE_STATE_STOP: return MB_STATE_STOP;
        case VFIO_DEVICE_STATE_RUNNING: return MB_STATE_RUNNING;
        case VFIO_DEVICE_STATE_SAVING: return MB_STATE_STOP_COPY;
        case VFIO_DEVICE_STATE_RUNNING | VFIO_DEVICE_STATE_SAVING: return MB_STATE_PRE_COPY;
        case VFIO_DEVICE_STATE_RESUMING: return MB_STATE_RESUMING;
        default: return MB_STATE_ERROR;
        }
}

/* The kernel's table (drivers/vfio/vfio_main.c, vfio_mig_get_next_state) with
 * the P2P states removed: next_state[cur][target]. ERROR marks a refused move. */
#define R MB_STATE_RUNNING
#define S MB_STATE_STOP
#define P MB_STATE_PRE_COPY
#define C MB_STATE_STOP_COPY
#define M MB_STATE_RESUMING
#define E MB_STATE_ERROR
static const MbState next_state[_MB_STATE_MAX][_MB_STATE_MAX] = {
        /*                 running  stop  pre-copy  stop-copy  resuming  error */
        [MB_STATE_RUNNING]   = { R,  S,    P,        S,         S,        E },
        [MB_STATE_STOP]      = { R,  S,    R,        C,         M,        E },
        [MB_STATE_PRE_COPY]  = { R,  R,    P,        C,         R,        E },
        [MB_STATE_STOP_COPY] = { S,  S,    E,        C,         S,        E },
        [MB_STATE_RESUMING]  = { S,  S,    S,        S,         M,        E },
        [MB_STATE_ERROR]     = { E,  E,    E,        E,         E,        E },
};
#undef R
#undef S
#undef P
#undef C
#undef M
#undef E

static bool state_valid(MbState s) {
        return s >= 0 && s < _MB_STATE_MAX;
}

int mb_fsm_next_state(MbState cur, MbState target, bool precopy, MbState *ret_next) {
        MbState next;

        if (!state_valid(cur) || !state_valid(target))
                return -EINVAL;
        if (cur == MB_STATE_ERROR || target == MB_STATE_ERROR)
                return -MB_EINVALIDTRANSITION;
        if (!precopy && (cur == MB_STATE_PRE_COPY || target == MB_STATE_PRE_COPY))
                return -MB_EINVALIDTRANSITION;

        next = next_state[cur][target];
        if (next == MB_STATE_ERROR)
                return -MB_EINVALIDTRANSITION;
        *ret_next = next;
        return 0;
}

int mb_fsm_path(MbState cur, MbState target, bool precopy, MbState path[MB_FSM_PATH_MAX], size_t *n) {
        size_t k = 0;
        int r;

        while (cur != target) {
                MbState next;

                r = mb_fsm_next_state(cur, target, precopy, &next);
                if (r < 0)
                        return r;
                if (k >= MB_FSM_PATH_MAX)
                        return -ELOOP; /* cannot happen with the table above */
                path[k++] = next;
                cur = next;
        }
        /* Validate the trivial move too (e.g. error -> error is refused). */
        if (k == 0) {
                MbState next;
                r = mb_fsm_next_state(cur, target, precopy, &next);
                if (r < 0)
                        return r;
        }
        *n = k;
        return 0;
}

/* The moves QEMU's v1 code made with one set_state() call (hw/vfio/migration.c
 * before the v2 uAPI, and seed 000): vm stop/start, save setup, the switch to
 * stop-and-copy, savevm, load setup, migration cancel/failure. */
static bool v1_direct(MbState cur, MbState target) {
        switch (cur) {
        case MB_STATE_RUNNING:
                /* vm stop (0); save_setup (3); savevm stops with SAVING (2); load_setup (4) */
                return target == MB_STATE_STOP || target == MB_STATE_PRE_COPY ||
                       target == MB_STATE_STOP_COPY || target == MB_STATE_RESUMING;
        case MB_STATE_STOP:
                /* vm start (1); save_setup of a stopped vm (2); load_setup (4) */
                return target == MB_STATE_RUNNING || target == MB_STATE_STOP_COPY ||
                       target == MB_STATE_RESUMING;
        case MB_STATE_PRE_COPY:
                /* stop-and-copy (2); cancelled migration (1) */
                return target == MB_STATE_STOP_COPY || target == MB_STATE_RUNNING;
        case MB_STATE_STOP_COPY:
                /* failed migration restarts the vm (1) */
                return target == MB_STATE_RUNNING;
        case MB_STATE_RESUMING:
                /* vm start after load (1) */
                return target == MB_STATE_RUNNING;
        default:
                return false;
        }
}

int mb_fsm_v1_calls(MbState cur, MbState target, bool precopy, uint32_t calls[MB_FSM_V1_CALLS_MAX], size_t *n) {
        MbState path[MB_FSM_PATH_MAX];
        size_t k = 0, plen;
        int r;

        /* The v2 rules decide whether the move is allowed at all. */
        r = mb_fsm_path(cur, target, precopy, path, &plen);
        if (r < 0)
                return r;

        if (cur != target) {
                if (v1_direct(cur, target)) {
                        calls[k++] = mb_state_to_v1(target);
                } else {
                        if (cur != MB_STATE_STOP)
                                calls[k++] = VFIO_DEVICE_STATE_STOP;
                        if (target != MB_STATE_STOP)
                                calls[k++] = mb_state_to_v1(target);
                }
        }
        *n = k;
        return 0;
}
