/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shim-args.h: the grammar of the shim's init() argument (QEMU's
 * x-plugin-arg): which bus, how long any op may take, which owner to expect.
 * Pure parsing: it neither connects nor logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of timeout-ms: at least 100 ms, at most an hour. */
#define SHIM_TIMEOUT_MS_MIN 100u
#define SHIM_TIMEOUT_MS_MAX 3600000u
/* Default: above migbrokerctl's 30 s, which is itself above the broker's op-timeout-ms. */
#define SHIM_TIMEOUT_MS_DEFAULT 30000u
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define SHIM_UUID_STRLEN 36 /* MB_UUID_STRLEN */

typedef struct ShimArgs {
        char *bus_address;                      /* NULL: the system bus */
        uint32_t timeout_ms;                    /* bound of every op */
        bool has_owner;
        char owner[SHIM_UUID_STRLEN + 1];       /* lower case */
} ShimArgs;

/*
 * Parses "[timeout-ms=N][,owner=UUID][,bus=ADDRESS|system]": options separated
 * by ',', each at most once, in any order except that bus= comes last, since
 * its value runs to the end of the string (a D-Bus address has commas of its
 * own). NULL or "" gives the defaults. On failure returns -EINVAL (or
 * -ENOMEM) and explains in err; *ret is then left empty.
 */
int shim_args_parse(const char *arg, ShimArgs *ret, char *err, size_t errlen);

/* Frees what shim_args_parse() allocated; idempotent. */
void shim_args_done(ShimArgs *a);
