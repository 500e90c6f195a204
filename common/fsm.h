/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fsm.h: the device migration state machine the broker exposes (VFIO v2
 * states, path selection as the kernel's vfio_mig_get_next_state) and the v1
 * set_state() calls that drive a seed-ABI plugin for each move. Pure logic.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum MbState {
        MB_STATE_RUNNING,
        MB_STATE_STOP,
        MB_STATE_PRE_COPY,
        MB_STATE_STOP_COPY,
        MB_STATE_RESUMING,
        MB_STATE_ERROR,
        _MB_STATE_MAX,
        _MB_STATE_INVALID = -22,
} MbState;

/* The longest v2 path has 4 states after the start (resuming -> stop -> running -> pre-copy). */
#define MB_FSM_PATH_MAX 4
/* At most two v1 calls per move: "through 0". */
#define MB_FSM_V1_CALLS_MAX 2

const char *mb_state_to_string(MbState s);          /* "running", "stop", "pre-copy", ... */
MbState mb_state_from_string(const char *s);         /* -EINVAL when unknown */

uint32_t mb_state_to_v1(MbState s);                  /* ERROR -> 6 (SAVING|RESUMING) */
MbState mb_state_from_v1(uint32_t v1);               /* 6, 5, 7 or > 7 -> MB_STATE_ERROR */
bool mb_v1_state_valid(uint32_t v1);                 /* 0..4 */

/* The kernel's vfio_mig_get_next_state(), restricted to our states (no P2P):
 * the next state on the shortest path from cur to target. Returns 0, or
 * -EILSEQ (MB_EINVALIDTRANSITION) when target is unreachable. */
int mb_fsm_next_state(MbState cur, MbState target, bool precopy, MbState *ret_next);

/* The whole v2 path from cur (excluded) to target (included); *n = 0 when
 * cur == target. -EILSEQ when unreachable. */
int mb_fsm_path(MbState cur, MbState target, bool precopy, MbState path[MB_FSM_PATH_MAX], size_t *n);

/* The v1 set_state() values QEMU's v1 code issued for the same move: one
 * direct call where it moved directly, otherwise through 0. -EILSEQ when the
 * v2 move is refused. *n = 0 when cur == target. */
int mb_fsm_v1_calls(MbState cur, MbState target, bool precopy, uint32_t calls[MB_FSM_V1_CALLS_MAX], size_t *n);

/* Whether a state is a saving state (a save session runs in it). */
static inline bool mb_state_is_saving(MbState s) {
        return s == MB_STATE_PRE_COPY || s == MB_STATE_STOP_COPY;
}
