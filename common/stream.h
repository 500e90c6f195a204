/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stream.h: the migration stream formats (docs/stream-format.md): encoding of
 * the framed format's header, records and end record, and an incremental,
 * zero-copy reader for both the framed and the raw (seed-000 QEMU) format.
 * It does no I/O and knows nothing about plugins, fds or D-Bus.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- framed format constants (all integers big-endian) ---------------- */
#define MB_STREAM_MAGIC          "MIGBRKR\n"       /* 8 bytes, no NUL */
#define MB_STREAM_MAGIC_LEN      8
#define MB_STREAM_VERSION        1u
#define MB_STREAM_HEADER_MAX     1024u             /* whole header, bytes */
#define MB_STREAM_BDF_MAX        64u
#define MB_STREAM_PLUGIN_MAX     255u
#define MB_STREAM_RECORD_HDR_LEN 16u               /* idx, flags, len, crc32c */
#define MB_STREAM_RECORD_MAX     (16u * 1024 * 1024) /* payload cap of one record */
#define MB_STREAM_RECORD_FLAG_END 0x1u
#define MB_STREAM_END_PAYLOAD_LEN 16u              /* u64 total bytes, u64 total records */
#define MB_STREAM_END_RECORD_LEN (MB_STREAM_RECORD_HDR_LEN + MB_STREAM_END_PAYLOAD_LEN)

/* ---- raw format ---------------------------------------------------------
 * Exactly what seed 000's QEMU put in its stream for one save_buffer round:
 * be64 N, then N bytes. A raw stream is a sequence of such rounds; its reader
 * hands the payload to the plugin in chunks of at most MB_STREAM_RAW_CHUNK
 * (QEMU's CHUNK_SIZE). */
#define MB_STREAM_RAW_CHUNK      (1024u * 1024)
#define MB_STREAM_RAW_ROUND_HDR_LEN 8u

typedef enum MbStreamFormat {
        MB_STREAM_FORMAT_FRAMED,
        MB_STREAM_FORMAT_RAW,
        _MB_STREAM_FORMAT_MAX,
        _MB_STREAM_FORMAT_INVALID = -22,
} MbStreamFormat;

const char *mb_stream_format_to_string(MbStreamFormat f);
MbStreamFormat mb_stream_format_from_string(const char *s); /* -EINVAL when unknown */

/* ---- writer side -------------------------------------------------------- */

/* Encodes the header into buf (size >= MB_STREAM_HEADER_MAX is always enough).
 * Returns its length, or -EINVAL if bdf/plugin are too long or contain NUL. */
int mb_stream_header_encode(uint8_t *buf, size_t size, const char *bdf, const char *plugin);

/* Encodes a record header for payload[0..len) with index idx. */
void mb_stream_record_header_encode(uint8_t out[MB_STREAM_RECORD_HDR_LEN], uint32_t idx, uint32_t flags,
                                    const uint8_t *payload, uint32_t len);

/* Encodes the complete end record (header + 16-byte payload). */
void mb_stream_end_record_encode(uint8_t out[MB_STREAM_END_RECORD_LEN], uint32_t idx, uint64_t total_bytes,
                                 uint64_t total_records);

/* Encodes a raw round header (be64 n). */
void mb_stream_raw_round_encode(uint8_t out[MB_STREAM_RAW_ROUND_HDR_LEN], uint64_t n);

/* ---- reader side -------------------------------------------------------- */

typedef enum MbStreamEventType {
        MB_STREAM_EVENT_NONE,     /* more bytes needed */
        MB_STREAM_EVENT_HEADER,   /* framed: header complete and valid */
        MB_STREAM_EVENT_DATA,     /* payload ready: one framed record, or one raw chunk */
        MB_STREAM_EVENT_END,      /* framed: end record valid, counts match */
} MbStreamEventType;

typedef struct MbStreamEvent {
        MbStreamEventType type;
        /* HEADER */
        const char *bdf;          /* valid until the reader is freed */
        const char *plugin;
        uint32_t version;
        /* DATA: valid until the next mb_stream_reader_* call */
        const uint8_t *data;
        uint32_t len;
        uint32_t idx;             /* framed: record index; raw: chunk counter */
        /* END */
        uint64_t total_bytes;
        uint64_t total_records;
} MbStreamEvent;

typedef struct MbStreamReader MbStreamReader;

/* expect_plugin: framed streams whose header names another plugin are refused
 * (NULL accepts any; "" or a name longer than MB_STREAM_PLUGIN_MAX: -EINVAL).
 * max_record: payload cap of framed data records, 0 = MB_STREAM_RECORD_MAX;
 * raw chunks are always at most MB_STREAM_RAW_CHUNK. */
int mb_stream_reader_new(MbStreamReader **ret, MbStreamFormat format, const char *expect_plugin,
                         uint32_t max_record);
void mb_stream_reader_free(MbStreamReader *r);
static inline void mb_stream_reader_freep(MbStreamReader **r) {
        if (*r)
                mb_stream_reader_free(*r);
}

/* Zero-copy input: where the next bytes go and how many the reader wants
 * (never 0 before the end; 0 and *buf NULL after END). Fill up to *len bytes
 * at *buf, then call mb_stream_reader_commit() with how many were written.
 * Memory for a payload is allocated only after its length passed every check.
 * After END, bytes a further read() returns go to mb_stream_reader_feed(),
 * which refuses them ("data after the end record"). */
int mb_stream_reader_want(MbStreamReader *r, uint8_t **buf, size_t *len);

/* Accounts n freshly written bytes. Fills *ev (type NONE when nothing
 * completed). Returns 0, or -EBADMSG with a description available from
 * mb_stream_reader_error() on any corruption: bad magic, unknown version,
 * bad header, other plugin, CRC mismatch, index gap or duplicate, unknown
 * flags, oversize record, data after the end record, end counts mismatch.
 * A failed reader stays failed: every later call returns the same error
 * (-ENOMEM if a payload buffer could not be allocated). n larger than
 * want() offered is a caller bug: -EINVAL, nothing consumed. */
int mb_stream_reader_commit(MbStreamReader *r, size_t n, MbStreamEvent *ev);

/* Copying convenience for in-memory input (tests, fuzzers): consumes up to
 * len bytes and stops after the first event; *consumed says how many. */
int mb_stream_reader_feed(MbStreamReader *r, const uint8_t *data, size_t len, size_t *consumed,
                          MbStreamEvent *ev);

/* Called at EOF of the whole session: -EBADMSG unless the stream is complete
 * (framed: END seen; raw: not in the middle of a round). */
int mb_stream_reader_finish(MbStreamReader *r);

bool mb_stream_reader_ended(const MbStreamReader *r);       /* END accepted, not failed since; raw: never */
/* Whether EOF here would make a complete stream, without failing the reader
 * when it would not: framed, END accepted (mb_stream_reader_ended()); raw,
 * not failed and between two rounds (also before the first). A session fed
 * by several inputs asks this at the end of each. */
bool mb_stream_reader_complete(const MbStreamReader *r);
uint64_t mb_stream_reader_bytes(const MbStreamReader *r);   /* payload bytes delivered */
uint64_t mb_stream_reader_records(const MbStreamReader *r); /* records (raw: chunks) delivered */
const char *mb_stream_reader_error(const MbStreamReader *r); /* last error text, or NULL */
