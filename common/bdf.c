/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "bdf.h"

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Reads exactly n hex digits at s. */
static int read_hex(const char *s, unsigned n, unsigned *ret) {
        unsigned v = 0;

        for (unsigned i = 0; i < n; i++) {
                int d = hexval(s[i]);
                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (unsigned) d;
        }
        *ret = v;
        return 0;
}

int mb_bdf_parse(const char *s, MbBdf *ret) {
        unsigned domain, bus, slot, function;

        if (!s)
                return -EINVAL;
        /* Fixed layout: the separators are where they must be and the string ends. */
        for (unsigned i = 0; i < MB_BDF_STRLEN; i++)
                if (s[i] == '\0')
                        return -EINVAL;
        if (s[4] != ':' || s[7] != ':' || s[10] != '.' || s[MB_BDF_STRLEN] != '\0')
                return -EINVAL;
        if (read_hex(s, 4, &domain) < 0 || read_hex(s + 5, 2, &bus) < 0 || read_hex(s + 8, 2, &slot) < 0 ||
            read_hex(s + 11, 1, &function) < 0)
                return -EINVAL;
        if (slot > MB_BDF_SLOT_MAX || function > MB_BDF_FUNCTION_MAX)
                return -EINVAL;
        if (ret)
                *ret = (MbBdf) {
                        .domain = (uint16_t) domain,
                        .bus = (uint8_t) bus,
                        .slot = (uint8_t) slot,
                        .function = (uint8_t) function,
                };
        return 0;
}

bool mb_bdf_valid(const char *s) {
        return mb_bdf_parse(s, NULL) == 0;
}

char *mb_bdf_format(const MbBdf *b, char buf[static MB_BDF_STRLEN + 1]) {
        (void) snprintf(buf, MB_BDF_STRLEN + 1, "%04x:%02x:%02x.%x", (unsigned) b->domain, (unsigned) b->bus,
                        (unsigned) b->slot & MB_BDF_SLOT_MAX, (unsigned) b->function & MB_BDF_FUNCTION_MAX);
        return buf;
}

int mb_bdf_normalize(const char *s, char buf[static MB_BDF_STRLEN + 1]) {
        MbBdf b;
        int r;

        r = mb_bdf_parse(s, &b);
        if (r < 0)
                return r;
        mb_bdf_format(&b, buf);
        return 0;
}
