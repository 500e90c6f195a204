/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of common/stream.c: the example of docs/stream-format.md byte
 * for byte, round trips fed in random pieces (and one byte at a time) through
 * both input paths, every refusal with its exact message, truncation at every
 * offset, every single-bit flip, and the raw format's chunking.
 * MB_TEST_SEED=N replays a run.
 */

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#  include <malloc.h>
#endif

#include <cmocka.h>

#include "crc32c.h"
#include "macro.h"
#include "stream.h"

#define MIB (1024u * 1024u)

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void) {
        uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

static size_t rng_range(size_t lo, size_t hi) { /* inclusive */
        return lo + (size_t) (rng_next() % (hi - lo + 1));
}

typedef struct Buf {
        uint8_t *data;
        size_t len, cap;
} Buf;

static void buf_put(Buf *b, const void *p, size_t n) {
        if (b->len + n > b->cap) {
                size_t cap = MB_MAX(b->cap * 2, b->len + n);
                uint8_t *d = realloc(b->data, MB_MAX(cap, 1u));

                assert_non_null(d);
                b->data = d;
                b->cap = cap;
        }
        if (n > 0)
                memcpy(b->data + b->len, p, n);
        b->len += n;
}

static void buf_done(Buf *b) {
        free(b->data);
        *b = (Buf) {};
}

static void put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static void put_header(Buf *b, const char *bdf, const char *plugin) {
        uint8_t h[MB_STREAM_HEADER_MAX];
        int n = mb_stream_header_encode(h, sizeof(h), bdf, plugin);

        assert_true(n > 0);
        buf_put(b, h, (size_t) n);
}

static void put_record(Buf *b, uint32_t idx, uint32_t flags, const uint8_t *payload, uint32_t len) {
        uint8_t h[MB_STREAM_RECORD_HDR_LEN];

        mb_stream_record_header_encode(h, idx, flags, payload, len);
        buf_put(b, h, sizeof(h));
        buf_put(b, payload, len);
}

static void put_end(Buf *b, uint32_t idx, uint64_t bytes, uint64_t records) {
        uint8_t e[MB_STREAM_END_RECORD_LEN];

        mb_stream_end_record_encode(e, idx, bytes, records);
        buf_put(b, e, sizeof(e));
}

/* Payload byte j of record i: distinct per record so reordering shows. */
static uint8_t pattern(size_t i, size_t j) {
        return (uint8_t) (i * 131 + j * 7 + (j >> 8));
}

/* A framed stream with records of the given lengths (and the end record
 * when with_end), by the public encoders. */
static void build_framed(Buf *b, const char *plugin, const uint32_t *lens, size_t n, bool with_end) {
        uint64_t total = 0;

        put_header(b, "0000:3b:00.1", plugin);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ uint8_t *p = malloc(MB_MAX(lens[i], 1u));

                assert_non_null(p);
                for (size_t j = 0; j < lens[i]; j++)
                        p[j] = pattern(i, j);
                put_record(b, (uint32_t) i, 0, p, lens[i]);
                total += lens[i];
        }
        if (with_end)
                put_end(b, (uint32_t) n, total, n);
}

/* A header with arbitrary fields and a correct CRC (header_len 0: the true length). */
static size_t craft_header(uint8_t *out, uint32_t version, uint32_t header_len, uint32_t flags, const char *bdf,
                           size_t bdf_len, const char *plugin, size_t plugin_len) {
        size_t off = 0;

        memcpy(out, MB_STREAM_MAGIC, MB_STREAM_MAGIC_LEN);
        off = MB_STREAM_MAGIC_LEN;
        put_be32(out + off, version);
        put_be32(out + off + 4, header_len ? header_len : (uint32_t) (26 + bdf_len + plugin_len));
        put_be32(out + off + 8, flags);
        off += 12;
        out[off++] = (uint8_t) bdf_len;
        memcpy(out + off, bdf, bdf_len);
        off += bdf_len;
        out[off++] = (uint8_t) plugin_len;
        memcpy(out + off, plugin, plugin_len);
        off += plugin_len;
        put_be32(out + off, mb_crc32c(0, out, off));
        return off + 4;
}

typedef enum FeedMode {
        MODE_FEED,      /* mb_stream_reader_feed() with pieces */
        MODE_ZEROCOPY,  /* want()/commit() with pieces no longer than want() offers */
} FeedMode;

typedef struct Run {
        /* inputs */
        MbStreamFormat format;
        const char *expect;
        uint32_t max_record;
        FeedMode mode;
        size_t piece; /* 0: random 1..piece_max; otherwise fixed */
        size_t piece_max;

        /* outputs */
        int rc;        /* first negative return of feed/commit, else 0 */
        int finish_rc; /* mb_stream_reader_finish() after all input */
        char *error;   /* copy of mb_stream_reader_error() */
        bool got_header, got_end;
        char bdf[MB_STREAM_BDF_MAX + 1], plugin[MB_STREAM_PLUGIN_MAX + 1];
        uint64_t end_bytes, end_records;
        Buf data;       /* DATA payloads concatenated */
        uint32_t *lens; /* DATA lengths */
        size_t ndata;
        uint64_t bytes, records; /* reader counters at the end */
        bool ended;
        bool complete;  /* mb_stream_reader_complete() before finish() */
        size_t max_want;              /* largest want() seen */
        size_t max_want_after_header; /* same, after the HEADER event */
        size_t last_want;             /* the last want() seen */
        size_t events_before_error;
} Run;

static void run_done(Run *run) {
        free(run->error);
        free(run->lens);
        buf_done(&run->data);
}

static void run_event(Run *run, const MbStreamEvent *ev) {
        switch (ev->type) {
        case MB_STREAM_EVENT_NONE:
                return;
        case MB_STREAM_EVENT_HEADER:
                assert_false(run->got_header);
                assert_int_equal(run->ndata, 0);
                assert_int_equal(ev->version, 1);
                run->got_header = true;
                snprintf(run->bdf, sizeof(run->bdf), "%s", ev->bdf);
                snprintf(run->plugin, sizeof(run->plugin), "%s", ev->plugin);
                break;
        case MB_STREAM_EVENT_DATA: {
                uint32_t *l;

                assert_false(run->got_end);
                assert_non_null(ev->data);
                /* framed: the record index; raw: the chunk counter. Both count from 0. */
                assert_int_equal(ev->idx, run->ndata);
                l = realloc(run->lens, (run->ndata + 1) * sizeof(uint32_t));
                assert_non_null(l);
                run->lens = l;
                run->lens[run->ndata++] = ev->len;
                buf_put(&run->data, ev->data, ev->len);
                break;
        }
        case MB_STREAM_EVENT_END:
                assert_false(run->got_end);
                run->got_end = true;
                run->end_bytes = ev->total_bytes;
                run->end_records = ev->total_records;
                break;
        }
        run->events_before_error++;
}

static void note_want(Run *run, size_t w) {
        run->max_want = MB_MAX(run->max_want, w);
        run->last_want = w;
        if (run->got_header)
                run->max_want_after_header = MB_MAX(run->max_want_after_header, w);
}

static size_t next_piece(Run *run) {
        return run->piece > 0 ? run->piece : rng_range(1, MB_MAX(run->piece_max, 1u));
}

/* Feeds in[0..len) to a new reader as run describes, then calls finish(). */
static void run_stream(Run *run, const uint8_t *in, size_t len) {
        _cleanup_(mb_stream_reader_freep) MbStreamReader *r = NULL;
        size_t pos = 0;
        MbStreamEvent ev;

        assert_int_equal(mb_stream_reader_new(&r, run->format, run->expect, run->max_record), 0);

        while (pos < len && run->rc == 0) {
                size_t piece = next_piece(run); /* once: MB_MIN evaluates twice */
                uint8_t *w;
                size_t wlen, consumed;
                int k;

                piece = MB_MIN(piece, len - pos);
                assert_int_equal(mb_stream_reader_want(r, &w, &wlen), 0);
                note_want(run, wlen);
                if (run->format == MB_STREAM_FORMAT_RAW || !mb_stream_reader_ended(r))
                        assert_true(wlen > 0);

                if (run->mode == MODE_ZEROCOPY && wlen > 0) {
                        size_t n = MB_MIN(piece, wlen);

                        memcpy(w, in + pos, n);
                        k = mb_stream_reader_commit(r, n, &ev);
                        pos += n;
                        if (k >= 0 && ev.type == MB_STREAM_EVENT_DATA && ev.len > 0)
                                /* zero-copy: the payload is where the caller wrote it */
                                assert_ptr_equal(ev.data + ev.len, w + n);
                } else {
                        /* MODE_FEED, or trailing bytes after the end record */
                        k = mb_stream_reader_feed(r, in + pos, piece, &consumed, &ev);
                        assert_true(consumed <= piece);
                        if (k >= 0)
                                assert_true(consumed == piece || ev.type != MB_STREAM_EVENT_NONE);
                        pos += consumed;
                }
                if (k < 0) {
                        run->rc = k;
                        break;
                }
                run_event(run, &ev);
        }

        run->complete = mb_stream_reader_complete(r);
        run->finish_rc = mb_stream_reader_finish(r);
        /* complete() predicts finish() without failing the reader. */
        if (run->rc == 0)
                assert_int_equal(run->complete, run->finish_rc == 0);
        else
                assert_false(run->complete);
        if (mb_stream_reader_error(r))
                run->error = strdup(mb_stream_reader_error(r));
        run->bytes = mb_stream_reader_bytes(r);
        run->records = mb_stream_reader_records(r);
        run->ended = mb_stream_reader_ended(r);

        if (run->rc < 0) {
                /* A failed reader stays failed, with the same description. */
                uint8_t *w;
                size_t wlen, consumed;
                uint8_t byte = 0;

                assert_non_null(run->error);
                assert_int_equal(run->finish_rc, run->rc);
                assert_int_equal(mb_stream_reader_want(r, &w, &wlen), run->rc);
                assert_int_equal(mb_stream_reader_commit(r, 0, &ev), run->rc);
                assert_int_equal(ev.type, MB_STREAM_EVENT_NONE);
                assert_int_equal(mb_stream_reader_feed(r, &byte, 1, &consumed, &ev), run->rc);
                assert_int_equal(consumed, 0);
                assert_int_equal(mb_stream_reader_finish(r), run->rc);
                assert_string_equal(mb_stream_reader_error(r), run->error);
        }
}

/* Runs in[] through a framed reader expecting plugin, fed whole. */
static void run_simple(Run *run, const uint8_t *in, size_t len, const char *expect) {
        *run = (Run) { .format = MB_STREAM_FORMAT_FRAMED, .expect = expect, .mode = MODE_FEED, .piece = len ? len : 1 };
        run_stream(run, in, len);
}

/* Asserts that in[] is refused with exactly message msg, in both input
 * modes and with both whole and 1-byte pieces. */
static void assert_refused_full(const uint8_t *in, size_t len, const char *expect, uint32_t max_record, bool end_seen,
                                const char *msg) {
        for (int mode = MODE_FEED; mode <= MODE_ZEROCOPY; mode++)
                for (int one = 0; one <= 1; one++) {
                        Run run = {
                                .format = MB_STREAM_FORMAT_FRAMED,
                                .expect = expect,
                                .max_record = max_record,
                                .mode = (FeedMode) mode,
                                .piece = one ? 1 : MB_MAX(len, 1u),
                        };

                        run_stream(&run, in, len);
                        assert_int_equal(run.rc, -EBADMSG);
                        assert_int_equal(run.finish_rc, -EBADMSG);
                        assert_int_equal(run.got_end, end_seen);
                        assert_false(run.ended); /* a refused stream never counts as ended */
                        assert_non_null(run.error);
                        assert_string_equal(run.error, msg);
                        run_done(&run);
                }
}

static void assert_refused(const uint8_t *in, size_t len, const char *expect, uint32_t max_record, const char *msg) {
        assert_refused_full(in, len, expect, max_record, false, msg);
}

/* ---- the example of docs/stream-format.md ------------------------------- */

/* Header for BDF 0000:3b:00.1 and plugin "simdev", record 0 "hello", record 1
 * empty, end record (5 bytes, 2 records). Also in docs/stream-format.md. */
static const uint8_t example[113] = {
        0x4d, 0x49, 0x47, 0x42, 0x52, 0x4b, 0x52, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2c,
        0x00, 0x00, 0x00, 0x00, 0x0c, 0x30, 0x30, 0x30, 0x30, 0x3a, 0x33, 0x62, 0x3a, 0x30, 0x30, 0x2e,
        0x31, 0x06, 0x73, 0x69, 0x6d, 0x64, 0x65, 0x76, 0x86, 0xe1, 0xed, 0x47, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x58, 0x2b, 0x32, 0xfe, 0x68, 0x65, 0x6c, 0x6c,
        0x6f, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xdf, 0x5e, 0x63,
        0x15, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0x81, 0x70, 0x21,
        0xf7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02,
};

static void test_example_encode(void **state) {
        Buf b = {};

        put_header(&b, "0000:3b:00.1", "simdev");
        assert_int_equal(b.len, 44);
        put_record(&b, 0, 0, (const uint8_t *) "hello", 5);
        put_record(&b, 1, 0, NULL, 0);
        put_end(&b, 2, 5, 2);
        assert_int_equal(b.len, sizeof(example));
        assert_memory_equal(b.data, example, sizeof(example));
        buf_done(&b);
}

static void test_example_decode(void **state) {
        for (int mode = MODE_FEED; mode <= MODE_ZEROCOPY; mode++)
                for (size_t piece = 1; piece <= sizeof(example); piece++) {
                        Run run = {
                                .format = MB_STREAM_FORMAT_FRAMED, .expect = "simdev", .mode = (FeedMode) mode,
                                .piece = piece,
                        };

                        run_stream(&run, example, sizeof(example));
                        assert_int_equal(run.rc, 0);
                        assert_int_equal(run.finish_rc, 0);
                        assert_null(run.error);
                        assert_true(run.got_header);
                        assert_string_equal(run.bdf, "0000:3b:00.1");
                        assert_string_equal(run.plugin, "simdev");
                        assert_int_equal(run.ndata, 2);
                        assert_int_equal(run.lens[0], 5);
                        assert_int_equal(run.lens[1], 0);
                        assert_int_equal(run.data.len, 5);
                        assert_memory_equal(run.data.data, "hello", 5);
                        assert_true(run.got_end);
                        assert_true(run.ended);
                        assert_int_equal(run.end_bytes, 5);
                        assert_int_equal(run.end_records, 2);
                        assert_int_equal(run.bytes, 5);
                        assert_int_equal(run.records, 2);
                        run_done(&run);
                }
}

/* ---- API basics --------------------------------------------------------- */

static void test_format_strings(void **state) {
        assert_string_equal(mb_stream_format_to_string(MB_STREAM_FORMAT_FRAMED), "framed");
        assert_string_equal(mb_stream_format_to_string(MB_STREAM_FORMAT_RAW), "raw");
        assert_null(mb_stream_format_to_string(_MB_STREAM_FORMAT_MAX));
        assert_null(mb_stream_format_to_string(_MB_STREAM_FORMAT_INVALID));
        assert_int_equal(mb_stream_format_from_string("framed"), MB_STREAM_FORMAT_FRAMED);
        assert_int_equal(mb_stream_format_from_string("raw"), MB_STREAM_FORMAT_RAW);
        assert_int_equal(mb_stream_format_from_string("Raw"), -EINVAL);
        assert_int_equal(mb_stream_format_from_string(""), -EINVAL);
        assert_int_equal(mb_stream_format_from_string(NULL), -EINVAL);
}

static void test_header_encode(void **state) {
        uint8_t h[MB_STREAM_HEADER_MAX];
        char bdf[MB_STREAM_BDF_MAX + 2], plugin[MB_STREAM_PLUGIN_MAX + 2];

        memset(bdf, 'b', sizeof(bdf) - 1);
        bdf[sizeof(bdf) - 1] = '\0';
        memset(plugin, 'p', sizeof(plugin) - 1);
        plugin[sizeof(plugin) - 1] = '\0';

        assert_int_equal(mb_stream_header_encode(h, sizeof(h), "", "simdev"), -EINVAL);
        assert_int_equal(mb_stream_header_encode(h, sizeof(h), "0000:3b:00.1", ""), -EINVAL);
        assert_int_equal(mb_stream_header_encode(h, sizeof(h), NULL, "simdev"), -EINVAL);
        assert_int_equal(mb_stream_header_encode(h, sizeof(h), bdf, "simdev"), -EINVAL); /* 65 bytes */
        assert_int_equal(mb_stream_header_encode(h, sizeof(h), "x", plugin), -EINVAL);   /* 256 bytes */
        assert_int_equal(mb_stream_header_encode(h, 43, "0000:3b:00.1", "simdev"), -ENOBUFS);
        assert_int_equal(mb_stream_header_encode(h, 44, "0000:3b:00.1", "simdev"), 44);
        assert_memory_equal(h, example, 44);

        /* The largest header fits and is read back. */
        bdf[MB_STREAM_BDF_MAX] = '\0';
        plugin[MB_STREAM_PLUGIN_MAX] = '\0';
        assert_int_equal(mb_stream_header_encode(h, sizeof(h), bdf, plugin), 26 + 64 + 255);
        {
                Buf b = {};
                Run run;

                buf_put(&b, h, 26 + 64 + 255);
                put_end(&b, 0, 0, 0);
                run_simple(&run, b.data, b.len, plugin);
                assert_int_equal(run.finish_rc, 0);
                assert_string_equal(run.bdf, bdf);
                assert_string_equal(run.plugin, plugin);
                run_done(&run);
                buf_done(&b);
        }
}

static void test_record_encode(void **state) {
        uint8_t h[MB_STREAM_RECORD_HDR_LEN], e[MB_STREAM_END_RECORD_LEN];
        static const uint8_t hdr12[12] = { 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 3 };
        static const uint8_t end_expected[32] = {
                0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0, 0, 0, 0,
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
        };
        uint32_t crc;
        uint8_t raw[8];

        mb_stream_record_header_encode(h, 7, 0, (const uint8_t *) "abc", 3);
        assert_memory_equal(h, hdr12, 12);
        crc = mb_crc32c(mb_crc32c(0, hdr12, 12), "abc", 3);
        assert_int_equal(h[12], crc >> 24);
        assert_int_equal(h[13], (crc >> 16) & 0xff);
        assert_int_equal(h[14], (crc >> 8) & 0xff);
        assert_int_equal(h[15], crc & 0xff);

        mb_stream_end_record_encode(e, 9, UINT64_C(0x0102030405060708), 9);
        assert_memory_equal(e, end_expected, 12);
        assert_memory_equal(e + 16, end_expected + 16, 16);
        crc = mb_crc32c(mb_crc32c(0, e, 12), e + 16, 16);
        assert_int_equal(((uint32_t) e[12] << 24 | (uint32_t) e[13] << 16 | (uint32_t) e[14] << 8 | e[15]), crc);

        mb_stream_raw_round_encode(raw, UINT64_C(0x1122334455667788));
        assert_memory_equal(raw, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
}

static void test_reader_new_invalid(void **state) {
        MbStreamReader *r = NULL;
        char plugin[MB_STREAM_PLUGIN_MAX + 2];

        memset(plugin, 'p', sizeof(plugin) - 1);
        plugin[sizeof(plugin) - 1] = '\0';
        assert_int_equal(mb_stream_reader_new(NULL, MB_STREAM_FORMAT_FRAMED, NULL, 0), -EINVAL);
        assert_int_equal(mb_stream_reader_new(&r, _MB_STREAM_FORMAT_MAX, NULL, 0), -EINVAL);
        assert_int_equal(mb_stream_reader_new(&r, _MB_STREAM_FORMAT_INVALID, NULL, 0), -EINVAL);
        assert_int_equal(mb_stream_reader_new(&r, MB_STREAM_FORMAT_FRAMED, "", 0), -EINVAL);
        assert_int_equal(mb_stream_reader_new(&r, MB_STREAM_FORMAT_FRAMED, plugin, 0), -EINVAL);
        assert_null(r);
        mb_stream_reader_free(NULL);
        assert_null(mb_stream_reader_error(NULL));
}

/* Committing more than want() offered is a caller bug: -EINVAL, not corruption. */
static void test_commit_overrun(void **state) {
        _cleanup_(mb_stream_reader_freep) MbStreamReader *r = NULL;
        MbStreamEvent ev;
        uint8_t *w;
        size_t wlen;

        assert_int_equal(mb_stream_reader_new(&r, MB_STREAM_FORMAT_FRAMED, NULL, 0), 0);
        assert_int_equal(mb_stream_reader_want(r, &w, &wlen), 0);
        assert_int_equal(wlen, MB_STREAM_MAGIC_LEN);
        assert_int_equal(mb_stream_reader_commit(r, wlen + 1, &ev), -EINVAL);
        assert_null(mb_stream_reader_error(r));
        memcpy(w, example, wlen);
        assert_int_equal(mb_stream_reader_commit(r, wlen, &ev), 0);
        assert_int_equal(ev.type, MB_STREAM_EVENT_NONE);
        assert_int_equal(mb_stream_reader_commit(r, 0, &ev), 0);
}

/* ---- round trips -------------------------------------------------------- */

static uint32_t random_record_len(void) {
        switch (rng_next() % 8) {
        case 0:
                return 0;
        case 1:
                return (uint32_t) rng_range(1, 16);
        case 2:
        case 3:
                return (uint32_t) rng_range(17, 4096);
        case 4:
        case 5:
                return (uint32_t) rng_range(4097, 200000);
        case 6:
                return (uint32_t) rng_range(200001, 2 * MIB);
        default:
                return (uint32_t) rng_range(1, 64);
        }
}

static void check_roundtrip(const uint32_t *lens, size_t n, FeedMode mode, size_t piece, size_t piece_max) {
        Buf b = {};
        uint64_t total = 0;
        uint32_t longest = 0;
        Run run = {
                .format = MB_STREAM_FORMAT_FRAMED, .expect = "simdev", .mode = mode,
                .piece = piece, .piece_max = piece_max,
        };

        build_framed(&b, "simdev", lens, n, true);
        run_stream(&run, b.data, b.len);
        if (run.rc != 0)
                fail_msg("round trip failed: %s", run.error);
        assert_int_equal(run.finish_rc, 0);
        assert_true(run.got_header);
        assert_string_equal(run.bdf, "0000:3b:00.1");
        assert_string_equal(run.plugin, "simdev");
        assert_int_equal(run.ndata, n);
        for (size_t i = 0, off = 0; i < n; i++) {
                assert_int_equal(run.lens[i], lens[i]);
                for (size_t j = 0; j < lens[i]; j++)
                        if (run.data.data[off + j] != pattern(i, j))
                                fail_msg("record %zu byte %zu differs", i, j);
                off += lens[i];
                total += lens[i];
        }
        assert_int_equal(run.data.len, total);
        assert_true(run.got_end);
        assert_true(run.ended);
        assert_int_equal(run.end_bytes, total);
        assert_int_equal(run.end_records, n);
        assert_int_equal(run.bytes, total);
        assert_int_equal(run.records, n);
        for (size_t i = 0; i < n; i++)
                longest = MB_MAX(longest, lens[i]);
        /* want() never offers more than the current unit */
        assert_true(run.max_want_after_header <= MB_MAX(MB_STREAM_RECORD_HDR_LEN, longest));
        run_done(&run);
        buf_done(&b);
}

static void test_roundtrip_random(void **state) {
        for (unsigned iter = 0; iter < 16; iter++) {
                size_t n = rng_range(0, 20);
                uint32_t lens[20];
                uint64_t total = 0;

                for (size_t i = 0; i < n; i++) {
                        lens[i] = random_record_len();
                        total += lens[i];
                }
                check_roundtrip(lens, n, MODE_FEED, 0, rng_range(1, 300000));
                check_roundtrip(lens, n, MODE_ZEROCOPY, 0, rng_range(1, 300000));
                check_roundtrip(lens, n, MODE_FEED, SIZE_MAX, 0); /* whole */
                check_roundtrip(lens, n, MODE_ZEROCOPY, SIZE_MAX, 0);
                if (total < 256 * 1024) /* small pieces: keep valgrind runs short */
                        check_roundtrip(lens, n, MODE_ZEROCOPY, 0, 5);
        }
}

static void test_roundtrip_one_byte(void **state) {
        uint32_t lens[12];

        for (size_t i = 0; i < ELEMENTSOF(lens); i++)
                lens[i] = (uint32_t) rng_range(0, 900);
        lens[3] = 0;
        check_roundtrip(lens, ELEMENTSOF(lens), MODE_FEED, 1, 0);
        check_roundtrip(lens, ELEMENTSOF(lens), MODE_ZEROCOPY, 1, 0);
}

/* The largest record the default cap allows, and a custom cap at its edge. */
static void test_record_at_cap(void **state) {
        uint32_t lens[] = { MB_STREAM_RECORD_MAX, 1 };

        check_roundtrip(lens, ELEMENTSOF(lens), MODE_ZEROCOPY, SIZE_MAX, 0);
}

static void test_no_records(void **state) {
        Buf b = {};
        Run run;

        build_framed(&b, "simdev", NULL, 0, true);
        assert_int_equal(b.len, 44 + MB_STREAM_END_RECORD_LEN);
        run_simple(&run, b.data, b.len, "simdev");
        assert_int_equal(run.finish_rc, 0);
        assert_int_equal(run.ndata, 0);
        assert_true(run.got_end);
        assert_int_equal(run.end_records, 0);
        run_done(&run);
        buf_done(&b);
}

/* ---- truncation and bit flips ------------------------------------------- */

/* Every strict prefix of a complete stream: no END, finish() refuses. */
static void test_truncate_every_offset(void **state) {
        static const uint32_t lens[] = { 3, 0, 17 };
        Buf b = {};

        build_framed(&b, "simdev", lens, ELEMENTSOF(lens), true);
        for (size_t cut = 0; cut < b.len; cut++)
                for (int mode = MODE_FEED; mode <= MODE_ZEROCOPY; mode++) {
                        Run run = {
                                .format = MB_STREAM_FORMAT_FRAMED, .expect = "simdev", .mode = (FeedMode) mode,
                                .piece = 0, .piece_max = 7,
                        };

                        run_stream(&run, b.data, cut);
                        assert_int_equal(run.rc, 0); /* a prefix is not corrupt by itself */
                        assert_false(run.got_end);
                        assert_false(run.ended);
                        assert_int_equal(run.finish_rc, -EBADMSG);
                        assert_non_null(run.error);
                        assert_true(strncmp(run.error, "stream ", 7) == 0);
                        run_done(&run);
                }

        /* The messages name the place. */
        {
                Run run;

                run_simple(&run, b.data, 0, NULL);
                assert_string_equal(run.error, "stream is empty");
                run_done(&run);
                run_simple(&run, b.data, 30, NULL);
                assert_string_equal(run.error, "stream ended inside the header");
                run_done(&run);
                run_simple(&run, b.data, 44, NULL);
                assert_string_equal(run.error, "stream ended after 0 records without the end record");
                run_done(&run);
                run_simple(&run, b.data, 44 + 16 + 3 + 16 + 10, NULL);
                assert_string_equal(run.error, "stream ended inside the header of record 2");
                run_done(&run);
                run_simple(&run, b.data, 44 + 16 + 3 + 16 + 16 + 5, NULL);
                assert_string_equal(run.error, "stream ended inside record 2 (5 of 17 payload bytes)");
                run_done(&run);
                run_simple(&run, b.data, b.len - MB_STREAM_END_RECORD_LEN, NULL);
                assert_string_equal(run.error, "stream ended after 3 records without the end record");
                run_done(&run);
                run_simple(&run, b.data, b.len - 1, NULL);
                assert_string_equal(run.error, "stream ended inside the end record");
                run_done(&run);
        }
        buf_done(&b);
}

/* Any single bit flipped anywhere in a framed stream is refused, and the
 * end record is never reported. */
static void test_bitflip_every_bit(void **state) {
        static const uint32_t lens[] = { 5, 0, 40, 1 };
        Buf b = {};
        _cleanup_free_ uint8_t *copy = NULL;

        build_framed(&b, "simdev", lens, ELEMENTSOF(lens), true);
        copy = malloc(b.len);
        assert_non_null(copy);

        for (size_t bit = 0; bit < b.len * 8; bit++)
                for (int expect = 0; expect <= 1; expect++) {
                        Run run = {
                                .format = MB_STREAM_FORMAT_FRAMED, .expect = expect ? "simdev" : NULL,
                                .mode = (bit & 1) ? MODE_ZEROCOPY : MODE_FEED, .piece = 0, .piece_max = 11,
                        };

                        memcpy(copy, b.data, b.len);
                        copy[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                        run_stream(&run, copy, b.len);
                        if (run.finish_rc != -EBADMSG || run.got_end)
                                fail_msg("flip of bit %zu (byte %zu) not detected", bit, bit / 8);
                        assert_non_null(run.error);
                        run_done(&run);
                }
        buf_done(&b);
}

/* ---- refusals, each with its message ------------------------------------ */

static void test_bad_magic(void **state) {
        uint8_t in[sizeof(example)];

        memcpy(in, example, sizeof(in));
        in[0] = 'm';
        assert_refused(in, sizeof(in), NULL, 0, "bad magic");
        /* A raw stream given to a framed reader. */
        assert_refused((const uint8_t *) "\0\0\0\0\0\0\0\x05hello", 13, NULL, 0, "bad magic");
        /* Detected from the first 8 bytes alone. */
        assert_refused(in, 8, NULL, 0, "bad magic");
}

static void test_wrong_version(void **state) {
        uint8_t h[MB_STREAM_HEADER_MAX];
        size_t n = craft_header(h, 7, 0, 0, "0000:3b:00.1", 12, "simdev", 6);

        assert_refused(h, n, NULL, 0, "unsupported stream version 7");
        n = craft_header(h, 0, 0, 0, "0000:3b:00.1", 12, "simdev", 6);
        assert_refused(h, n, NULL, 0, "unsupported stream version 0");
        /* Refused from the fixed part alone, before the rest arrives. */
        assert_refused(h, 20, NULL, 0, "unsupported stream version 0");
}

static void test_header_refusals(void **state) {
        uint8_t h[MB_STREAM_HEADER_MAX];
        size_t n;
        char msg[128];

        n = craft_header(h, 1, 0, 1, "0000:3b:00.1", 12, "simdev", 6);
        assert_refused(h, n, NULL, 0, "header: unsupported flags 0x00000001");
        n = craft_header(h, 1, 0, 0x80000000u, "0000:3b:00.1", 12, "simdev", 6);
        assert_refused(h, n, NULL, 0, "header: unsupported flags 0x80000000");

        n = craft_header(h, 1, 27, 0, "0000:3b:00.1", 12, "simdev", 6);
        assert_refused(h, n, NULL, 0, "header length 27 out of range (28..345)");
        n = craft_header(h, 1, 346, 0, "0000:3b:00.1", 12, "simdev", 6);
        assert_refused(h, n, NULL, 0, "header length 346 out of range (28..345)");
        n = craft_header(h, 1, 0xffffffffu, 0, "0000:3b:00.1", 12, "simdev", 6);
        assert_refused(h, n, NULL, 0, "header length 4294967295 out of range (28..345)");

        /* header_len larger than the fields: a trailing byte before the CRC. */
        n = craft_header(h, 1, 45, 0, "0000:3b:00.1", 12, "simdevX", 7);
        h[33] = 6; /* plugin_len says 6, header_len says 45: one byte unaccounted */
        put_be32(h + 41, mb_crc32c(0, h, 41));
        assert_refused(h, n, NULL, 0, "header: length 45 does not match its fields (44 bytes)");

        n = craft_header(h, 1, 0, 0, "", 0, "simdev", 6);
        assert_refused(h, n, NULL, 0, "header: BDF length 0 out of range (1..64)");
        {
                char bdf[65];

                memset(bdf, 'b', sizeof(bdf));
                n = craft_header(h, 1, 0, 0, bdf, 65, "simdev", 6);
                assert_refused(h, n, NULL, 0, "header: BDF length 65 out of range (1..64)");
        }
        n = craft_header(h, 1, 0, 0, "0000:3b:00.1", 12, "", 0);
        assert_refused(h, n, NULL, 0, "header: plugin name length 0");
        /* bdf_len pointing past the CRC */
        n = craft_header(h, 1, 0, 0, "0000:3b:00.1", 12, "simdev", 6);
        h[20] = 30;
        put_be32(h + 40, mb_crc32c(0, h, 40));
        assert_refused(h, n, NULL, 0, "header: length 44 too short for a 30 byte BDF");

        n = craft_header(h, 1, 0, 0, "0000\0003b:00.1", 12, "simdev", 6);
        assert_refused(h, n, NULL, 0, "header: BDF contains a NUL byte");
        n = craft_header(h, 1, 0, 0, "0000:3b:00.1", 12, "sim\0dev", 7);
        assert_refused(h, n, NULL, 0, "header: plugin name contains a NUL byte");

        /* A header CRC mismatch names both values. */
        memcpy(h, example, 44);
        h[25] ^= 0x20;
        snprintf(msg, sizeof(msg), "header: CRC mismatch (expected 0x86e1ed47, got 0x%08x)", mb_crc32c(0, h, 40));
        assert_refused(h, 44, NULL, 0, msg);
}

static void test_other_plugin(void **state) {
        Buf b = {};
        Run run;

        build_framed(&b, "foo", NULL, 0, true);
        assert_refused(b.data, b.len, "simdev", 0, "stream from plugin 'foo', expected 'simdev'");
        /* Without an expectation any plugin is accepted and reported. */
        run_simple(&run, b.data, b.len, NULL);
        assert_int_equal(run.finish_rc, 0);
        assert_string_equal(run.plugin, "foo");
        run_done(&run);
        /* A prefix of the expected name is another name. */
        assert_refused(b.data, b.len, "fo", 0, "stream from plugin 'foo', expected 'fo'");
        buf_done(&b);

        /* Names from the stream are escaped in the message. */
        b = (Buf) {};
        build_framed(&b, "a\nb'\x1b", NULL, 0, true);
        assert_refused(b.data, b.len, "simdev", 0, "stream from plugin 'a\\x0ab\\x27\\x1b', expected 'simdev'");
        buf_done(&b);
}

static void reorder_stream(Buf *b, const uint32_t *order, size_t n, bool with_end) {
        put_header(b, "0000:3b:00.1", "simdev");
        for (size_t i = 0; i < n; i++) {
                uint8_t p[8];

                for (size_t j = 0; j < sizeof(p); j++)
                        p[j] = pattern(order[i], j);
                put_record(b, order[i], 0, p, sizeof(p));
        }
        if (with_end)
                put_end(b, (uint32_t) n, 8 * n, n);
}

static void test_reorder_duplicate_gap(void **state) {
        static const uint32_t reordered[] = { 0, 2, 1 }, duplicate[] = { 0, 1, 1 }, gap[] = { 0, 1, 3 },
                              late_start[] = { 1 };
        Buf b = {};
        Run run;

        reorder_stream(&b, reordered, 3, true);
        assert_refused(b.data, b.len, NULL, 0, "record index 2 where 1 was expected (gap)");
        run_simple(&run, b.data, b.len, NULL);
        assert_int_equal(run.ndata, 1); /* record 0 was delivered, nothing after */
        run_done(&run);
        buf_done(&b);

        reorder_stream(&b, duplicate, 3, true);
        assert_refused(b.data, b.len, NULL, 0, "record index 1 where 2 was expected (duplicate or reordered)");
        buf_done(&b);

        reorder_stream(&b, gap, 3, true);
        assert_refused(b.data, b.len, NULL, 0, "record index 3 where 2 was expected (gap)");
        buf_done(&b);

        reorder_stream(&b, late_start, 1, true);
        assert_refused(b.data, b.len, NULL, 0, "record index 1 where 0 was expected (gap)");
        buf_done(&b);

        /* The end record's index must follow the last data record too. */
        reorder_stream(&b, reordered, 1, false);
        put_end(&b, 2, 8, 1);
        assert_refused(b.data, b.len, NULL, 0, "record index 2 where 1 was expected (gap)");
        buf_done(&b);
        reorder_stream(&b, reordered, 1, false);
        put_end(&b, 0, 8, 1);
        assert_refused(b.data, b.len, NULL, 0, "record index 0 where 1 was expected (duplicate or reordered)");
        buf_done(&b);
}

static void test_crc_mismatch(void **state) {
        uint32_t lens[10];
        Buf b = {};
        size_t off;
        uint32_t stored, got;
        char msg[128];

        for (size_t i = 0; i < ELEMENTSOF(lens); i++)
                lens[i] = 100;
        build_framed(&b, "simdev", lens, ELEMENTSOF(lens), true);

        /* Corrupt a payload byte of record 7. */
        off = 44 + 7 * (16 + 100);
        stored = (uint32_t) b.data[off + 12] << 24 | (uint32_t) b.data[off + 13] << 16 |
                 (uint32_t) b.data[off + 14] << 8 | b.data[off + 15];
        b.data[off + 16 + 50] ^= 0x01;
        got = mb_crc32c(mb_crc32c(0, b.data + off, 12), b.data + off + 16, 100);
        assert_int_not_equal(stored, got);
        snprintf(msg, sizeof(msg), "record 7: CRC mismatch (expected 0x%08x, got 0x%08x)", stored, got);
        assert_refused(b.data, b.len, NULL, 0, msg);
        b.data[off + 16 + 50] ^= 0x01;

        /* The end record's payload is covered as well. */
        b.data[b.len - 1] ^= 0x80;
        off = b.len - MB_STREAM_END_RECORD_LEN;
        stored = (uint32_t) b.data[off + 12] << 24 | (uint32_t) b.data[off + 13] << 16 |
                 (uint32_t) b.data[off + 14] << 8 | b.data[off + 15];
        got = mb_crc32c(mb_crc32c(0, b.data + off, 12), b.data + off + 16, 16);
        snprintf(msg, sizeof(msg), "record 10: CRC mismatch (expected 0x%08x, got 0x%08x)", stored, got);
        assert_refused(b.data, b.len, NULL, 0, msg);
        buf_done(&b);
}

#ifdef __GLIBC__
static size_t heap_in_use(void) {
        struct mallinfo2 mi = mallinfo2();

        return mi.uordblks + mi.hblkhd;
}
#endif

static void test_oversize(void **state) {
        static const uint32_t lens[] = { 10, 20 };
        uint8_t h[MB_STREAM_RECORD_HDR_LEN];
        Buf b = {};

        /* Two good records, then one claiming 32 MiB, and no payload at all. */
        build_framed(&b, "simdev", lens, 2, false);
        mb_stream_record_header_encode(h, 2, 0, NULL, 0);
        put_be32(h + 8, 32 * MIB);
        buf_put(&b, h, sizeof(h));
        assert_refused(b.data, b.len, NULL, 0, "record 2: length 33554432 exceeds the cap of 16777216 bytes");

        /* The reader asked for the record header and nothing more: no buffer
         * for the claimed length was offered (or allocated). */
        for (int variant = 0; variant < 3; variant++) {
                Run run = {
                        .format = MB_STREAM_FORMAT_FRAMED, .mode = variant == 0 ? MODE_FEED : MODE_ZEROCOPY,
                        .piece = variant == 2 ? SIZE_MAX : 1,
                };

                run_stream(&run, b.data, b.len);
                assert_int_equal(run.rc, -EBADMSG);
                assert_true(run.max_want <= 44 - 20);
                /* records 0 and 1 (at most 20 bytes) were read; then the header of record 2 */
                assert_int_equal(run.max_want_after_header, 20);
                if (variant == 2)
                        /* whole units: the last offer was the record header itself */
                        assert_int_equal(run.last_want, MB_STREAM_RECORD_HDR_LEN);
                assert_int_equal(run.ndata, 2);
                run_done(&run);
        }

#ifdef __GLIBC__
        {
                _cleanup_(mb_stream_reader_freep) MbStreamReader *r = NULL;
                MbStreamEvent ev;
                size_t before, consumed, pos = 0;
                int k = 0;

                assert_int_equal(mb_stream_reader_new(&r, MB_STREAM_FORMAT_FRAMED, NULL, 0), 0);
                before = heap_in_use();
                while (pos < b.len) {
                        k = mb_stream_reader_feed(r, b.data + pos, b.len - pos, &consumed, &ev);
                        pos += consumed;
                        if (k < 0)
                                break;
                }
                assert_int_equal(k, -EBADMSG);
                /* At most the buffer of the 20-byte record and the message. */
                assert_true(heap_in_use() < before + 64 * 1024);
        }
#endif

        /* The largest length the field can carry. */
        buf_done(&b);
        build_framed(&b, "simdev", NULL, 0, false);
        mb_stream_record_header_encode(h, 0, 0, NULL, 0);
        put_be32(h + 8, UINT32_MAX);
        buf_put(&b, h, sizeof(h));
        assert_refused(b.data, b.len, NULL, 0, "record 0: length 4294967295 exceeds the cap of 16777216 bytes");
        buf_done(&b);

        /* A custom cap, at and over its edge. */
        {
                static const uint32_t at_cap[] = { 100, 100 }, over_cap[] = { 100, 101 };
                Run run = { .format = MB_STREAM_FORMAT_FRAMED, .max_record = 100, .mode = MODE_FEED, .piece = 1000 };

                build_framed(&b, "simdev", at_cap, 2, true);
                run_stream(&run, b.data, b.len);
                assert_int_equal(run.finish_rc, 0);
                assert_int_equal(run.ndata, 2);
                run_done(&run);
                buf_done(&b);

                build_framed(&b, "simdev", over_cap, 2, true);
                assert_refused(b.data, b.len, NULL, 100, "record 1: length 101 exceeds the cap of 100 bytes");
                buf_done(&b);
        }
}

static void test_flags_refusals(void **state) {
        Buf b = {};
        uint8_t h[MB_STREAM_RECORD_HDR_LEN];

        put_header(&b, "0000:3b:00.1", "simdev");
        put_record(&b, 0, 0x2, (const uint8_t *) "abc", 3);
        put_end(&b, 1, 3, 1);
        assert_refused(b.data, b.len, NULL, 0, "record 0: unknown flags 0x00000002");
        buf_done(&b);

        put_header(&b, "0000:3b:00.1", "simdev");
        put_record(&b, 0, 0x80000001u, (const uint8_t *) "abc", 3);
        assert_refused(b.data, b.len, NULL, 0, "record 0: unknown flags 0x80000000");
        buf_done(&b);

        /* An end record must carry exactly 16 bytes. */
        put_header(&b, "0000:3b:00.1", "simdev");
        put_record(&b, 0, MB_STREAM_RECORD_FLAG_END, (const uint8_t *) "0123456789abcdefg", 17);
        assert_refused(b.data, b.len, NULL, 0, "record 0: end record length 17, expected 16");
        buf_done(&b);

        /* A huge end record length is refused from its header alone. */
        put_header(&b, "0000:3b:00.1", "simdev");
        mb_stream_record_header_encode(h, 0, MB_STREAM_RECORD_FLAG_END, NULL, 0);
        put_be32(h + 8, UINT32_MAX);
        buf_put(&b, h, sizeof(h));
        assert_refused(b.data, b.len, NULL, 0, "record 0: end record length 4294967295, expected 16");
        buf_done(&b);
}

static void test_end_counts(void **state) {
        Buf b = {};
        uint32_t lens[9];

        /* 9 records, 4000 bytes in all */
        for (size_t i = 0; i < 8; i++)
                lens[i] = 450;
        lens[8] = 400;
        build_framed(&b, "simdev", lens, 9, false);
        put_end(&b, 9, 5000, 10);
        assert_refused(b.data, b.len, NULL, 0, "end record says 10 records/5000 bytes, stream had 9/4000");
        buf_done(&b);

        /* Only one of the two counts off is refused too. */
        build_framed(&b, "simdev", lens, 9, false);
        put_end(&b, 9, 4000, 8);
        assert_refused(b.data, b.len, NULL, 0, "end record says 8 records/4000 bytes, stream had 9/4000");
        buf_done(&b);
        build_framed(&b, "simdev", lens, 9, false);
        put_end(&b, 9, 4001, 9);
        assert_refused(b.data, b.len, NULL, 0, "end record says 9 records/4001 bytes, stream had 9/4000");
        buf_done(&b);
}

static void test_data_after_end(void **state) {
        Buf b = {};

        buf_put(&b, example, sizeof(example));
        buf_put(&b, "x", 1);
        assert_refused_full(b.data, b.len, NULL, 0, true, "data after the end record");
        /* Even another complete stream. */
        buf_put(&b, example, sizeof(example));
        assert_refused_full(b.data, b.len, NULL, 0, true, "data after the end record");
        buf_done(&b);

        /* After END, want() offers nothing and a commit of bytes read elsewhere fails. */
        {
                _cleanup_(mb_stream_reader_freep) MbStreamReader *r = NULL;
                MbStreamEvent ev;
                size_t consumed;
                uint8_t sentinel = 0;
                uint8_t *w = &sentinel; /* want() must overwrite it with NULL */
                size_t wlen = 1;

                assert_int_equal(mb_stream_reader_new(&r, MB_STREAM_FORMAT_FRAMED, NULL, 0), 0);
                assert_int_equal(mb_stream_reader_feed(r, example, sizeof(example), &consumed, &ev), 0);
                assert_int_equal(ev.type, MB_STREAM_EVENT_HEADER);
                assert_int_equal(consumed, 44);
                for (size_t pos = consumed; pos < sizeof(example); pos += consumed)
                        assert_int_equal(
                                mb_stream_reader_feed(r, example + pos, sizeof(example) - pos, &consumed, &ev), 0);
                assert_int_equal(ev.type, MB_STREAM_EVENT_END);
                assert_true(mb_stream_reader_ended(r));
                assert_int_equal(mb_stream_reader_want(r, &w, &wlen), 0);
                assert_null(w);
                assert_int_equal(wlen, 0);
                assert_int_equal(mb_stream_reader_feed(r, NULL, 0, &consumed, &ev), 0);
                assert_int_equal(mb_stream_reader_commit(r, 0, &ev), 0);
                assert_int_equal(mb_stream_reader_finish(r), 0);
                assert_int_equal(mb_stream_reader_commit(r, 3, &ev), -EBADMSG);
                assert_string_equal(mb_stream_reader_error(r), "data after the end record");
                assert_int_equal(mb_stream_reader_finish(r), -EBADMSG);
                assert_false(mb_stream_reader_ended(r));
        }
}

/* ---- raw format --------------------------------------------------------- */

static uint8_t raw_pattern(size_t round, uint64_t j) {
        return (uint8_t) (round * 29 + j * 13 + (j >> 20));
}

static void build_raw(Buf *b, const uint64_t *rounds, size_t n) {
        for (size_t i = 0; i < n; i++) {
                uint8_t h[MB_STREAM_RAW_ROUND_HDR_LEN];
                _cleanup_free_ uint8_t *p = malloc(MB_MAX(rounds[i], 1u));

                assert_non_null(p);
                for (uint64_t j = 0; j < rounds[i]; j++)
                        p[j] = raw_pattern(i, j);
                mb_stream_raw_round_encode(h, rounds[i]);
                buf_put(b, h, sizeof(h));
                buf_put(b, p, rounds[i]);
        }
}

static void test_raw_chunking(void **state) {
        static const uint64_t rounds[] = { 0, 1, MIB, MIB + 1, 3 * MIB + 5, 0 };
        static const uint32_t chunks[] = { 1, MIB, MIB, 1, MIB, MIB, MIB, 5 };
        Buf b = {};

        build_raw(&b, rounds, ELEMENTSOF(rounds));
        for (int mode = MODE_FEED; mode <= MODE_ZEROCOPY; mode++)
                for (int variant = 0; variant < 3; variant++) {
                        Run run = {
                                .format = MB_STREAM_FORMAT_RAW, .mode = (FeedMode) mode,
                                .piece = variant == 0 ? SIZE_MAX : variant == 1 ? 4093 : 0, .piece_max = 3 * MIB,
                        };
                        uint64_t total = 0;

                        run_stream(&run, b.data, b.len);
                        assert_int_equal(run.rc, 0);
                        assert_int_equal(run.finish_rc, 0);
                        assert_null(run.error);
                        assert_false(run.got_header);
                        assert_false(run.got_end);
                        assert_false(run.ended);
                        assert_int_equal(run.ndata, ELEMENTSOF(chunks));
                        for (size_t i = 0; i < ELEMENTSOF(chunks); i++) {
                                assert_int_equal(run.lens[i], chunks[i]);
                                total += chunks[i];
                        }
                        assert_int_equal(run.bytes, total);
                        assert_int_equal(run.records, ELEMENTSOF(chunks));
                        assert_true(run.max_want <= MB_STREAM_RAW_CHUNK);
                        /* contents, round by round */
                        for (size_t i = 0, off = 0; i < ELEMENTSOF(rounds); i++)
                                for (uint64_t j = 0; j < rounds[i]; j++, off++)
                                        if (run.data.data[off] != raw_pattern(i, j))
                                                fail_msg("raw round %zu byte %" PRIu64 " differs", i, j);
                        run_done(&run);
                }
        buf_done(&b);

        /* Each round on its own. */
        {
                static const struct {
                        uint64_t n;
                        size_t nchunks;
                        uint32_t last;
                } one[] = {
                        { 0, 0, 0 }, { 1, 1, 1 }, { MIB, 1, MIB }, { MIB + 1, 2, 1 }, { 3 * MIB + 5, 4, 5 },
                };

                for (size_t i = 0; i < ELEMENTSOF(one); i++) {
                        Run run = { .format = MB_STREAM_FORMAT_RAW, .mode = MODE_ZEROCOPY, .piece = SIZE_MAX };

                        build_raw(&b, &one[i].n, 1);
                        run_stream(&run, b.data, b.len);
                        assert_int_equal(run.finish_rc, 0);
                        assert_int_equal(run.ndata, one[i].nchunks);
                        for (size_t c = 0; c + 1 < one[i].nchunks; c++)
                                assert_int_equal(run.lens[c], MIB);
                        if (one[i].nchunks > 0)
                                assert_int_equal(run.lens[one[i].nchunks - 1], one[i].last);
                        assert_int_equal(run.bytes, one[i].n);
                        run_done(&run);
                        buf_done(&b);
                }
        }
}

static void test_raw_empty(void **state) {
        static const uint64_t zeros[] = { 0, 0, 0 };
        Buf b = {};
        Run run = { .format = MB_STREAM_FORMAT_RAW, .mode = MODE_FEED, .piece = 1 };

        /* No bytes at all: a complete (empty) raw stream. */
        run_stream(&run, NULL, 0);
        assert_int_equal(run.finish_rc, 0);
        assert_true(run.complete);
        assert_int_equal(run.ndata, 0);
        run_done(&run);

        build_raw(&b, zeros, ELEMENTSOF(zeros));
        run = (Run) { .format = MB_STREAM_FORMAT_RAW, .mode = MODE_FEED, .piece = 1 };
        run_stream(&run, b.data, b.len);
        assert_int_equal(run.finish_rc, 0);
        assert_int_equal(run.ndata, 0);
        assert_int_equal(run.records, 0);
        run_done(&run);
        buf_done(&b);
}

static void test_raw_truncated(void **state) {
        static const uint64_t rounds[] = { 3, 0, 5 };
        /* round boundaries: 0, 11, 19, 32 */
        Buf b = {};

        build_raw(&b, rounds, ELEMENTSOF(rounds));
        assert_int_equal(b.len, 32);
        for (size_t cut = 0; cut <= b.len; cut++) {
                bool boundary = cut == 0 || cut == 11 || cut == 19 || cut == 32;
                Run run = { .format = MB_STREAM_FORMAT_RAW, .mode = MODE_ZEROCOPY, .piece = 0, .piece_max = 4 };

                run_stream(&run, b.data, cut);
                assert_int_equal(run.rc, 0);
                if (run.finish_rc != (boundary ? 0 : -EBADMSG))
                        fail_msg("cut %zu: finish %d (%s)", cut, run.finish_rc, run.error);
                assert_int_equal(run.complete, boundary);
                assert_true(boundary ? run.error == NULL : run.error != NULL);
                run_done(&run);
        }

        {
                Run run = { .format = MB_STREAM_FORMAT_RAW, .mode = MODE_FEED, .piece = SIZE_MAX };

                run_stream(&run, b.data, 3);
                assert_string_equal(run.error, "stream ended inside the length of round 0");
                run_done(&run);
                run = (Run) { .format = MB_STREAM_FORMAT_RAW, .mode = MODE_FEED, .piece = SIZE_MAX };
                run_stream(&run, b.data, 19 + 8 + 2);
                assert_string_equal(run.error, "stream ended inside round 2: 3 of 5 bytes missing");
                run_done(&run);
        }
        buf_done(&b);
}

/* A round claiming 2^64-1 bytes: chunks of 1 MiB at most, EOF refuses. */
static void test_raw_huge_round(void **state) {
        uint8_t in[8 + 10];
        Run run = { .format = MB_STREAM_FORMAT_RAW, .mode = MODE_ZEROCOPY, .piece = SIZE_MAX };

        mb_stream_raw_round_encode(in, UINT64_MAX);
        memset(in + 8, 0xab, 10);
        run_stream(&run, in, sizeof(in));
        assert_int_equal(run.rc, 0);
        assert_int_equal(run.ndata, 0);
        assert_int_equal(run.max_want, MB_STREAM_RAW_CHUNK);
        assert_int_equal(run.finish_rc, -EBADMSG);
        assert_string_equal(run.error,
                            "stream ended inside round 0: 18446744073709551605 of 18446744073709551615 bytes missing");
        run_done(&run);
}

int main(void) {
        const char *s = getenv("MB_TEST_SEED");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_example_encode),
                cmocka_unit_test(test_example_decode),
                cmocka_unit_test(test_format_strings),
                cmocka_unit_test(test_header_encode),
                cmocka_unit_test(test_record_encode),
                cmocka_unit_test(test_reader_new_invalid),
                cmocka_unit_test(test_commit_overrun),
                cmocka_unit_test(test_roundtrip_random),
                cmocka_unit_test(test_roundtrip_one_byte),
                cmocka_unit_test(test_record_at_cap),
                cmocka_unit_test(test_no_records),
                cmocka_unit_test(test_truncate_every_offset),
                cmocka_unit_test(test_bitflip_every_bit),
                cmocka_unit_test(test_bad_magic),
                cmocka_unit_test(test_wrong_version),
                cmocka_unit_test(test_header_refusals),
                cmocka_unit_test(test_other_plugin),
                cmocka_unit_test(test_reorder_duplicate_gap),
                cmocka_unit_test(test_crc_mismatch),
                cmocka_unit_test(test_oversize),
                cmocka_unit_test(test_flags_refusals),
                cmocka_unit_test(test_end_counts),
                cmocka_unit_test(test_data_after_end),
                cmocka_unit_test(test_raw_chunking),
                cmocka_unit_test(test_raw_empty),
                cmocka_unit_test(test_raw_truncated),
                cmocka_unit_test(test_raw_huge_round),
        };

        rng_state = s ? strtoull(s, NULL, 0) : UINT64_C(0x5eed57eea);
        printf("# MB_TEST_SEED=0x%llx\n", (unsigned long long) rng_state);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
