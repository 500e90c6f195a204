/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "simagent-dirtier.h"
#include "simagent-server.h"
#include "simdev-parse.h"
#include "simdev-proto.h"

/* Buffers up to this size are kept between requests. */
#define VFIO_V1_RUNNING 1u

#define SIMAGENT_KEEP_BUFFER (SIMDEV_PROTO_HDR_LEN + 1024u * 1024u)

typedef struct Conn Conn;

struct SimagentServer {
        sd_event *event;
        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *stall_timer;
        sd_event_source *dirty_timer;
        SimdevFunction **functions;
        Conn **controller;               /* per function: the controlling connection or NULL */
        size_t n_functions;
        Conn *conns;
        unsigned n_conns;
        uint64_t n_accepted;
        SimagentDirtier dirtier;
};

struct Conn {
        SimagentServer *server;
        Conn *prev, *next;
        int fd;
        sd_event_source *source;
        char peer[96];
        uint64_t id;

        uint8_t hdr[SIMDEV_PROTO_HDR_LEN];
        size_t hdr_got;
        SimdevHeader h;
        uint8_t *in;
        size_t in_cap, in_got;

        uint8_t *out;
        size_t out_cap, out_len, out_pos;

        ssize_t fn;                      /* index of the opened function, -1 none */
        bool controller;
        uint64_t busy_since;             /* usec: partial request or unsent reply; 0 idle */
};

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static SimdevFunction *conn_function(Conn *c) {
        return c->fn >= 0 ? c->server->functions[c->fn] : NULL;
}

static const char *conn_bdf(Conn *c) {
        SimdevFunction *f = conn_function(c);
        return f ? f->bdf : NULL;
}

static void conn_free(Conn *c) {
        SimagentServer *s;

        if (!c)
                return;
        s = c->server;
        if (c->controller && c->fn >= 0 && s->controller[c->fn] == c) {
                s->controller[c->fn] = NULL;
                log_dev_info(conn_bdf(c), "controller %s disconnected (function stays %s)", c->peer,
                             simdev_state_name(conn_function(c)->state));
        } else
                log_debug("connection %s closed", c->peer);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        sd_event_source_disable_unref(c->source);
        c->fd = mb_safe_close(c->fd);
        free(c->in);
        free(c->out);
        free(c);
}

static int ensure_cap(uint8_t **buf, size_t *cap, size_t need) {
        uint8_t *p;

        if (*cap >= need)
                return 0;
        p = realloc(*buf, need);
        if (!p)
                return -ENOMEM;
        *buf = p;
        *cap = need;
        return 0;
}

/* Prepares a reply with room for payload_len bytes at c->out + HDR_LEN. */
static int reply_begin(Conn *c, uint32_t payload_len) {
        int r = ensure_cap(&c->out, &c->out_cap, SIMDEV_PROTO_HDR_LEN + (size_t) payload_len);
        if (r < 0)
                return r;
        simdev_header_encode(c->out, (uint16_t) (c->h.op | SIMDEV_PROTO_REPLY), 0, payload_len);
        c->out_len = SIMDEV_PROTO_HDR_LEN + (size_t) payload_len;
        c->out_pos = 0;
        return 0;
}

static int reply_error(Conn *c, int err, const char *fmt, ...) _printf_(3, 4);
static int reply_error(Conn *c, int err, const char *fmt, ...) {
        char msg[SIMDEV_ERROR_MSG_MAX + 1] = "";
        size_t len = 0;
        va_list ap;
        int r;

        if (fmt) {
                va_start(ap, fmt);
                (void) vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
                len = strlen(msg);
        }
        r = reply_begin(c, (uint32_t) len);
        if (r < 0)
                return r;
        simdev_header_encode(c->out, (uint16_t) (c->h.op | SIMDEV_PROTO_REPLY), -abs(err), (uint32_t) len);
        memcpy(c->out + SIMDEV_PROTO_HDR_LEN, msg, len);
        return 0;
}

static SimdevFunction *find_function(SimagentServer *s, const uint8_t *bdf, size_t len, ssize_t *idx) {
        char buf[SIMDEV_BDF_MAX], canon[13];

        if (len == 0 || len >= sizeof(buf) || memchr(bdf, '\0', len))
                return NULL;
        memcpy(buf, bdf, len);
        buf[len] = '\0';
        if (simdev_parse_bdf(buf, canon) < 0)
                return NULL;
        for (size_t i = 0; i < s->n_functions; i++)
                if (strcmp(s->functions[i]->bdf, canon) == 0) {
                        if (idx)
                                *idx = (ssize_t) i;
                        return s->functions[i];
                }
        return NULL;
}

static int handle_open(Conn *c) {
        SimagentServer *s = c->server;
        uint32_t version, flags;
        SimdevFunction *f;
        ssize_t idx = -1;
        int r;

        if (c->h.len < 9 || c->h.len > 8 + SIMDEV_BDF_MAX - 1)
                return reply_error(c, EINVAL, "OPEN: payload of %" PRIu32 " bytes", c->h.len);
        version = simdev_get_be32(c->in);
        flags = simdev_get_be32(c->in + 4);
        if (version != SIMDEV_PROTO_VERSION)
                return reply_error(c, EPROTONOSUPPORT, "protocol version %" PRIu32 " not supported (agent speaks %u)",
                                   version, SIMDEV_PROTO_VERSION);
        if (flags & ~SIMDEV_OPEN_CONTROL)
                return reply_error(c, EINVAL, "OPEN: unknown flags 0x%" PRIx32, flags);
        if (c->fn >= 0)
                return reply_error(c, EALREADY, "a function is already open on this connection");
        f = find_function(s, c->in + 8, c->h.len - 8, &idx);
        if (!f)
                return reply_error(c, ENODEV, "no such function '%.*s' on this agent", (int) (c->h.len - 8),
                                   (const char *) c->in + 8);
        if (flags & SIMDEV_OPEN_CONTROL) {
                if (s->controller[idx])
                        return reply_error(c, EBUSY, "function %s is controlled by connection %s", f->bdf,
                                           s->controller[idx]->peer);
                s->controller[idx] = c;
                c->controller = true;
                log_dev_info(f->bdf, "controller %s connected (state %s)", c->peer, simdev_state_name(f->state));
                /* A new controller resets a failed function, as a device reset would. */
                if (f->state == SIMDEV_STATE_ERROR) {
                        r = simdev_function_set_state(f, VFIO_V1_RUNNING);
                        if (r < 0)
                                return reply_error(c, r, "cannot reset the function: %s", f->error);
                        log_dev_notice(f->bdf, "function was in the error state: reset to running");
                }
        }
        c->fn = idx;

        r = reply_begin(c, 20);
        if (r < 0)
                return r;
        simdev_put_be32(c->out + SIMDEV_PROTO_HDR_LEN, SIMDEV_PROTO_VERSION);
        simdev_put_be32(c->out + SIMDEV_PROTO_HDR_LEN + 4, f->page_size);
        simdev_put_be64(c->out + SIMDEV_PROTO_HDR_LEN + 8, f->size);
        simdev_put_be32(c->out + SIMDEV_PROTO_HDR_LEN + 16, f->state);
        return 0;
}

static void log_transition(SimdevFunction *f, uint32_t from) {
        uint64_t rounds, bytes, lbytes, lrecords;
        bool complete;

        log_dev_info(f->bdf, "state %s -> %s", simdev_state_name(from), simdev_state_name(f->state));
        if ((from == 2 || from == 3) && !(f->state & 2)) {
                simdev_function_save_stats(f, &rounds, &bytes);
                log_dev_info(f->bdf, "save session over: %" PRIu64 " rounds, %" PRIu64 " stream bytes", rounds, bytes);
        }
        if (from == 4) {
                simdev_function_load_stats(f, &lbytes, &lrecords, &complete);
                log_dev_info(f->bdf, "load session over: %" PRIu64 " stream bytes, %" PRIu64 " records%s", lbytes,
                             lrecords, complete ? ", complete" : "");
        }
}

static int handle_controlled(Conn *c) {
        SimdevFunction *f = conn_function(c);
        uint32_t from;
        int r;

        if (!f || !c->controller)
                return reply_error(c, EBADFD, "no function opened for control on this connection");

        switch (c->h.op) {
        case SIMDEV_OP_GET_STATE:
                if (c->h.len != 0)
                        return reply_error(c, EINVAL, "GET_STATE takes no payload");
                r = reply_begin(c, 4);
                if (r < 0)
                        return r;
                simdev_put_be32(c->out + SIMDEV_PROTO_HDR_LEN, f->state);
                return 0;

        case SIMDEV_OP_SET_STATE:
                if (c->h.len != 4)
                        return reply_error(c, EINVAL, "SET_STATE takes 4 bytes");
                from = f->state;
                r = simdev_function_set_state(f, simdev_get_be32(c->in));
                if (r < 0) {
                        log_dev_warning_errno(f->bdf, r, "set_state %s -> %" PRIu32 " refused: %s",
                                              simdev_state_name(from), simdev_get_be32(c->in), f->error);
                        return reply_error(c, r, "%s", f->error);
                }
                if (from != f->state)
                        log_transition(f, from);
                return reply_begin(c, 0);

        case SIMDEV_OP_PENDING:
                if (c->h.len != 0)
                        return reply_error(c, EINVAL, "PENDING takes no payload");
                r = reply_begin(c, 8);
                if (r < 0)
                        return r;
                simdev_put_be64(c->out + SIMDEV_PROTO_HDR_LEN, simdev_function_pending(f));
                return 0;

        case SIMDEV_OP_SAVE: {
                uint32_t n;

                if (c->h.len != 4)
                        return reply_error(c, EINVAL, "SAVE takes 4 bytes");
                n = simdev_get_be32(c->in);
                if (n > SIMDEV_IO_MAX)
                        return reply_error(c, EMSGSIZE, "SAVE of %" PRIu32 " bytes exceeds %u", n, SIMDEV_IO_MAX);
                r = reply_begin(c, n);
                if (r < 0)
                        return r;
                r = simdev_function_save(f, c->out + SIMDEV_PROTO_HDR_LEN, n);
                if (r < 0) {
                        log_dev_warning_errno(f->bdf, r, "save refused: %s", f->error);
                        return reply_error(c, r, "%s", f->error);
                }
                return 0;
        }

        case SIMDEV_OP_LOAD:
                from = f->state;
                r = simdev_function_load(f, c->in, c->h.len);
                if (r < 0) {
                        log_dev_error_errno(f->bdf, r, "load failed: %s", f->error);
                        if (from != f->state)
                                log_transition(f, from);
                        return reply_error(c, r, "%s", f->error);
                }
                return reply_begin(c, 0);
        }
        return reply_error(c, EOPNOTSUPP, "unknown op %u", c->h.op);
}

static int handle_hash(Conn *c) {
        g_autoptr(GChecksum) sum = NULL;
        SimdevFunction *f;
        size_t len = SIMDEV_HASH_LEN;
        int r;

        f = find_function(c->server, c->in, c->h.len, NULL);
        if (!f)
                return reply_error(c, ENODEV, "no such function");
        sum = g_checksum_new(G_CHECKSUM_SHA256);
        if (!sum)
                return -ENOMEM;
        for (uint64_t off = 0; off < f->size;) {
                uint64_t n = MB_MIN(f->size - off, (uint64_t) 1 << 30);
                g_checksum_update(sum, f->mem + off, (gssize) n);
                off += n;
        }
        r = reply_begin(c, SIMDEV_HASH_LEN);
        if (r < 0)
                return r;
        g_checksum_get_digest(sum, c->out + SIMDEV_PROTO_HDR_LEN, &len);
        return len == SIMDEV_HASH_LEN ? 0 : -EIO;
}

static int handle_status(Conn *c) {
        SimagentServer *s = c->server;
        SimdevStatus st = {};
        SimdevFunction *f;
        ssize_t idx = -1;
        bool complete;
        int r;

        f = find_function(s, c->in, c->h.len, &idx);
        if (!f)
                return reply_error(c, ENODEV, "no such function");
        st.state = f->state;
        st.state_size = f->size;
        st.page_size = f->page_size;
        st.controlled = s->controller[idx] != NULL;
        st.dirty_pages = f->dirty.n_set;
        st.pages_dirtied = f->pages_dirtied;
        simdev_function_save_stats(f, &st.save_rounds, &st.save_bytes);
        st.pending = simdev_function_pending(f);
        simdev_function_load_stats(f, &st.load_bytes, &st.load_records, &complete);
        st.load_complete = complete;

        r = reply_begin(c, SIMDEV_STATUS_LEN);
        if (r < 0)
                return r;
        simdev_status_encode(c->out + SIMDEV_PROTO_HDR_LEN, &st);
        return 0;
}

static int handle_list(Conn *c) {
        SimagentServer *s = c->server;
        size_t len = 0;
        int r;

        if (c->h.len != 0)
                return reply_error(c, EINVAL, "LIST takes no payload");
        for (size_t i = 0; i < s->n_functions; i++)
                len += strlen(s->functions[i]->bdf) + 1;
        r = reply_begin(c, (uint32_t) len);
        if (r < 0)
                return r;
        len = SIMDEV_PROTO_HDR_LEN;
        for (size_t i = 0; i < s->n_functions; i++) {
                size_t n = strlen(s->functions[i]->bdf);
                memcpy(c->out + len, s->functions[i]->bdf, n);
                c->out[len + n] = '\n';
                len += n + 1;
        }
        return 0;
}

static int dispatch(Conn *c) {
        switch (c->h.op) {
        case SIMDEV_OP_OPEN:
                return handle_open(c);
        case SIMDEV_OP_GET_STATE:
        case SIMDEV_OP_SET_STATE:
        case SIMDEV_OP_PENDING:
        case SIMDEV_OP_SAVE:
        case SIMDEV_OP_LOAD:
                return handle_controlled(c);
        case SIMDEV_OP_HASH:
                return handle_hash(c);
        case SIMDEV_OP_STATUS:
                return handle_status(c);
        case SIMDEV_OP_LIST:
                return handle_list(c);
        default:
                log_warning("%s: unknown op %u", c->peer, c->h.op);
                return reply_error(c, EOPNOTSUPP, "unknown op %u", c->h.op);
        }
}

static int conn_update_events(Conn *c) {
        return sd_event_source_set_io_events(c->source, c->out_pos < c->out_len ? EPOLLOUT : EPOLLIN);
}

/* Writes what it can; returns 1 when the reply is out, 0 when it must wait. */
static int conn_flush(Conn *c) {
        while (c->out_pos < c->out_len) {
                ssize_t k = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                c->out_pos += (size_t) k;
        }
        c->out_pos = c->out_len = 0;
        c->busy_since = 0;
        /* Keep buffers above a QEMU-sized chunk from piling up on idle connections. */
        if (c->out_cap > SIMAGENT_KEEP_BUFFER) {
                free(c->out);
                c->out = NULL;
                c->out_cap = 0;
        }
        return 1;
}

/* Reads one request as far as possible; returns 1 when complete, 0 on EAGAIN,
 * -ECONNRESET on EOF, -EPROTO on a malformed header. */
static int conn_read_request(Conn *c) {
        int r;

        while (c->hdr_got < SIMDEV_PROTO_HDR_LEN) {
                ssize_t k = recv(c->fd, c->hdr + c->hdr_got, SIMDEV_PROTO_HDR_LEN - c->hdr_got, MSG_DONTWAIT);
                if (k == 0)
                        return -ECONNRESET;
                if (k < 0)
                        return errno == EAGAIN ? 0 : errno == EINTR ? 0 : -errno;
                if (c->hdr_got == 0)
                        c->busy_since = now_usec();
                c->hdr_got += (size_t) k;
                if (c->hdr_got == SIMDEV_PROTO_HDR_LEN) {
                        r = simdev_header_decode(c->hdr, &c->h);
                        if (r < 0 || c->h.status != 0 || (c->h.op & SIMDEV_PROTO_REPLY))
                                return -EPROTO;
                        r = ensure_cap(&c->in, &c->in_cap, c->h.len > 0 ? c->h.len : 1);
                        if (r < 0)
                                return r;
                        c->in_got = 0;
                }
        }
        while (c->in_got < c->h.len) {
                ssize_t k = recv(c->fd, c->in + c->in_got, c->h.len - c->in_got, MSG_DONTWAIT);
                if (k == 0)
                        return -ECONNRESET;
                if (k < 0)
                        return errno == EAGAIN ? 0 : errno == EINTR ? 0 : -errno;
                c->in_got += (size_t) k;
        }
        return 1;
}

static int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Conn *c = userdata;
        int r;

        if (c->out_pos < c->out_len) {
                r = conn_flush(c);
                if (r < 0)
                        goto close;
                if (r == 0)
                        return 0;
                r = conn_update_events(c);
                if (r < 0)
                        goto close;
                return 0;
        }

        for (;;) {
                r = conn_read_request(c);
                if (r == -ECONNRESET && c->hdr_got == 0)
                        goto close; /* orderly disconnect between requests */
                if (r < 0) {
                        if (r == -EPROTO)
                                log_warning("%s: malformed request header (op %u, %" PRIu32 " bytes), closing",
                                            c->peer, c->h.op, c->h.len);
                        else if (r == -ECONNRESET)
                                log_warning("%s: disconnected in the middle of a request", c->peer);
                        else
                                log_warning_errno(r, "%s: receive failed, closing: %m", c->peer);
                        goto close;
                }
                if (r == 0)
                        return 0;

                c->hdr_got = 0;
                r = dispatch(c);
                if (r < 0) {
                        log_error_errno(r, "%s: cannot answer op %u: %m", c->peer, c->h.op);
                        goto close;
                }
                r = conn_flush(c);
                if (r < 0)
                        goto close;
                if (r == 0) {
                        c->busy_since = now_usec();
                        r = conn_update_events(c);
                        if (r < 0)
                                goto close;
                        return 0;
                }
                /* Shrink the input buffer after a large request. */
                if (c->in_cap > SIMAGENT_KEEP_BUFFER) {
                        free(c->in);
                        c->in = NULL;
                        c->in_cap = 0;
                }
        }

close:
        conn_free(c);
        return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        SimagentServer *s = userdata;
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
        _cleanup_close_ int cfd = -1;
        int one = 1, r;
        Conn *c;

        cfd = accept4(fd, (struct sockaddr *) &sa, &salen, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "accept failed: %m");
                return 0;
        }
        (void) getnameinfo((struct sockaddr *) &sa, salen, host, sizeof(host), serv, sizeof(serv),
                           NI_NUMERICHOST | NI_NUMERICSERV);
        if (s->n_conns >= SIMAGENT_MAX_CONNECTIONS) {
                log_warning("refusing connection from %s:%s: %u connections open", host, serv, s->n_conns);
                return 0;
        }
        (void) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        c = calloc(1, sizeof(*c));
        if (!c)
                return log_error_errno(ENOMEM, "out of memory accepting a connection");
        c->server = s;
        c->fn = -1;
        c->id = ++s->n_accepted;
        (void) snprintf(c->peer, sizeof(c->peer), "#%" PRIu64 " %s%s%s:%s", c->id, strchr(host, ':') ? "[" : "",
                        host, strchr(host, ':') ? "]" : "", serv);
        r = sd_event_add_io(s->event, &c->source, cfd, EPOLLIN, on_conn_io, c);
        if (r < 0) {
                free(c);
                return log_error_errno(r, "cannot watch connection: %m");
        }
        c->fd = MB_TAKE_FD(cfd);
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
        log_debug("connection %s accepted", c->peer);
        return 0;
}

static int on_stall_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        SimagentServer *s = userdata;
        uint64_t now = now_usec();

        for (Conn *c = s->conns, *next; c; c = next) {
                next = c->next;
                if (c->busy_since > 0 && now - c->busy_since > SIMAGENT_STALL_USEC) {
                        log_warning("%s: request stalled for more than %u s, closing", c->peer,
                                    SIMAGENT_STALL_USEC / 1000000u);
                        conn_free(c);
                }
        }
        return sd_event_source_set_time_relative(src, 1000000u);
}

static int on_dirty_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        SimagentServer *s = userdata;
        uint64_t pages = simagent_dirtier_tick(&s->dirtier, now_usec(), 1000000u);

        if (pages > 0)
                for (size_t i = 0; i < s->n_functions; i++)
                        (void) simdev_function_dirty_pages(s->functions[i],
                                                           MB_MIN(pages, s->functions[i]->n_pages));
        return sd_event_source_set_time_relative(src, SIMAGENT_DIRTY_TICK_USEC);
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        log_info("signal %s received, exiting", strsignal((int) si->ssi_signo));
        return sd_event_exit(sd_event_source_get_event(src), 0);
}

int simagent_server_new(SimagentServer **ret, SimdevFunction **functions, size_t n, uint64_t dirty_rate) {
        SimagentServer *s;
        sigset_t mask;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->listen_fd = -1;
        s->controller = calloc(n > 0 ? n : 1, sizeof(Conn *));
        s->functions = calloc(n > 0 ? n : 1, sizeof(SimdevFunction *));
        if (!s->controller || !s->functions) {
                simagent_server_free(s);
                return -ENOMEM;
        }
        memcpy(s->functions, functions, n * sizeof(SimdevFunction *));
        s->n_functions = n;
        simagent_dirtier_init(&s->dirtier, dirty_rate, SIMDEV_PAGE_SIZE);

        r = sd_event_new(&s->event);
        if (r < 0)
                goto fail;

        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                r = -errno;
                goto fail;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        r = sd_event_add_signal(s->event, NULL, SIGTERM, on_signal, s);
        if (r < 0)
                goto fail;
        r = sd_event_add_signal(s->event, NULL, SIGINT, on_signal, s);
        if (r < 0)
                goto fail;

        r = sd_event_add_time_relative(s->event, &s->stall_timer, CLOCK_MONOTONIC, 1000000u, 100000u,
                                       on_stall_timer, s);
        if (r < 0)
                goto fail;
        r = sd_event_source_set_enabled(s->stall_timer, SD_EVENT_ON);
        if (r < 0)
                goto fail;

        if (dirty_rate > 0) {
                (void) simagent_dirtier_tick(&s->dirtier, now_usec(), 1000000u);
                r = sd_event_add_time_relative(s->event, &s->dirty_timer, CLOCK_MONOTONIC,
                                               SIMAGENT_DIRTY_TICK_USEC, 1000u, on_dirty_timer, s);
                if (r < 0)
                        goto fail;
                r = sd_event_source_set_enabled(s->dirty_timer, SD_EVENT_ON);
                if (r < 0)
                        goto fail;
        }

        *ret = s;
        return 0;
fail:
        simagent_server_free(s);
        return r;
}

void simagent_server_free(SimagentServer *s) {
        if (!s)
                return;
        while (s->conns)
                conn_free(s->conns);
        sd_event_source_disable_unref(s->listen_source);
        sd_event_source_disable_unref(s->stall_timer);
        sd_event_source_disable_unref(s->dirty_timer);
        s->listen_fd = mb_safe_close(s->listen_fd);
        sd_event_unref(s->event);
        if (s->functions)
                for (size_t i = 0; i < s->n_functions; i++)
                        simdev_function_free(s->functions[i]);
        free(s->functions);
        free(s->controller);
        free(s);
}

int simagent_server_listen(SimagentServer *s, const char *hostport, uint16_t *ret_port) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        struct addrinfo *res = NULL;
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        char host[SIMDEV_HOST_MAX], port_str[8];
        _cleanup_close_ int fd = -1;
        uint16_t port;
        int r, one = 1;

        r = simdev_parse_hostport(hostport, host, &port);
        if (r < 0)
                return log_error_errno(EINVAL, "invalid listen address '%s': expected HOST:PORT or [V6ADDR]:PORT",
                                       hostport);
        (void) snprintf(port_str, sizeof(port_str), "%u", (unsigned) port);
        r = getaddrinfo(host[0] ? host : NULL, port_str, &hints, &res);
        if (r != 0)
                return log_error_errno(EADDRNOTAVAIL, "cannot resolve listen address '%s': %s", hostport,
                                       gai_strerror(r));

        r = -EADDRNOTAVAIL;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
                if (fd < 0) {
                        r = -errno;
                        continue;
                }
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0) {
                        r = 0;
                        break;
                }
                r = -errno;
                fd = mb_safe_close(fd);
        }
        freeaddrinfo(res);
        if (r < 0)
                return log_error_errno(r, "cannot listen on %s: %m", hostport);

        if (getsockname(fd, (struct sockaddr *) &sa, &salen) < 0)
                return log_error_errno(errno, "getsockname: %m");
        port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &sa)->sin6_port
                                             : ((struct sockaddr_in *) &sa)->sin_port);

        r = sd_event_add_io(s->event, &s->listen_source, fd, EPOLLIN, on_accept, s);
        if (r < 0)
                return log_error_errno(r, "cannot watch the listening socket: %m");
        s->listen_fd = MB_TAKE_FD(fd);
        *ret_port = port;
        return 0;
}

int simagent_server_run(SimagentServer *s) {
        return sd_event_loop(s->event);
}
