/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration state machine: every (from, to) pair against a table written
 * from the kernel's vfio_mig_get_next_state rules and QEMU's v1 calls. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "fsm.h"

#define R MB_STATE_RUNNING
#define S MB_STATE_STOP
#define P MB_STATE_PRE_COPY
#define C MB_STATE_STOP_COPY
#define M MB_STATE_RESUMING
#define E MB_STATE_ERROR
#define NONE (-1)

typedef struct Row {
        MbState from, to;
        bool ok;
        int path[MB_FSM_PATH_MAX + 1];   /* terminated by NONE */
        int v1[MB_FSM_V1_CALLS_MAX + 1]; /* terminated by NONE */
} Row;

/* Devices with pre-copy. v1 values: STOP 0, RUNNING 1, SAVING 2, RUNNING|SAVING 3, RESUMING 4. */
static const Row precopy_table[] = {
        { R, R, true,  { NONE },            { NONE } },
        { R, S, true,  { S, NONE },         { 0, NONE } },
        { R, P, true,  { P, NONE },         { 3, NONE } },          /* save_setup */
        { R, C, true,  { S, C, NONE },      { 2, NONE } },          /* savevm: stop with SAVING */
        { R, M, true,  { S, M, NONE },      { 4, NONE } },          /* load_setup */
        { R, E, false, { NONE }, { NONE } },
        { S, R, true,  { R, NONE },         { 1, NONE } },
        { S, S, true,  { NONE },            { NONE } },
        { S, P, true,  { R, P, NONE },      { 3, NONE } },          /* through 0: already there */
        { S, C, true,  { C, NONE },         { 2, NONE } },
        { S, M, true,  { M, NONE },         { 4, NONE } },
        { S, E, false, { NONE }, { NONE } },
        { P, R, true,  { R, NONE },         { 1, NONE } },          /* migration cancelled */
        { P, S, true,  { R, S, NONE },      { 0, NONE } },
        { P, P, true,  { NONE },            { NONE } },
        { P, C, true,  { C, NONE },         { 2, NONE } },          /* stop-and-copy */
        { P, M, true,  { R, S, M, NONE },   { 0, 4, NONE } },
        { P, E, false, { NONE }, { NONE } },
        { C, R, true,  { S, R, NONE },      { 1, NONE } },          /* migration failed */
        { C, S, true,  { S, NONE },         { 0, NONE } },
        { C, P, false, { NONE },            { NONE } },          /* refused by the kernel */
        { C, C, true,  { NONE },            { NONE } },
        { C, M, true,  { S, M, NONE },      { 0, 4, NONE } },
        { C, E, false, { NONE }, { NONE } },
        { M, R, true,  { S, R, NONE },      { 1, NONE } },          /* vm start after load */
        { M, S, true,  { S, NONE },         { 0, NONE } },
        { M, P, true,  { S, R, P, NONE },   { 0, 3, NONE } },
        { M, C, true,  { S, C, NONE },      { 0, 2, NONE } },
        { M, M, true,  { NONE },            { NONE } },
        { M, E, false, { NONE }, { NONE } },
        { E, R, false, { NONE },            { NONE } },
        { E, S, false, { NONE },            { NONE } },
        { E, P, false, { NONE },            { NONE } },
        { E, C, false, { NONE },            { NONE } },
        { E, M, false, { NONE },            { NONE } },
        { E, E, false, { NONE },            { NONE } },
};

static void check_row(const Row *row, bool precopy) {
        MbState path[MB_FSM_PATH_MAX];
        uint32_t calls[MB_FSM_V1_CALLS_MAX];
        size_t n = 99, k;
        int r;

        r = mb_fsm_path(row->from, row->to, precopy, path, &n);
        if (!row->ok) {
                assert_int_equal(r, -MB_EINVALIDTRANSITION);
                assert_int_equal(mb_fsm_v1_calls(row->from, row->to, precopy, calls, &n), -MB_EINVALIDTRANSITION);
                return;
        }
        assert_int_equal(r, 0);
        for (k = 0; row->path[k] != NONE; k++) {
                assert_true(k < n);
                assert_int_equal(path[k], row->path[k]);
                /* Saving states are never interior. */
                if (k + 1 < n)
                        assert_false(mb_state_is_saving(path[k]));
        }
        assert_int_equal(n, k);

        n = 99;
        assert_int_equal(mb_fsm_v1_calls(row->from, row->to, precopy, calls, &n), 0);
        for (k = 0; row->v1[k] != NONE; k++) {
                assert_true(k < n);
                assert_int_equal(calls[k], (uint32_t) row->v1[k]);
        }
        assert_int_equal(n, k);
}

static void test_every_pair_precopy(void **state) {
        bool seen[_MB_STATE_MAX][_MB_STATE_MAX] = {};

        for (size_t i = 0; i < sizeof(precopy_table) / sizeof(precopy_table[0]); i++) {
                const Row *row = &precopy_table[i];
                print_message("precopy %s -> %s\n", mb_state_to_string(row->from), mb_state_to_string(row->to));
                check_row(row, true);
                seen[row->from][row->to] = true;
        }
        for (int a = 0; a < _MB_STATE_MAX; a++)
                for (int b = 0; b < _MB_STATE_MAX; b++)
                        assert_true(seen[a][b]);
}

static void test_every_pair_no_precopy(void **state) {
        /* Without the capability: every move to or from pre-copy is refused,
         * everything else is as above. */
        for (size_t i = 0; i < sizeof(precopy_table) / sizeof(precopy_table[0]); i++) {
                Row row = precopy_table[i];
                if (row.from == P || row.to == P)
                        row.ok = false;
                check_row(&row, false);
        }
}

static void test_next_state(void **state) {
        MbState next;

        assert_int_equal(mb_fsm_next_state(R, C, true, &next), 0);
        assert_int_equal(next, S);
        assert_int_equal(mb_fsm_next_state(M, P, true, &next), 0);
        assert_int_equal(next, S);
        assert_int_equal(mb_fsm_next_state(C, P, true, &next), -MB_EINVALIDTRANSITION);
        assert_int_equal(mb_fsm_next_state(R, P, false, &next), -MB_EINVALIDTRANSITION);
        assert_int_equal(mb_fsm_next_state((MbState) 17, R, true, &next), -EINVAL);
        assert_int_equal(mb_fsm_next_state(R, (MbState) -1, true, &next), -EINVAL);
}

static void test_names(void **state) {
        static const char *const names[] = { "running", "stop", "pre-copy", "stop-copy", "resuming", "error" };

        for (int i = 0; i < _MB_STATE_MAX; i++) {
                assert_string_equal(mb_state_to_string((MbState) i), names[i]);
                assert_int_equal(mb_state_from_string(names[i]), i);
        }
        assert_int_equal(mb_state_from_string("Running"), -EINVAL);
        assert_int_equal(mb_state_from_string("precopy"), -EINVAL);
        assert_int_equal(mb_state_from_string(""), -EINVAL);
        assert_int_equal(mb_state_from_string(NULL), -EINVAL);
        assert_null(mb_state_to_string(_MB_STATE_MAX));
}

static void test_v1_mapping(void **state) {
        assert_int_equal(mb_state_to_v1(R), 1);
        assert_int_equal(mb_state_to_v1(S), 0);
        assert_int_equal(mb_state_to_v1(P), 3);
        assert_int_equal(mb_state_to_v1(C), 2);
        assert_int_equal(mb_state_to_v1(M), 4);
        assert_int_equal(mb_state_to_v1(E), 6);
        for (uint32_t v = 0; v <= 4; v++) {
                assert_true(mb_v1_state_valid(v));
                assert_int_equal(mb_state_to_v1(mb_state_from_v1(v)), v);
        }
        assert_int_equal(mb_state_from_v1(5), E);
        assert_int_equal(mb_state_from_v1(6), E);
        assert_int_equal(mb_state_from_v1(7), E);
        assert_int_equal(mb_state_from_v1(8), E);
        assert_int_equal(mb_state_from_v1(UINT32_MAX), E);
        assert_false(mb_v1_state_valid(5));
        assert_false(mb_v1_state_valid(6));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_pair_precopy),
                cmocka_unit_test(test_every_pair_no_precopy),
                cmocka_unit_test(test_next_state),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_v1_mapping),
        };
        return cmocka_run_group_tests_name("fsm", tests, NULL, NULL);
}
