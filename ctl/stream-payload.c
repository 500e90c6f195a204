/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fd-util.h"
#include "macro.h"
#include "stream-payload.h"
#include "stream.h"

/* A position in one stream's payload: the current record's unread bytes. */
typedef struct Cursor {
        const char *label;
        int fd;
        MbStreamReader *reader;
        const uint8_t *data;
        size_t len;
        bool eof;
        uint64_t bytes;
        uint64_t records;
} Cursor;

static int cursor_fail(const Cursor *c, int r, char *errbuf, size_t errlen) {
        const char *why = c->reader ? mb_stream_reader_error(c->reader) : NULL;

        if (r == -EBADMSG)
                snprintf(errbuf, errlen, "stream %s: %s", c->label, why ? why : "corrupt");
        else
                snprintf(errbuf, errlen, "stream %s: %s", c->label, strerror(-r));
        return r;
}

/* Makes c->len > 0, or sets c->eof at the end of a complete stream. */
static int cursor_fill(Cursor *c, char *errbuf, size_t errlen) {
        const MbFdWaitPolicy wp = { .stall_ms = -1 };

        while (c->len == 0 && !c->eof) {
                MbStreamEvent ev;
                uint8_t *buf;
                size_t want;
                ssize_t n;
                int r;

                r = mb_stream_reader_want(c->reader, &buf, &want);
                if (r < 0)
                        return cursor_fail(c, r, errbuf, errlen);
                if (want == 0) {
                        c->eof = true; /* the end record was read */
                        break;
                }
                n = mb_fd_read_some(c->fd, buf, want, &wp);
                if (n < 0)
                        return cursor_fail(c, (int) n, errbuf, errlen);
                if (n == 0) {
                        r = mb_stream_reader_finish(c->reader);
                        if (r < 0)
                                return cursor_fail(c, r, errbuf, errlen);
                        c->eof = true;
                        break;
                }
                r = mb_stream_reader_commit(c->reader, (size_t) n, &ev);
                if (r < 0)
                        return cursor_fail(c, r, errbuf, errlen);
                if (ev.type == MB_STREAM_EVENT_DATA && ev.len > 0) {
                        c->data = ev.data;
                        c->len = ev.len;
                        c->records++;
                } else if (ev.type == MB_STREAM_EVENT_DATA) {
                        c->records++;
                }
        }
        return 0;
}

int mb_stream_payload_compare(int fd_a, int fd_b, MbPayloadDiff *ret, char *errbuf, size_t errlen) {
        _cleanup_(mb_stream_reader_freep) MbStreamReader *ra = NULL, *rb = NULL;
        Cursor a = { .label = "A", .fd = fd_a }, b = { .label = "B", .fd = fd_b };
        bool differ = false;
        uint64_t pos = 0;
        int r;

        r = mb_stream_reader_new(&ra, MB_STREAM_FORMAT_FRAMED, NULL, 0);
        if (r < 0)
                return r;
        r = mb_stream_reader_new(&rb, MB_STREAM_FORMAT_FRAMED, NULL, 0);
        if (r < 0)
                return r;
        a.reader = ra;
        b.reader = rb;

        for (;;) {
                size_t n;

                r = cursor_fill(&a, errbuf, errlen);
                if (r < 0)
                        return r;
                r = cursor_fill(&b, errbuf, errlen);
                if (r < 0)
                        return r;
                if (a.len == 0 || b.len == 0)
                        break;
                n = a.len < b.len ? a.len : b.len;
                if (!differ && memcmp(a.data, b.data, n) != 0) {
                        size_t k = 0;

                        while (a.data[k] == b.data[k])
                                k++;
                        differ = true;
                        pos += k;
                } else if (!differ) {
                        pos += n;
                }
                a.data += n;
                a.len -= n;
                a.bytes += n;
                b.data += n;
                b.len -= n;
                b.bytes += n;
        }

        /* Count what is left of the longer one. */
        while (a.len > 0) {
                a.bytes += a.len;
                a.len = 0;
                r = cursor_fill(&a, errbuf, errlen);
                if (r < 0)
                        return r;
        }
        while (b.len > 0) {
                b.bytes += b.len;
                b.len = 0;
                r = cursor_fill(&b, errbuf, errlen);
                if (r < 0)
                        return r;
        }

        *ret = (MbPayloadDiff) {
                .equal = !differ && a.bytes == b.bytes,
                .bytes_a = a.bytes,
                .bytes_b = b.bytes,
                .records_a = a.records,
                .records_b = b.records,
                .first_diff = pos,
        };
        return 0;
}
