/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "fd-util.h"
#include "gift-pages.h"
#include "log.h"
#include "worker-proto.h"
#include "worker-stream.h"

_Static_assert(MB_WORKER_FRAMED_CHUNK + MB_STREAM_RECORD_HDR_LEN == MB_WORKER_CHUNK,
               "a framed record fills MB_WORKER_CHUNK");

/* Big enough for a 1 MiB chunk in flight plus headroom. */
#define PIPE_TARGET (4u * 1024 * 1024)
#define PROGRESS_INTERVAL_NS (50u * 1000 * 1000)
/* Rounds smaller than this are copied even when zero-copy is asked. */
#define MB_GIFT_MIN_BYTES (2u * MB_WORKER_CHUNK)

typedef struct Progress {
        const MbWorkerStreamCtx *ctx;
        uint64_t bytes;
        uint64_t last_ns;
} Progress;

static uint64_t now_ns(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void progress_emit(Progress *p, bool force) {
        uint64_t t = now_ns();

        if (!p->ctx->progress)
                return;
        if (!force && t - p->last_ns < PROGRESS_INTERVAL_NS)
                return;
        p->last_ns = t;
        p->ctx->progress(p->ctx->userdata, p->bytes);
}

static void heartbeat(void *userdata) {
        progress_emit(userdata, true);
}

static int fail(const MbWorkerStreamCtx *ctx, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(const MbWorkerStreamCtx *ctx, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(ctx->errbuf, ctx->errlen, fmt, ap);
        va_end(ap);
        return r;
}

static int fd_error(const MbWorkerStreamCtx *ctx, int r, const char *what, int stall_ms) {
        switch (-r) {
        case EPIPE:
        case ECONNRESET:
                return fail(ctx, r, "the reader of the stream went away while %s", what);
        case ETIMEDOUT:
                return fail(ctx, r, "stream stalled: no progress for %d ms while %s", stall_ms, what);
        case ENOSPC:
                return fail(ctx, r, "no space left on the target while %s", what);
        default:
                return fail(ctx, r, "%s: %s", what, strerror(-r));
        }
}

void mb_save_session_reset(MbSaveSession *s) {
        free(s->buf);
        memset(s, 0, sizeof(*s));
}

void mb_load_session_reset(MbLoadSession *s) {
        mb_stream_reader_free(s->reader);
        memset(s, 0, sizeof(*s));
}

static int plugin_pending(const MbWorkerStreamCtx *ctx, uint64_t *pending) {
        uint64_t p = 0;
        int r;

        r = ctx->plugin->ops->update_pending(ctx->handle, &p);
        if (r != 0)
                return fail(ctx, -MB_EPLUGINFAILED, "update_pending() failed: %s (%d)",
                            r < 0 ? strerror(-r) : "positive return", r);
        if (p > MB_WORKER_PENDING_MAX)
                return fail(ctx, -MB_EPLUGINFAILED,
                            "update_pending() reported an implausible %" PRIu64 " bytes (limit %" PRIu64 ")", p,
                            (uint64_t) MB_WORKER_PENDING_MAX);
        *pending = p;
        return 0;
}

/* The session's copy buffer, allocated once a call of the session copies. */
static int copy_buffer(const MbWorkerStreamCtx *ctx, MbSaveSession *s) {
        if (!s->buf && posix_memalign((void **) &s->buf, 4096, MB_WORKER_CHUNK) != 0) {
                s->buf = NULL;
                return fail(ctx, -ENOMEM, "out of memory for the %u-byte copy buffer", MB_WORKER_CHUNK);
        }
        return 0;
}

/* Zero copy is an optimisation: whatever stops it (no huge pages, a plugin
 * that mlockall()ed the worker, RLIMIT_MEMLOCK, a failed madvise) makes the
 * call copy instead. Gift pages that went to the pipe stay the pipe's. */
static int copy_instead(const MbWorkerStreamCtx *ctx, MbSaveSession *s, MbGiftPages *gift, bool *zero_copy, int r,
                        const char *what) {
        if (r != -EOPNOTSUPP)
                log_dev_debug(ctx->bdf, "zero copy off for this call: %s: %s", what, strerror(-r));
        mb_gift_pages_unmap(gift);
        *zero_copy = false;
        return copy_buffer(ctx, s);
}

/* Where the records of a save call are built: gift pages (zero-copy) when
 * asked and the round is big enough for a huge page to pay (a huge page
 * fault zeroes 2 MiB and may compact memory first, more than copying a
 * small state costs: QEMU's dbus-vmstate Save is at most 1 MiB and sits in
 * the downtime), else the session's copy buffer. */
static int save_buffers(const MbWorkerStreamCtx *ctx, MbSaveSession *s, bool zero_copy_wanted, uint64_t round,
                        MbGiftPages *gift, bool *zero_copy) {
        int r;

        *zero_copy = false;
        if (zero_copy_wanted && round >= MB_GIFT_MIN_BYTES) {
                r = mb_gift_pages_map(gift, MB_WORKER_CHUNK);
                if (r < 0)
                        return copy_instead(ctx, s, gift, zero_copy, r, "cannot map the zero-copy buffers");
                *zero_copy = true;
                return 0;
        }
        return copy_buffer(ctx, s);
}

static int save_records(const MbWorkerStreamCtx *ctx, MbSaveSession *s, int fd, MbStreamFormat format,
                        uint64_t max_bytes, uint32_t flags, const MbFdWaitPolicy *wp, Progress *prog,
                        MbSaveResult *ret);

static int stop_copy_grew(const MbWorkerStreamCtx *ctx, const MbSaveSession *s, uint64_t pending) {
        return fail(ctx, -MB_EPLUGINFAILED,
                    "pending bytes grew in stop-copy: %" PRIu64 " reported after %" PRIu64 " of the %" PRIu64
                    " first reported were saved",
                    pending, s->stop_first - s->stop_budget, s->stop_first);
}

int mb_worker_save(const MbWorkerStreamCtx *ctx, MbSaveSession *s, int fd, MbStreamFormat format,
                   uint64_t max_bytes, uint32_t flags, int stall_ms, MbSaveResult *ret) {
        Progress prog = { .ctx = ctx, .last_ns = now_ns() };
        MbFdWaitPolicy wp = { .stall_ms = stall_ms, .heartbeat = heartbeat, .userdata = &prog };
        int r;

        *ret = (MbSaveResult) {};

        if (format != MB_STREAM_FORMAT_FRAMED && format != MB_STREAM_FORMAT_RAW)
                return fail(ctx, -EINVAL, "unknown stream format");
        r = mb_fd_check_stream(fd, true);
        if (r < 0)
                return fail(ctx, r, "cannot write the stream to a %s%s", mb_fd_kind(fd),
                            r == -EBADF ? " (not open for writing)" : "");

        if (flags & MB_WORKER_SAVE_BEGIN) {
                mb_save_session_reset(s);
                s->active = true;
                s->format = format;
        } else if (!s->active) {
                return fail(ctx, -EINVAL, "no save session is active");
        } else if (s->broken) {
                return fail(ctx, -EINVAL, "an earlier call of this save session failed part-way: start a new one");
        } else if (s->ended) {
                return fail(ctx, -EINVAL, "the save session already ended");
        } else if (s->format != format) {
                return fail(ctx, -EINVAL, "a save session cannot change its format from %s to %s",
                            mb_stream_format_to_string(s->format), mb_stream_format_to_string(format));
        }

        r = save_records(ctx, s, fd, format, max_bytes, flags, &wp, &prog, ret);
        if (r < 0)
                s->broken = true;
        return r;
}

/* The part of a save call that moves state: any failure in it breaks the
 * session (the plugin may have handed over bytes that never reached the fd). */
static int save_records(const MbWorkerStreamCtx *ctx, MbSaveSession *s, int fd, MbStreamFormat format,
                        uint64_t max_bytes, uint32_t flags, const MbFdWaitPolicy *wp, Progress *prog,
                        MbSaveResult *ret) {
        int stall_ms = wp->stall_ms;
        uint64_t payload = 0, records = 0;
        uint32_t chunk = format == MB_STREAM_FORMAT_FRAMED ? MB_WORKER_FRAMED_CHUNK : MB_WORKER_CHUNK;
        _cleanup_(mb_gift_pages_unmap) MbGiftPages gift = {};
        bool zero_copy_wanted, zero_copy = false, buffers = false;
        int pipe_size, r;

        pipe_size = mb_fd_grow_pipe(fd, PIPE_TARGET);
        /* Zero-copy only into a pipe; decided at the first record (save_buffers). */
        zero_copy_wanted = (flags & MB_WORKER_SAVE_ZERO_COPY) && pipe_size > 0;

        if ((flags & MB_WORKER_SAVE_BEGIN) && format == MB_STREAM_FORMAT_FRAMED) {
                uint8_t hdr[MB_STREAM_HEADER_MAX];
                int len = mb_stream_header_encode(hdr, sizeof(hdr), ctx->bdf, ctx->plugin->name);
                if (len < 0)
                        return fail(ctx, len, "cannot encode the stream header");
                r = mb_fd_write_all(fd, hdr, (size_t) len, wp);
                if (r < 0)
                        return fd_error(ctx, r, "writing the stream header", stall_ms);
                prog->bytes += (uint64_t) len;
        }

        for (;;) {
                uint64_t pending, round;

                r = plugin_pending(ctx, &pending);
                if (r < 0)
                        return r;
                if (pending == 0)
                        break;
                /* In stop-copy nothing changes any more: what is pending may only
                 * shrink by what was saved, or this would never end (across
                 * calls too: a --max-bytes save is many calls). */
                if (flags & MB_WORKER_SAVE_UNTIL_EMPTY) {
                        if (!s->stop_copy) {
                                s->stop_copy = true;
                                s->stop_budget = s->stop_first = pending;
                        } else if (pending > s->stop_budget)
                                return stop_copy_grew(ctx, s, pending);
                }

                round = pending;
                if (max_bytes > 0)
                        round = MB_MIN(round, max_bytes - payload);
                if (round == 0)
                        break;

                if (format == MB_STREAM_FORMAT_RAW) {
                        uint8_t rh[MB_STREAM_RAW_ROUND_HDR_LEN];
                        mb_stream_raw_round_encode(rh, round);
                        r = mb_fd_write_all(fd, rh, sizeof(rh), wp);
                        if (r < 0)
                                return fd_error(ctx, r, "writing the stream", stall_ms);
                        prog->bytes += sizeof(rh);
                }

                for (uint64_t left = round; left > 0;) {
                        uint32_t sz = (uint32_t) MB_MIN(left, (uint64_t) chunk);
                        bool framed = format == MB_STREAM_FORMAT_FRAMED;
                        uint8_t rec_local[MB_STREAM_RECORD_HDR_LEN];
                        /* Zero-copy: header and payload side by side in a slot of gift pages. */
                        uint8_t *slot = NULL, *rec, *data;
                        bool splice = false;

                        if (!buffers) {
                                r = save_buffers(ctx, s, zero_copy_wanted, round, &gift, &zero_copy);
                                if (r < 0)
                                        return r;
                                buffers = true;
                        }
                        if (zero_copy) {
                                r = mb_gift_pages_next(&gift, &slot, &splice);
                                if (r < 0) {
                                        slot = NULL;
                                        r = copy_instead(ctx, s, &gift, &zero_copy, r,
                                                         "cannot renew the zero-copy buffers");
                                        if (r < 0)
                                                return r;
                                }
                        }
                        rec = slot ?: rec_local;
                        data = slot ? slot + (framed ? MB_STREAM_RECORD_HDR_LEN : 0) : s->buf;

                        r = ctx->plugin->ops->save(ctx->handle, data, sz);
                        if (r != 0)
                                return fail(ctx, -MB_EPLUGINFAILED, "save(%u bytes) failed: %s (%d)", sz,
                                            r < 0 ? strerror(-r) : "positive return", r);
                        if (framed)
                                mb_stream_record_header_encode(rec, s->next_idx, 0, data, sz);
                        if (splice) {
                                /* From here on the slot's bytes belong to the pipe: never written again. */
                                mb_gift_pages_spliced(&gift);
                                r = mb_fd_vmsplice_all(fd, slot, (framed ? MB_STREAM_RECORD_HDR_LEN : 0) + sz, wp);
                        } else {
                                struct iovec iov[2];
                                int n = 0;

                                if (framed)
                                        iov[n++] = (struct iovec) { rec, MB_STREAM_RECORD_HDR_LEN };
                                iov[n++] = (struct iovec) { data, sz };
                                r = mb_fd_writev_all(fd, iov, n, wp);
                        }
                        if (r < 0)
                                return fd_error(ctx, r, "writing the stream", stall_ms);

                        s->next_idx++;
                        s->total_bytes += sz;
                        payload += sz;
                        records++;
                        left -= sz;
                        prog->bytes += sz + (format == MB_STREAM_FORMAT_FRAMED ? MB_STREAM_RECORD_HDR_LEN : 0);
                        progress_emit(prog, false);
                }

                if (flags & MB_WORKER_SAVE_UNTIL_EMPTY)
                        s->stop_budget -= round;
                if (!(flags & MB_WORKER_SAVE_UNTIL_EMPTY))
                        break;
                if (max_bytes > 0 && payload >= max_bytes)
                        break;
        }

        r = plugin_pending(ctx, &ret->pending_after);
        if (r < 0)
                return r;
        if ((flags & MB_WORKER_SAVE_UNTIL_EMPTY) && ret->pending_after > s->stop_budget)
                return stop_copy_grew(ctx, s, ret->pending_after);

        if ((flags & MB_WORKER_SAVE_END) && ret->pending_after == 0) {
                if (format == MB_STREAM_FORMAT_FRAMED) {
                        uint8_t end[MB_STREAM_END_RECORD_LEN];
                        mb_stream_end_record_encode(end, s->next_idx, s->total_bytes, s->next_idx);
                        r = mb_fd_write_all(fd, end, sizeof(end), wp);
                        if (r < 0)
                                return fd_error(ctx, r, "writing the end record", stall_ms);
                        prog->bytes += sizeof(end);
                }
                s->ended = true;
        }

        ret->bytes = prog->bytes;
        ret->records = records;
        ret->ended = s->ended;
        progress_emit(prog, true);
        return 0;
}

/* A reader failure: StreamCorrupt for what the stream got wrong, the
 * reader's own code for the rest (out of memory for a record is not a
 * corrupt stream, and must not be called one). */
static int reader_error(const MbWorkerStreamCtx *ctx, const MbLoadSession *s, int r) {
        const char *msg = mb_stream_reader_error(s->reader);

        if (r == -EBADMSG)
                return fail(ctx, -MB_ESTREAMCORRUPT, "%s", msg ?: "corrupt stream");
        return fail(ctx, r, "%s", msg ?: strerror(-r));
}

int mb_worker_load(const MbWorkerStreamCtx *ctx, MbLoadSession *s, int fd, MbStreamFormat format, uint32_t flags,
                   int stall_ms, MbLoadResult *ret) {
        Progress prog = { .ctx = ctx, .last_ns = now_ns() };
        MbFdWaitPolicy wp = { .stall_ms = stall_ms, .heartbeat = heartbeat, .userdata = &prog };
        uint64_t records0;
        int r;

        *ret = (MbLoadResult) {};

        if (format != MB_STREAM_FORMAT_FRAMED && format != MB_STREAM_FORMAT_RAW)
                return fail(ctx, -EINVAL, "unknown stream format");
        r = mb_fd_check_stream(fd, false);
        if (r < 0)
                return fail(ctx, r, "cannot read the stream from a %s%s", mb_fd_kind(fd),
                            r == -EBADF ? " (not open for reading)" : "");

        if (flags & MB_WORKER_LOAD_BEGIN) {
                mb_load_session_reset(s);
                r = mb_stream_reader_new(&s->reader, format,
                                         format == MB_STREAM_FORMAT_FRAMED ? ctx->plugin->name : NULL, 0);
                if (r < 0)
                        return fail(ctx, r, "cannot create a stream reader: %s", strerror(-r));
                s->active = true;
                s->format = format;
        } else if (!s->active) {
                return fail(ctx, -EINVAL, "no load session is active");
        } else if (s->format != format) {
                return fail(ctx, -EINVAL, "a load session cannot change its format from %s to %s",
                            mb_stream_format_to_string(s->format), mb_stream_format_to_string(format));
        }

        (void) mb_fd_grow_pipe(fd, PIPE_TARGET);
        records0 = mb_stream_reader_records(s->reader);

        for (;;) {
                MbStreamEvent ev;
                uint8_t *buf, scratch[1];
                size_t len;
                ssize_t n;

                r = mb_stream_reader_want(s->reader, &buf, &len);
                if (r < 0)
                        return reader_error(ctx, s, r);
                if (len == 0) {
                        /* Ended: anything more is an error, EOF is expected. */
                        n = mb_fd_read_some(fd, scratch, sizeof(scratch), &wp);
                        if (n < 0)
                                return fd_error(ctx, (int) n, "reading the stream", stall_ms);
                        if (n > 0) {
                                /* The reader refuses it, and stays failed: LoadFinish too. */
                                r = mb_stream_reader_commit(s->reader, (size_t) n, &ev);
                                return reader_error(ctx, s, r < 0 ? r : -MB_ESTREAMCORRUPT);
                        }
                        break;
                }
                n = mb_fd_read_some(fd, buf, len, &wp);
                if (n < 0)
                        return fd_error(ctx, (int) n, "reading the stream", stall_ms);
                if (n == 0)
                        break;
                prog.bytes += (uint64_t) n;

                r = mb_stream_reader_commit(s->reader, (size_t) n, &ev);
                if (r < 0)
                        return reader_error(ctx, s, r);

                switch (ev.type) {
                case MB_STREAM_EVENT_DATA:
                        r = ctx->plugin->ops->load(ctx->handle, (uint8_t *) ev.data, ev.len);
                        if (r != 0)
                                return fail(ctx, -MB_EPLUGINFAILED, "load(%u bytes) of record %u failed: %s (%d)",
                                            ev.len, ev.idx, r < 0 ? strerror(-r) : "positive return", r);
                        break;
                case MB_STREAM_EVENT_HEADER:
                        log_dev_debug(ctx->bdf, "incoming stream v%u from %s, plugin %s", ev.version, ev.bdf,
                                      ev.plugin);
                        break;
                default:
                        break;
                }
                progress_emit(&prog, false);
        }

        ret->bytes = prog.bytes; /* read from the fd by this call */
        ret->records = mb_stream_reader_records(s->reader) - records0;
        /* Framed: the end record came; raw: EOF fell between rounds. */
        ret->ended = mb_stream_reader_complete(s->reader);
        progress_emit(&prog, true);
        return 0;
}

int mb_worker_load_finish(const MbWorkerStreamCtx *ctx, MbLoadSession *s, MbLoadResult *ret) {
        int r;

        *ret = (MbLoadResult) {};
        if (!s->active)
                return fail(ctx, -MB_ESTREAMCORRUPT, "no stream was loaded");
        r = mb_stream_reader_finish(s->reader);
        if (r < 0)
                return fail(ctx, -MB_ESTREAMCORRUPT, "incomplete stream: %s",
                            mb_stream_reader_error(s->reader) ?: "the end record is missing");
        ret->bytes = mb_stream_reader_bytes(s->reader);
        ret->records = mb_stream_reader_records(s->reader);
        ret->ended = mb_stream_reader_complete(s->reader);
        return 0;
}
