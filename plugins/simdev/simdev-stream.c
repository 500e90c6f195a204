/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "simdev-proto.h"
#include "simdev-stream.h"

static uint64_t n_pages_of(uint64_t size, uint32_t page_size) {
        return (size + page_size - 1) / page_size;
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

uint64_t simdev_stream_runs_size(const SimdevBitmap *b, uint64_t from, uint64_t size, uint32_t page_size) {
        const uint64_t per_rec = SIMDEV_REC_MAX / page_size;
        uint64_t total = 0;

        for (uint64_t p = simdev_bitmap_next_set(b, from); p < b->n_bits;) {
                uint64_t q = simdev_bitmap_next_clear(b, p);
                uint64_t pages = q - p;

                total += (pages + per_rec - 1) / per_rec * SIMDEV_REC_HDR_LEN;
                total += min_u64(q * page_size, size) - p * page_size;
                p = simdev_bitmap_next_set(b, q);
        }
        return total;
}

/* ---- encoder ------------------------------------------------------------ */

int simdev_encoder_init(SimdevEncoder *e, uint64_t size, uint32_t page_size) {
        int r;

        if (size == 0 || size > SIMDEV_STATE_SIZE_MAX || page_size == 0 || SIMDEV_REC_MAX % page_size != 0)
                return -EINVAL;
        *e = (SimdevEncoder) { .size = size, .page_size = page_size, .rounds = 1 };
        r = simdev_bitmap_init(&e->round, n_pages_of(size, page_size));
        if (r < 0)
                return r;
        simdev_bitmap_set_all(&e->round);
        return 0;
}

void simdev_encoder_done(SimdevEncoder *e) {
        simdev_bitmap_done(&e->round);
}

static uint64_t piece_left(const SimdevEncoder *e) {
        return (uint64_t) (e->meta_len - e->meta_pos) + (e->data_len - e->data_pos);
}

uint64_t simdev_encoder_pending(const SimdevEncoder *e, const SimdevBitmap *dirty, bool final) {
        uint64_t n = piece_left(e);

        if (!e->header_started)
                n += SIMDEV_STREAM_HDR_LEN;
        n += simdev_stream_runs_size(&e->round, e->cursor, e->size, e->page_size);
        if (dirty)
                n += simdev_stream_runs_size(dirty, 0, e->size, e->page_size);
        if (final && !e->end_started)
                n += SIMDEV_END_LEN;
        return n;
}

static void piece_meta(SimdevEncoder *e, uint32_t len) {
        e->meta_len = len;
        e->meta_pos = 0;
        e->data_off = e->data_len = e->data_pos = 0;
}

/* Sets up the next piece; false when nothing is left. */
static bool next_piece(SimdevEncoder *e, SimdevBitmap *dirty, bool final) {
        const uint64_t per_rec = SIMDEV_REC_MAX / e->page_size;
        uint64_t p, q;

        if (!e->header_started) {
                memcpy(e->meta, SIMDEV_STREAM_MAGIC, 8);
                simdev_put_be32(e->meta + 8, SIMDEV_STREAM_VERSION);
                simdev_put_be32(e->meta + 12, e->page_size);
                simdev_put_be64(e->meta + 16, e->size);
                piece_meta(e, SIMDEV_STREAM_HDR_LEN);
                e->header_started = true;
                return true;
        }

        p = simdev_bitmap_next_set(&e->round, e->cursor);
        if (p >= e->round.n_bits && dirty && dirty->n_set > 0) {
                /* Round exhausted: what was dirtied since it began is the next one. */
                simdev_bitmap_swap(&e->round, dirty);
                simdev_bitmap_clear_all(dirty);
                e->cursor = 0;
                e->rounds++;
                p = simdev_bitmap_next_set(&e->round, 0);
        }
        if (p < e->round.n_bits) {
                q = simdev_bitmap_next_clear(&e->round, p);
                if (q - p > per_rec)
                        q = p + per_rec;
                piece_meta(e, SIMDEV_REC_HDR_LEN);
                e->data_off = p * e->page_size;
                e->data_len = min_u64(q * e->page_size, e->size) - e->data_off;
                simdev_put_be32(e->meta, SIMDEV_REC_DATA);
                simdev_put_be32(e->meta + 4, (uint32_t) e->data_len);
                simdev_put_be64(e->meta + 8, e->data_off);
                e->cursor = q;
                e->records++;
                e->data_bytes += e->data_len;
                return true;
        }

        if (final && !e->end_started) {
                simdev_put_be32(e->meta, SIMDEV_REC_END);
                simdev_put_be32(e->meta + 4, SIMDEV_END_PAYLOAD_LEN);
                simdev_put_be64(e->meta + 8, 0);
                simdev_put_be64(e->meta + 16, e->records);
                simdev_put_be64(e->meta + 24, e->data_bytes);
                piece_meta(e, SIMDEV_END_LEN);
                e->end_started = true;
                return true;
        }
        return false;
}

size_t simdev_encoder_read(SimdevEncoder *e, const uint8_t *mem, SimdevBitmap *dirty, bool final, uint8_t *out,
                           size_t len) {
        size_t done = 0;

        while (done < len) {
                size_t n;

                if (piece_left(e) == 0 && !next_piece(e, dirty, final))
                        break;

                if (e->meta_pos < e->meta_len) {
                        n = min_u64(len - done, e->meta_len - e->meta_pos);
                        memcpy(out + done, e->meta + e->meta_pos, n);
                        e->meta_pos += (uint32_t) n;
                } else {
                        n = min_u64(len - done, e->data_len - e->data_pos);
                        memcpy(out + done, mem + e->data_off + e->data_pos, n);
                        e->data_pos += n;
                }
                done += n;
        }
        e->bytes += done;
        return done;
}

bool simdev_encoder_ended(const SimdevEncoder *e) {
        return e->end_started && piece_left(e) == 0;
}

/* ---- decoder ------------------------------------------------------------ */

int simdev_decoder_init(SimdevDecoder *d, uint64_t size, uint32_t page_size) {
        if (size == 0 || size > SIMDEV_STATE_SIZE_MAX || page_size == 0)
                return -EINVAL;
        *d = (SimdevDecoder) { .size = size, .page_size = page_size, .phase = SIMDEV_DEC_HEADER };
        return simdev_bitmap_init(&d->covered, n_pages_of(size, page_size));
}

void simdev_decoder_done(SimdevDecoder *d) {
        simdev_bitmap_done(&d->covered);
}

static int fail(SimdevDecoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(SimdevDecoder *d, const char *fmt, ...) {
        char msg[sizeof(d->error) - 32];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        (void) snprintf(d->error, sizeof(d->error), "at stream byte %" PRIu64 ": %s", d->bytes, msg);
        d->phase = SIMDEV_DEC_FAILED;
        return -EBADMSG;
}

static int check_header(SimdevDecoder *d) {
        uint32_t version = simdev_get_be32(d->buf + 8), page = simdev_get_be32(d->buf + 12);
        uint64_t size = simdev_get_be64(d->buf + 16);

        if (memcmp(d->buf, SIMDEV_STREAM_MAGIC, 8) != 0)
                return fail(d, "bad magic (not a simdev state stream)");
        if (version != SIMDEV_STREAM_VERSION)
                return fail(d, "unsupported stream version %" PRIu32, version);
        if (page != d->page_size)
                return fail(d, "page size %" PRIu32 " differs from this function's %" PRIu32, page, d->page_size);
        if (size != d->size)
                return fail(d, "stream is for a %" PRIu64 "-byte function, this one has %" PRIu64 " bytes", size,
                            d->size);
        d->phase = SIMDEV_DEC_RECORD_HEADER;
        return 0;
}

static int check_record_header(SimdevDecoder *d) {
        uint32_t type = simdev_get_be32(d->buf), len = simdev_get_be32(d->buf + 4);
        uint64_t off = simdev_get_be64(d->buf + 8);

        d->rec_type = type;
        d->rec_off = off;
        d->rec_len = len;
        d->rec_pos = 0;

        switch (type) {
        case SIMDEV_REC_DATA:
                if (len == 0 || len > SIMDEV_REC_MAX)
                        return fail(d, "data record length %" PRIu32 " out of range", len);
                if (off % d->page_size != 0)
                        return fail(d, "data record offset %" PRIu64 " not page aligned", off);
                if (off >= d->size || len > d->size - off)
                        return fail(d, "data record [%" PRIu64 ", +%" PRIu32 ") beyond the %" PRIu64 "-byte state",
                                    off, len, d->size);
                if (len % d->page_size != 0 && off + len != d->size)
                        return fail(d, "data record length %" PRIu32 " not a whole number of pages", len);
                d->phase = SIMDEV_DEC_RECORD_DATA;
                return 0;
        case SIMDEV_REC_END:
                if (len != SIMDEV_END_PAYLOAD_LEN || off != 0)
                        return fail(d, "malformed end record");
                d->phase = SIMDEV_DEC_END_PAYLOAD;
                return 0;
        default:
                return fail(d, "unknown record type %" PRIu32, type);
        }
}

static int check_end(SimdevDecoder *d) {
        uint64_t records = simdev_get_be64(d->buf), data_bytes = simdev_get_be64(d->buf + 8);

        if (records != d->records || data_bytes != d->data_bytes)
                return fail(d, "end record counts (%" PRIu64 " records, %" PRIu64 " bytes) differ from received (%" PRIu64
                            ", %" PRIu64 ")", records, data_bytes, d->records, d->data_bytes);
        if (d->covered.n_set != d->covered.n_bits)
                return fail(d, "stream ended with %" PRIu64 " of %" PRIu64 " pages never written",
                            d->covered.n_bits - d->covered.n_set, d->covered.n_bits);
        d->phase = SIMDEV_DEC_DONE;
        return 0;
}

/* Accumulates into d->buf until want bytes are there; returns bytes taken. */
static size_t gather(SimdevDecoder *d, const uint8_t *data, size_t len, uint32_t want) {
        size_t n = want - d->buf_len;

        if (n > len)
                n = len;
        memcpy(d->buf + d->buf_len, data, n);
        d->buf_len += (uint32_t) n;
        return n;
}

int simdev_decoder_feed(SimdevDecoder *d, uint8_t *mem, const uint8_t *data, size_t len) {
        int r = 0;

        while (len > 0) {
                size_t n;

                switch (d->phase) {
                case SIMDEV_DEC_HEADER:
                        n = gather(d, data, len, SIMDEV_STREAM_HDR_LEN);
                        if (d->buf_len == SIMDEV_STREAM_HDR_LEN) {
                                d->buf_len = 0;
                                r = check_header(d);
                        }
                        break;
                case SIMDEV_DEC_RECORD_HEADER:
                        n = gather(d, data, len, SIMDEV_REC_HDR_LEN);
                        if (d->buf_len == SIMDEV_REC_HDR_LEN) {
                                d->buf_len = 0;
                                r = check_record_header(d);
                        }
                        break;
                case SIMDEV_DEC_RECORD_DATA:
                        n = min_u64(len, d->rec_len - d->rec_pos);
                        memcpy(mem + d->rec_off + d->rec_pos, data, n);
                        d->rec_pos += n;
                        if (d->rec_pos == d->rec_len) {
                                simdev_bitmap_set_range(&d->covered, d->rec_off / d->page_size,
                                                        (d->rec_len + d->page_size - 1) / d->page_size);
                                d->records++;
                                d->data_bytes += d->rec_len;
                                d->phase = SIMDEV_DEC_RECORD_HEADER;
                        }
                        break;
                case SIMDEV_DEC_END_PAYLOAD:
                        n = gather(d, data, len, SIMDEV_END_PAYLOAD_LEN);
                        if (d->buf_len == SIMDEV_END_PAYLOAD_LEN) {
                                d->buf_len = 0;
                                r = check_end(d);
                        }
                        break;
                case SIMDEV_DEC_DONE:
                        return fail(d, "%zu bytes after the end record", len);
                case SIMDEV_DEC_FAILED:
                default:
                        return -EBADMSG;
                }
                d->bytes += n;
                data += n;
                len -= n;
                if (r < 0)
                        return r;
        }
        return 0;
}
