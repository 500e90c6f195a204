/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of common/crc32c.c: published check values, and the hardware
 * and table paths against each other and against a bit-at-a-time oracle on
 * random data of many lengths and alignments. MB_TEST_SEED=N replays a run.
 */

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

static void check_hw_sw(const uint8_t *p, size_t len, uint32_t seed) {
        uint32_t sw = mb_crc32c_sw(seed, p, len), hw = mb_crc32c_hw(seed, p, len);

        if (sw != hw)
                fail_msg("len %zu align %zu seed 0x%08x: sw 0x%08x hw 0x%08x", len, (size_t) ((uintptr_t) p & 15),
                         seed, sw, hw);
        assert_int_equal(mb_crc32c(seed, p, len), sw);
}

/* The hardware path against the table path: all short lengths, lengths
 * around each interleaving threshold, and long random lengths, each at
 * every alignment 0..15. */
static void test_hw_vs_sw(void **state) {
        enum { N = 7 * 8192 * 3 + 4096 };
        static const size_t block[] = { 256, 8192 };
        _cleanup_free_ uint8_t *buf = malloc(N + 16);
        size_t checked = 0;

        if (!mb_crc32c_hw_available())
                skip();

        assert_non_null(buf);
        rng_fill(buf, N + 16);

        for (size_t len = 0; len <= 2048; len++) {
                check_hw_sw(buf + (len & 15), len, (uint32_t) rng_next());
                checked++;
        }
        for (size_t b = 0; b < ELEMENTSOF(block); b++)
                for (size_t mult = 1; mult <= 7; mult++)
                        for (int d = -17; d <= 17; d++) {
                                size_t len = (size_t) ((ssize_t) (3 * block[b] * mult) + d);

                                for (size_t off = 0; off < 16; off++) {
                                        check_hw_sw(buf + off, len, (uint32_t) rng_next());
                                        checked++;
                                }
                        }
        for (unsigned i = 0; i < 200; i++) {
                size_t len = (size_t) (rng_next() % N), off = (size_t) (rng_next() % 16);

                check_hw_sw(buf + off, len, (uint32_t) rng_next());
                checked++;
        }
        /* And once against the oracle, long enough for both block sizes. */
        assert_int_equal(mb_crc32c_hw(0, buf + 3, N - 3), crc32c_bitwise(0, buf + 3, N - 3));
        print_message("hw vs sw: %zu buffers compared\n", checked);
}

int main(void) {
        const char *s = getenv("MB_TEST_SEED");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check_value),  cmocka_unit_test(test_rfc3720_vectors),
                cmocka_unit_test(test_empty),        cmocka_unit_test(test_incremental),
                cmocka_unit_test(test_sw_vs_bitwise), cmocka_unit_test(test_hw_vs_sw),
        };

        rng_state = s ? strtoull(s, NULL, 0) : UINT64_C(0x5eed0c3c32c);
        printf("# MB_TEST_SEED=0x%llx, hardware CRC32C: %s\n", (unsigned long long) rng_state,
               mb_crc32c_hw_available() ? "yes" : "no");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
