/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stream-payload.h: comparing what a plugin saved in two framed migration
 * streams: the concatenated record payloads, not the framing (header, record
 * boundaries, CRCs). Reads both streams incrementally; it writes nothing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct MbPayloadDiff {
        bool equal;
        uint64_t bytes_a, bytes_b;     /* payload bytes read (all of them when equal) */
        uint64_t records_a, records_b; /* data records read */
        uint64_t first_diff;           /* offset of the first differing byte; when one payload is a
                                        * prefix of the other, the shorter one's length */
} MbPayloadDiff;

/* Reads the framed streams on fd_a and fd_b from their current offsets to
 * EOF. Returns 0 with *ret filled, or -EBADMSG when a stream is corrupt or
 * incomplete (errbuf says which and why), or -errno on a read error. */
int mb_stream_payload_compare(int fd_a, int fd_b, MbPayloadDiff *ret, char *errbuf, size_t errlen);
