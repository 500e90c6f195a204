/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "simdev-client.h"
#include "simdev-parse.h"
#include "simdev-proto.h"

static int64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline (ms, CLOCK_MONOTONIC). */
static int wait_fd(int fd, short events, int64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int64_t left = deadline - now_ms();
                int r;

                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, left > 60000 ? 60000 : (int) left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 0; /* readable, writable or error: the next syscall tells */
        }
}

static int connect_one(const struct addrinfo *ai, int64_t deadline) {
        int fd, r, one = 1, err = 0;
        socklen_t len = sizeof(err);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
                return -errno;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                if (errno != EINPROGRESS) {
                        r = -errno;
                        goto fail;
                }
                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        goto fail;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
                        r = -errno;
                        goto fail;
                }
                if (err != 0) {
                        r = -err;
                        goto fail;
                }
        }
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
                r = -errno;
                goto fail;
        }
        return fd;
fail:
        (void) close(fd);
        return r;
}

int simdev_client_connect(SimdevClient *c, const char *hostport, int connect_timeout_ms, int io_timeout_ms) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
        struct addrinfo *res = NULL;
        char host[SIMDEV_HOST_MAX], port_str[8];
        int64_t deadline;
        uint16_t port;
        int r, fd = -ENOENT;

        *c = (SimdevClient) SIMDEV_CLIENT_INIT;
        r = simdev_parse_hostport(hostport, host, &port);
        if (r < 0 || port == 0 || host[0] == '\0')
                return -EINVAL;
        (void) snprintf(port_str, sizeof(port_str), "%u", (unsigned) port);

        r = getaddrinfo(host, port_str, &hints, &res);
        if (r != 0) {
                /* AI_ADDRCONFIG hides loopback-only setups' ::1 sometimes: retry without it. */
                hints.ai_flags = AI_NUMERICSERV;
                r = getaddrinfo(host, port_str, &hints, &res);
                if (r != 0)
                        return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
        }

        deadline = now_ms() + (connect_timeout_ms > 0 ? connect_timeout_ms : SIMDEV_CONNECT_TIMEOUT_MS);
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                fd = connect_one(ai, deadline);
                if (fd >= 0 || fd == -ETIMEDOUT)
                        break;
        }
        freeaddrinfo(res);
        if (fd < 0)
                return fd;

        c->fd = fd;
        c->io_timeout_ms = io_timeout_ms > 0 ? io_timeout_ms : SIMDEV_IO_TIMEOUT_MS;
        return 0;
}

void simdev_client_close(SimdevClient *c) {
        if (c->fd >= 0)
                (void) close(c->fd);
        c->fd = -1;
}

static int send_all(int fd, struct iovec *iov, int n_iov, int64_t deadline) {
        while (n_iov > 0) {
                struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t) n_iov };
                ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                int r;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                while (n_iov > 0 && (size_t) k >= iov->iov_len) {
                        k -= (ssize_t) iov->iov_len;
                        iov++;
                        n_iov--;
                }
                if (n_iov > 0) {
                        iov->iov_base = (uint8_t *) iov->iov_base + k;
                        iov->iov_len -= (size_t) k;
                }
        }
        return 0;
}

static int recv_all(int fd, void *buf, size_t len, int64_t deadline) {
        uint8_t *p = buf;

        while (len > 0) {
                ssize_t k = recv(fd, p, len, MSG_DONTWAIT);
                int r;

                if (k == 0)
                        return -ECONNRESET;
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

static int broken(SimdevClient *c, int r) {
        c->broken = true;
        return r;
}

int simdev_client_call(SimdevClient *c, uint16_t op, const void *req1, size_t req1_len, const void *req2,
                       size_t req2_len, void *resp, size_t resp_size, size_t *resp_len) {
        uint8_t hdr[SIMDEV_PROTO_HDR_LEN];
        struct iovec iov[3];
        SimdevHeader h;
        int64_t deadline;
        int n = 0, r;

        if (c->fd < 0 || c->broken)
                return -ENOTCONN;
        if (req1_len + req2_len > SIMDEV_PROTO_PAYLOAD_MAX)
                return -EMSGSIZE;

        deadline = now_ms() + c->io_timeout_ms;
        simdev_header_encode(hdr, op, 0, (uint32_t) (req1_len + req2_len));
        iov[n++] = (struct iovec) { .iov_base = hdr, .iov_len = sizeof(hdr) };
        if (req1_len > 0)
                iov[n++] = (struct iovec) { .iov_base = (void *) req1, .iov_len = req1_len };
        if (req2_len > 0)
                iov[n++] = (struct iovec) { .iov_base = (void *) req2, .iov_len = req2_len };
        r = send_all(c->fd, iov, n, deadline);
        if (r < 0)
                return broken(c, r);

        r = recv_all(c->fd, hdr, sizeof(hdr), deadline);
        if (r < 0)
                return broken(c, r);
        r = simdev_header_decode(hdr, &h);
        if (r < 0 || h.op != (op | SIMDEV_PROTO_REPLY))
                return broken(c, -EPROTO);
        c->error[0] = '\0';
        if (h.status < 0) {
                if (h.len > SIMDEV_ERROR_MSG_MAX)
                        return broken(c, -EPROTO);
                r = recv_all(c->fd, c->error, h.len, deadline);
                if (r < 0)
                        return broken(c, r);
                c->error[h.len] = '\0';
                return h.status;
        }
        if (h.len > resp_size || (!resp_len && h.len != resp_size))
                return broken(c, -EPROTO);
        r = recv_all(c->fd, resp, h.len, deadline);
        if (r < 0)
                return broken(c, r);
        if (resp_len)
                *resp_len = h.len;
        return 0;
}
