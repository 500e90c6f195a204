/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The v1 moves plugin check asks a plugin to accept: derived from
 * mb_fsm_v1_calls() over every v2 pair, pinned here against the list written
 * from QEMU's v1 code (docs/plugin-guide.md, the set_state table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "v1-moves.h"

/* v1: STOP 0, RUNNING 1, SAVING 2 (stop-copy), RUNNING|SAVING 3 (pre-copy), RESUMING 4 */
static const MbV1Move with_precopy[] = {
        { 1, 0 }, { 1, 3 }, { 1, 2 }, { 1, 4 },  /* vm stop, save_setup, savevm, load_setup */
        { 0, 1 }, { 0, 3 }, { 0, 2 }, { 0, 4 },  /* vm start, stop -> pre-copy, save of a stopped vm, load */
        { 3, 1 }, { 3, 0 }, { 3, 2 },            /* cancelled, through 0, stop-and-copy */
        { 2, 1 }, { 2, 0 },                      /* failed migration, stop */
        { 4, 1 }, { 4, 0 },                      /* vm start after load, stop */
};

static const MbV1Move without_precopy[] = {
        { 1, 0 }, { 1, 2 }, { 1, 4 },
        { 0, 1 }, { 0, 2 }, { 0, 4 },
        { 2, 1 }, { 2, 0 },
        { 4, 1 }, { 4, 0 },
};

static void expect_moves(bool precopy, const MbV1Move *want, size_t n_want) {
        MbV1Move got[MB_V1_MOVES_MAX];
        size_t n = mb_v1_moves(precopy, got);

        for (size_t i = 0; i < n; i++)
                print_message("%u -> %u\n", got[i].from, got[i].to);
        assert_int_equal(n, n_want);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(got[i].from, want[i].from);
                assert_int_equal(got[i].to, want[i].to);
        }
}

static void test_moves_precopy(void **state) {
        expect_moves(true, with_precopy, sizeof(with_precopy) / sizeof(with_precopy[0]));
}

static void test_moves_no_precopy(void **state) {
        MbV1Move got[MB_V1_MOVES_MAX];
        size_t n = mb_v1_moves(false, got);

        expect_moves(false, without_precopy, sizeof(without_precopy) / sizeof(without_precopy[0]));
        for (size_t i = 0; i < n; i++)
                assert_false(mb_v1_move_touches_precopy(&got[i]));
}

/* Without pre-copy: exactly the pre-copy-capable list minus the moves touching 3. */
static void test_precopy_filter(void **state) {
        size_t k = 0;

        for (size_t i = 0; i < sizeof(with_precopy) / sizeof(with_precopy[0]); i++) {
                if (mb_v1_move_touches_precopy(&with_precopy[i]))
                        continue;
                assert_true(k < sizeof(without_precopy) / sizeof(without_precopy[0]));
                assert_int_equal(with_precopy[i].from, without_precopy[k].from);
                assert_int_equal(with_precopy[i].to, without_precopy[k].to);
                k++;
        }
        assert_int_equal(k, sizeof(without_precopy) / sizeof(without_precopy[0]));
}

/* Never a no-op, never the error value 6, never stop-copy -> pre-copy. */
static void test_moves_sane(void **state) {
        MbV1Move got[MB_V1_MOVES_MAX];
        size_t n = mb_v1_moves(true, got);

        for (size_t i = 0; i < n; i++) {
                assert_int_not_equal(got[i].from, got[i].to);
                assert_true(got[i].from <= 4 && got[i].to <= 4);
                assert_false(got[i].from == 2 && got[i].to == 3);
                for (size_t j = 0; j < i; j++)
                        assert_false(got[i].from == got[j].from && got[i].to == got[j].to);
        }
}

static void test_state_names(void **state) {
        assert_string_equal(mb_v1_state_name(0), "stop");
        assert_string_equal(mb_v1_state_name(1), "running");
        assert_string_equal(mb_v1_state_name(2), "stop-copy");
        assert_string_equal(mb_v1_state_name(3), "pre-copy");
        assert_string_equal(mb_v1_state_name(4), "resuming");
        assert_null(mb_v1_state_name(5));
        assert_null(mb_v1_state_name(6));
        assert_null(mb_v1_state_name(UINT32_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_moves_precopy),
                cmocka_unit_test(test_moves_no_precopy),
                cmocka_unit_test(test_precopy_filter),
                cmocka_unit_test(test_moves_sane),
                cmocka_unit_test(test_state_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
