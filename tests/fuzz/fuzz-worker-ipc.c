/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the worker's IPC surface: the org.migbroker1.Worker
 * object of worker/worker-server.c, served in process on one end of a
 * socketpair exactly as migbroker-worker serves it on fd 3 (server side,
 * fds negotiated), with the testing plugin's ops (plugins/testing, compiled
 * in) in place of a dlopen()ed plugin. The other end is an sd-bus client
 * that sends the method calls the input describes, then runs both ends until
 * the reply comes. Each input gets fresh connections and a fresh server
 * state; the plugin is cleaned up and every fd closed after it.
 *
 * Input: one header byte (bits 0-1: 0 the plugin failed to load, 1 with the
 * fuzzer's info (PCI IDs, probe), 2 with info but no probe, 3 without info),
 * then calls, each an op byte and its arguments:
 *   op % 16 = 0..10  Hello Probe Init Cleanup SetState GetState UpdatePending
 *                    Save Load LoadFinish CallOp, with the right signature
 *             11     one of those members with a random signature and values
 *             12     a random member name on the worker's interface
 *             13     org.freedesktop.DBus.{Introspectable,Properties,Peer} calls
 *             14     a known member on another object path
 *             15     a signal (Progress) sent to the worker
 * Integers are big-endian of their D-Bus size; a string is a length byte and
 * that many bytes (NUL becomes '?'; not UTF-8: the high bits are dropped);
 * an 'h' is a kind byte (fd_open() below: pipes with the peer closed or held,
 * /dev/null, memfds with data, a read-only file, a directory, sockets, an
 * eventfd, an O_PATH fd, the wrong end of a pipe) then, for kinds that carry
 * data, a source byte (0: literal, u16 length + bytes; 1: what earlier Saves
 * of this input wrote; 2: the same with one byte xor'ed, u16 offset + u8;
 * 3: the same truncated, u16 length). A closed fd cannot be sent: sd-bus
 * refuses to append one (-EBADF), so "closed" is a pipe whose peer is gone.
 *
 * Guards that keep the target a test of the worker and not of the plugin's
 * fault injection: init() refuses (returns NULL, as a failing plugin would)
 * arguments asking for segv/abort/exit/hang/leak faults, slow faults over
 * 5 ms, or more than 256 KiB of state. When an fd can stall (its peer is
 * held open and never serviced), the stall bound of Save/Load is cut to at
 * most 3 ms; otherwise it is the input's (also "never", 0xffffffff).
 *
 * Fails (abort) when: a reply does not come within 10 s of poll() silence,
 * the server's connection fails, fds leak across an input, or the
 * sanitizers or LeakSanitizer find anything.
 *
 * Seeds: tests/fuzz/corpus/worker-ipc/, written by tests/fuzz/worker-ipc-seeds.py.
 * MB_FUZZ_VERBOSE=1 prints each call and its reply (and the worker's debug
 * log), to see what an input does:
 *   MB_FUZZ_VERBOSE=1 tests/fuzz/fuzz-worker-ipc INPUT
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#define FUZZ_NAME "fuzz-worker-ipc"
#include "fuzz-input.h"

#include "error.h"
#include "log.h"
#include "migbroker/plugin.h"
#include "testing-args.h"
#include "worker-proto.h"
#include "worker-server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* plugins/testing/testing-plugin.c, compiled in. */
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void);

#define MAX_CALLS 24
#define MAX_SAVED (2u * 1024 * 1024)
#define STATE_SIZE_MAX (256u * 1024)
#define STALL_MS_MAX 3
#define POLL_SILENCE_MS 10000

/* ---- the plugin: testing.so's ops behind a guarded init() ------------------- */

static void *fuzz_init(char *devid, char *arg) {
        static const TestingFaultKind refused[] = { TESTING_FAULT_SEGV, TESTING_FAULT_ABORT, TESTING_FAULT_EXIT,
                                                    TESTING_FAULT_HANG, TESTING_FAULT_LEAK };
        TestingConfig cfg;
        char err[256];

        if (testing_args_parse(arg, &cfg, err, sizeof(err)) < 0)
                return NULL;
        if (cfg.state_size > STATE_SIZE_MAX || cfg.trace)
                return NULL;
        for (int op = 0; op < _TESTING_OP_MAX; op++) {
                for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
                        if (cfg.faults[op].kind == refused[i])
                                return NULL;
                if (cfg.faults[op].kind == TESTING_FAULT_SLOW && cfg.faults[op].param > 5)
                        return NULL;
        }
        /* init's own fault counter is per process in the plugin: keep inputs reproducible. */
        if (cfg.faults[TESTING_OP_INIT].kind != TESTING_FAULT_NONE)
                return NULL;
        return vfio_lm_get_plugin_ops()->init(devid, arg);
}

static int fuzz_probe(const char *bdf, uint16_t vendor, uint16_t device) {
        if (!bdf || strlen(bdf) != 12)
                return -EINVAL;
        return vendor == 0x1af4 && device != 0xffff;
}

static const MigbrokerPciId fuzz_pci_ids[] = { { 0x1af4, 0x1041 }, { 0x8086, MIGBROKER_PCI_ANY_ID } };

static const MigbrokerPluginInfo fuzz_info = {
        .struct_size = sizeof(MigbrokerPluginInfo),
        .capabilities = MIGBROKER_PLUGIN_CAP_PRECOPY,
        .name = "testing",
        .version = "1.0",
        .pci_ids = fuzz_pci_ids,
        .n_pci_ids = 2,
        .probe = fuzz_probe,
};

static const MigbrokerPluginInfo fuzz_info_noprobe = {
        .struct_size = sizeof(MigbrokerPluginInfo),
        .capabilities = 0,
        .name = "testing",
        .version = "1.0",
};

static VFIOMigrationPluginOps fuzz_ops;

static void server_setup(MbWorkerServer *w, unsigned variant) {
        *w = (MbWorkerServer) { .bdf = "0000:3b:00.1" };
        if (variant == 0) {
                snprintf(w->load_error, sizeof(w->load_error), "plugin /fuzz/testing.so: missing symbol %s",
                         MIGBROKER_SYM_GET_VERSION);
                return;
        }
        w->loaded = true;
        w->plugin.ops = &fuzz_ops;
        w->plugin.capabilities = MIGBROKER_PLUGIN_CAP_PRECOPY;
        snprintf(w->plugin.name, sizeof(w->plugin.name), "testing");
        if (variant == 1 || variant == 2) {
                w->plugin.info = variant == 1 ? &fuzz_info : &fuzz_info_noprobe;
                w->plugin.info_size = w->plugin.info->struct_size;
                w->plugin.capabilities = w->plugin.info->capabilities;
                snprintf(w->plugin.version, sizeof(w->plugin.version), "%s", w->plugin.info->version);
        }
}

/* ---- fds handed to the worker ----------------------------------------------- */

typedef struct Saved {
        uint8_t *buf;      /* what the Saves of this input wrote (memfds, held pipes) */
        size_t len;
} Saved;

typedef struct Fds {
        int fd[4 * MAX_CALLS];  /* everything opened for this input, closed at its end */
        size_t n;
        int collect;            /* after the call: read what the worker wrote here into Saved */
} Fds;

static int fds_keep(Fds *f, int fd) {
        CHECK(fd >= 0);
        CHECK(f->n < sizeof(f->fd) / sizeof(f->fd[0]));
        f->fd[f->n++] = fd;
        return fd;
}

static void fds_close_all(Fds *f) {
        for (size_t i = 0; i < f->n; i++)
                (void) close(f->fd[i]);
        f->n = 0;
        f->collect = -1;
}

/* The bytes an fd that carries data delivers. */
static void take_data(Input *in, const Saved *saved, uint8_t *buf, size_t size, size_t *ret_len) {
        uint8_t src = take_u8(in) % 4;
        size_t len;

        if (src == 0) {
                len = take_uint(in, 2);
                len = len < in->n ? len : in->n;
                len = len < size ? len : size;
                memcpy(buf, in->p, len);
                in->p += len;
                in->n -= len;
        } else {
                len = saved->len < size ? saved->len : size;
                memcpy(buf, saved->buf, len);
                if (src == 2 && len > 0) {
                        size_t off = take_uint(in, 2) % len;
                        buf[off] ^= take_u8(in) | 1;
                } else if (src == 3) {
                        size_t cut = take_uint(in, 2);
                        len = cut < len ? cut : len;
                }
        }
        *ret_len = len;
}

/* Writes buf, or what fits in a non-blocking pipe or socket. */
static void write_all(int fd, const uint8_t *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0 && errno == EAGAIN)
                        return;
                CHECK(n > 0);
                buf += n;
                len -= (size_t) n;
        }
}

static int memfd_with(const uint8_t *buf, size_t len) {
        int fd = memfd_create("fuzz-worker-ipc", MFD_CLOEXEC);

        CHECK(fd >= 0);
        write_all(fd, buf, len);
        CHECK(lseek(fd, 0, SEEK_SET) == 0);
        return fd;
}

/* Opens the fd of kind byte k for a Save (writing) or Load (reading) and
 * says whether it can stall. Returns the fd to send (kept in f). */
static int fd_open(Input *in, Fds *f, const Saved *saved, bool writing, bool *stalls) {
        static uint8_t data[MAX_SAVED];
        uint8_t k = take_u8(in) % 12;
        size_t len = 0;
        int p[2], fd;

        *stalls = false;
        switch (k) {
        case 0: /* a pipe whose peer is closed: EPIPE for a writer, EOF after the data for a reader */
                CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
                if (writing) {
                        (void) close(p[0]);
                        return fds_keep(f, p[1]);
                }
                take_data(in, saved, data, sizeof(data), &len);
                write_all(p[1], data, len);
                (void) close(p[1]);
                return fds_keep(f, p[0]);
        case 1: /* a pipe whose peer stays open and is never serviced */
                CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
                fds_keep(f, p[0]);
                fds_keep(f, p[1]);
                *stalls = true;
                if (writing) {
                        f->collect = p[0];
                        return p[1];
                }
                take_data(in, saved, data, sizeof(data), &len);
                write_all(p[1], data, len);
                return p[0];
        case 2:
                return fds_keep(f, open("/dev/null", O_RDWR | O_CLOEXEC));
        case 3: /* a regular file (memfd): empty to save into, the data to load from */
                if (writing) {
                        fd = fds_keep(f, memfd_with(NULL, 0));
                        f->collect = fd;
                        return fd;
                }
                take_data(in, saved, data, sizeof(data), &len);
                return fds_keep(f, memfd_with(data, len));
        case 4: { /* a regular file open read-only */
                char path[64];
                int m;

                take_data(in, saved, data, sizeof(data), &len);
                m = memfd_with(data, len);
                snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                (void) close(m);
                return fds_keep(f, fd);
        }
        case 5:
                return fds_keep(f, open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        case 6: /* a socket, peer closed */
        case 7: /* a socket, peer held open */
                CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p) == 0);
                if (!writing) {
                        take_data(in, saved, data, sizeof(data), &len);
                        write_all(p[1], data, len);
                }
                if (k == 6) {
                        (void) close(p[1]);
                } else {
                        fds_keep(f, p[1]);
                        *stalls = true;
                        if (writing)
                                f->collect = p[1];
                }
                return fds_keep(f, p[0]);
        case 8: /* an eventfd: reads of a zero counter would wait */
                *stalls = true;
                return fds_keep(f, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        case 9: /* O_PATH: fstat() works, I/O does not */
                return fds_keep(f, open("/dev/null", O_PATH | O_CLOEXEC));
        case 10: /* the wrong end of a pipe (its peer held) */
                CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
                fds_keep(f, p[0]);
                fds_keep(f, p[1]);
                *stalls = true;
                return writing ? p[0] : p[1];
        default: /* a blocking pipe whose peer is closed (a blocking fd must never be waited on) */
                CHECK(pipe2(p, O_CLOEXEC) == 0);
                if (writing) {
                        (void) close(p[0]);
                        return fds_keep(f, p[1]);
                }
                take_data(in, saved, data, sizeof(data), &len);
                /* Our end does not block: what does not fit in the pipe is dropped. */
                CHECK(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
                write_all(p[1], data, len);
                (void) close(p[1]);
                return fds_keep(f, p[0]);
        }
}

/* After a Save: keep what the worker wrote, for later Loads of this input. */
static void collect(Fds *f, Saved *saved) {
        struct stat st;
        int fd = f->collect;

        f->collect = -1;
        if (fd < 0)
                return;
        CHECK(fstat(fd, &st) == 0);
        if (S_ISREG(st.st_mode))
                CHECK(lseek(fd, 0, SEEK_SET) == 0);
        for (;;) {
                ssize_t n;

                if (saved->len == MAX_SAVED)
                        break;
                n = read(fd, saved->buf + saved->len, MAX_SAVED - saved->len);
                if (n <= 0)
                        break;
                saved->len += (size_t) n;
        }
        if (S_ISREG(st.st_mode))
                CHECK(ftruncate(fd, 0) == 0);
}

/* ---- building messages ---------------------------------------------------------- */

typedef struct Method {
        const char *member;
        const char *signature;
} Method;

static const Method methods[] = {
        { "Hello", "" },        { "Probe", "sqq" },         { "Init", "ss" },       { "Cleanup", "" },
        { "SetState", "u" },    { "GetState", "" },         { "UpdatePending", "" }, { "Save", "hstuu" },
        { "Load", "hsuu" },     { "LoadFinish", "" },       { "CallOp", "stb" },
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static int append_known_args(sd_bus_message *m, size_t method, Input *in, Fds *f, const Saved *saved) {
        static const char *const formats[] = { "framed", "raw" };
        static const char *const ops[] = { "save", "set_state" };
        static const char *const bdfs[] = { "0000:3b:00.1", "" };
        char s[256], t[256];
        bool stalls;
        uint64_t max_bytes;
        uint32_t flags, stall;
        int fd;

        switch (method) {
        case 1: /* Probe */
                take_word(in, bdfs, 2, s, sizeof(s));
                return sd_bus_message_append(m, "sqq", s, (uint16_t) take_uint(in, 2), (uint16_t) take_uint(in, 2));
        case 2: /* Init */
                take_word(in, bdfs, 2, s, sizeof(s));
                take_str(in, t, sizeof(t));
                return sd_bus_message_append(m, "ss", s, t);
        case 4: /* SetState */
                return sd_bus_message_append(m, "u", (uint32_t) take_uint(in, 4));
        case 7: /* Save */
                fd = fd_open(in, f, saved, true, &stalls);
                take_word(in, formats, 2, s, sizeof(s));
                max_bytes = take_uint(in, 8);
                flags = (uint32_t) take_uint(in, 4);
                stall = (uint32_t) take_uint(in, 4);
                if (stalls && (int) stall < 0)
                        stall = STALL_MS_MAX;
                if (stalls)
                        stall %= STALL_MS_MAX + 1;
                return sd_bus_message_append(m, "hstuu", fd, s, max_bytes, flags, stall);
        case 8: /* Load */
                fd = fd_open(in, f, saved, false, &stalls);
                take_word(in, formats, 2, s, sizeof(s));
                flags = (uint32_t) take_uint(in, 4);
                stall = (uint32_t) take_uint(in, 4);
                if (stalls && (int) stall < 0)
                        stall = STALL_MS_MAX;
                if (stalls)
                        stall %= STALL_MS_MAX + 1;
                return sd_bus_message_append(m, "hsuu", fd, s, flags, stall);
        case 10: /* CallOp */
                take_word(in, ops, 2, s, sizeof(s));
                return sd_bus_message_append(m, "stb", s, take_uint(in, 8), (int) (take_u8(in) & 1));
        default:
                return 0;
        }
}

/* An 'h' of append_random(): any kind, for reading or writing. */
typedef struct FdCtx {
        Fds *f;
        const Saved *saved;
} FdCtx;

static int random_fd(Input *in, void *userdata) {
        FdCtx *c = userdata;
        bool stalls;

        return fd_open(in, c->f, c->saved, take_u8(in) & 1, &stalls);
}

/* ---- running both ends -------------------------------------------------------------- */

typedef struct Conn {
        sd_bus *server, *client;
        bool replied;
} Conn;

static bool verbose; /* MB_FUZZ_VERBOSE=1: one line per call and its reply on stderr */

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        Conn *c = userdata;

        c->replied = true;
        if (verbose)
                fprintf(stderr, "fuzz-worker-ipc:   -> %s%s%s\n", e ? e->name : "ok", e ? ": " : "",
                        e && e->message ? e->message : "");
        return 0;
}

/* One round of both ends: true when either did something. */
static bool process(Conn *c) {
        int r1, r2;

        r1 = sd_bus_process(c->server, NULL);
        /* The worker serves until the broker closes: its side never fails on what it is sent. */
        if (r1 < 0) {
                fprintf(stderr, "fuzz-worker-ipc: the server's connection failed: %s\n", strerror(-r1));
                abort();
        }
        r2 = sd_bus_process(c->client, NULL);
        CHECK_R(r2);
        return r1 > 0 || r2 > 0;
}

/* Waits for I/O on either end; silence for POLL_SILENCE_MS is a hang. */
static void wait_io(Conn *c) {
        struct pollfd pfd[2] = {
                { .fd = sd_bus_get_fd(c->server), .events = (short) sd_bus_get_events(c->server) },
                { .fd = sd_bus_get_fd(c->client), .events = (short) sd_bus_get_events(c->client) },
        };
        int r = poll(pfd, 2, POLL_SILENCE_MS);

        if (r == 0) {
                fprintf(stderr, "fuzz-worker-ipc: no reply and no I/O for %d ms\n", POLL_SILENCE_MS);
                abort();
        }
        CHECK(r > 0 || errno == EINTR);
}

static void run_once(Conn *c) {
        if (!process(c))
                wait_io(c);
}

/* Dispatches both ends until nothing is left to do (and, with want_reply, the reply came). */
static void run(Conn *c, bool want_reply) {
        for (;;) {
                if (process(c))
                        continue;
                if (!want_reply || c->replied)
                        return;
                wait_io(c);
        }
}

static void conn_open(Conn *c, MbWorkerServer *w) {
        sd_id128_t id;
        int sv[2];

        *c = (Conn) {};
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
        CHECK(sd_id128_randomize(&id) >= 0);
        CHECK(sd_bus_new(&c->server) >= 0);
        CHECK(sd_bus_set_fd(c->server, sv[0], sv[0]) >= 0);
        CHECK(sd_bus_set_server(c->server, 1, id) >= 0);
        CHECK(sd_bus_negotiate_fds(c->server, 1) >= 0);
        CHECK(mb_worker_server_attach(w, c->server) >= 0);
        CHECK(sd_bus_start(c->server) >= 0);
        CHECK(sd_bus_new(&c->client) >= 0);
        CHECK(sd_bus_set_fd(c->client, sv[1], sv[1]) >= 0);
        CHECK(sd_bus_negotiate_fds(c->client, 1) >= 0);
        CHECK(sd_bus_start(c->client) >= 0);
        /* The handshake first: sd-bus would wait for it (blocking) before sending an fd. */
        while (sd_bus_is_ready(c->client) <= 0 || sd_bus_is_ready(c->server) <= 0)
                run_once(c);
}

static void conn_close(Conn *c) {
        c->client = sd_bus_flush_close_unref(c->client);
        c->server = sd_bus_flush_close_unref(c->server);
}

/* Sends m and runs both ends until its reply (or, without one expected, until idle). */
static void call(Conn *c, sd_bus_message *m) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        bool want = sd_bus_message_get_expect_reply(m) > 0;

        c->replied = false;
        if (verbose)
                fprintf(stderr, "fuzz-worker-ipc: %s %s.%s(%s)%s\n", sd_bus_message_get_path(m),
                        sd_bus_message_get_interface(m) ?: "", sd_bus_message_get_member(m),
                        sd_bus_message_get_signature(m, true) ?: "", want ? "" : ", no reply expected");
        if (want)
                CHECK_R(sd_bus_call_async(c->client, &slot, m, on_reply, c, UINT64_MAX));
        else
                CHECK_R(sd_bus_send(c->client, m, NULL));
        run(c, want);
}

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        unsigned n = 0;

        CHECK(d);
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* One call described by the input; false when it could not be built. */
static bool one_call(Conn *c, Input *in, Fds *f, Saved *saved) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        static const char *const std_calls[][3] = {
                { "org.freedesktop.DBus.Introspectable", "Introspect", "" },
                { "org.freedesktop.DBus.Properties", "GetAll", "s" },
                { "org.freedesktop.DBus.Properties", "Get", "ss" },
                { "org.freedesktop.DBus.Peer", "Ping", "" },
                { "org.freedesktop.DBus.Peer", "GetMachineId", "" },
        };
        FdCtx fc = { f, saved };
        uint8_t op = take_u8(in) % 16;
        char s[256];
        size_t k;
        int r = 0;

        f->collect = -1;
        if (op < N_METHODS) {
                CHECK(sd_bus_message_new_method_call(c->client, &m, NULL, MB_WORKER_PATH, MB_WORKER_INTERFACE,
                                                     methods[op].member) >= 0);
                r = append_known_args(m, op, in, f, saved);
        } else if (op == 11) {
                unsigned n = take_u8(in) % 6;
                CHECK(sd_bus_message_new_method_call(c->client, &m, NULL, MB_WORKER_PATH, MB_WORKER_INTERFACE,
                                                     methods[take_u8(in) % N_METHODS].member) >= 0);
                for (unsigned i = 0; i < n && r >= 0; i++)
                        r = append_random(m, in, random_fd, &fc, 0);
        } else if (op == 12) {
                take_str(in, s, sizeof(s));
                if (!sd_bus_member_name_is_valid(s))
                        snprintf(s, sizeof(s), "NoSuchMethod");
                CHECK(sd_bus_message_new_method_call(c->client, &m, NULL, MB_WORKER_PATH, MB_WORKER_INTERFACE, s) >= 0);
                if (take_u8(in) & 1)
                        r = append_random(m, in, random_fd, &fc, 0);
        } else if (op == 13) {
                k = take_u8(in) % (sizeof(std_calls) / sizeof(std_calls[0]));
                CHECK(sd_bus_message_new_method_call(c->client, &m, NULL, MB_WORKER_PATH, std_calls[k][0],
                                                     std_calls[k][1]) >= 0);
                for (const char *t = std_calls[k][2]; *t && r >= 0; t++) {
                        static const char *const names[] = { MB_WORKER_INTERFACE, "Progress", "" };
                        take_word(in, names, 3, s, sizeof(s));
                        r = sd_bus_message_append(m, "s", s);
                }
        } else if (op == 14) {
                take_str(in, s, sizeof(s));
                CHECK(sd_bus_message_new_method_call(c->client, &m, NULL, sd_bus_object_path_is_valid(s) ? s : "/",
                                                     MB_WORKER_INTERFACE, methods[take_u8(in) % N_METHODS].member) >= 0);
                r = append_known_args(m, take_u8(in) % N_METHODS, in, f, saved);
        } else {
                CHECK(sd_bus_message_new_signal(c->client, &m, MB_WORKER_PATH, MB_WORKER_INTERFACE, "Progress") >= 0);
                r = sd_bus_message_append(m, "t", take_uint(in, 8));
        }
        if (r < 0)
                return false;
        if (op < 15 && (take_u8(in) & 0x7f) == 0x7f)
                CHECK(sd_bus_message_set_expect_reply(m, 0) >= 0);
        call(c, m);
        collect(f, saved);
        return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_ops = *vfio_lm_get_plugin_ops();
        fuzz_ops.init = fuzz_init;
        verbose = getenv("MB_FUZZ_VERBOSE") != NULL;
        mb_log_set_level(verbose ? LOG_DEBUG : LOG_EMERG);
        CHECK(mb_error_register() >= 0);
        (void) signal(SIGPIPE, SIG_IGN);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Saved saved;
        Input in = { data, size };
        MbWorkerServer w;
        Fds f = { .collect = -1 };
        Conn c;
        unsigned fds_before = count_fds();

        if (!saved.buf)
                CHECK(saved.buf = malloc(MAX_SAVED));
        saved.len = 0;

        server_setup(&w, take_u8(&in) & 3);
        conn_open(&c, &w);
        for (unsigned i = 0; i < MAX_CALLS && in.n > 0; i++) {
                (void) one_call(&c, &in, &f, &saved);
                fds_close_all(&f);
        }
        /* The connection still serves: a last call must be answered. */
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                CHECK(sd_bus_message_new_method_call(c.client, &m, NULL, MB_WORKER_PATH, MB_WORKER_INTERFACE,
                                                     "GetState") >= 0);
                call(&c, m);
                CHECK(c.replied);
        }
        conn_close(&c);
        mb_worker_server_release(&w);
        CHECK(count_fds() == fds_before);
        return 0;
}
