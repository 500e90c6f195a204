/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-op timing statistics of plugin check: nearest-rank percentiles, min and
 * max, samples kept per op name in any order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "op-timing.h"

static void test_percentile_small(void **state) {
        static const uint64_t one[] = { 7 };
        static const uint64_t two[] = { 3, 9 };
        static const uint64_t four[] = { 1, 2, 3, 4 };

        assert_int_equal(mb_percentile(one, 0, 50), 0);
        assert_int_equal(mb_percentile(one, 1, 0), 7);
        assert_int_equal(mb_percentile(one, 1, 50), 7);
        assert_int_equal(mb_percentile(one, 1, 100), 7);
        /* nearest rank: ceil(p * n), the lower of two for the median */
        assert_int_equal(mb_percentile(two, 2, 50), 3);
        assert_int_equal(mb_percentile(two, 2, 51), 9);
        assert_int_equal(mb_percentile(two, 2, 100), 9);
        assert_int_equal(mb_percentile(four, 4, 25), 1);
        assert_int_equal(mb_percentile(four, 4, 50), 2);
        assert_int_equal(mb_percentile(four, 4, 75), 3);
        assert_int_equal(mb_percentile(four, 4, 90), 4);
        assert_int_equal(mb_percentile(four, 4, 200), 4); /* clamped */
}

static void test_percentile_hundred(void **state) {
        uint64_t v[100];

        for (size_t i = 0; i < 100; i++)
                v[i] = (i + 1) * 10;
        assert_int_equal(mb_percentile(v, 100, 1), 10);
        assert_int_equal(mb_percentile(v, 100, 50), 500);
        assert_int_equal(mb_percentile(v, 100, 90), 900);
        assert_int_equal(mb_percentile(v, 100, 99), 990);
        assert_int_equal(mb_percentile(v, 100, 100), 1000);
}

static void test_stats_unsorted(void **state) {
        static const uint64_t samples[] = { 50, 10, 40, 20, 30, 1000, 5 };
        MbOpTimings *t = mb_op_timings_new();
        MbTimingStats st;

        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
                assert_int_equal(mb_op_timings_add(t, "save", samples[i]), 0);
        assert_int_equal(mb_op_timings_add(t, "init", 3), 0);

        assert_int_equal(mb_op_timings_stats(t, "save", &st), 0);
        assert_int_equal(st.n, 7);
        assert_int_equal(st.min_usec, 5);
        assert_int_equal(st.p50_usec, 30); /* 5 10 20 [30] 40 50 1000 */
        assert_int_equal(st.p90_usec, 1000);
        assert_int_equal(st.max_usec, 1000);

        assert_int_equal(mb_op_timings_stats(t, "init", &st), 0);
        assert_int_equal(st.n, 1);
        assert_int_equal(st.p50_usec, 3);
        assert_int_equal(st.max_usec, 3);

        assert_int_equal(mb_op_timings_stats(t, "load", &st), -ENOENT);
        mb_op_timings_free(t);
}

/* Adding after reading statistics keeps the samples (stats sort a copy). */
static void test_stats_then_add(void **state) {
        MbOpTimings *t = mb_op_timings_new();
        MbTimingStats st;

        assert_int_equal(mb_op_timings_add(t, "get_state", 100), 0);
        assert_int_equal(mb_op_timings_add(t, "get_state", 1), 0);
        assert_int_equal(mb_op_timings_stats(t, "get_state", &st), 0);
        assert_int_equal(st.p50_usec, 1);
        assert_int_equal(mb_op_timings_add(t, "get_state", 2), 0);
        assert_int_equal(mb_op_timings_stats(t, "get_state", &st), 0);
        assert_int_equal(st.n, 3);
        assert_int_equal(st.p50_usec, 2);
        assert_int_equal(st.max_usec, 100);
        mb_op_timings_free(t);
        mb_op_timings_free(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_percentile_small),
                cmocka_unit_test(test_percentile_hundred),
                cmocka_unit_test(test_stats_unsorted),
                cmocka_unit_test(test_stats_then_add),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
