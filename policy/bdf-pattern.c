/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bdf-pattern.h"
#include "macro.h"

typedef struct Field {
        const char *name;
        unsigned width;
        unsigned max;
        uint8_t bit;
} Field;

static const Field fields[4] = {
        { "domain", 4, 0xffff, MB_BDF_FIELD_DOMAIN },
        { "bus", 2, 0xff, MB_BDF_FIELD_BUS },
        { "slot", 2, MB_BDF_SLOT_MAX, MB_BDF_FIELD_SLOT },
        { "function", 1, MB_BDF_FUNCTION_MAX, MB_BDF_FIELD_FUNCTION },
};

static int fail(MbBdfPatternError *err, size_t offset, const char *fmt, ...) _printf_(3, 4);
static int fail(MbBdfPatternError *err, size_t offset, const char *fmt, ...) {
        va_list ap;

        if (err) {
                err->offset = offset;
                va_start(ap, fmt);
                (void) vsnprintf(err->message, sizeof(err->message), fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const char *shape_hint = "expected DDDD:BB:SS.F (domain:bus:slot.function in hex, "
                                "\"*\" for a whole field), e.g. \"0000:3b:00.1\"";

int mb_bdf_pattern_parse(const char *s, MbBdfPattern *ret, MbBdfPatternError *err) {
        const char *start[4];
        size_t len[4];
        unsigned values[4] = {};
        uint8_t wildcards = 0;
        size_t n = strlen(s), colons = 0, dots = 0;

        if (n == 0)
                return fail(err, 0, "empty BDF; %s", shape_hint);
        for (size_t i = 0; i < n; i++) {
                if (s[i] == ':')
                        colons++;
                else if (s[i] == '.')
                        dots++;
                else if (s[i] == ' ' || s[i] == '\t')
                        return fail(err, i, "unexpected white space; %s", shape_hint);
        }
        /* lspci's short form without the domain */
        if (colons == 1 && dots == 1 && strchr(s, ':') < strchr(s, '.') && n <= 7)
                return fail(err, 0, "missing the PCI domain: write \"0000:%s\"", s);
        if (colons != 2 || dots != 1)
                return fail(err, 0, "%s", shape_hint);

        /* Split at the two colons and the dot, which must come in that order. */
        const char *c1 = strchr(s, ':'), *c2 = strchr(c1 + 1, ':'), *dot = strchr(s, '.');
        if (dot < c2)
                return fail(err, (size_t) (dot - s), "%s", shape_hint);
        start[0] = s, len[0] = (size_t) (c1 - s);
        start[1] = c1 + 1, len[1] = (size_t) (c2 - c1 - 1);
        start[2] = c2 + 1, len[2] = (size_t) (dot - c2 - 1);
        start[3] = dot + 1, len[3] = n - (size_t) (dot + 1 - s);

        for (unsigned f = 0; f < 4; f++) {
                const Field *fd = &fields[f];
                size_t off = (size_t) (start[f] - s);
                unsigned v = 0;

                if (len[f] == 1 && start[f][0] == '*') {
                        wildcards |= fd->bit;
                        continue;
                }
                if (len[f] == 0)
                        return fail(err, off, "the %s is empty; %s", fd->name, shape_hint);
                for (size_t i = 0; i < len[f]; i++) {
                        char c = start[f][i];
                        if (c == '*')
                                return fail(err, off, "a wildcard \"*\" must replace the whole %s, got \"%.*s\"",
                                            fd->name, (int) len[f], start[f]);
                        if (c == '-' || c == '[' || c == ',')
                                return fail(err, off + i,
                                            "ranges and lists are not supported in the %s \"%.*s\"; use \"*\" "
                                            "for the whole field or one rule per value",
                                            fd->name, (int) len[f], start[f]);
                        if (!is_hex(c))
                                return fail(err, off + i, "the %s \"%.*s\" is not hexadecimal", fd->name,
                                            (int) len[f], start[f]);
                }
                if (len[f] != fd->width)
                        return fail(err, off, "the %s must have %u hex digit%s, got \"%.*s\"", fd->name,
                                    fd->width, fd->width == 1 ? "" : "s", (int) len[f], start[f]);
                for (size_t i = 0; i < len[f]; i++) {
                        char c = start[f][i];
                        v = v << 4 | (unsigned) (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
                }
                if (v > fd->max)
                        return fail(err, off, "the %s 0x%.*s is out of range (0x%0*x-0x%0*x)", fd->name,
                                    (int) len[f], start[f], (int) fd->width, 0, (int) fd->width, fd->max);
                values[f] = v;
        }

        if (ret)
                *ret = (MbBdfPattern) {
                        .bdf = {
                                .domain = (uint16_t) values[0],
                                .bus = (uint8_t) values[1],
                                .slot = (uint8_t) values[2],
                                .function = (uint8_t) values[3],
                        },
                        .wildcards = wildcards,
                };
        return 0;
}

unsigned mb_bdf_pattern_rank(const MbBdfPattern *p) {
        return (unsigned) __builtin_popcount(p->wildcards);
}

uint32_t mb_bdf_pattern_key(const MbBdf *bdf, uint8_t mask) {
        MbBdf b = *bdf;

        if (mask & MB_BDF_FIELD_DOMAIN)
                b.domain = 0;
        if (mask & MB_BDF_FIELD_BUS)
                b.bus = 0;
        if (mask & MB_BDF_FIELD_SLOT)
                b.slot = 0;
        if (mask & MB_BDF_FIELD_FUNCTION)
                b.function = 0;
        return mb_bdf_pack(&b);
}

bool mb_bdf_pattern_matches(const MbBdfPattern *p, const MbBdf *bdf) {
        return mb_bdf_pattern_key(bdf, p->wildcards) == mb_bdf_pack(&p->bdf);
}

char *mb_bdf_pattern_format(const MbBdfPattern *p, char buf[static MB_BDF_PATTERN_STRLEN + 1]) {
        char d[5] = "*", b[3] = "*", sl[3] = "*", fn[2] = "*";

        if (!(p->wildcards & MB_BDF_FIELD_DOMAIN))
                (void) snprintf(d, sizeof(d), "%04x", (unsigned) p->bdf.domain);
        if (!(p->wildcards & MB_BDF_FIELD_BUS))
                (void) snprintf(b, sizeof(b), "%02x", (unsigned) p->bdf.bus);
        if (!(p->wildcards & MB_BDF_FIELD_SLOT))
                (void) snprintf(sl, sizeof(sl), "%02x", (unsigned) p->bdf.slot & MB_BDF_SLOT_MAX);
        if (!(p->wildcards & MB_BDF_FIELD_FUNCTION))
                (void) snprintf(fn, sizeof(fn), "%x", (unsigned) p->bdf.function & MB_BDF_FUNCTION_MAX);
        (void) snprintf(buf, MB_BDF_PATTERN_STRLEN + 1, "%s:%s:%s.%s", d, b, sl, fn);
        return buf;
}
