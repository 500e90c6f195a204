/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "shim-args.h"
#include "uuid.h"

_Static_assert(SHIM_UUID_STRLEN == MB_UUID_STRLEN, "owner holds a domain UUID");

static int args_fail(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static int args_fail(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;

        if (err && errlen > 0) {
                va_start(ap, fmt);
                (void) vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

void shim_args_done(ShimArgs *a) {
        free(a->bus_address);
        *a = (ShimArgs) { .timeout_ms = SHIM_TIMEOUT_MS_DEFAULT };
}

/* Decimal digits only, no sign, no leading garbage, in range. */
static int parse_timeout(const char *s, size_t n, uint32_t *ret) {
        uint64_t v = 0;

        if (n == 0 || n > 10)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        if (v < SHIM_TIMEOUT_MS_MIN || v > SHIM_TIMEOUT_MS_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int shim_args_parse(const char *arg, ShimArgs *ret, char *err, size_t errlen) {
        ShimArgs a = { .timeout_ms = SHIM_TIMEOUT_MS_DEFAULT };
        bool seen_timeout = false;
        const char *p = arg;
        int r;

        if (err && errlen > 0)
                err[0] = '\0';
        *ret = a;
        if (!p || !*p)
                return 0;

        for (;;) {
                const char *eq = strchr(p, '='), *end = strchr(p, ',');
                const char *v = eq ? eq + 1 : NULL;
                size_t klen, vlen;

                if (!eq || (end && end < eq)) {
                        size_t n = end ? (size_t) (end - p) : strlen(p);
                        r = args_fail(err, errlen, "'%.*s' is not KEY=VALUE", (int) MB_MIN(n, (size_t) 64), p);
                        goto fail;
                }
                klen = (size_t) (eq - p);

                if (klen == 3 && strncmp(p, "bus", 3) == 0) {
                        /* The value runs to the end: D-Bus addresses have commas. */
                        if (!*v) {
                                r = args_fail(err, errlen, "bus= needs a D-Bus address or 'system'");
                                goto fail;
                        }
                        if (strcmp(v, "system") == 0)
                                break;
                        if (!strchr(v, ':')) {
                                r = args_fail(err, errlen,
                                              "bus=%.64s is neither 'system' nor a D-Bus address "
                                              "(TRANSPORT:KEY=VALUE,...)", v);
                                goto fail;
                        }
                        a.bus_address = strdup(v);
                        if (!a.bus_address) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        break;
                }

                vlen = end ? (size_t) (end - v) : strlen(v);
                if (klen == 10 && strncmp(p, "timeout-ms", 10) == 0) {
                        if (seen_timeout) {
                                r = args_fail(err, errlen, "timeout-ms= given twice");
                                goto fail;
                        }
                        seen_timeout = true;
                        if (parse_timeout(v, vlen, &a.timeout_ms) < 0) {
                                r = args_fail(err, errlen, "timeout-ms=%.*s: expected %u..%u milliseconds",
                                              (int) MB_MIN(vlen, (size_t) 32), v, SHIM_TIMEOUT_MS_MIN,
                                              SHIM_TIMEOUT_MS_MAX);
                                goto fail;
                        }
                } else if (klen == 5 && strncmp(p, "owner", 5) == 0) {
                        if (a.has_owner) {
                                r = args_fail(err, errlen, "owner= given twice");
                                goto fail;
                        }
                        if (mb_uuid_normalize(v, vlen, a.owner) < 0) {
                                r = args_fail(err, errlen, "owner=%.*s is not a UUID",
                                              (int) MB_MIN(vlen, (size_t) 64), v);
                                goto fail;
                        }
                        a.has_owner = true;
                } else {
                        r = args_fail(err, errlen, "unknown option '%.*s' (known: timeout-ms, owner, bus)",
                                      (int) MB_MIN(klen, (size_t) 32), p);
                        goto fail;
                }

                if (!end)
                        break;
                p = end + 1;
                if (!*p) {
                        r = args_fail(err, errlen, "trailing ','");
                        goto fail;
                }
        }

        *ret = a;
        return 0;
fail:
        shim_args_done(&a);
        return r;
}
