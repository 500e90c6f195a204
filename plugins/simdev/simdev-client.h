/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdev-client.h: the client end of the simdev wire protocol: TCP connect
 * with a timeout, one request/reply exchange at a time under a deadline.
 * Blocking calls, libc only (simdev.so links it); no device semantics, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simdev-proto.h"

typedef struct SimdevClient {
        int fd;
        int io_timeout_ms;        /* deadline of one whole request/reply exchange */
        bool broken;              /* framing lost (timeout, EOF, bad reply): every call fails */
        char error[SIMDEV_ERROR_MSG_MAX + 1]; /* message of the last error reply, or "" */
} SimdevClient;

#define SIMDEV_CLIENT_INIT { .fd = -1 }

/* Connects to "HOST:PORT" / "[V6]:PORT" (numeric or resolvable host), with
 * TCP_NODELAY. -EINVAL on a bad address, -ETIMEDOUT, or the connect errno. */
int simdev_client_connect(SimdevClient *c, const char *hostport, int connect_timeout_ms, int io_timeout_ms);
void simdev_client_close(SimdevClient *c);

/* Sends op with payload req1 followed by req2 (either may be empty), waits for
 * the reply and reads its payload into resp (resp_size bytes available).
 * Returns the reply's status when it is negative; otherwise 0 with *resp_len
 * set (may be NULL when the caller expects exactly resp_size bytes, in which
 * case a shorter reply is -EPROTO). Transport failures (-ETIMEDOUT, -ECONNRESET,
 * -EPROTO, ...) leave the client broken; later calls return -ENOTCONN. */
int simdev_client_call(SimdevClient *c, uint16_t op, const void *req1, size_t req1_len, const void *req2,
                       size_t req2_len, void *resp, size_t resp_size, size_t *resp_len);
