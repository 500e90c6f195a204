/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration stream formats; docs/stream-format.md is the specification
 * and every refusal below is listed there.
 *
 * The reader is a small state machine over "units": a unit is a run of bytes
 * that must be complete before anything can be decided (the magic, the fixed
 * part of the header, the rest of the header, a record header, a record
 * payload, a raw round length, a raw chunk). want() hands out the unfilled
 * tail of the current unit, commit() accounts bytes and, when the unit is
 * complete, checks it and moves on. The payload buffer is only (re)allocated
 * once a record header has passed its checks, and never beyond the cap.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "macro.h"
#include "stream.h"

/* Fixed part of the header: magic, version, header_len, flags. */
#define HDR_FIXED_LEN (MB_STREAM_MAGIC_LEN + 12u)
/* Fixed part + bdf_len + plugin_len + crc32c. */
#define HDR_OVERHEAD (HDR_FIXED_LEN + 2u + 4u)
#define HDR_V1_MIN (HDR_OVERHEAD + 1u + 1u)
#define HDR_V1_MAX (HDR_OVERHEAD + MB_STREAM_BDF_MAX + MB_STREAM_PLUGIN_MAX)
/* Bytes of a record header covered by its CRC: idx, flags, len. */
#define REC_CRC_HDR_LEN 12u

_Static_assert(HDR_V1_MAX <= MB_STREAM_HEADER_MAX, "version 1 header must fit MB_STREAM_HEADER_MAX");

typedef enum ReaderState {
        STATE_HEADER,         /* framed: filling header[] up to unit_len (8, then 20, then header_len) */
        STATE_RECORD_HEADER,  /* framed: 16 bytes into rec_hdr[] */
        STATE_RECORD_PAYLOAD, /* framed: rec_len bytes into buf */
        STATE_END_PAYLOAD,    /* framed: 16 bytes into end_payload[] */
        STATE_ENDED,          /* framed: end record accepted */
        STATE_RAW_ROUND,      /* raw: 8 bytes into raw_hdr[] */
        STATE_RAW_CHUNK,      /* raw: one chunk into buf */
} ReaderState;

struct MbStreamReader {
        MbStreamFormat format;
        char *expect_plugin; /* NULL: any plugin */
        uint32_t max_record;

        ReaderState state;
        int failed;  /* 0, or the negative errno every call returns from now on */
        char *error; /* description of the failure */

        /* The unit being filled: unit_have of unit_len bytes at unit. */
        uint8_t *unit;
        size_t unit_len;
        size_t unit_have;

        /* Framed header */
        uint8_t header[MB_STREAM_HEADER_MAX];
        char bdf[MB_STREAM_BDF_MAX + 1];
        char plugin[MB_STREAM_PLUGIN_MAX + 1];

        /* Framed records */
        uint8_t rec_hdr[MB_STREAM_RECORD_HDR_LEN];
        uint32_t rec_idx, rec_flags, rec_len, rec_crc;
        uint32_t crc;      /* running CRC of the record being read */
        uint64_t next_idx; /* index the next record must carry */
        uint8_t end_payload[MB_STREAM_END_PAYLOAD_LEN];

        /* Payload (framed) or chunk (raw) buffer, reused */
        uint8_t *buf;
        size_t buf_size;

        /* Raw rounds */
        uint8_t raw_hdr[MB_STREAM_RAW_ROUND_HDR_LEN];
        uint64_t round;      /* index of the current round */
        uint64_t round_len;  /* its length N */
        uint64_t round_left; /* bytes of it not yet delivered or being filled */

        uint64_t bytes;   /* payload bytes delivered */
        uint64_t records; /* data records (raw: chunks) delivered */
};

/* Points at something valid for a DATA event of length 0 before any buffer exists. */
static const uint8_t empty_payload[1];

static const char *const format_table[_MB_STREAM_FORMAT_MAX] = {
        [MB_STREAM_FORMAT_FRAMED] = "framed",
        [MB_STREAM_FORMAT_RAW] = "raw",
};

const char *mb_stream_format_to_string(MbStreamFormat f) {
        if (f < 0 || f >= _MB_STREAM_FORMAT_MAX)
                return NULL;
        return format_table[f];
}

MbStreamFormat mb_stream_format_from_string(const char *s) {
        if (!s)
                return _MB_STREAM_FORMAT_INVALID;
        for (int i = 0; i < _MB_STREAM_FORMAT_MAX; i++)
                if (strcmp(format_table[i], s) == 0)
                        return (MbStreamFormat) i;
        return _MB_STREAM_FORMAT_INVALID;
}

/* ---- big-endian helpers ------------------------------------------------- */

static inline void put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static inline void put_be64(uint8_t *p, uint64_t v) {
        put_be32(p, (uint32_t) (v >> 32));
        put_be32(p + 4, (uint32_t) v);
}

static inline uint32_t get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

static inline uint64_t get_be64(const uint8_t *p) {
        return (uint64_t) get_be32(p) << 32 | get_be32(p + 4);
}

/* ---- writer side -------------------------------------------------------- */

int mb_stream_header_encode(uint8_t *buf, size_t size, const char *bdf, const char *plugin) {
        size_t bdf_len, plugin_len, total, off;

        if (!buf || !bdf || !plugin)
                return -EINVAL;

        /* strnlen: a string one byte over the limit is enough to refuse it. */
        bdf_len = strnlen(bdf, MB_STREAM_BDF_MAX + 1);
        plugin_len = strnlen(plugin, MB_STREAM_PLUGIN_MAX + 1);
        if (bdf_len < 1 || bdf_len > MB_STREAM_BDF_MAX || plugin_len < 1 || plugin_len > MB_STREAM_PLUGIN_MAX)
                return -EINVAL;

        total = HDR_OVERHEAD + bdf_len + plugin_len;
        if (size < total)
                return -ENOBUFS;

        memcpy(buf, MB_STREAM_MAGIC, MB_STREAM_MAGIC_LEN);
        put_be32(buf + 8, MB_STREAM_VERSION);
        put_be32(buf + 12, (uint32_t) total);
        put_be32(buf + 16, 0);
        off = HDR_FIXED_LEN;
        buf[off++] = (uint8_t) bdf_len;
        memcpy(buf + off, bdf, bdf_len);
        off += bdf_len;
        buf[off++] = (uint8_t) plugin_len;
        memcpy(buf + off, plugin, plugin_len);
        off += plugin_len;
        put_be32(buf + off, mb_crc32c(0, buf, off));

        return (int) total;
}

void mb_stream_record_header_encode(uint8_t out[MB_STREAM_RECORD_HDR_LEN], uint32_t idx, uint32_t flags,
                                    const uint8_t *payload, uint32_t len) {
        uint32_t crc;

        put_be32(out, idx);
        put_be32(out + 4, flags);
        put_be32(out + 8, len);
        crc = mb_crc32c(0, out, REC_CRC_HDR_LEN);
        crc = mb_crc32c(crc, payload, len);
        put_be32(out + 12, crc);
}

void mb_stream_end_record_encode(uint8_t out[MB_STREAM_END_RECORD_LEN], uint32_t idx, uint64_t total_bytes,
                                 uint64_t total_records) {
        uint8_t *payload = out + MB_STREAM_RECORD_HDR_LEN;

        put_be64(payload, total_bytes);
        put_be64(payload + 8, total_records);
        mb_stream_record_header_encode(out, idx, MB_STREAM_RECORD_FLAG_END, payload, MB_STREAM_END_PAYLOAD_LEN);
}

void mb_stream_raw_round_encode(uint8_t out[MB_STREAM_RAW_ROUND_HDR_LEN], uint64_t n) {
        put_be64(out, n);
}

/* ---- reader: errors ----------------------------------------------------- */

/* Marks the reader failed for good with err and a description. Returns err. */
_printf_(3, 4) static int reader_fail(MbStreamReader *r, int err, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);

        free(r->error);
        r->error = k < 0 ? NULL : s;
        r->failed = err;
        return err;
}

/* Copies a name from the stream into out for an error message: printable
 * ASCII stays, anything else (and quote, backslash) becomes \xNN, so a hostile
 * name cannot forge log lines or terminal escapes. out must hold 4*len+1. */
static const char *escape_name(char *out, const char *s, size_t len) {
        char *p = out;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
                        *p++ = (char) c;
                else
                        p += sprintf(p, "\\x%02x", c);
        }
        *p = '\0';
        return out;
}

/* ---- reader: lifecycle -------------------------------------------------- */

static void unit_set(MbStreamReader *r, ReaderState state, uint8_t *unit, size_t len) {
        r->state = state;
        r->unit = unit;
        r->unit_len = len;
        r->unit_have = 0;
}

int mb_stream_reader_new(MbStreamReader **ret, MbStreamFormat format, const char *expect_plugin,
                         uint32_t max_record) {
        _cleanup_free_ MbStreamReader *r = NULL;

        if (!ret || format < 0 || format >= _MB_STREAM_FORMAT_MAX)
                return -EINVAL;
        if (expect_plugin) {
                size_t l = strnlen(expect_plugin, MB_STREAM_PLUGIN_MAX + 1);

                /* A name no valid header can carry would refuse every stream. */
                if (l < 1 || l > MB_STREAM_PLUGIN_MAX)
                        return -EINVAL;
        }

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;

        r->format = format;
        r->max_record = max_record > 0 ? max_record : MB_STREAM_RECORD_MAX;
        if (expect_plugin) {
                r->expect_plugin = strdup(expect_plugin);
                if (!r->expect_plugin)
                        return -ENOMEM;
        }

        if (format == MB_STREAM_FORMAT_FRAMED)
                unit_set(r, STATE_HEADER, r->header, MB_STREAM_MAGIC_LEN);
        else
                unit_set(r, STATE_RAW_ROUND, r->raw_hdr, MB_STREAM_RAW_ROUND_HDR_LEN);

        *ret = MB_TAKE_PTR(r);
        return 0;
}

void mb_stream_reader_free(MbStreamReader *r) {
        if (!r)
                return;
        free(r->expect_plugin);
        free(r->error);
        free(r->buf);
        free(r);
}

/* Makes buf hold at least size bytes. size has passed the cap check; the
 * buffer grows geometrically but never beyond cap. Contents are not kept. */
static int buf_reserve(MbStreamReader *r, size_t size, size_t cap) {
        size_t n;
        uint8_t *p;

        if (r->buf_size >= size)
                return 0;

        n = r->buf_size > cap / 2 ? cap : r->buf_size * 2;
        n = MB_MAX(n, size);

        p = malloc(n);
        if (!p)
                return reader_fail(r, -ENOMEM, "out of memory for a %zu byte payload", size);
        free(r->buf);
        r->buf = p;
        r->buf_size = n;
        return 0;
}

/* ---- reader: framed ----------------------------------------------------- */

static int header_step(MbStreamReader *r, MbStreamEvent *ev) {
        const uint8_t *h = r->header;
        uint32_t version, header_len, flags, stored, computed;
        size_t end, bdf_len, plugin_len, off;

        if (r->unit_len == MB_STREAM_MAGIC_LEN) {
                if (memcmp(h, MB_STREAM_MAGIC, MB_STREAM_MAGIC_LEN) != 0)
                        return reader_fail(r, -EBADMSG, "bad magic");
                r->unit_len = HDR_FIXED_LEN;
                return 0;
        }

        if (r->unit_len == HDR_FIXED_LEN) {
                version = get_be32(h + 8);
                if (version != MB_STREAM_VERSION)
                        return reader_fail(r, -EBADMSG, "unsupported stream version %" PRIu32, version);
                header_len = get_be32(h + 12);
                if (header_len < HDR_V1_MIN || header_len > HDR_V1_MAX)
                        return reader_fail(r, -EBADMSG, "header length %" PRIu32 " out of range (%u..%u)",
                                           header_len, HDR_V1_MIN, HDR_V1_MAX);
                r->unit_len = header_len;
                return 0;
        }

        /* The whole header is here: checksum first, then its fields. */
        end = r->unit_len - 4;
        stored = get_be32(h + end);
        computed = mb_crc32c(0, h, end);
        if (stored != computed)
                return reader_fail(r, -EBADMSG, "header: CRC mismatch (expected 0x%08" PRIx32 ", got 0x%08" PRIx32 ")",
                                   stored, computed);

        flags = get_be32(h + 16);
        if (flags != 0)
                return reader_fail(r, -EBADMSG, "header: unsupported flags 0x%08" PRIx32, flags);

        off = HDR_FIXED_LEN;
        bdf_len = h[off++];
        if (bdf_len < 1 || bdf_len > MB_STREAM_BDF_MAX)
                return reader_fail(r, -EBADMSG, "header: BDF length %zu out of range (1..%u)", bdf_len,
                                   MB_STREAM_BDF_MAX);
        /* The plugin length byte must lie before the CRC. */
        if (off + bdf_len >= end)
                return reader_fail(r, -EBADMSG, "header: length %zu too short for a %zu byte BDF",
                                   r->unit_len, bdf_len);
        if (memchr(h + off, '\0', bdf_len))
                return reader_fail(r, -EBADMSG, "header: BDF contains a NUL byte");
        memcpy(r->bdf, h + off, bdf_len);
        r->bdf[bdf_len] = '\0';
        off += bdf_len;

        plugin_len = h[off++];
        if (plugin_len < 1)
                return reader_fail(r, -EBADMSG, "header: plugin name length 0");
        if (off + plugin_len + 4 != r->unit_len)
                return reader_fail(r, -EBADMSG, "header: length %zu does not match its fields (%zu bytes)",
                                   r->unit_len, off + plugin_len + 4);
        if (memchr(h + off, '\0', plugin_len))
                return reader_fail(r, -EBADMSG, "header: plugin name contains a NUL byte");
        memcpy(r->plugin, h + off, plugin_len);
        r->plugin[plugin_len] = '\0';

        if (r->expect_plugin && strcmp(r->expect_plugin, r->plugin) != 0) {
                char got[4 * MB_STREAM_PLUGIN_MAX + 1], want[4 * MB_STREAM_PLUGIN_MAX + 1];

                return reader_fail(r, -EBADMSG, "stream from plugin '%s', expected '%s'",
                                   escape_name(got, r->plugin, plugin_len),
                                   escape_name(want, r->expect_plugin, strlen(r->expect_plugin)));
        }

        ev->type = MB_STREAM_EVENT_HEADER;
        ev->bdf = r->bdf;
        ev->plugin = r->plugin;
        ev->version = MB_STREAM_VERSION;
        unit_set(r, STATE_RECORD_HEADER, r->rec_hdr, MB_STREAM_RECORD_HDR_LEN);
        return 0;
}

/* CRC and index checks common to data and end records, once the payload is in. */
static int record_check(MbStreamReader *r) {
        if (r->crc != r->rec_crc)
                return reader_fail(r, -EBADMSG,
                                   "record %" PRIu64 ": CRC mismatch (expected 0x%08" PRIx32 ", got 0x%08" PRIx32 ")",
                                   r->next_idx, r->rec_crc, r->crc);
        if (r->rec_idx > r->next_idx)
                return reader_fail(r, -EBADMSG, "record index %" PRIu32 " where %" PRIu64 " was expected (gap)",
                                   r->rec_idx, r->next_idx);
        if (r->rec_idx < r->next_idx)
                return reader_fail(r, -EBADMSG,
                                   "record index %" PRIu32 " where %" PRIu64 " was expected (duplicate or reordered)",
                                   r->rec_idx, r->next_idx);
        return 0;
}

static int record_payload_step(MbStreamReader *r, MbStreamEvent *ev) {
        int k;

        k = record_check(r);
        if (k < 0)
                return k;

        ev->type = MB_STREAM_EVENT_DATA;
        ev->data = r->buf ? r->buf : empty_payload;
        ev->len = r->rec_len;
        ev->idx = r->rec_idx;
        r->bytes += r->rec_len;
        r->records++;
        r->next_idx++;
        unit_set(r, STATE_RECORD_HEADER, r->rec_hdr, MB_STREAM_RECORD_HDR_LEN);
        return 0;
}

static int end_payload_step(MbStreamReader *r, MbStreamEvent *ev) {
        uint64_t total_bytes, total_records;
        int k;

        k = record_check(r);
        if (k < 0)
                return k;

        total_bytes = get_be64(r->end_payload);
        total_records = get_be64(r->end_payload + 8);
        if (total_bytes != r->bytes || total_records != r->records)
                return reader_fail(r, -EBADMSG,
                                   "end record says %" PRIu64 " records/%" PRIu64 " bytes, stream had %" PRIu64
                                   "/%" PRIu64,
                                   total_records, total_bytes, r->records, r->bytes);

        ev->type = MB_STREAM_EVENT_END;
        ev->total_bytes = total_bytes;
        ev->total_records = total_records;
        unit_set(r, STATE_ENDED, NULL, 0);
        return 0;
}

static int record_header_step(MbStreamReader *r, MbStreamEvent *ev) {
        int k;

        r->rec_idx = get_be32(r->rec_hdr);
        r->rec_flags = get_be32(r->rec_hdr + 4);
        r->rec_len = get_be32(r->rec_hdr + 8);
        r->rec_crc = get_be32(r->rec_hdr + 12);

        /* Records 0..UINT32_MAX used up every index the field can carry. */
        if (r->next_idx > UINT32_MAX)
                return reader_fail(r, -EBADMSG, "record %" PRIu64 ": record index space exhausted", r->next_idx);

        if (r->rec_flags & ~MB_STREAM_RECORD_FLAG_END)
                return reader_fail(r, -EBADMSG, "record %" PRIu64 ": unknown flags 0x%08" PRIx32, r->next_idx,
                                   r->rec_flags & ~MB_STREAM_RECORD_FLAG_END);

        r->crc = mb_crc32c(0, r->rec_hdr, REC_CRC_HDR_LEN);

        if (r->rec_flags & MB_STREAM_RECORD_FLAG_END) {
                if (r->rec_len != MB_STREAM_END_PAYLOAD_LEN)
                        return reader_fail(r, -EBADMSG,
                                           "record %" PRIu64 ": end record length %" PRIu32 ", expected %u",
                                           r->next_idx, r->rec_len, MB_STREAM_END_PAYLOAD_LEN);
                unit_set(r, STATE_END_PAYLOAD, r->end_payload, MB_STREAM_END_PAYLOAD_LEN);
                return 0;
        }

        if (r->rec_len > r->max_record)
                return reader_fail(r, -EBADMSG,
                                   "record %" PRIu64 ": length %" PRIu32 " exceeds the cap of %" PRIu32 " bytes",
                                   r->next_idx, r->rec_len, r->max_record);

        if (r->rec_len == 0)
                return record_payload_step(r, ev);

        k = buf_reserve(r, r->rec_len, r->max_record);
        if (k < 0)
                return k;
        unit_set(r, STATE_RECORD_PAYLOAD, r->buf, r->rec_len);
        return 0;
}

/* ---- reader: raw -------------------------------------------------------- */

static int raw_next_chunk(MbStreamReader *r) {
        size_t n = (size_t) MB_MIN(r->round_left, (uint64_t) MB_STREAM_RAW_CHUNK);
        int k;

        k = buf_reserve(r, n, MB_STREAM_RAW_CHUNK);
        if (k < 0)
                return k;
        unit_set(r, STATE_RAW_CHUNK, r->buf, n);
        return 0;
}

static int raw_round_step(MbStreamReader *r) {
        r->round_len = r->round_left = get_be64(r->raw_hdr);
        if (r->round_len == 0) {
                /* An empty round carries nothing: wait for the next one. */
                r->round++;
                unit_set(r, STATE_RAW_ROUND, r->raw_hdr, MB_STREAM_RAW_ROUND_HDR_LEN);
                return 0;
        }
        return raw_next_chunk(r);
}

static int raw_chunk_step(MbStreamReader *r, MbStreamEvent *ev) {
        ev->type = MB_STREAM_EVENT_DATA;
        ev->data = r->buf;
        ev->len = (uint32_t) r->unit_len;
        ev->idx = (uint32_t) r->records;
        r->bytes += r->unit_len;
        r->records++;
        r->round_left -= r->unit_len;

        if (r->round_left > 0)
                return raw_next_chunk(r);

        r->round++;
        unit_set(r, STATE_RAW_ROUND, r->raw_hdr, MB_STREAM_RAW_ROUND_HDR_LEN);
        return 0;
}

/* ---- reader: input ------------------------------------------------------ */

int mb_stream_reader_want(MbStreamReader *r, uint8_t **buf, size_t *len) {
        if (!r || !buf || !len)
                return -EINVAL;
        if (r->failed)
                return r->failed;
        if (r->state == STATE_ENDED) {
                *buf = NULL;
                *len = 0;
                return 0;
        }
        *buf = r->unit + r->unit_have;
        *len = r->unit_len - r->unit_have;
        return 0;
}

int mb_stream_reader_commit(MbStreamReader *r, size_t n, MbStreamEvent *ev) {
        if (!r || !ev)
                return -EINVAL;

        *ev = (MbStreamEvent) { .type = MB_STREAM_EVENT_NONE };

        if (r->failed)
                return r->failed;
        if (r->state == STATE_ENDED) {
                if (n > 0)
                        return reader_fail(r, -EBADMSG, "data after the end record");
                return 0;
        }
        if (n > r->unit_len - r->unit_have)
                return -EINVAL; /* more than want() offered: a caller bug, not corruption */

        if (r->state == STATE_RECORD_PAYLOAD || r->state == STATE_END_PAYLOAD)
                r->crc = mb_crc32c(r->crc, r->unit + r->unit_have, n);
        r->unit_have += n;
        if (r->unit_have < r->unit_len)
                return 0;

        switch (r->state) {
        case STATE_HEADER:
                return header_step(r, ev);
        case STATE_RECORD_HEADER:
                return record_header_step(r, ev);
        case STATE_RECORD_PAYLOAD:
                return record_payload_step(r, ev);
        case STATE_END_PAYLOAD:
                return end_payload_step(r, ev);
        case STATE_RAW_ROUND:
                return raw_round_step(r);
        case STATE_RAW_CHUNK:
                return raw_chunk_step(r, ev);
        case STATE_ENDED:
                break;
        }
        return -EINVAL; /* not reached */
}

int mb_stream_reader_feed(MbStreamReader *r, const uint8_t *data, size_t len, size_t *consumed,
                          MbStreamEvent *ev) {
        size_t done = 0;
        int k = 0;

        if (!r || !consumed || !ev || (!data && len > 0))
                return -EINVAL;

        *consumed = 0;
        *ev = (MbStreamEvent) { .type = MB_STREAM_EVENT_NONE };

        if (r->failed)
                return r->failed;
        if (r->state == STATE_ENDED)
                return mb_stream_reader_commit(r, len, ev);

        while (done < len) {
                uint8_t *p;
                size_t w, n;

                k = mb_stream_reader_want(r, &p, &w);
                if (k < 0)
                        break;
                n = MB_MIN(w, len - done);
                memcpy(p, data + done, n);
                done += n;
                k = mb_stream_reader_commit(r, n, ev);
                if (k < 0 || ev->type != MB_STREAM_EVENT_NONE)
                        break;
        }

        *consumed = done;
        return k;
}

int mb_stream_reader_finish(MbStreamReader *r) {
        if (!r)
                return -EINVAL;
        if (r->failed)
                return r->failed;

        switch (r->state) {
        case STATE_ENDED:
                return 0;
        case STATE_HEADER:
                if (r->unit_len == MB_STREAM_MAGIC_LEN && r->unit_have == 0)
                        return reader_fail(r, -EBADMSG, "stream is empty");
                return reader_fail(r, -EBADMSG, "stream ended inside the header");
        case STATE_RECORD_HEADER:
                if (r->unit_have == 0)
                        return reader_fail(r, -EBADMSG, "stream ended after %" PRIu64 " records without the end record",
                                           r->records);
                return reader_fail(r, -EBADMSG, "stream ended inside the header of record %" PRIu64, r->next_idx);
        case STATE_RECORD_PAYLOAD:
                return reader_fail(r, -EBADMSG, "stream ended inside record %" PRIu64 " (%zu of %zu payload bytes)",
                                   r->next_idx, r->unit_have, r->unit_len);
        case STATE_END_PAYLOAD:
                return reader_fail(r, -EBADMSG, "stream ended inside the end record");
        case STATE_RAW_ROUND:
                if (r->unit_have == 0)
                        return 0;
                return reader_fail(r, -EBADMSG, "stream ended inside the length of round %" PRIu64, r->round);
        case STATE_RAW_CHUNK:
                return reader_fail(r, -EBADMSG, "stream ended inside round %" PRIu64 ": %" PRIu64 " of %" PRIu64
                                   " bytes missing",
                                   r->round, r->round_left - r->unit_have, r->round_len);
        }
        return -EINVAL; /* not reached */
}

bool mb_stream_reader_ended(const MbStreamReader *r) {
        /* A stream refused after its end record (trailing data) has not ended well. */
        return r && r->state == STATE_ENDED && !r->failed;
}

bool mb_stream_reader_complete(const MbStreamReader *r) {
        if (!r || r->failed)
                return false;
        if (r->format == MB_STREAM_FORMAT_RAW)
                return r->state == STATE_RAW_ROUND && r->unit_have == 0;
        return mb_stream_reader_ended(r);
}

uint64_t mb_stream_reader_bytes(const MbStreamReader *r) {
        return r ? r->bytes : 0;
}

uint64_t mb_stream_reader_records(const MbStreamReader *r) {
        return r ? r->records : 0;
}

const char *mb_stream_reader_error(const MbStreamReader *r) {
        if (!r || !r->failed)
                return NULL;
        return r->error ? r->error : "stream reader failed (no memory to describe why)";
}
