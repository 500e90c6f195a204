/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of common/crc32c.c: published check values, and every
 * implementation (table, crc32 instruction, PCLMULQDQ and VPCLMULQDQ folding)
 * against a bit-at-a-time oracle or the table path on random data of every
 * length up to 2 KiB at every alignment 0..63, large buffers, chained calls
 * and lengths around each path's block boundaries. One cmocka test per
 * implementation and check, skipped when the CPU lacks the implementation.
 * MB_TEST_SEED=N replays a run.
 */

#include <assert.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crc32c.h"
#include "macro.h"

static uint64_t rng_state;

static uint64_t rng_next(void) {
        /* splitmix64 */
        uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

static void rng_fill(uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) rng_next();
}

/* The definition itself, one bit at a time: the oracle. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n) {
        crc = ~crc;
        while (n-- > 0) {
                crc ^= *p++;
                for (unsigned k = 0; k < 8; k++)
                        crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
}

static void test_check_value(void **state) {
        static const char check[] = "123456789";

        assert_int_equal(mb_crc32c(0, check, 9), MB_CRC32C_CHECK);
        assert_int_equal(MB_CRC32C_CHECK, 0xE3069283u);
        assert_int_equal(mb_crc32c_sw(0, check, 9), MB_CRC32C_CHECK);
        assert_int_equal(crc32c_bitwise(0, (const uint8_t *) check, 9), MB_CRC32C_CHECK);
        if (mb_crc32c_hw_available())
                assert_int_equal(mb_crc32c_hw(0, check, 9), MB_CRC32C_CHECK);
}

/* RFC 3720 (iSCSI), appendix B.4. */
static void test_rfc3720_vectors(void **state) {
        uint8_t buf[32];
        static const uint8_t read_pdu[48] = {
                0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
                0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        };
        uint32_t (*const fns[])(uint32_t, const void *, size_t) = { mb_crc32c, mb_crc32c_sw, mb_crc32c_hw };

        for (size_t f = 0; f < ELEMENTSOF(fns); f++) {
                if (fns[f] == mb_crc32c_hw && !mb_crc32c_hw_available())
                        continue;
                memset(buf, 0, sizeof(buf));
                assert_int_equal(fns[f](0, buf, sizeof(buf)), 0x8A9136AAu);
                memset(buf, 0xff, sizeof(buf));
                assert_int_equal(fns[f](0, buf, sizeof(buf)), 0x62A8AB43u);
                for (unsigned i = 0; i < 32; i++)
                        buf[i] = (uint8_t) i;
                assert_int_equal(fns[f](0, buf, sizeof(buf)), 0x46DD794Eu);
                for (unsigned i = 0; i < 32; i++)
                        buf[i] = (uint8_t) (31 - i);
                assert_int_equal(fns[f](0, buf, sizeof(buf)), 0x113FDB5Cu);
                assert_int_equal(fns[f](0, read_pdu, sizeof(read_pdu)), 0xD9963A56u);
        }
}

static void test_empty(void **state) {
        assert_int_equal(mb_crc32c(0, NULL, 0), 0);
        assert_int_equal(mb_crc32c_sw(0, NULL, 0), 0);
        assert_int_equal(mb_crc32c(0x12345678u, NULL, 0), 0x12345678u);
        assert_int_equal(mb_crc32c_sw(0xdeadbeefu, "x", 0), 0xdeadbeefu);
        if (mb_crc32c_hw_available())
                assert_int_equal(mb_crc32c_hw(0xdeadbeefu, NULL, 0), 0xdeadbeefu);
}

/* Continuing from a previous result equals one pass, at every split point. */
static void test_incremental(void **state) {
        enum { N = 3 * 1024 + 77 };
        _cleanup_free_ uint8_t *buf = malloc(N);
        uint32_t whole;

        assert_non_null(buf);
        rng_fill(buf, N);
        whole = crc32c_bitwise(0, buf, N);
        assert_int_equal(mb_crc32c(0, buf, N), whole);

        for (size_t i = 0; i <= N; i++) {
                assert_int_equal(mb_crc32c_sw(mb_crc32c_sw(0, buf, i), buf + i, N - i), whole);
                assert_int_equal(mb_crc32c(mb_crc32c(0, buf, i), buf + i, N - i), whole);
                if (mb_crc32c_hw_available())
                        assert_int_equal(mb_crc32c_hw(mb_crc32c_hw(0, buf, i), buf + i, N - i), whole);
        }
}

/* The table path against the oracle: every length up to 1100 at every
 * alignment 0..7, with a random starting crc. */
static void test_sw_vs_bitwise(void **state) {
        enum { N = 1100 + 8 };
        uint8_t buf[N];

        rng_fill(buf, N);
        for (size_t off = 0; off < 8; off++)
                for (size_t len = 0; off + len <= N && len <= 1100; len++) {
                        uint32_t seed = (uint32_t) rng_next();

                        assert_int_equal(mb_crc32c_sw(seed, buf + off, len), crc32c_bitwise(seed, buf + off, len));
                }
}

/* ---- every implementation, one cmocka test each (skipped when the CPU lacks it) ---- */

static const MbCrc32cImpl impls[] = {
        MB_CRC32C_IMPL_SW,
        MB_CRC32C_IMPL_SSE42,
        MB_CRC32C_IMPL_PCLMUL,
        MB_CRC32C_IMPL_VPCLMUL512,
};

static MbCrc32cImpl impl_of(void **state) {
        MbCrc32cImpl impl = *(const MbCrc32cImpl *) *state;

        if (!mb_crc32c_impl_available(impl)) {
                print_message("%s: not available on this CPU\n", mb_crc32c_impl_to_string(impl));
                skip();
        }
        return impl;
}

static void check_impl(MbCrc32cImpl impl, uint32_t seed, const uint8_t *p, size_t len, uint32_t want) {
        uint32_t got = mb_crc32c_impl(impl, seed, p, len);

        if (got != want)
                fail_msg("%s: len %zu align %zu seed 0x%08x: got 0x%08x, want 0x%08x", mb_crc32c_impl_to_string(impl),
                         len, (size_t) ((uintptr_t) p & 63), seed, got, want);
}

/* The check value and the RFC 3720 (iSCSI) vectors, appendix B.4. */
static void test_impl_vectors(void **state) {
        MbCrc32cImpl impl = impl_of(state);
        static const uint8_t read_pdu[48] = {
                0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
                0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        };
        uint8_t buf[32];

        check_impl(impl, 0, (const uint8_t *) "123456789", 9, 0xE3069283u);
        check_impl(impl, 0, NULL, 0, 0);
        check_impl(impl, 0xdeadbeefu, NULL, 0, 0xdeadbeefu);
        memset(buf, 0, sizeof(buf));
        check_impl(impl, 0, buf, sizeof(buf), 0x8A9136AAu);
        memset(buf, 0xff, sizeof(buf));
        check_impl(impl, 0, buf, sizeof(buf), 0x62A8AB43u);
        for (unsigned i = 0; i < 32; i++)
                buf[i] = (uint8_t) i;
        check_impl(impl, 0, buf, sizeof(buf), 0x46DD794Eu);
        for (unsigned i = 0; i < 32; i++)
                buf[i] = (uint8_t) (31 - i);
        check_impl(impl, 0, buf, sizeof(buf), 0x113FDB5Cu);
        check_impl(impl, 0, read_pdu, sizeof(read_pdu), 0xD9963A56u);
}

/* Every length 0..2048 at every start alignment 0..63, against the bitwise
 * oracle advanced one byte at a time, from a random crc per alignment. */
static void test_impl_lengths(void **state) {
        enum { MAXLEN = 2048, ALIGNS = 64 };
        MbCrc32cImpl impl = impl_of(state);
        _cleanup_free_ uint8_t *base = NULL;
        size_t checked = 0;

        assert_int_equal(posix_memalign((void **) &base, 64, MAXLEN + ALIGNS), 0);
        rng_fill(base, MAXLEN + ALIGNS);

        for (size_t align = 0; align < ALIGNS; align++) {
                const uint8_t *p = base + align;
                uint32_t seed = align == 0 ? 0 : (uint32_t) rng_next(), want = seed;

                for (size_t len = 0; len <= MAXLEN; len++) {
                        check_impl(impl, seed, p, len, want);
                        want = crc32c_bitwise(want, p + len, 1);
                        checked++;
                }
        }
        print_message("%s: %zu buffers compared\n", mb_crc32c_impl_to_string(impl), checked);
}

/* Large random buffers (and a few alignments) against the table path. */
static void test_impl_large(void **state) {
        static const size_t sizes[] = { 1 << 20, (1 << 20) + 13, 4 << 20 };
        MbCrc32cImpl impl = impl_of(state);
        _cleanup_free_ uint8_t *buf = malloc((4 << 20) + 64);

        assert_non_null(buf);
        rng_fill(buf, (4 << 20) + 64);
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
                for (size_t off = 0; off < 64; off += 21) {
                        uint32_t seed = off == 0 ? 0 : (uint32_t) rng_next();

                        check_impl(impl, seed, buf + off, sizes[i], mb_crc32c_sw(seed, buf + off, sizes[i]));
                }
}

/* Chaining: crc(A‖B) == crc(crc(A), B) at random split points (crc(A) also
 * by another available implementation), and in three pieces. */
static void test_impl_chaining(void **state) {
        enum { N = 256 * 1024 + 29 };
        MbCrc32cImpl impl = impl_of(state);
        _cleanup_free_ uint8_t *buf = malloc(N);
        uint32_t whole;

        assert_non_null(buf);
        rng_fill(buf, N);
        whole = mb_crc32c_sw(0, buf, N);
        check_impl(impl, 0, buf, N, whole);

        for (unsigned i = 0; i < 300; i++) {
                /* Half of the split points near an end, where the short paths run. */
                size_t a = (size_t) (rng_next() % (i & 1 ? N + 1 : 1200)), b;
                MbCrc32cImpl other = impls[rng_next() % ELEMENTSOF(impls)];

                if (i & 2)
                        a = N - a;
                check_impl(impl, mb_crc32c_impl(impl, 0, buf, a), buf + a, N - a, whole);
                if (!mb_crc32c_impl_available(other))
                        other = MB_CRC32C_IMPL_SW;
                if (mb_crc32c_impl(impl, mb_crc32c_impl(other, 0, buf, a), buf + a, N - a) != whole)
                        fail_msg("%s continuing %s after %zu of %d bytes: wrong CRC", mb_crc32c_impl_to_string(impl),
                                 mb_crc32c_impl_to_string(other), a, N);

                b = a + (size_t) (rng_next() % (N - a + 1));
                check_impl(impl, mb_crc32c_impl(impl, mb_crc32c_impl(impl, 0, buf, a), buf + a, b - a), buf + b, N - b,
                           whole);
        }
}

/* Lengths around each block boundary of every path: the three-way
 * interleaving (3 * 256 and 3 * 8192 bytes), the folding paths' smallest
 * lengths and strides (96, 128, 256) and their hybrid superblocks (576 and
 * 1984 bytes), as common/crc32c.c has them at the time of writing. */
static void test_impl_thresholds(void **state) {
        static const size_t block[] = { 3 * 256, 3 * 8192, 64, 96, 128, 256, 576, 1984 };
        MbCrc32cImpl impl = impl_of(state);
        enum { N = 7 * 8192 * 3 + 4096 };
        _cleanup_free_ uint8_t *buf = malloc(N + 64);
        size_t checked = 0;

        assert_non_null(buf);
        rng_fill(buf, N + 64);
        for (size_t b = 0; b < ELEMENTSOF(block); b++)
                for (size_t mult = 1; mult <= 7; mult++)
                        for (int d = -17; d <= 17; d++) {
                                size_t len = (size_t) ((ssize_t) (block[b] * mult) + d);

                                for (size_t off = 0; off < 64; off += 5) {
                                        uint32_t seed = (uint32_t) rng_next();

                                        check_impl(impl, seed, buf + off, len, mb_crc32c_sw(seed, buf + off, len));
                                        checked++;
                                }
                        }
        for (unsigned i = 0; i < 200; i++) {
                size_t len = (size_t) (rng_next() % N), off = (size_t) (rng_next() % 64);
                uint32_t seed = (uint32_t) rng_next();

                check_impl(impl, seed, buf + off, len, mb_crc32c_sw(seed, buf + off, len));
                checked++;
        }
        /* And once against the oracle, long enough for every path's blocks. */
        check_impl(impl, 0, buf + 3, N - 3, crc32c_bitwise(0, buf + 3, N - 3));
        print_message("%s: %zu buffers compared\n", mb_crc32c_impl_to_string(impl), checked);
}

/* The selection API, and the documented fallback for an unavailable one. */
static void test_impl_api(void **state) {
        static const char check[] = "123456789";
        MbCrc32cImpl best = mb_crc32c_impl_best();

        assert_true(mb_crc32c_impl_available(MB_CRC32C_IMPL_SW));
        assert_true(mb_crc32c_impl_available(best));
        for (int i = best + 1; i < _MB_CRC32C_IMPL_MAX; i++)
                assert_false(mb_crc32c_impl_available((MbCrc32cImpl) i));
        assert_int_equal(mb_crc32c_hw_available(), mb_crc32c_impl_available(MB_CRC32C_IMPL_SSE42));
        assert_false(mb_crc32c_impl_available(_MB_CRC32C_IMPL_MAX));
        assert_false(mb_crc32c_impl_available(_MB_CRC32C_IMPL_INVALID));
        assert_null(mb_crc32c_impl_to_string(_MB_CRC32C_IMPL_MAX));
        assert_null(mb_crc32c_impl_to_string(_MB_CRC32C_IMPL_INVALID));
        assert_string_equal(mb_crc32c_impl_to_string(MB_CRC32C_IMPL_SW), "sw");
        assert_string_equal(mb_crc32c_impl_to_string(MB_CRC32C_IMPL_VPCLMUL512), "vpclmul512");
        for (size_t i = 0; i < ELEMENTSOF(impls); i++) {
                assert_int_equal(impls[i], (MbCrc32cImpl) i);
                /* Available or not, the result is right. */
                assert_int_equal(mb_crc32c_impl(impls[i], 0, check, 9), MB_CRC32C_CHECK);
        }
        assert_int_equal(mb_crc32c_impl(_MB_CRC32C_IMPL_INVALID, 0, check, 9), MB_CRC32C_CHECK);
        assert_int_equal(mb_crc32c_impl(_MB_CRC32C_IMPL_MAX, 0, check, 9), MB_CRC32C_CHECK);
        assert_int_equal(mb_crc32c_hw(0, check, 9), MB_CRC32C_CHECK);
}

int main(void) {
        static const struct {
                const char *name;
                CMUnitTestFunction fn;
        } per_impl[] = {
                { "vectors", test_impl_vectors },       { "lengths", test_impl_lengths },
                { "large", test_impl_large },           { "chaining", test_impl_chaining },
                { "thresholds", test_impl_thresholds },
        };
        static char names[ELEMENTSOF(per_impl) * ELEMENTSOF(impls)][64];
        struct CMUnitTest tests[6 + ELEMENTSOF(names)] = {
                cmocka_unit_test(test_check_value),   cmocka_unit_test(test_rfc3720_vectors),
                cmocka_unit_test(test_empty),         cmocka_unit_test(test_incremental),
                cmocka_unit_test(test_sw_vs_bitwise), cmocka_unit_test(test_impl_api),
        };
        size_t n = 6;
        const char *s = getenv("MB_TEST_SEED");

        for (size_t t = 0; t < ELEMENTSOF(per_impl); t++)
                for (size_t i = 0; i < ELEMENTSOF(impls); i++) {
                        char *name = names[n - 6];

                        snprintf(name, sizeof(names[0]), "test_impl_%s/%s", per_impl[t].name,
                                 mb_crc32c_impl_to_string(impls[i]));
                        tests[n++] = (struct CMUnitTest) {
                                .name = name,
                                .test_func = per_impl[t].fn,
                                .initial_state = (void *) &impls[i],
                        };
                }

        rng_state = s ? strtoull(s, NULL, 0) : UINT64_C(0x5eed0c3c32c);
        printf("# MB_TEST_SEED=0x%llx, CRC32C implementations available:", (unsigned long long) rng_state);
        for (size_t i = 0; i < ELEMENTSOF(impls); i++)
                if (mb_crc32c_impl_available(impls[i]))
                        printf(" %s", mb_crc32c_impl_to_string(impls[i]));
        printf("; mb_crc32c() uses %s\n", mb_crc32c_impl_to_string(mb_crc32c_impl_best()));
        assert(n == ELEMENTSOF(tests));
        return cmocka_run_group_tests(tests, NULL, NULL);
}
