/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shim-call.h: one D-Bus method call to the broker, bounded by a deadline,
 * optionally moving one raw round through a socket at the same time (the
 * SaveTo/LoadFrom data path). It owns no state between calls: the handle
 * passes its connection in. Not thread-safe per connection (the caller locks).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "shim-map.h"

typedef enum ShimXferDir {
        SHIM_XFER_NONE,
        SHIM_XFER_SAVE, /* the broker writes be64 N + N bytes; we read, N must be len */
        SHIM_XFER_LOAD, /* we write be64 len + len bytes, then shut the socket down */
} ShimXferDir;

typedef struct ShimXfer {
        ShimXferDir dir;
        int fd;                         /* our end of the socketpair, non-blocking */
        uint8_t *buf;                   /* QEMU's buffer */
        uint64_t len;
        /* progress, of SHIM_RAW_HDR_LEN + len bytes */
        uint8_t hdr[SHIM_RAW_HDR_LEN];
        uint64_t done;
        bool eof;                       /* save: the broker's end is closed */
        bool broken;                    /* load: the broker's end is closed (EPIPE) */
        int error;                      /* a fatal transfer error, negative errno */
        char why[160];                  /* what went wrong with the transfer */
} ShimXfer;

/*
 * Sends *m (a method call) and drops the caller's reference (*m = NULL), so
 * that a descriptor in it is closed in this process once sent; then waits
 * for the reply until timeout_usec have passed since the call, running xfer
 * (if not NULL) meanwhile. On success
 * returns 0 and the reply in *ret_reply (if not NULL). On failure returns a
 * negative errno (the broker's error mapped by shim_errno_from_bus_error(),
 * -ETIMEDOUT for the deadline, -ECONNRESET for a lost broker or bus, -EIO
 * for a transfer that did not match) and one line in err.
 */
int shim_call(sd_bus *bus, sd_bus_message **m, uint64_t timeout_usec, ShimXfer *xfer, sd_bus_message **ret_reply,
              char *err, size_t errlen);
