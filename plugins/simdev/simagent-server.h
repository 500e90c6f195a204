/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simagent-server.h: the agent's single-threaded event loop (sd-event): the
 * listening socket, client connections and their requests, the dirtying timer.
 * It does not parse options or create functions: simagent-main.c hands them in.
 */
#pragma once

#include <stdint.h>

#include "simdev-function.h"

#define SIMAGENT_MAX_CONNECTIONS 64u
#define SIMAGENT_MAX_FUNCTIONS   1024u
#define SIMAGENT_STALL_USEC      (30u * 1000000u) /* a half-received request or unsent reply */
#define SIMAGENT_DIRTY_TICK_USEC 10000u

typedef struct SimagentServer SimagentServer;

/* Takes ownership of the n functions (the array itself stays the caller's). */
int simagent_server_new(SimagentServer **ret, SimdevFunction **functions, size_t n, uint64_t dirty_rate);
void simagent_server_free(SimagentServer *s);
static inline void simagent_server_freep(SimagentServer **s) {
        if (*s)
                simagent_server_free(*s);
}

/* Binds and listens on "HOST:PORT" (port 0 picks one); *ret_port gets the port. */
int simagent_server_listen(SimagentServer *s, const char *hostport, uint16_t *ret_port);

/* Runs until SIGTERM or SIGINT. */
int simagent_server_run(SimagentServer *s);
