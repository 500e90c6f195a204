/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "shim-args.h"

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

/* 8-4-4-4-12 hexadecimal digits, any case; stored in lower case. */
static int parse_uuid(const char *s, size_t n, char out[static SHIM_UUID_STRLEN + 1]) {
        if (n != SHIM_UUID_STRLEN)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return -EINVAL;
                out[i] = (char) tolower((unsigned char) s[i]);
        }
        out[n] = '\0';
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

        while (*p) {
                const char *eq, *end;
                size_t klen, vlen;

                eq = strchr(p, '=');
                end = strchr(p, ',');
                if (!eq || (end && end < eq)) {
                        size_t n = end ? (size_t) (end - p) : strlen(p);
                        shim_args_done(&a);
                        return args_fail(err, errlen, "'%.*s' is not KEY=VALUE", (int) MB_MIN(n, (size_t) 64), p);
                }
                klen = (size_t) (eq - p);

                if (klen == 3 && strncmp(p, "bus", 3) == 0) {
                        const char *v = eq + 1;

                        if (!*v) {
                                shim_args_done(&a);
                                return args_fail(err, errlen, "bus= needs a D-Bus address or 'system'");
                        }
                        if (strcmp(v, "system") != 0) {
                                if (!strchr(v, ':')) {
                                        shim_args_done(&a);
                                        return args_fail(err, errlen,
                                                         "bus=%.64s is neither 'system' nor a D-Bus address "
                                                         "(TRANSPORT:KEY=VALUE,...)", v);
                                }
                                a.bus_address = strdup(v);
                                if (!a.bus_address) {
                                        shim_args_done(&a);
                                        return -ENOMEM;
                                }
                        }
                        break; /* bus= runs to the end */
                }

                vlen = end ? (size_t) (end - eq - 1) : strlen(eq + 1);
                if (klen == 10 && strncmp(p, "timeout-ms", 10) == 0) {
                        if (seen_timeout) {
                                shim_args_done(&a);
                                return args_fail(err, errlen, "timeout-ms= given twice");
                        }
                        seen_timeout = true;
                        r = parse_timeout(eq + 1, vlen, &a.timeout_ms);
                        if (r < 0) {
                                shim_args_done(&a);
                                return args_fail(err, errlen, "timeout-ms=%.*s: expected %u..%u milliseconds",
                                                 (int) MB_MIN(vlen, (size_t) 32), eq + 1, SHIM_TIMEOUT_MS_MIN,
                                                 SHIM_TIMEOUT_MS_MAX);
                        }
                } else if (klen == 5 && strncmp(p, "owner", 5) == 0) {
                        if (a.has_owner) {
                                shim_args_done(&a);
                                return args_fail(err, errlen, "owner= given twice");
                        }
                        r = parse_uuid(eq + 1, vlen, a.owner);
                        if (r < 0) {
                                shim_args_done(&a);
                                return args_fail(err, errlen, "owner=%.*s is not a UUID", (int) MB_MIN(vlen, (size_t) 64),
                                                 eq + 1);
                        }
                        a.has_owner = true;
                } else {
                        shim_args_done(&a);
                        return args_fail(err, errlen, "unknown option '%.*s' (known: timeout-ms, owner, bus)",
                                         (int) MB_MIN(klen, (size_t) 32), p);
                }

                if (!end)
                        break;
                p = end + 1;
                if (!*p) {
                        shim_args_done(&a);
                        return args_fail(err, errlen, "trailing ','");
                }
        }

        *ret = a;
        return 0;
}
