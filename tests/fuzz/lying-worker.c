/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lying-worker: the worker the dbus-surface fuzz target gives the broker
 * (--worker). For a plugin whose directory holds a file "script" it is a
 * worker gone bad: vendor code runs in the worker, so the broker must survive
 * whatever comes back over the worker protocol. For any other plugin it
 * execs the real migbroker-worker beside it, with the same arguments.
 *
 * Lying, it serves the worker's object on fd 3 as migbroker-worker does but
 * answers each call as the next script byte says (the script wraps around;
 * an empty one answers every call correctly with zeros):
 *   0-2  the right signature, values from the script (Save/Load also write or
 *        read a little of their fd and emit Progress)
 *   3    a random signature and values (fuzz-input.h)
 *   4    an error: a name the broker knows, a D-Bus one, or a made-up one
 *   5    no answer (the broker's op timeout ends it)
 *   6    exit (status from the script), or abort()
 *   7    close the connection, then exit
 * Not installed; built with the sanitizers by 'make fuzz' (tests/fuzz/san/).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#define FUZZ_NAME "lying-worker"
#include "fuzz-input.h"

#include "macro.h"
#include "worker-proto.h"

#define SCRIPT_MAX 4096

static uint8_t script[SCRIPT_MAX];
static size_t script_len, script_pos;

static uint8_t next_byte(void) {
        uint8_t b;

        if (script_len == 0)
                return 0;
        b = script[script_pos];
        script_pos = (script_pos + 1) % script_len;
        return b;
}

/* Values: an Input over the next n script bytes (a copy, as the script wraps);
 * script_used() then moves past the bytes taken. */
static Input script_input(uint8_t *buf, size_t n) {
        for (size_t i = 0; i < n; i++)
                buf[i] = script_len ? script[(script_pos + i) % script_len] : 0;
        return (Input) { buf, n };
}

static void script_used(const Input *in, size_t n) {
        if (script_len)
                script_pos = (script_pos + (n - in->n)) % script_len;
}

static int no_fd(Input *in, void *userdata) {
        return -EBADF;
}

static int reply_right(sd_bus_message *m, Input *in) {
        const char *member = sd_bus_message_get_member(m);
        char s[256];

        if (strcmp(member, "Hello") == 0) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                unsigned n = take_u8(in) % 4;
                int r;

                r = sd_bus_message_new_method_return(m, &reply);
                if (r < 0)
                        return r;
                take_str(in, s, sizeof(s));
                r = sd_bus_message_append(reply, "ssu", take_u8(in) & 1 ? s : "testing", "6.6.6",
                                          (uint32_t) take_uint(in, 4));
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "(qq)");
                for (unsigned i = 0; r >= 0 && i < n; i++)
                        r = sd_bus_message_append(reply, "(qq)", (uint16_t) take_uint(in, 2), (uint16_t) take_uint(in, 2));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "bs", (int) (take_u8(in) & 1), "testing");
                if (r < 0)
                        return r;
                return sd_bus_send(NULL, reply, NULL);
        }
        if (strcmp(member, "Probe") == 0)
                return sd_bus_reply_method_return(m, "b", (int) (take_u8(in) & 1));
        if (strcmp(member, "GetState") == 0 || strcmp(member, "SetState") == 0) {
                static const uint32_t states[] = { 0, 1, 2, 3, 4, 6, 7, 0xdeadbeef };
                if (strcmp(member, "SetState") == 0)
                        return sd_bus_reply_method_return(m, NULL);
                return sd_bus_reply_method_return(m, "u", states[take_u8(in) % 8]);
        }
        if (strcmp(member, "UpdatePending") == 0)
                return sd_bus_reply_method_return(m, "t", take_uint(in, 8));
        if (strcmp(member, "Save") == 0 || strcmp(member, "Load") == 0) {
                bool save = member[0] == 'S';
                int fd = -1;

                /* A little of what a worker does with the fd: bytes, Progress. */
                if (sd_bus_message_read(m, "h", &fd) >= 0 && fd >= 0) {
                        uint8_t buf[512];
                        size_t n = take_u8(in) * 2u;
                        int fl = fcntl(fd, F_GETFL);
                        if (fl >= 0)
                                (void) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
                        memset(buf, take_u8(in), sizeof(buf));
                        if (save)
                                (void) !write(fd, buf, n);
                        else
                                (void) !read(fd, buf, n);
                        (void) sd_bus_emit_signal(sd_bus_message_get_bus(m), MB_WORKER_PATH, MB_WORKER_INTERFACE,
                                                  "Progress", "t", take_uint(in, 8));
                }
                if (save)
                        return sd_bus_reply_method_return(m, "tttb", take_uint(in, 8), take_uint(in, 8),
                                                          take_uint(in, 8), (int) (take_u8(in) & 1));
                return sd_bus_reply_method_return(m, "ttb", take_uint(in, 8), take_uint(in, 8),
                                                  (int) (take_u8(in) & 1));
        }
        if (strcmp(member, "LoadFinish") == 0)
                return sd_bus_reply_method_return(m, "tt", take_uint(in, 8), take_uint(in, 8));
        return sd_bus_reply_method_return(m, NULL); /* Init, Cleanup, CallOp, anything else */
}

static int reply_random(sd_bus_message *m, Input *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        unsigned n = take_u8(in) % 5;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < n; i++)
                if (append_random(reply, in, no_fd, NULL, 0) < 0)
                        break;
        return sd_bus_send(NULL, reply, NULL);
}

static int reply_error(sd_bus_message *m, Input *in) {
        static const char *const names[] = {
                "org.migbroker1.Error.PluginFailed", "org.migbroker1.Error.StreamCorrupt",
                "org.migbroker1.Error.NotOpen",      "org.migbroker1.Error.Timeout",
                "org.migbroker1.Error.Busy",         "org.migbroker1.Error.PluginCrashed",
                SD_BUS_ERROR_INVALID_ARGS,           SD_BUS_ERROR_NO_REPLY,
                "org.example.Made.Up",
        };
        char msg[256];

        take_str(in, msg, sizeof(msg));
        return sd_bus_reply_method_errorf(m, names[take_u8(in) % (sizeof(names) / sizeof(names[0]))], "%s", msg);
}

static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        uint8_t window[64];
        Input in;
        uint8_t action;

        if (!sd_bus_message_is_method_call(m, NULL, NULL))
                return 0;
        action = next_byte() % 8;
        in = script_input(window, sizeof(window));
        switch (action) {
        case 0:
        case 1:
        case 2:
                (void) reply_right(m, &in);
                break;
        case 3:
                (void) reply_random(m, &in);
                break;
        case 4:
                (void) reply_error(m, &in);
                break;
        case 5:
                break; /* no answer */
        case 6:
                if (take_u8(&in) & 1)
                        abort();
                _exit(take_u8(&in));
        default:
                (void) sd_bus_flush(sd_bus_message_get_bus(m));
                _exit(0);
        }
        script_used(&in, sizeof(window));
        return 1;
}

static const char *arg_value(int argc, char *argv[], const char *name) {
        for (int i = 1; i + 1 < argc; i++)
                if (strcmp(argv[i], name) == 0)
                        return argv[i + 1];
        return NULL;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *plugin = arg_value(argc, argv, "--plugin-path");
        char path[PATH_MAX], self[PATH_MAX];
        sd_id128_t id;
        ssize_t n;
        int fd;

        /* Not a lying plugin: the real worker. */
        snprintf(path, sizeof(path), "%s", plugin ?: "");
        if (strrchr(path, '/'))
                strcpy(strrchr(path, '/') + 1, "script");
        fd = plugin ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd < 0) {
                n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n <= 0)
                        return 127;
                self[n] = '\0';
                snprintf(strrchr(self, '/') + 1, sizeof(self) - (size_t) (strrchr(self, '/') + 1 - self),
                         "migbroker-worker");
                argv[0] = self;
                execv(self, argv);
                fprintf(stderr, "lying-worker: cannot execute %s: %m\n", self);
                return 127;
        }
        n = read(fd, script, sizeof(script));
        script_len = n > 0 ? (size_t) n : 0;
        (void) close(fd);

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void) signal(SIGPIPE, SIG_IGN);
        if (sd_bus_new(&bus) < 0 || sd_bus_set_fd(bus, MB_WORKER_SOCKET_FD, MB_WORKER_SOCKET_FD) < 0 ||
            sd_id128_randomize(&id) < 0 || sd_bus_set_server(bus, 1, id) < 0 || sd_bus_negotiate_fds(bus, 1) < 0 ||
            sd_bus_add_filter(bus, NULL, on_message, NULL) < 0 || sd_bus_start(bus) < 0)
                return 1;
        for (;;) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return 0; /* the broker went away */
                if (r > 0)
                        continue;
                if (sd_bus_wait(bus, UINT64_MAX) < 0)
                        return 0;
        }
}
