/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-stream.c: migbrokerctl save / load. save takes a device through
 * pre-copy rounds and stop-copy into a file or stdout; load feeds a stream
 * into a device and starts it. The bytes go straight between the broker's
 * worker and the file or pipe: migbrokerctl never touches them. The progress
 * bar (stderr on a terminal) watches a regular file grow, or its offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "ctl-bus.h"
#include "ctl-stream.h"
#include "fd-util.h"
#include "macro.h"

#define DEFAULT_ROUNDS 8
#define CONVERGED_BYTES (1u << 20)

typedef struct Transfer {
        bool zero_copy;     /* SaveTo option zero-copy */
        sd_event *event;
        sd_bus *bus;
        const CtlOptions *o;
        const char *bdf;
        const char *path;
        bool saving;
        bool progress;

        int user_fd;           /* the file or stdin/stdout, handed to the broker as it is */
        uint64_t base;         /* size of the output file before we started */
        uint64_t expect;       /* bytes the broker reported for completed calls */

        /* call in flight */
        bool call_done;
        int call_r;
        sd_bus_error call_error;
        uint64_t call_result;

        /* progress */
        const char *phase;
        uint64_t phase_start_bytes;
        uint64_t phase_expect;
        double start;
        double last_draw;
} Transfer;

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void human_bytes(uint64_t b, char *buf, size_t size) {
        if (b >= (1ull << 30))
                snprintf(buf, size, "%.2f GiB", (double) b / (1 << 30));
        else if (b >= (1ull << 20))
                snprintf(buf, size, "%.1f MiB", (double) b / (1 << 20));
        else if (b >= 1024)
                snprintf(buf, size, "%.1f KiB", (double) b / 1024);
        else
                snprintf(buf, size, "%" PRIu64 " B", b);
}

static uint64_t observed_bytes(Transfer *t);

static void draw(Transfer *t, bool force) {
        double now = now_s(), el = now - t->start, rate;
        uint64_t seen, done;
        char b1[32], b2[32], eta[32] = "";

        if (!t->progress || (!force && now - t->last_draw < 0.1))
                return;
        t->last_draw = now;
        seen = MB_MAX(observed_bytes(t), t->expect);
        done = seen > t->phase_start_bytes ? seen - t->phase_start_bytes : 0;
        rate = el > 0 ? (double) seen / el : 0;
        human_bytes(seen, b1, sizeof(b1));
        human_bytes((uint64_t) rate, b2, sizeof(b2));
        if (t->phase_expect > done && rate > 0)
                snprintf(eta, sizeof(eta), "  ETA %.1f s", (double) (t->phase_expect - done) / rate);
        fprintf(stderr, "\r\033[K%s %-16s %10s  %10s/s%s", t->bdf, t->phase, b1, b2, eta);
        fflush(stderr);
}

/* Bytes moved so far: a regular file shows it (its size, or the shared
 * offset the worker reads at); for pipes only completed calls count. */
static uint64_t observed_bytes(Transfer *t) {
        struct stat st;
        off_t pos;

        if (t->user_fd < 0 || fstat(t->user_fd, &st) < 0 || !S_ISREG(st.st_mode))
                return t->expect;
        if (t->saving)
                return (uint64_t) st.st_size > t->base ? (uint64_t) st.st_size - t->base : 0;
        pos = lseek(t->user_fd, 0, SEEK_CUR);
        return pos > 0 ? (uint64_t) pos : 0;
}

/* ---- async calls -------------------------------------------------------- */

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Transfer *t = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        t->call_done = true;
        if (e) {
                t->call_r = -sd_bus_error_get_errno(e);
                if (t->call_r == 0)
                        t->call_r = -EIO;
                (void) sd_bus_error_copy(&t->call_error, e);
                return 0;
        }
        t->call_r = 0;
        if (sd_bus_message_read(m, "t", &t->call_result) < 0)
                t->call_result = 0;
        return 0;
}

/* Runs a SaveTo/LoadFrom call, drawing progress until the reply comes. */
static int stream_call(Transfer *t, const char *member, int fd, const char *format, uint64_t max_bytes) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(t->bus, &m, CTL_BUS_NAME, t->path, CTL_DEVICE_IFACE, member);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "h", fd);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "{sv}", "format", "s", format);
        if (r < 0)
                return r;
        if (max_bytes) {
                r = sd_bus_message_append(m, "{sv}", "max-bytes", "t", max_bytes);
                if (r < 0)
                        return r;
        }
        if (strcmp(member, "SaveTo") == 0 && !t->zero_copy) {
                /* Zero-copy is the broker's default. */
                r = sd_bus_message_append(m, "{sv}", "zero-copy", "b", 0);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;

        sd_bus_error_free(&t->call_error);
        t->call_done = false;
        /* No bound: the broker bounds every stall itself; a lost broker disconnects us. */
        r = sd_bus_call_async(t->bus, NULL, m, on_reply, t, UINT64_MAX);
        if (r < 0)
                return r;
        while (!t->call_done) {
                r = sd_event_run(t->event, 100 * 1000);
                if (r < 0)
                        return r;
                draw(t, false);
        }
        if (t->call_r == 0)
                t->expect += t->call_result;
        return t->call_r;
}

static int call_simple(Transfer *t, const char *member, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(t->bus, &m, CTL_BUS_NAME, t->path, CTL_DEVICE_IFACE, member);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        sd_bus_error_free(&t->call_error);
        r = sd_bus_call(t->bus, m, t->o->timeout_usec, &t->call_error, &reply);
        if (r < 0)
                return r;
        t->call_result = 0;
        if (strcmp(member, "RefreshPending") == 0)
                (void) sd_bus_message_read(reply, "t", &t->call_result);
        return 0;
}

static int get_state(Transfer *t, char **ret_state, bool *ret_precopy) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_auto(GStrv) caps = NULL;
        char *state = NULL;
        int r;

        r = sd_bus_get_property_string(t->bus, CTL_BUS_NAME, t->path, CTL_DEVICE_IFACE, "State", &e, &state);
        if (r < 0)
                return r;
        r = sd_bus_get_property_strv(t->bus, CTL_BUS_NAME, t->path, CTL_DEVICE_IFACE, "Capabilities", &e, &caps);
        if (r < 0) {
                free(state);
                return r;
        }
        *ret_state = state;
        *ret_precopy = caps && g_strv_contains((const char *const *) caps, "pre-copy");
        return 0;
}

static void transfer_clear(Transfer *t) {
        sd_bus_error_free(&t->call_error);
        sd_event_unref(t->event);
}

static void summary_json(const char *verb, const char *bdf, uint64_t bytes, double secs, unsigned rounds,
                         double stopcopy_s, uint64_t stopcopy_bytes) {
        g_autoptr(JsonBuilder) jb = json_builder_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(jb);
        json_builder_set_member_name(jb, "operation");
        json_builder_add_string_value(jb, verb);
        json_builder_set_member_name(jb, "bdf");
        json_builder_add_string_value(jb, bdf);
        json_builder_set_member_name(jb, "bytes");
        json_builder_add_int_value(jb, (gint64) bytes);
        json_builder_set_member_name(jb, "seconds");
        json_builder_add_double_value(jb, secs);
        if (strcmp(verb, "save") == 0) {
                json_builder_set_member_name(jb, "precopy_rounds");
                json_builder_add_int_value(jb, rounds);
                json_builder_set_member_name(jb, "stopcopy_seconds");
                json_builder_add_double_value(jb, stopcopy_s);
                json_builder_set_member_name(jb, "stopcopy_bytes");
                json_builder_add_int_value(jb, (gint64) stopcopy_bytes);
        }
        json_builder_end_object(jb);
        root = json_builder_get_root(jb);
        ctl_json_print(root);
}

/* ---- save --------------------------------------------------------------- */

/* save -o FILE writes FILE.partial-XXXXXX beside FILE and renames it over
 * FILE once the stream is complete: a failed save leaves no partial stream
 * and FILE as it was. */
static void partial_unlinkp(char **path) {
        if (*path) {
                (void) unlink(*path);
                g_free(*path);
        }
}

int ctl_save_main(int argc, char *argv[]) {
        enum { ARG_FORMAT = 1, ARG_ROUNDS, ARG_NO_PRECOPY, ARG_MAX_BYTES, ARG_NO_PROGRESS, ARG_ZERO_COPY, ARG_NO_ZERO_COPY };
        static const struct option options[] = {
                CTL_COMMON_OPTIONS,
                { "output", required_argument, NULL, 'o' },
                { "zero-copy", no_argument, NULL, ARG_ZERO_COPY },
                { "no-zero-copy", no_argument, NULL, ARG_NO_ZERO_COPY },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "precopy-rounds", required_argument, NULL, ARG_ROUNDS },
                { "no-precopy", no_argument, NULL, ARG_NO_PRECOPY },
                { "max-bytes", required_argument, NULL, ARG_MAX_BYTES },
                { "no-progress", no_argument, NULL, ARG_NO_PROGRESS },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL, *state = NULL;
        _cleanup_close_ int out = -1;
        _cleanup_(partial_unlinkp) char *partial = NULL;
        g_autofree char *what = NULL;
        struct stat st;
        const char *output = NULL, *format = "framed";
        unsigned max_rounds = DEFAULT_ROUNDS, rounds = 0;
        bool no_progress = false, precopy;
        uint64_t max_bytes = 0, stopcopy_bytes = 0, max_bytes_tmp = 0;
        double t0, t_stop = 0, t_end;
        Transfer t = { .user_fd = -1, .call_error = SD_BUS_ERROR_NULL, .zero_copy = true };
        CtlOptions o;
        int c, r, fd;

        ctl_options_init(&o);
        while ((c = getopt_long(argc, argv, "o:", options, NULL)) >= 0) {
                switch (c) {
                case 'o': output = optarg; break;
                case ARG_FORMAT: format = optarg; break;
                case ARG_ROUNDS:
                        if (ctl_parse_uint(optarg, &max_bytes_tmp) < 0 || max_bytes_tmp > 1000)
                                return ctl_usage("save", "--precopy-rounds needs a number from 0 to 1000, not '%s'", optarg);
                        max_rounds = (unsigned) max_bytes_tmp;
                        break;
                case ARG_NO_PRECOPY: max_rounds = 0; break;
                case ARG_MAX_BYTES:
                        if (ctl_parse_uint(optarg, &max_bytes) < 0 || max_bytes == 0)
                                return ctl_usage("save", "--max-bytes needs a positive number, not '%s'", optarg);
                        break;
                case ARG_NO_PROGRESS: no_progress = true; break;
                case ARG_ZERO_COPY: t.zero_copy = true; break;
                case ARG_NO_ZERO_COPY: t.zero_copy = false; break;
                case CTL_ARG_HELP:
                        printf("Usage: migbrokerctl save BDF -o FILE|- [OPTIONS]\n\n"
                               "Save an open device's migration state: pre-copy rounds while it runs (when the\n"
                               "plugin can), then stop-copy. The device is left in stop-copy.\n\n"
                               "  -o, --output FILE|-     where the stream goes ('-': standard output)\n"
                               "  --format framed|raw     framed (default, docs/stream-format.md) or raw (seed QEMU's bytes)\n"
                               "  --precopy-rounds N      at most N pre-copy rounds (default %d; stops early when\n"
                               "                          less than 1 MiB is pending)\n"
                               "  --no-precopy            go straight to stop-copy\n"
                               "  --max-bytes N           cap on the bytes of one call (raw format: one round)\n"
                               "  --no-zero-copy          with -o - into a pipe: copy the records into it instead of\n"
                               "                          handing the worker's pages to it (vmsplice, the default)\n"
                               "  --no-progress           no progress bar even on a terminal\n" CTL_COMMON_HELP,
                               DEFAULT_ROUNDS);
                        return CTL_EXIT_OK;
                default:
                        r = ctl_options_handle(&o, c, optarg);
                        if (r <= 0)
                                return ctl_usage("save", "unknown option");
                }
        }
        if (argc - optind != 1)
                return ctl_usage("save", "expected one BDF");
        if (!output)
                return ctl_usage("save", "-o FILE|- is required");
        if (strcmp(format, "framed") != 0 && strcmp(format, "raw") != 0)
                return ctl_usage("save", "--format must be framed or raw, not '%s'", format);
        if (strcmp(output, "-") == 0 && o.json)
                return ctl_usage("save", "--json cannot be used with -o - (standard output carries the stream)");
        t.bdf = argv[optind];
        what = g_strdup_printf("save %s", t.bdf);

        if (strcmp(output, "-") == 0) {
                if (isatty(STDOUT_FILENO))
                        return ctl_usage("save", "refusing to write a binary stream to a terminal; use -o FILE or a pipe");
                out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        } else if (stat(output, &st) == 0 && !S_ISREG(st.st_mode)) {
                /* A device, FIFO or socket is written in place, never replaced. */
                out = open(output, O_WRONLY | O_CLOEXEC);
        } else {
                partial = g_strdup_printf("%s.partial-XXXXXX", output);
                out = g_mkstemp_full(partial, O_WRONLY | O_CLOEXEC, 0600);
                if (out < 0)
                        g_clear_pointer(&partial, g_free); /* nothing to remove */
        }
        if (out < 0)
                return ctl_fail(&o, what, -errno, NULL);

        r = ctl_bus_open(&o, &bus, &e);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        r = ctl_device_path(bus, &o, t.bdf, &path, &e);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        r = sd_event_new(&t.event);
        if (r < 0)
                return ctl_fail(&o, what, r, NULL);
        r = sd_bus_attach_event(bus, t.event, 0);
        if (r < 0)
                return ctl_fail(&o, what, r, NULL);
        t.bus = bus;
        t.o = &o;
        t.path = path;
        t.saving = true;
        t.user_fd = out;
        {
                if (fstat(out, &st) == 0 && S_ISREG(st.st_mode))
                        t.base = (uint64_t) st.st_size;
        }
        t.progress = !no_progress && !o.json && isatty(STDERR_FILENO);
        fd = out;

        r = get_state(&t, &state, &precopy);
        if (r < 0)
                goto fail;
        t0 = t.start = now_s();

        if (strcmp(state, "running") == 0 && precopy && max_rounds > 0) {
                r = call_simple(&t, "SetState", "s", "pre-copy");
                if (r < 0)
                        goto fail;
                free(state);
                state = strdup("pre-copy");
        }
        if (strcmp(state, "pre-copy") == 0) {
                for (rounds = 0; rounds < MB_MAX(max_rounds, 1u); rounds++) {
                        uint64_t pending = 0;

                        r = call_simple(&t, "RefreshPending", NULL);
                        if (r < 0)
                                goto fail;
                        pending = t.call_result;
                        if (rounds > 0 && pending <= CONVERGED_BYTES)
                                break;
                        t.phase = "pre-copy";
                        t.phase_start_bytes = t.expect;
                        t.phase_expect = pending;
                        r = stream_call(&t, "SaveTo", fd, format, max_bytes);
                        if (r < 0)
                                goto fail;
                        if (!t.progress)
                                fprintf(stderr, "%s: pre-copy round %u: %" PRIu64 " bytes\n", t.bdf, rounds + 1,
                                        t.expect - t.phase_start_bytes);
                }
        }
        if (strcmp(state, "stop-copy") != 0) {
                t_stop = now_s();
                r = call_simple(&t, "SetState", "s", "stop-copy");
                if (r < 0)
                        goto fail;
        } else {
                t_stop = now_s();
        }
        r = call_simple(&t, "RefreshPending", NULL);
        if (r < 0)
                goto fail;
        t.phase = "stop-copy";
        t.phase_start_bytes = t.expect;
        t.phase_expect = t.call_result;
        {
                uint64_t before = t.expect;
                /* With --max-bytes one call may not drain it: call until nothing is pending. */
                do {
                        r = stream_call(&t, "SaveTo", fd, format, max_bytes);
                        if (r < 0)
                                goto fail;
                        r = call_simple(&t, "RefreshPending", NULL);
                        if (r < 0)
                                goto fail;
                } while (t.call_result > 0);
                stopcopy_bytes = t.expect - before;
        }
        t_end = now_s();
        if (partial) {
                if (rename(partial, output) < 0) {
                        r = -errno;
                        goto fail;
                }
                g_clear_pointer(&partial, g_free);
        }
        if (t.progress) {
                draw(&t, true);
                fputc('\n', stderr);
        }
        if (o.json) {
                summary_json("save", t.bdf, t.expect, t_end - t0, rounds, t_end - t_stop, stopcopy_bytes);
        } else {
                char b1[32], b2[32];
                human_bytes(t.expect, b1, sizeof(b1));
                human_bytes(stopcopy_bytes, b2, sizeof(b2));
                fprintf(stderr, "%s: saved %s in %.3f s (%.1f MB/s), %u pre-copy round%s, stop-copy %.1f ms (%s)\n",
                        t.bdf, b1, t_end - t0, (double) t.expect / 1e6 / MB_MAX(t_end - t0, 1e-9), rounds,
                        rounds == 1 ? "" : "s", (t_end - t_stop) * 1e3, b2);
        }
        transfer_clear(&t);
        return CTL_EXIT_OK;
fail:
        if (t.progress)
                fputc('\n', stderr);
        r = ctl_fail(&o, what, r, sd_bus_error_is_set(&t.call_error) ? &t.call_error : NULL);
        transfer_clear(&t);
        return r;
}

/* ---- load --------------------------------------------------------------- */

int ctl_load_main(int argc, char *argv[]) {
        enum { ARG_FORMAT = 1, ARG_NO_RESUME, ARG_STAY_RESUMING, ARG_NO_PROGRESS };
        static const struct option options[] = {
                CTL_COMMON_OPTIONS,
                { "input", required_argument, NULL, 'i' },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "no-resume", no_argument, NULL, ARG_NO_RESUME },
                { "stay-resuming", no_argument, NULL, ARG_STAY_RESUMING },
                { "no-progress", no_argument, NULL, ARG_NO_PROGRESS },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL, *state = NULL;
        _cleanup_close_ int in = -1;
        g_autofree char *what = NULL;
        const char *input = NULL, *format = "framed";
        bool no_progress = false, no_resume = false, stay = false, precopy;
        Transfer t = { .user_fd = -1, .call_error = SD_BUS_ERROR_NULL };
        double t0, t_end;
        uint64_t bytes;
        CtlOptions o;
        int c, r, fd;

        ctl_options_init(&o);
        while ((c = getopt_long(argc, argv, "i:", options, NULL)) >= 0) {
                switch (c) {
                case 'i': input = optarg; break;
                case ARG_FORMAT: format = optarg; break;
                case ARG_NO_RESUME: no_resume = true; break;
                case ARG_STAY_RESUMING: stay = true; break;
                case ARG_NO_PROGRESS: no_progress = true; break;
                case CTL_ARG_HELP:
                        printf("Usage: migbrokerctl load BDF -i FILE|- [OPTIONS]\n\n"
                               "Load a saved migration stream into an open device (moving it to resuming),\n"
                               "then start it (running). A corrupt or incomplete stream leaves it in error.\n\n"
                               "  -i, --input FILE|-      the stream ('-': standard input)\n"
                               "  --format framed|raw     the stream's format (default framed)\n"
                               "  --no-resume             leave the device in stop after loading\n"
                               "  --stay-resuming         leave the device in resuming: more of the stream may\n"
                               "                          follow in another load (one session, several parts)\n"
                               "  --no-progress           no progress bar even on a terminal\n" CTL_COMMON_HELP);
                        return CTL_EXIT_OK;
                default:
                        r = ctl_options_handle(&o, c, optarg);
                        if (r <= 0)
                                return ctl_usage("load", "unknown option");
                }
        }
        if (argc - optind != 1)
                return ctl_usage("load", "expected one BDF");
        if (!input)
                return ctl_usage("load", "-i FILE|- is required");
        if (strcmp(format, "framed") != 0 && strcmp(format, "raw") != 0)
                return ctl_usage("load", "--format must be framed or raw, not '%s'", format);
        if (stay && no_resume)
                return ctl_usage("load", "--stay-resuming and --no-resume exclude each other");
        t.bdf = argv[optind];
        what = g_strdup_printf("load %s", t.bdf);

        if (strcmp(input, "-") == 0)
                in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        else
                in = open(input, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return ctl_fail(&o, what, -errno, NULL);

        r = ctl_bus_open(&o, &bus, &e);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        r = ctl_device_path(bus, &o, t.bdf, &path, &e);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        r = sd_event_new(&t.event);
        if (r < 0)
                return ctl_fail(&o, what, r, NULL);
        r = sd_bus_attach_event(bus, t.event, 0);
        if (r < 0)
                return ctl_fail(&o, what, r, NULL);
        t.bus = bus;
        t.o = &o;
        t.path = path;
        t.saving = false;
        t.user_fd = in;
        t.progress = !no_progress && !o.json && isatty(STDERR_FILENO);

        r = get_state(&t, &state, &precopy);
        if (r < 0)
                goto fail;
        t0 = t.start = now_s();
        if (strcmp(state, "resuming") != 0) {
                r = call_simple(&t, "SetState", "s", "resuming");
                if (r < 0)
                        goto fail;
        }
        t.phase = "loading";
        fd = in;
        r = stream_call(&t, "LoadFrom", fd, format, 0);
        if (r < 0)
                goto fail;
        bytes = t.call_result;
        if (!stay) {
                r = call_simple(&t, "SetState", "s", no_resume ? "stop" : "running");
                if (r < 0)
                        goto fail;
        }
        t_end = now_s();
        if (t.progress) {
                draw(&t, true);
                fputc('\n', stderr);
        }
        if (o.json) {
                summary_json("load", t.bdf, bytes, t_end - t0, 0, 0, 0);
        } else {
                char b1[32];
                human_bytes(bytes, b1, sizeof(b1));
                fprintf(stderr, "%s: loaded %s in %.3f s (%.1f MB/s), device %s\n", t.bdf, b1, t_end - t0,
                        (double) bytes / 1e6 / MB_MAX(t_end - t0, 1e-9),
                        stay ? "resuming" : no_resume ? "stopped" : "running");
        }
        transfer_clear(&t);
        return CTL_EXIT_OK;
fail:
        if (t.progress)
                fputc('\n', stderr);
        r = ctl_fail(&o, what, r, sd_bus_error_is_set(&t.call_error) ? &t.call_error : NULL);
        transfer_clear(&t);
        return r;
}
