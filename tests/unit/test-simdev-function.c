/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of plugins/simdev/simdev-function.c: the v1 state machine, the
 * pending/save contract under pre-copy dirtying, dirty tracking, load
 * sessions, and of simagent-dirtier.c's rate arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "simagent-dirtier.h"
#include "simdev-function.h"

#define SIZE (64u * SIMDEV_PAGE_SIZE + 300u)
#define BDF "0000:3b:00.1"

static SimdevFunction *new_fn(bool empty, uint64_t seed) {
        SimdevFunction *f = NULL;

        assert_int_equal(simdev_function_new(&f, BDF, SIZE, empty, seed), 0);
        assert_int_equal(f->state, 1);
        return f;
}

static void test_content(void **state) {
        SimdevFunction *a = new_fn(false, 7), *b = new_fn(false, 7), *c = new_fn(false, 8), *e = new_fn(true, 7);
        SimdevFunction *other = NULL;
        uint8_t zero[SIZE] = {};

        assert_memory_equal(a->mem, b->mem, SIZE);             /* deterministic */
        assert_memory_not_equal(a->mem, c->mem, SIZE);         /* seed matters */
        assert_memory_equal(e->mem, zero, SIZE);               /* --empty */
        assert_int_equal(simdev_function_new(&other, "0000:3b:00.2", SIZE, false, 7), 0);
        assert_memory_not_equal(a->mem, other->mem, SIZE);     /* BDF matters */
        assert_int_equal(simdev_function_new(&(SimdevFunction *) { NULL }, BDF, 0, false, 0), -EINVAL);
        simdev_function_free(a);
        simdev_function_free(b);
        simdev_function_free(c);
        simdev_function_free(e);
        simdev_function_free(other);
}

/* Every (from, to) pair of v1 values: what set_state does. */
static void test_state_table(void **state) {
        /* expect[from][to]: 0 ok, else the errno; -1 = from is unreachable/invalid */
        static const int expect[5][8] = {
                /*          to: 0  1  2        3        4        5        6        7 */
                /* 0 */ { 0, 0, 0, 0, 0, -EINVAL, -EINVAL, -EINVAL },
                /* 1 */ { 0, 0, 0, 0, 0, -EINVAL, -EINVAL, -EINVAL },
                /* 2 */ { 0, 0, 0, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL },
                /* 3 */ { 0, 0, 0, 0, -EINVAL, -EINVAL, -EINVAL, -EINVAL },
                /* 4 */ { 0, 0, -EINVAL, -EINVAL, 0, -EINVAL, -EINVAL, -EINVAL },
        };

        for (uint32_t from = 0; from < 5; from++)
                for (uint32_t to = 0; to < 8; to++) {
                        SimdevFunction *f = new_fn(false, 1);
                        int r;

                        assert_int_equal(simdev_function_set_state(f, from), 0);
                        r = simdev_function_set_state(f, to);
                        if (r != expect[from][to])
                                fail_msg("%u -> %u: %d, expected %d", from, to, r, expect[from][to]);
                        assert_int_equal(f->state, r == 0 ? to : from);
                        simdev_function_free(f);
                }
}

static void test_wrong_state_ops(void **state) {
        SimdevFunction *f = new_fn(false, 1);
        uint8_t buf[64] = {};

        assert_int_equal(simdev_function_pending(f), 0);
        assert_int_equal(simdev_function_save(f, buf, 1), -EINVAL);   /* RUNNING */
        assert_int_equal(simdev_function_load(f, buf, 1), -EINVAL);   /* RUNNING */
        assert_int_equal(simdev_function_set_state(f, 2), 0);
        assert_int_equal(simdev_function_load(f, buf, 1), -EINVAL);   /* SAVING */
        assert_int_equal(simdev_function_set_state(f, 0), 0);
        assert_int_equal(simdev_function_set_state(f, 4), 0);
        assert_int_equal(simdev_function_save(f, buf, 1), -EINVAL);   /* RESUMING */
        assert_int_equal(simdev_function_pending(f), 0);
        simdev_function_free(f);
}

/* Saves what update_pending reported, as QEMU does: chunks summing to n. */
static uint64_t save_round(SimdevFunction *f, uint8_t **stream, size_t *len, uint64_t chunk) {
        uint64_t n = simdev_function_pending(f);

        *stream = realloc(*stream, *len + n + 1);
        assert_non_null(*stream);
        for (uint64_t left = n; left > 0;) {
                uint64_t sz = left < chunk ? left : chunk;
                assert_int_equal(simdev_function_save(f, *stream + *len, sz), 0);
                *len += sz;
                left -= sz;
        }
        return n;
}

static void test_precopy_roundtrip(void **state) {
        SimdevFunction *src = new_fn(false, 3), *dst = new_fn(true, 0);
        uint8_t *stream = NULL, one;
        size_t len = 0;
        uint64_t n;

        assert_int_equal(simdev_function_set_state(src, 3), 0);
        /* round 1: the whole state */
        n = simdev_function_pending(src);
        assert_int_equal(n, SIMDEV_STREAM_HDR_LEN + SIMDEV_REC_HDR_LEN + SIZE);
        assert_int_equal(save_round(src, &stream, &len, 1000), n);
        assert_int_equal(simdev_function_pending(src), 0);
        assert_int_equal(simdev_function_save(src, &one, 1), -EINVAL); /* more than pending */

        /* the device runs: 5 dirtied pages (some may coincide) show up as pending */
        assert_int_equal(simdev_function_dirty_pages(src, 5), 5);
        assert_true(src->dirty.n_set >= 1 && src->dirty.n_set <= 10);
        n = simdev_function_pending(src);
        assert_true(n > 0);
        /* update_pending may be asked again; dirtying in between only adds */
        save_round(src, &stream, &len, 4096);
        simdev_function_mark_dirty(src, 10 * SIMDEV_PAGE_SIZE + 5, 2 * SIMDEV_PAGE_SIZE); /* pages 10..12 */
        assert_int_equal(src->dirty.n_set, 3);
        assert_int_equal(simdev_function_pending(src), SIMDEV_REC_HDR_LEN + 3 * SIMDEV_PAGE_SIZE);
        /* save half of it, then more pages get dirty: pending = rest + new */
        {
                uint64_t before = simdev_function_pending(src);
                uint8_t *buf = malloc(before);
                assert_int_equal(simdev_function_save(src, buf, 100), 0);
                stream = realloc(stream, len + 100);
                assert_non_null(stream);
                memcpy(stream + len, buf, 100);
                len += 100;
                free(buf);
                assert_int_equal(simdev_function_pending(src), before - 100);
                simdev_function_mark_dirty(src, 40 * SIMDEV_PAGE_SIZE, 1);
                assert_int_equal(simdev_function_pending(src),
                                 before - 100 + SIMDEV_REC_HDR_LEN + SIMDEV_PAGE_SIZE);
        }
        save_round(src, &stream, &len, 7);

        /* stop-copy: no more dirtying, the rest + the end record, then 0 */
        assert_int_equal(simdev_function_set_state(src, 2), 0);
        assert_int_equal(simdev_function_dirty_pages(src, 5), 0);
        simdev_function_mark_dirty(src, 0, 1); /* tracking still counts writes */
        n = save_round(src, &stream, &len, 1 << 20);
        assert_int_equal(n, SIMDEV_REC_HDR_LEN + SIMDEV_PAGE_SIZE + SIMDEV_END_LEN);
        assert_int_equal(simdev_function_pending(src), 0);
        assert_true(simdev_encoder_ended(&src->enc));
        assert_int_equal(simdev_function_set_state(src, 0), 0);

        /* destination: load in odd pieces, leave RESUMING, memory equal */
        assert_int_equal(simdev_function_set_state(dst, 4), 0);
        for (size_t off = 0; off < len;) {
                size_t sz = len - off < 333 ? len - off : 333;
                assert_int_equal(simdev_function_load(dst, stream + off, sz), 0);
                off += sz;
        }
        assert_int_equal(simdev_function_set_state(dst, 1), 0);
        assert_memory_equal(src->mem, dst->mem, SIZE);

        free(stream);
        simdev_function_free(src);
        simdev_function_free(dst);
}

static void test_new_session_resends_everything(void **state) {
        SimdevFunction *f = new_fn(false, 3);
        uint8_t *stream = NULL;
        size_t len = 0;

        assert_int_equal(simdev_function_set_state(f, 3), 0);
        save_round(f, &stream, &len, 65536);
        simdev_function_dirty_pages(f, 3);
        assert_int_equal(simdev_function_set_state(f, 1), 0); /* cancelled */
        assert_int_equal(simdev_function_pending(f), 0);
        assert_int_equal(simdev_function_set_state(f, 2), 0); /* straight to stop-copy */
        assert_int_equal(simdev_function_pending(f),
                         SIMDEV_STREAM_HDR_LEN + SIMDEV_REC_HDR_LEN + SIZE + SIMDEV_END_LEN);
        free(stream);
        simdev_function_free(f);
}

static void test_incomplete_load(void **state) {
        SimdevFunction *src = new_fn(false, 3), *dst = new_fn(true, 0);
        uint8_t *stream = NULL, junk[4] = { 1, 2, 3, 4 };
        size_t len = 0;

        assert_int_equal(simdev_function_set_state(src, 2), 0);
        save_round(src, &stream, &len, 1 << 20);

        /* untouched RESUMING may be left */
        assert_int_equal(simdev_function_set_state(dst, 4), 0);
        assert_int_equal(simdev_function_set_state(dst, 1), 0);

        /* a partial stream may not: -EBADMSG and the error state */
        assert_int_equal(simdev_function_set_state(dst, 4), 0);
        assert_int_equal(simdev_function_load(dst, stream, len / 2), 0);
        assert_int_equal(simdev_function_set_state(dst, 1), -EBADMSG);
        assert_int_equal(dst->state, SIMDEV_STATE_ERROR);
        assert_int_equal(simdev_function_set_state(dst, 4), -EINVAL); /* only reset leaves error */
        assert_int_equal(simdev_function_set_state(dst, 0), 0);

        /* a corrupt stream: error at load time */
        assert_int_equal(simdev_function_set_state(dst, 4), 0);
        assert_int_equal(simdev_function_load(dst, junk, sizeof(junk)), 0); /* header not complete yet */
        assert_int_equal(simdev_function_load(dst, stream, len), -EBADMSG);
        assert_int_equal(dst->state, SIMDEV_STATE_ERROR);
        assert_int_equal(simdev_function_load(dst, stream, len), -EINVAL);
        assert_int_equal(simdev_function_set_state(dst, 1), 0);

        /* and a good one after all that */
        assert_int_equal(simdev_function_set_state(dst, 4), 0);
        assert_int_equal(simdev_function_load(dst, stream, len), 0);
        assert_int_equal(simdev_function_set_state(dst, 1), 0);
        assert_memory_equal(src->mem, dst->mem, SIZE);
        free(stream);
        simdev_function_free(src);
        simdev_function_free(dst);
}

static void test_dirtier(void **state) {
        SimagentDirtier d;
        uint64_t total = 0;

        simagent_dirtier_init(&d, 1024 * 1024, 4096); /* 256 pages/s */
        assert_int_equal(simagent_dirtier_tick(&d, 1000000, 1000000), 0); /* starts the clock */
        for (uint64_t t = 1; t <= 100; t++)
                total += simagent_dirtier_tick(&d, 1000000 + t * 10000, 1000000); /* 10 ms ticks */
        assert_int_equal(total, 256); /* 1 s: exactly 256 pages, remainders carried */
        /* a 10 s stall counts as max_gap */
        assert_int_equal(simagent_dirtier_tick(&d, 12000000, 1000000), 256);
        simagent_dirtier_init(&d, 100, 4096); /* less than a page per second */
        assert_int_equal(simagent_dirtier_tick(&d, 1, 100000000), 0);
        assert_int_equal(simagent_dirtier_tick(&d, 1 + 40000000, 100000000), 0);  /* 4000 bytes */
        assert_int_equal(simagent_dirtier_tick(&d, 1 + 41000000, 100000000), 1);  /* 4100 bytes */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_content),
                cmocka_unit_test(test_state_table),
                cmocka_unit_test(test_wrong_state_ops),
                cmocka_unit_test(test_precopy_roundtrip),
                cmocka_unit_test(test_new_session_resends_everything),
                cmocka_unit_test(test_incomplete_load),
                cmocka_unit_test(test_dirtier),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
