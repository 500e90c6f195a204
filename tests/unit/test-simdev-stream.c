/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of plugins/simdev/simdev-stream.c: the state stream encoder and
 * decoder, pending accounting, splits at every offset, corruption. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "simdev-prng.h"
#include "simdev-proto.h"
#include "simdev-stream.h"

#define PS SIMDEV_PAGE_SIZE
#define SMALL_SIZE (5 * PS + 100) /* a short last page */

typedef struct Stream {
        uint8_t *bytes;
        size_t len;
} Stream;

static void fill_random(uint8_t *p, size_t n, uint64_t seed) {
        SimdevPrng prng;

        simdev_prng_seed(&prng, seed);
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) simdev_prng_next(&prng);
}

/* Encodes a full save session of mem: the first round, then one round per
 * entry of dirty_rounds (pages to mark, -1 terminated), then the end record.
 * The content of marked pages changes before their round. */
static Stream encode(uint8_t *mem, uint64_t size, const int *const *dirty_rounds, size_t read_size) {
        SimdevEncoder e;
        SimdevBitmap dirty;
        Stream s = {};
        size_t cap = 0;
        size_t round = 0;
        bool final = false;

        assert_int_equal(simdev_encoder_init(&e, size, PS), 0);
        assert_int_equal(simdev_bitmap_init(&dirty, (size + PS - 1) / PS), 0);
        for (;;) {
                uint64_t pending = simdev_encoder_pending(&e, &dirty, final);
                size_t n;

                if (pending == 0) {
                        if (final)
                                break;
                        if (dirty_rounds && dirty_rounds[round]) {
                                for (const int *p = dirty_rounds[round]; *p >= 0; p++) {
                                        mem[(size_t) *p * PS] ^= 0xff;
                                        simdev_bitmap_set(&dirty, (uint64_t) *p);
                                }
                                round++;
                        } else
                                final = true;
                        continue;
                }
                if (s.len + read_size > cap) {
                        cap = (s.len + read_size) * 2;
                        s.bytes = realloc(s.bytes, cap);
                        assert_non_null(s.bytes);
                }
                n = simdev_encoder_read(&e, mem, &dirty, final, s.bytes + s.len, read_size);
                /* read produces exactly min(len, pending), and pending drops by it */
                assert_int_equal(n, pending < read_size ? pending : read_size);
                assert_int_equal(simdev_encoder_pending(&e, &dirty, final), pending - n);
                s.len += n;
        }
        assert_true(simdev_encoder_ended(&e));
        assert_int_equal(e.bytes, s.len);
        simdev_encoder_done(&e);
        simdev_bitmap_done(&dirty);
        return s;
}

static void test_header_and_first_round(void **state) {
        uint8_t *mem = malloc(SMALL_SIZE);
        Stream s;

        fill_random(mem, SMALL_SIZE, 1);
        s = encode(mem, SMALL_SIZE, NULL, 1000);
        /* header + one record (5 pages + 100 bytes is one run) + end */
        assert_int_equal(s.len, SIMDEV_STREAM_HDR_LEN + SIMDEV_REC_HDR_LEN + SMALL_SIZE + SIMDEV_END_LEN);
        assert_memory_equal(s.bytes, SIMDEV_STREAM_MAGIC, 8);
        assert_int_equal(simdev_get_be32(s.bytes + 8), SIMDEV_STREAM_VERSION);
        assert_int_equal(simdev_get_be32(s.bytes + 12), PS);
        assert_int_equal(simdev_get_be64(s.bytes + 16), SMALL_SIZE);
        assert_int_equal(simdev_get_be32(s.bytes + 24), SIMDEV_REC_DATA);
        assert_int_equal(simdev_get_be32(s.bytes + 28), SMALL_SIZE);
        assert_int_equal(simdev_get_be64(s.bytes + 32), 0);
        assert_memory_equal(s.bytes + 40, mem, SMALL_SIZE);
        free(s.bytes);
        free(mem);
}

static void decode_split(const Stream *s, const uint8_t *expect, uint64_t size, size_t split) {
        uint8_t *mem = calloc(1, size);
        SimdevDecoder d;

        assert_int_equal(simdev_decoder_init(&d, size, PS), 0);
        assert_int_equal(simdev_decoder_feed(&d, mem, s->bytes, split), 0);
        assert_false(split < s->len && simdev_decoder_complete(&d));
        assert_int_equal(simdev_decoder_feed(&d, mem, s->bytes + split, s->len - split), 0);
        assert_true(simdev_decoder_complete(&d));
        assert_memory_equal(mem, expect, size);
        simdev_decoder_done(&d);
        free(mem);
}

static void test_split_at_every_offset(void **state) {
        static const int r1[] = { 0, 2, 5, -1 }, r2[] = { 1, 2, -1 };
        static const int *const rounds[] = { r1, r2, NULL };
        uint8_t *mem = malloc(SMALL_SIZE);
        Stream s;

        fill_random(mem, SMALL_SIZE, 2);
        s = encode(mem, SMALL_SIZE, rounds, 777);
        for (size_t split = 0; split <= s.len; split++)
                decode_split(&s, mem, SMALL_SIZE, split);
        free(s.bytes);
        free(mem);
}

static void test_one_byte_at_a_time(void **state) {
        static const int r1[] = { 3, 4, -1 };
        static const int *const rounds[] = { r1, NULL };
        uint8_t *mem = malloc(SMALL_SIZE), *out = calloc(1, SMALL_SIZE);
        SimdevDecoder d;
        Stream s;

        fill_random(mem, SMALL_SIZE, 3);
        s = encode(mem, SMALL_SIZE, rounds, 1); /* encoder read 1 byte at a time too */
        assert_int_equal(simdev_decoder_init(&d, SMALL_SIZE, PS), 0);
        for (size_t i = 0; i < s.len; i++)
                assert_int_equal(simdev_decoder_feed(&d, out, s.bytes + i, 1), 0);
        assert_true(simdev_decoder_complete(&d));
        assert_memory_equal(out, mem, SMALL_SIZE);
        assert_int_equal(d.records, 2); /* round 1: one run; round 2: pages 3-4, one run */
        simdev_decoder_done(&d);
        free(s.bytes);
        free(out);
        free(mem);
}

static void test_runs_size(void **state) {
        const uint64_t size = 3 * SIMDEV_REC_MAX + 5 * PS + 7; /* long runs are cut at 1 MiB */
        const uint64_t n_pages = (size + PS - 1) / PS;
        SimdevBitmap b;

        assert_int_equal(simdev_bitmap_init(&b, n_pages), 0);
        assert_int_equal(simdev_stream_runs_size(&b, 0, size, PS), 0);
        simdev_bitmap_set_all(&b);
        assert_int_equal(simdev_stream_runs_size(&b, 0, size, PS), 4 * SIMDEV_REC_HDR_LEN + size);
        /* from the middle of a run */
        assert_int_equal(simdev_stream_runs_size(&b, n_pages - 1, size, PS), SIMDEV_REC_HDR_LEN + 7);
        simdev_bitmap_clear_all(&b);
        simdev_bitmap_set(&b, 0);
        simdev_bitmap_set(&b, 2);
        assert_int_equal(simdev_stream_runs_size(&b, 0, size, PS), 2 * (SIMDEV_REC_HDR_LEN + PS));
        simdev_bitmap_set(&b, 1); /* merging runs: pending grows anyway */
        assert_int_equal(simdev_stream_runs_size(&b, 0, size, PS), SIMDEV_REC_HDR_LEN + 3 * PS);
        simdev_bitmap_done(&b);
}

static void test_large_state_roundtrip(void **state) {
        const uint64_t size = 3 * SIMDEV_REC_MAX + 12345;
        static const int r1[] = { 0, 1, 255, 256, 257, 700, 768, -1 };
        static const int *const rounds[] = { r1, NULL };
        uint8_t *mem = malloc(size);
        Stream s;

        fill_random(mem, size, 4);
        s = encode(mem, size, rounds, 1024 * 1024);
        decode_split(&s, mem, size, s.len / 3);
        free(s.bytes);
        free(mem);
}

/* Feeds the stream with one modification and expects -EBADMSG. */
typedef void (*Mutator)(Stream *s);

static void expect_corrupt(Mutator m, const char *what) {
        uint8_t *mem = malloc(SMALL_SIZE), *out = calloc(1, SMALL_SIZE);
        SimdevDecoder d;
        Stream s;
        int r;

        fill_random(mem, SMALL_SIZE, 5);
        s = encode(mem, SMALL_SIZE, NULL, 4096);
        m(&s);
        assert_int_equal(simdev_decoder_init(&d, SMALL_SIZE, PS), 0);
        r = simdev_decoder_feed(&d, out, s.bytes, s.len);
        if (r == 0 && simdev_decoder_complete(&d))
                fail_msg("%s: accepted", what);
        if (r == 0)
                assert_false(simdev_decoder_complete(&d)); /* incomplete is a refusal too */
        else {
                assert_int_equal(r, -EBADMSG);
                assert_true(d.error[0] != '\0');
                /* and it stays failed */
                assert_int_equal(simdev_decoder_feed(&d, out, s.bytes, 1), -EBADMSG);
        }
        simdev_decoder_done(&d);
        free(s.bytes);
        free(out);
        free(mem);
}

static void m_magic(Stream *s) { s->bytes[0] ^= 1; }
static void m_version(Stream *s) { simdev_put_be32(s->bytes + 8, 2); }
static void m_page(Stream *s) { simdev_put_be32(s->bytes + 12, 8192); }
static void m_size(Stream *s) { simdev_put_be64(s->bytes + 16, SMALL_SIZE + 1); }
static void m_type(Stream *s) { simdev_put_be32(s->bytes + 24, 9); }
static void m_len0(Stream *s) { simdev_put_be32(s->bytes + 28, 0); }
static void m_len_big(Stream *s) { simdev_put_be32(s->bytes + 28, SIMDEV_REC_MAX + 1); }
static void m_unaligned(Stream *s) { simdev_put_be64(s->bytes + 32, 1); }
static void m_beyond(Stream *s) { simdev_put_be64(s->bytes + 32, 4 * PS); }
static void m_truncated(Stream *s) { s->len -= 1; }
static void m_end_count(Stream *s) { s->bytes[s->len - 9] ^= 1; }
static void m_trailing(Stream *s) {
        s->bytes = realloc(s->bytes, s->len + 1);
        s->bytes[s->len++] = 0;
}
/* Only a first page record, then the end record: pages never written. */
static void m_missing_pages(Stream *s) {
        const size_t rec = SIMDEV_STREAM_HDR_LEN;
        uint8_t end[SIMDEV_END_LEN];

        memcpy(end, s->bytes + s->len - SIMDEV_END_LEN, SIMDEV_END_LEN);
        simdev_put_be32(s->bytes + rec + 4, PS);
        simdev_put_be64(end + 24, PS);
        memcpy(s->bytes + rec + SIMDEV_REC_HDR_LEN + PS, end, SIMDEV_END_LEN);
        s->len = rec + SIMDEV_REC_HDR_LEN + PS + SIMDEV_END_LEN;
}

static void test_corruption(void **state) {
        expect_corrupt(m_magic, "bad magic");
        expect_corrupt(m_version, "unknown version");
        expect_corrupt(m_page, "other page size");
        expect_corrupt(m_size, "other state size");
        expect_corrupt(m_type, "unknown record type");
        expect_corrupt(m_len0, "empty record");
        expect_corrupt(m_len_big, "oversize record");
        expect_corrupt(m_unaligned, "unaligned offset");
        expect_corrupt(m_beyond, "record beyond the state");
        expect_corrupt(m_truncated, "truncated");
        expect_corrupt(m_end_count, "end counts");
        expect_corrupt(m_trailing, "data after the end");
        expect_corrupt(m_missing_pages, "pages never written");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_header_and_first_round),
                cmocka_unit_test(test_split_at_every_offset),
                cmocka_unit_test(test_one_byte_at_a_time),
                cmocka_unit_test(test_runs_size),
                cmocka_unit_test(test_large_state_roundtrip),
                cmocka_unit_test(test_corruption),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
