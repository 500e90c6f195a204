/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * v1-moves.h: the v1 set_state() moves a plugin must accept, derived from
 * mb_fsm_v1_calls() over every allowed v2 move (the calls QEMU's v1 code made).
 * Pure logic for the conformance checks; it calls no plugin.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One set_state(to) call made while the device is in v1 state from. */
typedef struct MbV1Move {
        uint32_t from;
        uint32_t to;
} MbV1Move;

/* At most one move per ordered pair of the five valid v1 states. */
#define MB_V1_MOVES_MAX 20

/* The distinct moves, in a stable order (by v2 pair, running first, then by
 * call within the pair), for a device with or without pre-copy. Returns how
 * many were written to moves. */
size_t mb_v1_moves(bool precopy, MbV1Move moves[static MB_V1_MOVES_MAX]);

/* Whether a move leaves or enters pre-copy (RUNNING|SAVING). */
bool mb_v1_move_touches_precopy(const MbV1Move *m);

/* A v1 state's name as the v2 state it stands for ("running", "pre-copy"...),
 * or NULL for a value that is not a valid v1 state (0..4). */
const char *mb_v1_state_name(uint32_t v1);
