/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-input.h: what the D-Bus fuzz targets (worker-ipc, dbus-surface) share:
 * reading integers, D-Bus-valid strings and words from the input, a value of
 * a random D-Bus type, and checks that abort with a message. Header only:
 * each target is built from one .c file plus the sources it tests.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#ifndef FUZZ_NAME
#error "define FUZZ_NAME (the target's name, for messages) before including fuzz-input.h"
#endif

#define CHECK(x)                                                                                      \
        do {                                                                                          \
                if (!(x)) {                                                                           \
                        fprintf(stderr, FUZZ_NAME ": %s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
                        abort();                                                                      \
                }                                                                                     \
        } while (0)

#define CHECK_R(call)                                                                                 \
        do {                                                                                          \
                int _r = (call);                                                                      \
                if (_r < 0) {                                                                         \
                        fprintf(stderr, FUZZ_NAME ": %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                                strerror(-_r));                                                       \
                        abort();                                                                      \
                }                                                                                     \
        } while (0)

typedef struct Input {
        const uint8_t *p;
        size_t n;
} Input;

static inline uint8_t take_u8(Input *in) {
        if (in->n == 0)
                return 0;
        in->n--;
        return *in->p++;
}

static inline uint64_t take_uint(Input *in, unsigned bytes) {
        uint64_t v = 0;

        for (unsigned i = 0; i < bytes; i++)
                v = (v << 8) | take_u8(in);
        return v;
}

/* Whether s is UTF-8 as D-Bus takes it (shortest forms, no surrogates, no
 * non-characters); when in doubt the string is made ASCII. */
static inline bool utf8_valid(const uint8_t *s, size_t n) {
        for (size_t i = 0; i < n;) {
                uint8_t c = s[i];
                uint32_t cp;
                size_t k;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0)
                        k = 1, cp = c & 0x1f;
                else if ((c & 0xf0) == 0xe0)
                        k = 2, cp = c & 0x0f;
                else if ((c & 0xf8) == 0xf0)
                        k = 3, cp = c & 0x07;
                else
                        return false;
                if (i + k >= n)
                        return false;
                for (size_t j = 1; j <= k; j++) {
                        if ((s[i + j] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + j] & 0x3f);
                }
                if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
                        return false;
                i += k + 1;
        }
        return true;
}

/* A D-Bus string: no NUL, 7-bit when the bytes are not valid UTF-8. */
static inline void take_str(Input *in, char *buf, size_t size) {
        size_t len = take_u8(in);

        if (len > size - 1)
                len = size - 1;
        if (len > in->n)
                len = in->n;
        for (size_t i = 0; i < len; i++)
                buf[i] = in->p[i] ? (char) in->p[i] : '?';
        buf[len] = '\0';
        in->p += len;
        in->n -= len;
        if (!utf8_valid((const uint8_t *) buf, len))
                for (size_t i = 0; i < len; i++)
                        buf[i] = (char) ((uint8_t) buf[i] & 0x7f) ?: '?';
}

/* A string argument, often one the method knows. */
static inline void take_word(Input *in, const char *const *known, size_t n_known, char *buf, size_t size) {
        uint8_t sel = take_u8(in);

        if (sel < 0xc0 && n_known > 0) {
                snprintf(buf, size, "%s", known[sel % n_known]);
                return;
        }
        take_str(in, buf, size);
}

/* One value of a random type: basic types, arrays (of basic types but 'h'),
 * structs, variants. */
/* The fd of an 'h' value: the target opens one as the input says (-errno to give up). */
typedef int (*FuzzFdFn)(Input *in, void *userdata);

static inline int append_random(sd_bus_message *m, Input *in, FuzzFdFn fd_fn, void *userdata, unsigned depth) {
        static const char basic[] = "ybnqiuxtdsogh";
        uint8_t t = take_u8(in);
        char s[256];
        int r;

        if (depth < 2 && t >= 0xf0) {
                unsigned n = take_u8(in) % 4;
                switch (t % 3) {
                case 0: { /* an array of one basic type */
                        char c = basic[take_u8(in) % (sizeof(basic) - 2)]; /* no 'h' inside */
                        char sig[2] = { c, 0 };
                        r = sd_bus_message_open_container(m, 'a', sig);
                        if (r < 0)
                                return r;
                        for (unsigned i = 0; i < n; i++) {
                                if (c == 's' || c == 'o' || c == 'g') {
                                        snprintf(s, sizeof(s), c == 'o' ? "/x%u" : c == 'g' ? "u" : "s%u", i);
                                        r = sd_bus_message_append_basic(m, c, s);
                                } else {
                                        uint64_t v = take_uint(in, 8);
                                        r = sd_bus_message_append_basic(m, c, &v);
                                }
                                if (r < 0)
                                        return r;
                        }
                        return sd_bus_message_close_container(m);
                }
                case 1: /* a variant of a string */
                        take_str(in, s, sizeof(s));
                        return sd_bus_message_append(m, "v", "s", s);
                default: /* a struct of two values */
                        r = sd_bus_message_open_container(m, 'r', "us");
                        if (r < 0)
                                return r;
                        take_str(in, s, sizeof(s));
                        r = sd_bus_message_append(m, "us", (uint32_t) take_uint(in, 4), s);
                        if (r < 0)
                                return r;
                        return sd_bus_message_close_container(m);
                }
        }
        switch (basic[t % (sizeof(basic) - 1)]) {
        case 'y': return sd_bus_message_append(m, "y", (uint8_t) take_u8(in));
        case 'b': return sd_bus_message_append(m, "b", (int) (take_u8(in) & 1));
        case 'n': return sd_bus_message_append(m, "n", (int16_t) take_uint(in, 2));
        case 'q': return sd_bus_message_append(m, "q", (uint16_t) take_uint(in, 2));
        case 'i': return sd_bus_message_append(m, "i", (int32_t) take_uint(in, 4));
        case 'u': return sd_bus_message_append(m, "u", (uint32_t) take_uint(in, 4));
        case 'x': return sd_bus_message_append(m, "x", (int64_t) take_uint(in, 8));
        case 't': return sd_bus_message_append(m, "t", take_uint(in, 8));
        case 'd': {
                uint64_t bits = take_uint(in, 8);
                double d;
                memcpy(&d, &bits, sizeof(d));
                return sd_bus_message_append(m, "d", d);
        }
        case 's':
                take_str(in, s, sizeof(s));
                return sd_bus_message_append(m, "s", s);
        case 'o':
                take_str(in, s, sizeof(s));
                return sd_bus_message_append(m, "o", sd_bus_object_path_is_valid(s) ? s : "/");
        case 'g': {
                static const char *const sigs[] = { "", "s", "u", "a{sv}", "(ii)", "hstuu", "ssua(qq)bs" };
                return sd_bus_message_append(m, "g", sigs[take_u8(in) % (sizeof(sigs) / sizeof(sigs[0]))]);
        }
        default: { /* 'h' */
                int fd = fd_fn(in, userdata);
                if (fd < 0)
                        return fd;
                return sd_bus_message_append(m, "h", fd);
        }
        }
}
