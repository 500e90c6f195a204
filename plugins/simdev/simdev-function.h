/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdev-function.h: one simulated device function: its memory, the VFIO v1
 * migration state machine, dirty-page tracking and the save/load sessions.
 * No I/O, no timers, no logging (libc only): the agent and the testing plugin drive it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "simdev-bitmap.h"
#include "simdev-prng.h"
#include "simdev-stream.h"

#define SIMDEV_STATE_ERROR 6u /* v1's SAVING|RESUMING */

typedef struct SimdevFunction {
        char bdf[64];
        uint8_t *mem;
        uint64_t size;
        uint32_t page_size;
        uint64_t n_pages;
        uint32_t state;           /* v1 bits: 0,1,2,3,4 or SIMDEV_STATE_ERROR */

        SimdevBitmap dirty;       /* pages written since the current save round was taken */
        SimdevPrng dirtier;       /* deterministic choice of the pages to dirty and their content */
        uint64_t pages_dirtied;

        bool saving;              /* a save session is active (entered 3 or 2) */
        bool loading;             /* a load session is active (entered 4) */
        /* The last session's encoder/decoder stay initialised after it ends so
         * that its statistics remain readable; the next session replaces them. */
        bool enc_init, dec_init;
        SimdevEncoder enc;
        SimdevDecoder dec;

        char error[192];          /* last failure, for the caller to log */
} SimdevFunction;

/* A function of size bytes, RUNNING. Content: zero when empty, else a
 * deterministic fill from seed and bdf. */
int simdev_function_new(SimdevFunction **ret, const char *bdf, uint64_t size, bool empty, uint64_t seed);
void simdev_function_free(SimdevFunction *f);
static inline void simdev_function_freep(SimdevFunction **f) {
        if (*f)
                simdev_function_free(*f);
}

/* v1 transitions (PROTOCOL.md, "States"). -EINVAL for an invalid value or arc
 * (state unchanged); -EBADMSG when leaving RESUMING with a partial stream (the
 * function goes to SIMDEV_STATE_ERROR). */
int simdev_function_set_state(SimdevFunction *f, uint32_t state);

/* Stream bytes that can be saved now; 0 outside the SAVING states. */
uint64_t simdev_function_pending(SimdevFunction *f);

/* Writes exactly len stream bytes. -EINVAL outside SAVING or when len exceeds
 * the pending bytes (nothing written then). */
int simdev_function_save(SimdevFunction *f, uint8_t *buf, uint64_t len);

/* Applies len stream bytes. -EINVAL outside RESUMING; -EBADMSG on a corrupt
 * stream (the function goes to SIMDEV_STATE_ERROR, f->error says why). */
int simdev_function_load(SimdevFunction *f, const uint8_t *buf, uint64_t len);

/* Mutates n pages chosen by the function's PRNG, as the device would while
 * RUNNING; a no-op in any state without the RUNNING bit. Returns pages changed. */
uint64_t simdev_function_dirty_pages(SimdevFunction *f, uint64_t n);

/* Marks a byte range as written (it will be sent again in pre-copy). */
void simdev_function_mark_dirty(SimdevFunction *f, uint64_t off, uint64_t len);

/* Statistics of the current or last save / load session. */
void simdev_function_save_stats(const SimdevFunction *f, uint64_t *rounds, uint64_t *bytes);
void simdev_function_load_stats(const SimdevFunction *f, uint64_t *bytes, uint64_t *records, bool *complete);

static inline bool simdev_state_valid(uint32_t s) {
        return s <= 4;
}
