/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * macro.h: small language helpers shared by every migbroker program:
 * cleanup attributes for fds, malloc'ed memory and sd-bus objects, array sizes.
 * Not a utility grab-bag: anything with logic goes in a module of its own.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MB_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void mb_freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(mb_freep)

/* Close an fd, preserving errno; returns -1 so callers can write fd = safe_close(fd). */
static inline int mb_safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -1;
}
static inline void mb_closep(int *fd) {
        *fd = mb_safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(mb_closep)

/* Take ownership out of a cleanup variable. */
#define MB_TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })
#define MB_TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })

#define MB_DEFINE_CLEANUP(type, func)                   \
        static inline void func##p(type *p) {           \
                if (*p)                                 \
                        func(*p);                       \
        }
