/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for common/stream.c. Each input goes through four readers
 * (framed expecting "simdev", framed accepting any plugin, framed with a
 * 64-byte record cap, raw), each fed three ways: whole through feed(), in
 * small pieces through want()/commit(), and through feed() split at three
 * points derived from the input. The three must agree exactly (result,
 * error text, events, delivered bytes), and every event must respect the
 * format's limits; any difference aborts.
 *
 * Build by hand (no build rules here):
 *   clang -fsanitize=fuzzer,address,undefined -Icommon -I$BUILD -include $BUILD/config.h \
 *         tests/fuzz/fuzz-stream.c common/stream.c common/crc32c.c -o fuzz-stream
 *   mkdir -p /tmp/fuzz-out && ./fuzz-stream -max_total_time=60 /tmp/fuzz-out tests/fuzz/corpus/stream
 * (libFuzzer adds new inputs to the first directory: keep the committed one small.)
 *
 * Seeds in tests/fuzz/corpus/stream/, all valid, written with the stream.h
 * encoders: framed-example (the example of docs/stream-format.md), framed
 * streams with 0 and 3 records, a 70-byte record from plugin "foo" (over the
 * 64-byte cap of one reader), the longest version 1 header, and two raw streams.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "stream.h"

#define CHECK(x)                               \
        do {                                   \
                if (!(x))                      \
                        __builtin_trap();      \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Config {
        MbStreamFormat format;
        const char *expect;
        uint32_t max_record;
} Config;

static const Config configs[] = {
        { MB_STREAM_FORMAT_FRAMED, "simdev", 0 },
        { MB_STREAM_FORMAT_FRAMED, NULL, 0 },
        { MB_STREAM_FORMAT_FRAMED, NULL, 64 },
        { MB_STREAM_FORMAT_RAW, NULL, 0 },
};

typedef enum Strategy {
        STRATEGY_WHOLE,     /* feed() everything at once */
        STRATEGY_ZEROCOPY,  /* want()/commit() in small pseudo-random pieces */
        STRATEGY_SPLIT,     /* feed() in four parts cut at data-derived points */
        _STRATEGY_MAX,
} Strategy;

typedef struct Outcome {
        int rc;        /* first failure of feed()/commit(), or 0 */
        int finish_rc;
        uint32_t error_crc; /* of mb_stream_reader_error(), 0 when none */
        bool ended;
        uint64_t bytes, records;
        uint32_t data_crc;  /* of all DATA payloads in order */
        uint32_t events;
        uint32_t events_crc; /* of the event types, lengths and indexes in order */
} Outcome;

typedef struct State {
        const Config *config;
        Outcome out;
        bool got_header, got_end;
        uint64_t bytes, records;
} State;

static void check_event(State *s, const MbStreamEvent *ev) {
        uint8_t summary[9];

        if (ev->type == MB_STREAM_EVENT_NONE)
                return;
        CHECK(!s->got_end);

        switch (ev->type) {
        case MB_STREAM_EVENT_HEADER:
                CHECK(s->config->format == MB_STREAM_FORMAT_FRAMED);
                CHECK(!s->got_header);
                CHECK(ev->version == MB_STREAM_VERSION);
                CHECK(ev->bdf && ev->plugin);
                CHECK(strlen(ev->bdf) >= 1 && strlen(ev->bdf) <= MB_STREAM_BDF_MAX);
                CHECK(strlen(ev->plugin) >= 1 && strlen(ev->plugin) <= MB_STREAM_PLUGIN_MAX);
                if (s->config->expect)
                        CHECK(strcmp(ev->plugin, s->config->expect) == 0);
                s->got_header = true;
                break;
        case MB_STREAM_EVENT_DATA:
                CHECK(ev->data != NULL);
                CHECK(ev->idx == (uint32_t) s->records);
                if (s->config->format == MB_STREAM_FORMAT_RAW) {
                        CHECK(ev->len >= 1 && ev->len <= MB_STREAM_RAW_CHUNK);
                } else {
                        CHECK(s->got_header);
                        CHECK(ev->len <= (s->config->max_record ? s->config->max_record : MB_STREAM_RECORD_MAX));
                }
                /* Touch every byte so the sanitizers see the whole payload. */
                s->out.data_crc = mb_crc32c(s->out.data_crc, ev->data, ev->len);
                s->bytes += ev->len;
                s->records++;
                break;
        case MB_STREAM_EVENT_END:
                CHECK(s->config->format == MB_STREAM_FORMAT_FRAMED);
                CHECK(s->got_header);
                CHECK(ev->total_bytes == s->bytes && ev->total_records == s->records);
                s->got_end = true;
                break;
        case MB_STREAM_EVENT_NONE:
                break;
        }

        summary[0] = (uint8_t) ev->type;
        memcpy(summary + 1, &ev->len, 4);
        memcpy(summary + 5, &ev->idx, 4);
        s->out.events_crc = mb_crc32c(s->out.events_crc, summary, sizeof(summary));
        s->out.events++;
}

/* feed() all of data[0..len), event by event. Returns 0 or the failure. */
static int feed_all(MbStreamReader *r, State *s, const uint8_t *data, size_t len) {
        size_t pos = 0;

        do {
                MbStreamEvent ev;
                size_t consumed;
                int k = mb_stream_reader_feed(r, data + pos, len - pos, &consumed, &ev);

                CHECK(consumed <= len - pos);
                pos += consumed;
                if (k < 0)
                        return k;
                CHECK(consumed > 0 || len == pos);
                check_event(s, &ev);
        } while (pos < len);
        return 0;
}

static uint64_t rng_next(uint64_t *x) {
        /* xorshift64*; the seed is never 0 */
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        return *x * UINT64_C(2685821657736338717);
}

static int zerocopy_all(MbStreamReader *r, State *s, const uint8_t *data, size_t len, uint64_t seed) {
        size_t pos = 0;

        while (pos < len) {
                MbStreamEvent ev;
                uint8_t *buf;
                size_t want, n;
                int k;

                k = mb_stream_reader_want(r, &buf, &want);
                if (k < 0)
                        return k;
                if (want == 0) {
                        /* Only after the end record; the rest goes through feed(). */
                        CHECK(mb_stream_reader_ended(r));
                        return feed_all(r, s, data + pos, len - pos);
                }
                CHECK(!mb_stream_reader_ended(r));
                if (s->config->format == MB_STREAM_FORMAT_RAW)
                        CHECK(want <= MB_STREAM_RAW_CHUNK);

                /* Mostly small pieces, sometimes all that is wanted. */
                n = (rng_next(&seed) & 3) == 0 ? want : 1 + (size_t) (rng_next(&seed) % 17);
                n = n < want ? n : want;
                n = n < len - pos ? n : len - pos;
                memcpy(buf, data + pos, n);
                pos += n;
                k = mb_stream_reader_commit(r, n, &ev);
                if (k < 0)
                        return k;
                check_event(s, &ev);
        }
        return 0;
}

static int split_all(MbStreamReader *r, State *s, const uint8_t *data, size_t len, uint64_t seed) {
        size_t cut[5] = { 0, 0, 0, 0, len };

        for (int i = 1; i < 4; i++)
                cut[i] = len > 0 ? (size_t) (rng_next(&seed) % (len + 1)) : 0;
        /* sort the three inner cuts */
        for (int i = 1; i < 4; i++)
                for (int j = i + 1; j < 4; j++)
                        if (cut[j] < cut[i]) {
                                size_t t = cut[i];
                                cut[i] = cut[j];
                                cut[j] = t;
                        }
        for (int i = 0; i < 4; i++) {
                int k = feed_all(r, s, data + cut[i], cut[i + 1] - cut[i]);

                if (k < 0)
                        return k;
        }
        return 0;
}

static bool outcome_equal(const Outcome *a, const Outcome *b) {
        return a->rc == b->rc && a->finish_rc == b->finish_rc && a->error_crc == b->error_crc &&
               a->ended == b->ended && a->bytes == b->bytes && a->records == b->records &&
               a->data_crc == b->data_crc && a->events == b->events && a->events_crc == b->events_crc;
}

static void run(const Config *config, Strategy strategy, const uint8_t *data, size_t size, uint64_t seed,
                Outcome *out) {
        MbStreamReader *r = NULL;
        State s = { .config = config };
        const char *e;
        int k;

        CHECK(mb_stream_reader_new(&r, config->format, config->expect, config->max_record) == 0);

        switch (strategy) {
        case STRATEGY_WHOLE:
                k = feed_all(r, &s, data, size);
                break;
        case STRATEGY_ZEROCOPY:
                k = zerocopy_all(r, &s, data, size, seed);
                break;
        default:
                k = split_all(r, &s, data, size, seed);
                break;
        }
        s.out.rc = k;
        CHECK(k == 0 || k == -EBADMSG);

        s.out.finish_rc = mb_stream_reader_finish(r);
        CHECK(s.out.finish_rc == 0 || s.out.finish_rc == -EBADMSG);
        if (k < 0)
                CHECK(s.out.finish_rc == k);
        e = mb_stream_reader_error(r);
        CHECK((e != NULL) == (s.out.finish_rc < 0));

        /* A framed stream is complete exactly when its end record was
         * accepted and nothing followed it. */
        if (config->format == MB_STREAM_FORMAT_FRAMED) {
                if (s.out.finish_rc == 0)
                        CHECK(s.got_end);
                else if (s.got_end)
                        CHECK(strcmp(e, "data after the end record") == 0);
        } else
                CHECK(!s.got_header && !s.got_end);
        s.out.error_crc = e ? mb_crc32c(0, e, strlen(e)) : 0;
        s.out.ended = mb_stream_reader_ended(r);
        CHECK(s.out.ended == (s.got_end && s.out.finish_rc == 0));
        s.out.bytes = mb_stream_reader_bytes(r);
        s.out.records = mb_stream_reader_records(r);
        CHECK(s.out.bytes == s.bytes && s.out.records == s.records);

        mb_stream_reader_free(r);
        *out = s.out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Split points and piece sizes come from the input's own checksum,
         * so every input replays identically. */
        uint64_t seed = ((uint64_t) mb_crc32c(0, data, size) << 32 | size) | 1;

        for (size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++) {
                Outcome ref, o;

                run(&configs[c], STRATEGY_WHOLE, data, size, seed, &ref);
                for (Strategy st = STRATEGY_ZEROCOPY; st < _STRATEGY_MAX; st++) {
                        run(&configs[c], st, data, size, seed + st, &o);
                        CHECK(outcome_equal(&o, &ref));
                }
        }

        /* The pure helpers too, on input-derived values. */
        if (size >= 1) {
                char name[8] = { 0 };

                memcpy(name, data, size < sizeof(name) - 1 ? size : sizeof(name) - 1);
                (void) mb_stream_format_from_string(name);
        }
        return 0;
}
