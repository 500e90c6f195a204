/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simdev-parse.h"

int simdev_parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s || *end != '\0')
                return -EINVAL;
        *ret = (uint64_t) v;
        return 0;
}

int simdev_parse_size(const char *s, uint64_t *ret) {
        unsigned long long v;
        unsigned shift = 0;
        char *end;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s)
                return -EINVAL;

        switch (*end) {
        case '\0':
                break;
        case 'k': case 'K': shift = 10; end++; break;
        case 'm': case 'M': shift = 20; end++; break;
        case 'g': case 'G': shift = 30; end++; break;
        case 't': case 'T': shift = 40; end++; break;
        case 'b': case 'B': break;
        default:
                return -EINVAL;
        }
        if (shift > 0 && *end == 'i')
                end++;
        if (*end == 'B' || (shift == 0 && *end == 'b'))
                end++;
        if (*end != '\0')
                return -EINVAL;

        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = (uint64_t) v << shift;
        return 0;
}

int simdev_parse_hostport(const char *s, char host[SIMDEV_HOST_MAX], uint16_t *port) {
        const char *colon, *h;
        size_t hlen;
        uint64_t p;
        int r;

        if (!s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                h = s + 1;
                hlen = (size_t) (close - h);
                colon = close + 1;
                if (hlen == 0)
                        return -EINVAL;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                h = s;
                hlen = (size_t) (colon - s);
                /* An unbracketed host must not contain ':' (bare IPv6 is ambiguous). */
                if (memchr(h, ':', hlen))
                        return -EINVAL;
        }
        if (hlen >= SIMDEV_HOST_MAX)
                return -EINVAL;
        for (size_t i = 0; i < hlen; i++)
                if (isspace((unsigned char) h[i]) || h[i] == '/' || h[i] == '[' || h[i] == ']')
                        return -EINVAL;

        r = simdev_parse_u64(colon + 1, &p);
        if (r < 0 || p > 65535 || (colon[1] == '0' && colon[2] != '\0'))
                return -EINVAL;

        memcpy(host, h, hlen);
        host[hlen] = '\0';
        *port = (uint16_t) p;
        return 0;
}

static int parse_hex_field(const char *s, size_t n, unsigned max, unsigned *ret) {
        unsigned v = 0;

        for (size_t i = 0; i < n; i++) {
                if (!isxdigit((unsigned char) s[i]))
                        return -EINVAL;
                v = v * 16 + (unsigned) (isdigit((unsigned char) s[i]) ? s[i] - '0'
                                                                   : tolower((unsigned char) s[i]) - 'a' + 10);
        }
        if (v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

int simdev_parse_bdf(const char *s, char out[13]) {
        unsigned dom = 0, bus, dev, fn;
        size_t len;

        if (!s)
                return -EINVAL;
        len = strlen(s);
        if (len == 7) {          /* BB:DD.F */
                if (s[2] != ':' || s[5] != '.')
                        return -EINVAL;
                if (parse_hex_field(s, 2, 0xff, &bus) < 0 || parse_hex_field(s + 3, 2, 0x1f, &dev) < 0 ||
                    parse_hex_field(s + 6, 1, 7, &fn) < 0)
                        return -EINVAL;
        } else if (len == 12) {  /* DDDD:BB:DD.F */
                if (s[4] != ':' || s[7] != ':' || s[10] != '.')
                        return -EINVAL;
                if (parse_hex_field(s, 4, 0xffff, &dom) < 0 || parse_hex_field(s + 5, 2, 0xff, &bus) < 0 ||
                    parse_hex_field(s + 8, 2, 0x1f, &dev) < 0 || parse_hex_field(s + 11, 1, 7, &fn) < 0)
                        return -EINVAL;
        } else
                return -EINVAL;

        (void) snprintf(out, 13, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
        return 0;
}
