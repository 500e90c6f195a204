/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fsm.h"
#include "migbroker/plugin.h"
#include "v1-moves.h"

static const MbState v2_states[] = {
        MB_STATE_RUNNING, MB_STATE_STOP, MB_STATE_PRE_COPY, MB_STATE_STOP_COPY, MB_STATE_RESUMING,
};

static bool have(const MbV1Move *moves, size_t n, uint32_t from, uint32_t to) {
        for (size_t i = 0; i < n; i++)
                if (moves[i].from == from && moves[i].to == to)
                        return true;
        return false;
}

size_t mb_v1_moves(bool precopy, MbV1Move moves[static MB_V1_MOVES_MAX]) {
        size_t n = 0;

        for (size_t i = 0; i < sizeof(v2_states) / sizeof(v2_states[0]); i++)
                for (size_t j = 0; j < sizeof(v2_states) / sizeof(v2_states[0]); j++) {
                        uint32_t calls[MB_FSM_V1_CALLS_MAX], cur;
                        size_t k;

                        if (mb_fsm_v1_calls(v2_states[i], v2_states[j], precopy, calls, &k) < 0)
                                continue; /* a move the broker refuses */
                        cur = mb_state_to_v1(v2_states[i]);
                        for (size_t c = 0; c < k; c++) {
                                if (calls[c] != cur && !have(moves, n, cur, calls[c]) && n < MB_V1_MOVES_MAX)
                                        moves[n++] = (MbV1Move) { cur, calls[c] };
                                cur = calls[c];
                        }
                }
        return n;
}

bool mb_v1_move_touches_precopy(const MbV1Move *m) {
        const uint32_t precopy = VFIO_DEVICE_STATE_RUNNING | VFIO_DEVICE_STATE_SAVING;

        return m->from == precopy || m->to == precopy;
}

const char *mb_v1_state_name(uint32_t v1) {
        if (!mb_v1_state_valid(v1))
                return NULL;
        return mb_state_to_string(mb_state_from_v1(v1));
}
