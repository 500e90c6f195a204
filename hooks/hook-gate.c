/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migbroker-hook-gate: what libvirtd runs as hooks/qemu.d/50-migbroker. It
 * reads the domain XML from standard input and, when the XML can hold no
 * device of migbroker's (no "hostdev" and no migbroker metadata namespace
 * anywhere in it), exits 0 at once; otherwise it hands the XML (in a memfd
 * as standard input) and its arguments to migbroker-hook, which lives in the
 * same directory. libvirtd runs every hook for every domain at every step of
 * its life: most domains have no managed device, and this spares them the
 * start-up of the full hook (libxml2 with ICU, GLib, libsystemd: about 4 ms
 * against 1 ms for a program with only libc, docs/performance.md).
 *
 * Only libc here, on purpose. The test is a superset: anything that could
 * be a device goes to the full hook, which decides.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define HOOK_NAME "migbroker-hook"
/* As the full hook: libvirtd writes the XML at once; a stalled writer is not waited for. */
#define STDIN_STALL_MS 30000
/* The full hook refuses more than 16 MiB (HOOK_DOMAIN_XML_MAX): the gate
 * passes one byte more on, for it to say so. */
#define XML_MAX ((16u << 20) + 1)

static const char *const markers[] = {
        "hostdev",                        /* <hostdev mode='subsystem' type='pci'> */
        "migbroker.org/xmlns/domain",     /* <mb:devices xmlns:mb="http://migbroker.org/xmlns/domain/1"> */
};

static long long now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads standard input to its end (at most XML_MAX bytes). A read error or a
 * stall ends it early: what was read goes on all the same, and the full
 * hook, finding no whole domain XML, applies the operation's failure rule. */
static char *slurp_stdin(size_t *ret_len) {
        size_t cap = 65536, len = 0;
        char *buf = malloc(cap);
        long long deadline = now_ms() + STDIN_STALL_MS;

        if (!buf)
                return NULL;
        while (len < XML_MAX) {
                ssize_t n;

                if (len == cap) {
                        size_t ncap = cap * 2 > XML_MAX ? XML_MAX : cap * 2;
                        char *b = realloc(buf, ncap);
                        if (!b)
                                break;
                        buf = b;
                        cap = ncap;
                }
                n = read(STDIN_FILENO, buf + len, cap - len);
                if (n > 0) {
                        len += (size_t) n;
                        deadline = now_ms() + STDIN_STALL_MS;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
                        long long left = deadline - now_ms();
                        if (left <= 0)
                                break;
                        (void) poll(&p, 1, (int) left);
                        continue;
                }
                break; /* end of input, or no standard input at all */
        }
        *ret_len = len;
        return buf;
}

/* A memfd holding xml, at offset 0; -1 with errno set. */
static int memfd_of(const char *xml, size_t len) {
        int fd = memfd_create("domain-xml", MFD_CLOEXEC);

        if (fd < 0)
                return -1;
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, xml + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int e = n < 0 ? errno : EIO;
                        close(fd);
                        errno = e;
                        return -1;
                }
                off += (size_t) n;
        }
        if (lseek(fd, 0, SEEK_SET) < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        return fd;
}

static bool could_hold_devices(const char *xml, size_t len) {
        for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
                if (memmem(xml, len, markers[i], strlen(markers[i])))
                        return true;
        return false;
}

/* The full hook: beside this program's own file. */
static int full_hook_path(char *path, size_t size) {
        ssize_t n = readlink("/proc/self/exe", path, size - 1);
        char *slash;

        if (n <= 0 || (size_t) n >= size - 1)
                return -1;
        path[n] = '\0';
        slash = strrchr(path, '/');
        if (!slash || (size_t) (slash - path) + 1 + sizeof(HOOK_NAME) > size)
                return -1;
        strcpy(slash + 1, HOOK_NAME);
        return 0;
}

int main(int argc, char *argv[]) {
        char full[PATH_MAX], *xml = NULL;
        size_t len = 0;
        int fd;

        if (full_hook_path(full, sizeof(full)) < 0) {
                fprintf(stderr, "migbroker: cannot find %s beside %s: %m\n", HOOK_NAME, argv[0]);
                return 1;
        }
        /* --help, --version, anything else that is not libvirt's call
         * (GUEST OP SUBOP EXTRA), and a terminal on standard input (someone
         * trying it by hand): the full hook answers. */
        if (argc != 5 || argv[1][0] == '-' || isatty(STDIN_FILENO)) {
                argv[0] = full;
                execv(full, argv);
                fprintf(stderr, "migbroker: cannot run %s: %m\n", full);
                return 1;
        }
        xml = slurp_stdin(&len);
        if (!xml) {
                fprintf(stderr, "migbroker: out of memory reading the domain XML\n");
                return 1;
        }
        if (!could_hold_devices(xml, len)) {
                free(xml);
                return 0;
        }
        fd = memfd_of(xml, len);
        free(xml);
        if (fd < 0 || dup2(fd, STDIN_FILENO) < 0) {
                fprintf(stderr, "migbroker: cannot pass the domain XML on: %m\n");
                return 1;
        }
        argv[0] = full;
        execv(full, argv);
        fprintf(stderr, "migbroker: cannot run %s: %m\n", full);
        return 1;
}
