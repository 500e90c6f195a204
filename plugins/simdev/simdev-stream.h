/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdev-stream.h: the simulated device's state stream (PROTOCOL.md, "State
 * stream"): an encoder that turns save rounds of dirty pages into bytes, read
 * in pieces of any size, and a decoder that applies bytes split anywhere.
 * No I/O, no state machine: simdev-function.c decides when rounds happen.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simdev-bitmap.h"

#define SIMDEV_PAGE_SIZE          4096u
#define SIMDEV_STREAM_MAGIC       "SIMDEVS1"          /* 8 bytes, no NUL */
#define SIMDEV_STREAM_VERSION     1u
#define SIMDEV_STREAM_HDR_LEN     24u  /* magic, be32 version, be32 page size, be64 state size */
#define SIMDEV_REC_HDR_LEN        16u  /* be32 type, be32 len, be64 offset */
#define SIMDEV_REC_DATA           1u
#define SIMDEV_REC_END            2u
#define SIMDEV_REC_MAX            (1024u * 1024)      /* payload cap of a DATA record */
#define SIMDEV_END_PAYLOAD_LEN    16u  /* be64 data records, be64 data bytes */
#define SIMDEV_END_LEN            (SIMDEV_REC_HDR_LEN + SIMDEV_END_PAYLOAD_LEN)
#define SIMDEV_STATE_SIZE_MAX     (64ull << 30)

/* Encoded size of the DATA records that carry the set pages of b at or after
 * page from, cut as the encoder cuts them (runs, at most SIMDEV_REC_MAX each). */
uint64_t simdev_stream_runs_size(const SimdevBitmap *b, uint64_t from, uint64_t size, uint32_t page_size);

typedef struct SimdevEncoder {
        uint64_t size;
        uint32_t page_size;
        SimdevBitmap round;       /* pages of the current round */
        uint64_t cursor;          /* first page of round not yet cut into a record */
        /* the piece being emitted: meta bytes, then state bytes [data_off, data_off+data_len) */
        uint8_t meta[SIMDEV_END_LEN];
        uint32_t meta_len, meta_pos;
        uint64_t data_off, data_len, data_pos;
        bool header_started, end_started;
        /* statistics */
        uint64_t rounds, records, data_bytes, bytes;
} SimdevEncoder;

/* Starts a stream: the header is pending and the first round holds every page. */
int simdev_encoder_init(SimdevEncoder *e, uint64_t size, uint32_t page_size);
void simdev_encoder_done(SimdevEncoder *e);

/* Bytes that reading would produce now: the rest of the current round, the
 * pages set in dirty (the next round) and, when final, the end record. */
uint64_t simdev_encoder_pending(const SimdevEncoder *e, const SimdevBitmap *dirty, bool final);

/* Produces up to len bytes into out, reading page contents from mem at the time
 * of the call. When the current round is exhausted the pages of dirty become the
 * next round (dirty is cleared); when final and nothing is left, the end record
 * follows. Returns the bytes produced: exactly min(len, pending). */
size_t simdev_encoder_read(SimdevEncoder *e, const uint8_t *mem, SimdevBitmap *dirty, bool final, uint8_t *out,
                           size_t len);

bool simdev_encoder_ended(const SimdevEncoder *e); /* end record fully produced */

typedef enum SimdevDecoderPhase {
        SIMDEV_DEC_HEADER,
        SIMDEV_DEC_RECORD_HEADER,
        SIMDEV_DEC_RECORD_DATA,
        SIMDEV_DEC_END_PAYLOAD,
        SIMDEV_DEC_DONE,
        SIMDEV_DEC_FAILED,
} SimdevDecoderPhase;

typedef struct SimdevDecoder {
        uint64_t size;
        uint32_t page_size;
        SimdevDecoderPhase phase;
        uint8_t buf[SIMDEV_STREAM_HDR_LEN]; /* partial header bytes */
        uint32_t buf_len;
        uint32_t rec_type;
        uint64_t rec_off, rec_len, rec_pos;
        SimdevBitmap covered;     /* pages written at least once */
        uint64_t records, data_bytes, bytes;
        char error[160];
} SimdevDecoder;

int simdev_decoder_init(SimdevDecoder *d, uint64_t size, uint32_t page_size);
void simdev_decoder_done(SimdevDecoder *d);

/* Applies len stream bytes to mem (the function's memory of d->size bytes).
 * Returns 0, or -EBADMSG with d->error describing the corruption; after an
 * error every further call fails. */
int simdev_decoder_feed(SimdevDecoder *d, uint8_t *mem, const uint8_t *data, size_t len);

static inline bool simdev_decoder_complete(const SimdevDecoder *d) {
        return d->phase == SIMDEV_DEC_DONE;
}
static inline bool simdev_decoder_started(const SimdevDecoder *d) {
        return d->bytes > 0;
}
