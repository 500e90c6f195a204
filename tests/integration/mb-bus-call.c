/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mb-bus-call: one raw D-Bus method call to migbrokerd, for the integration
 * tests: unlike busctl it passes file descriptors and prints the error's
 * full name; unlike gdbus it needs nothing but sd-bus. Not installed.
 *
 *   mb-bus-call ADDRESS PATH INTERFACE METHOD [ARG...]
 *
 * ARGs, appended in order:
 *   s:TEXT  o:PATH  u:N  t:N  b:true|false
 *   v:T:VALUE              a variant holding one of the above
 *   h<FILE  h>FILE         a file descriptor: FILE opened for reading, or
 *                          created/truncated for writing
 *   h:KIND[=PATH]          a file descriptor of another kind, for the hostile
 *                          input tests: dir=PATH (a directory), opath=PATH
 *                          (O_PATH), rdonly=PATH, wronly=PATH (no truncation),
 *                          socket (a connected stream socket, its peer kept
 *                          open), dgram (an unbound datagram socket),
 *                          pipe-eof (a pipe's read end, the write end closed),
 *                          pipe-idle (a pipe's read end, the write end kept
 *                          open and silent), pipe-broken (a pipe's write end,
 *                          the read end closed), eventfd, epoll, memfd
 *   a{sv}:K=T:V,...        a dictionary of variants, T one of s, t, u, b;
 *                          "a{sv}:" alone is the empty dictionary
 *
 * Prints "ok" then the reply's first argument when it is a basic type (or a
 * variant holding one: a property), or
 * the error name then its message, one per line. Exit status: 0 for a
 * method return, 1 for an error reply, 2 for a usage error or no bus.
 * MB_BUS_CALL_TIMEOUT_SEC bounds the call (default 60).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "macro.h"

static int usage(const char *what) {
        fprintf(stderr, "mb-bus-call: %s\nUsage: mb-bus-call ADDRESS PATH INTERFACE METHOD [ARG...]\n", what);
        return 2;
}

static int append_basic(sd_bus_message *m, char type, const char *v) {
        char *end;

        switch (type) {
        case 's':
        case 'o':
                return sd_bus_message_append_basic(m, type, v);
        case 'u': {
                unsigned long n = strtoul(v, &end, 0);
                uint32_t u = (uint32_t) n;
                if (*end || n > UINT32_MAX)
                        return -EINVAL;
                return sd_bus_message_append_basic(m, 'u', &u);
        }
        case 't': {
                uint64_t t = strtoull(v, &end, 0);
                if (*end)
                        return -EINVAL;
                return sd_bus_message_append_basic(m, 't', &t);
        }
        case 'b': {
                int b;
                if (strcmp(v, "true") == 0)
                        b = 1;
                else if (strcmp(v, "false") == 0)
                        b = 0;
                else
                        return -EINVAL;
                return sd_bus_message_append_basic(m, 'b', &b);
        }
        default:
                return -EINVAL;
        }
}

/* K=T:V,K=T:V... */
static int append_dict(sd_bus_message *m, const char *spec) {
        _cleanup_free_ char *copy = strdup(spec);
        char *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (char *item = strtok_r(copy, ",", &save); r >= 0 && item; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '=');
                char contents[2] = "";

                if (!eq || !eq[1] || eq[2] != ':') {
                        r = -EINVAL;
                        break;
                }
                *eq = '\0';
                contents[0] = eq[1];
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, 's', item);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', contents);
                if (r >= 0)
                        r = append_basic(m, eq[1], eq + 3);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The ends of pipes and sockets that must stay open while the call runs. */
static int kept[8];
static size_t n_kept;

static void keep(int fd) {
        if (n_kept < ELEMENTSOF(kept))
                kept[n_kept++] = fd;
}

/* h:KIND[=PATH]: returns a new fd, or -errno. */
static int open_kind(const char *spec) {
        const char *path = strchr(spec, '=');
        char kind[32];
        int p[2], fd;

        snprintf(kind, sizeof(kind), "%.*s", path ? (int) (path - spec) : (int) strlen(spec), spec);
        if (path)
                path++;
        if (path && strcmp(kind, "dir") == 0)
                fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else if (path && strcmp(kind, "opath") == 0)
                fd = open(path, O_PATH | O_CLOEXEC);
        else if (path && strcmp(kind, "rdonly") == 0)
                fd = open(path, O_RDONLY | O_CLOEXEC);
        else if (path && strcmp(kind, "wronly") == 0)
                fd = open(path, O_WRONLY | O_CLOEXEC);
        else if (strcmp(kind, "socket") == 0) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
                        return -errno;
                keep(p[1]);
                fd = p[0];
        } else if (strcmp(kind, "dgram") == 0)
                fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        else if (strncmp(kind, "pipe-", 5) == 0) {
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                if (strcmp(kind, "pipe-eof") == 0) {
                        close(p[1]);
                        fd = p[0];
                } else if (strcmp(kind, "pipe-idle") == 0) {
                        keep(p[1]);
                        fd = p[0];
                } else if (strcmp(kind, "pipe-broken") == 0) {
                        close(p[0]);
                        fd = p[1];
                } else {
                        close(p[0]);
                        close(p[1]);
                        return -EINVAL;
                }
        } else if (strcmp(kind, "eventfd") == 0)
                fd = eventfd(0, EFD_CLOEXEC);
        else if (strcmp(kind, "epoll") == 0)
                fd = epoll_create1(EPOLL_CLOEXEC);
        else if (strcmp(kind, "memfd") == 0)
                fd = memfd_create("mb-bus-call", MFD_CLOEXEC);
        else
                return -EINVAL;
        return fd < 0 ? -errno : fd;
}

static int append_arg(sd_bus_message *m, const char *arg) {
        if (strncmp(arg, "h:", 2) == 0) {
                _cleanup_close_ int fd = open_kind(arg + 2);

                if (fd < 0)
                        return fd;
                return sd_bus_message_append_basic(m, 'h', &fd); /* sd-bus keeps a copy */
        }
        if (strncmp(arg, "h<", 2) == 0 || strncmp(arg, "h>", 2) == 0) {
                _cleanup_close_ int fd = arg[1] == '<' ?
                        open(arg + 2, O_RDONLY | O_CLOEXEC) :
                        open(arg + 2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd < 0)
                        return -errno;
                return sd_bus_message_append_basic(m, 'h', &fd); /* sd-bus keeps a copy */
        }
        if (strncmp(arg, "a{sv}:", 6) == 0)
                return append_dict(m, arg + 6);
        if (strncmp(arg, "v:", 2) == 0 && arg[2] && arg[3] == ':') {
                char contents[2] = { arg[2], '\0' };
                int r = sd_bus_message_open_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = append_basic(m, arg[2], arg + 4);
                if (r < 0)
                        return r;
                return sd_bus_message_close_container(m);
        }
        if (strlen(arg) < 2 || arg[1] != ':')
                return -EINVAL;
        return append_basic(m, arg[0], arg + 2);
}

static void print_first(sd_bus_message *reply) {
        char type;
        const char *contents;
        union {
                const char *s;
                uint32_t u;
                uint64_t t;
                int b;
        } v;

        if (sd_bus_message_peek_type(reply, &type, &contents) <= 0)
                return;
        if (type == 'v') {
                if (strlen(contents) != 1 || sd_bus_message_enter_container(reply, 'v', contents) <= 0)
                        return;
                type = contents[0];
        }
        switch (type) {
        case 's':
        case 'o':
                if (sd_bus_message_read_basic(reply, type, &v.s) >= 0)
                        printf("%s\n", v.s);
                break;
        case 'u':
                if (sd_bus_message_read_basic(reply, type, &v.u) >= 0)
                        printf("%" PRIu32 "\n", v.u);
                break;
        case 't':
                if (sd_bus_message_read_basic(reply, type, &v.t) >= 0)
                        printf("%" PRIu64 "\n", v.t);
                break;
        case 'b':
                if (sd_bus_message_read_basic(reply, type, &v.b) >= 0)
                        printf("%s\n", v.b ? "true" : "false");
                break;
        default:
                break;
        }
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *timeout = getenv("MB_BUS_CALL_TIMEOUT_SEC");
        int r;

        if (argc < 5)
                return usage("missing arguments");
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, argv[1]);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                fprintf(stderr, "mb-bus-call: cannot connect to %s: %s\n", argv[1], strerror(-r));
                return 2;
        }
        r = sd_bus_message_new_method_call(bus, &m, "org.migbroker1", argv[2], argv[3], argv[4]);
        if (r < 0)
                return usage("cannot create the call (bad path, interface or method?)");
        for (int i = 5; i < argc; i++) {
                r = append_arg(m, argv[i]);
                if (r < 0) {
                        fprintf(stderr, "mb-bus-call: argument '%s': %s\n", argv[i], strerror(-r));
                        return 2;
                }
        }
        r = sd_bus_call(bus, m, (uint64_t) (timeout ? atof(timeout) : 60) * 1000000, &error, &reply);
        if (r < 0) {
                printf("%s\n%s\n", error.name ? error.name : "(no name)", error.message ? error.message : strerror(-r));
                return 1;
        }
        printf("ok\n");
        print_first(reply);
        return 0;
}
