/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "macro.h"
#include "shim-call.h"

/* sd-bus's own reply timeout lies this far behind our deadline, so that the
 * deadline, with its clearer message, always comes first. */
#define SHIM_CALL_SLACK_USEC (1000u * 1000u)
/* One recv()/send() moves at most this much: well within ssize_t. */
#define SHIM_IO_MAX (1u << 30)

typedef struct ShimReply {
        bool done;
        sd_bus_message *reply;
} ShimReply;

static void shim_reply_clear(ShimReply *c) {
        c->reply = sd_bus_message_unref(c->reply);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int call_fail(char *err, size_t errlen, int r, const char *fmt, ...) _printf_(4, 5);
static int call_fail(char *err, size_t errlen, int r, const char *fmt, ...) {
        va_list ap;

        if (err && errlen > 0) {
                va_start(ap, fmt);
                (void) vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        ShimReply *c = userdata;

        c->done = true;
        c->reply = sd_bus_message_ref(m);
        return 1;
}

static uint64_t xfer_total(const ShimXfer *x) {
        return SHIM_RAW_HDR_LEN + x->len;
}

static bool xfer_finished(const ShimXfer *x) {
        return x->done == xfer_total(x) || x->eof || x->broken || x->error < 0;
}

/* Where the next byte goes to or comes from: the round header, then the buffer. */
static void xfer_window(ShimXfer *x, uint8_t **p, size_t *n) {
        if (x->done < SHIM_RAW_HDR_LEN) {
                *p = x->hdr + x->done;
                *n = (size_t) (SHIM_RAW_HDR_LEN - x->done);
        } else {
                uint64_t off = x->done - SHIM_RAW_HDR_LEN;
                *p = x->buf + off;
                *n = (size_t) MB_MIN(x->len - off, (uint64_t) SHIM_IO_MAX);
        }
}

/* Reads what the socket has now, never past one round of len bytes. */
static void xfer_read(ShimXfer *x) {
        while (x->done < xfer_total(x)) {
                uint8_t *p;
                size_t n;
                ssize_t k;

                xfer_window(x, &p, &n);
                k = recv(x->fd, p, n, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return;
                        x->error = -errno;
                        (void) snprintf(x->why, sizeof(x->why), "reading the stream: %s", strerror(errno));
                        return;
                }
                if (k == 0) {
                        x->eof = true;
                        (void) snprintf(x->why, sizeof(x->why),
                                        "the broker's stream ended after %" PRIu64 " of %" PRIu64 " bytes", x->done,
                                        xfer_total(x));
                        return;
                }
                x->done += (uint64_t) k;
                if (x->done == SHIM_RAW_HDR_LEN) {
                        uint64_t n_round = shim_raw_hdr_decode(x->hdr);

                        if (n_round != x->len) {
                                x->error = -EIO;
                                (void) snprintf(x->why, sizeof(x->why),
                                                "the broker sent a round of %" PRIu64 " bytes where save() asked for "
                                                "%" PRIu64 " (less is pending than QEMU asked for?)",
                                                n_round, x->len);
                                return;
                        }
                }
        }
}

/* Writes what the socket takes now; at the end, shuts our side down (EOF for the broker). */
static void xfer_write(ShimXfer *x) {
        while (x->done < xfer_total(x)) {
                uint8_t *p;
                size_t n;
                ssize_t k;

                xfer_window(x, &p, &n);
                /* MSG_NOSIGNAL: a reader that went away is EPIPE here, never SIGPIPE in QEMU. */
                k = send(x->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return;
                        if (errno == EPIPE || errno == ECONNRESET) {
                                x->broken = true;
                                (void) snprintf(x->why, sizeof(x->why),
                                                "the broker closed the stream after %" PRIu64 " of %" PRIu64 " bytes",
                                                x->done, xfer_total(x));
                                return;
                        }
                        x->error = -errno;
                        (void) snprintf(x->why, sizeof(x->why), "writing the stream: %s", strerror(errno));
                        return;
                }
                x->done += (uint64_t) k;
        }
        if (shutdown(x->fd, SHUT_WR) < 0) {
                x->error = -errno;
                (void) snprintf(x->why, sizeof(x->why), "ending the stream: %s", strerror(errno));
        }
}

static void xfer_step(ShimXfer *x) {
        if (x->dir == SHIM_XFER_SAVE)
                xfer_read(x);
        else if (x->dir == SHIM_XFER_LOAD)
                xfer_write(x);
}

static int reply_error(sd_bus *bus, const sd_bus_error *e, bool past_deadline, char *err, size_t errlen) {
        if (sd_bus_is_open(bus) <= 0)
                return call_fail(err, errlen, -ECONNRESET, "lost the connection to the bus (%s)",
                                 e->message ?: e->name);
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY)) {
                /* sd-bus's own timeout, or the bus telling us the broker went away. */
                if (past_deadline)
                        return call_fail(err, errlen, -ETIMEDOUT, "no reply from the broker in time (%s)",
                                         e->message ?: e->name);
                return call_fail(err, errlen, -ECONNRESET, "the broker went away without replying (%s)",
                                 e->message ?: e->name);
        }
        return call_fail(err, errlen, shim_errno_from_bus_error(e), "%s: %s%s", shim_error_short_name(e),
                         e->message ?: "(no message)",
                         sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                                                 sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER)
                                 ? " (is migbrokerd running?)"
                                 : "");
}

int shim_call(sd_bus *bus, sd_bus_message **m, uint64_t timeout_usec, ShimXfer *xfer, sd_bus_message **ret_reply,
              char *err, size_t errlen) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(shim_reply_clear) ShimReply rep = {};
        const sd_bus_error *e;
        uint64_t start = now_usec(), deadline = start + timeout_usec;
        int r;

        if (err && errlen > 0)
                err[0] = '\0';
        r = sd_bus_call_async(bus, &slot, *m, on_reply, &rep, timeout_usec + SHIM_CALL_SLACK_USEC);
        /* The bus holds its own reference until the message is written; ours
         * would keep the broker's end of a stream socket open here, and a
         * broker that closes its end early would never show as EOF or EPIPE. */
        *m = sd_bus_message_unref(*m);
        if (r < 0)
                return call_fail(err, errlen, r, "cannot send the call: %s%s", strerror(-r),
                                 r == -ENOTCONN ? " (the connection to the bus was lost earlier)" : "");

        for (;;) {
                struct pollfd pfd[2];
                uint64_t now, until, bus_until;
                nfds_t n = 0;
                int events, fd;

                now = now_usec();
                if (now >= deadline) {
                        if (xfer)
                                return call_fail(err, errlen, -ETIMEDOUT,
                                                 "no reply from the broker within %" PRIu64 " ms (%" PRIu64
                                                 " of %" PRIu64 " stream bytes moved)",
                                                 timeout_usec / 1000, xfer->done, xfer_total(xfer));
                        return call_fail(err, errlen, -ETIMEDOUT, "no reply from the broker within %" PRIu64 " ms",
                                         timeout_usec / 1000);
                }

                r = sd_bus_process(bus, NULL);
                if (r < 0 && !rep.done)
                        return call_fail(err, errlen, -ECONNRESET, "lost the connection to the bus: %s", strerror(-r));
                if (r > 0)
                        continue;
                if (rep.done && (sd_bus_message_is_method_error(rep.reply, NULL) || !xfer || xfer_finished(xfer)))
                        break;

                if (xfer && !xfer_finished(xfer)) {
                        xfer_step(xfer);
                        if (xfer->error < 0)
                                return call_fail(err, errlen, xfer->error, "%s", xfer->why);
                        if (xfer_finished(xfer))
                                continue;
                }

                fd = sd_bus_get_fd(bus);
                events = sd_bus_get_events(bus);
                if (fd < 0 || events < 0)
                        return call_fail(err, errlen, -ECONNRESET, "lost the connection to the bus: %s",
                                         strerror(-(fd < 0 ? fd : events)));
                pfd[n++] = (struct pollfd) { .fd = fd, .events = (short) events };
                if (xfer && !xfer_finished(xfer))
                        pfd[n++] = (struct pollfd) { .fd = xfer->fd,
                                                     .events = xfer->dir == SHIM_XFER_SAVE ? POLLIN : POLLOUT };

                until = deadline;
                if (sd_bus_get_timeout(bus, &bus_until) > 0 && bus_until < until)
                        until = bus_until;
                now = now_usec();
                r = poll(pfd, n, until > now ? (int) MB_MIN((until - now + 999) / 1000, (uint64_t) INT32_MAX) : 0);
                if (r < 0 && errno != EINTR)
                        return call_fail(err, errlen, -errno, "poll: %s", strerror(errno));
        }

        e = sd_bus_message_get_error(rep.reply);
        if (e)
                return reply_error(bus, e, now_usec() >= deadline, err, errlen);
        if (xfer && xfer->done != xfer_total(xfer))
                return call_fail(err, errlen, -EIO, "%s",
                                 xfer->why[0] ? xfer->why : "the stream is incomplete although the broker succeeded");
        if (ret_reply)
                *ret_reply = MB_TAKE_PTR(rep.reply);
        return 0;
}
