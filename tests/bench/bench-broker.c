/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-broker: measures a running migbrokerd against a baseline taken in the
 * same run, on the same machine (tests/bench/bench-broker.sh sets it up):
 *
 *   SetState round trip p50/p99       vs  org.freedesktop.DBus.Peer.Ping on the same bus
 *   PendingBytes property read p50    vs  a bare property read (Manager.Version)
 *   SaveTo 1 GiB into a pipe          vs  a raw pipe copy between two processes, same pipe size
 *   LoadFrom 1 GiB from a pipe        vs  the same raw pipe copy
 *
 * Prints a table (figure, migbroker, baseline, ratio, target) and exits 0
 * whatever the figures: they are reported, not asserted.
 *
 *   bench-broker --bus ADDRESS --bdf BDF [--size BYTES] [--calls N] [--runs N]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"

#define PIPE_SIZE (4u << 20)
#define CHUNK (1u << 20)

static const char *arg_bus, *arg_bdf;
static uint64_t arg_size = 1ull << 30;
static unsigned arg_calls = 2000, arg_runs = 3;
static sd_bus *bus;
static char *dev_path;

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned n, double p) {
        qsort(v, n, sizeof(double), cmp_double);
        return v[(unsigned) (p * (n - 1))];
}

static void die(const char *what, int r, const sd_bus_error *e) {
        fprintf(stderr, "bench-broker: %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        exit(1);
}

static void set_state(const char *s) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, "org.migbroker1", dev_path, "org.migbroker1.Device", "SetState", &e, NULL,
                                   "s", s);
        if (r < 0)
                die(s, r, &e);
}

/* ---- latency -------------------------------------------------------------- */

static void latency(double *ping50, double *ping99, double *ss50, double *ss99, double *prop_base, double *prop) {
        double *a = calloc(arg_calls, sizeof(double)), *b = calloc(arg_calls, sizeof(double));
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        for (unsigned i = 0; i < arg_calls; i++) {
                double t = now();
                r = sd_bus_call_method(bus, "org.migbroker1", "/org/migbroker1", "org.freedesktop.DBus.Peer", "Ping", &e,
                                       NULL, "");
                if (r < 0)
                        die("Ping", r, &e);
                a[i] = now() - t;
                t = now();
                set_state(i % 2 ? "running" : "stop");
                b[i] = now() - t;
        }
        *ping50 = pct(a, arg_calls, 0.5);
        *ping99 = pct(a, arg_calls, 0.99);
        *ss50 = pct(b, arg_calls, 0.5);
        *ss99 = pct(b, arg_calls, 0.99);

        for (unsigned i = 0; i < arg_calls; i++) {
                char *s = NULL;
                uint64_t p;
                double t = now();
                r = sd_bus_get_property_string(bus, "org.migbroker1", "/org/migbroker1", "org.migbroker1.Manager",
                                               "Version", &e, &s);
                if (r < 0)
                        die("Version", r, &e);
                free(s);
                a[i] = now() - t;
                t = now();
                r = sd_bus_get_property_trivial(bus, "org.migbroker1", dev_path, "org.migbroker1.Device", "PendingBytes",
                                                &e, 't', &p);
                if (r < 0)
                        die("PendingBytes", r, &e);
                b[i] = now() - t;
        }
        *prop_base = pct(a, arg_calls, 0.5);
        *prop = pct(b, arg_calls, 0.5);
        free(a);
        free(b);
}

/* ---- throughput ------------------------------------------------------------- */

typedef struct Drain {
        int fd;
        uint64_t bytes;
} Drain;

static void *drain(void *p) {
        Drain *d = p;
        uint8_t *buf = malloc(CHUNK);

        for (;;) {
                ssize_t n = read(d->fd, buf, CHUNK);
                if (n <= 0)
                        break;
                d->bytes += (uint64_t) n;
        }
        free(buf);
        return NULL;
}

static unsigned pipe_size = PIPE_SIZE;

/* A pipe as large as the worker makes it: 4 MiB, or the system's cap. */
static void make_pipe(int p[2]) {
        if (pipe2(p, O_CLOEXEC) < 0) {
                perror("pipe");
                exit(1);
        }
        if (fcntl(p[1], F_SETPIPE_SZ, pipe_size) < 0) {
                FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
                unsigned max = 0;
                if (!f || fscanf(f, "%u", &max) != 1 || fcntl(p[1], F_SETPIPE_SZ, max) < 0) {
                        perror("F_SETPIPE_SZ");
                        exit(1);
                }
                fclose(f);
                pipe_size = max;
        }
}

/* The baseline: a child writes size bytes in 1 MiB writes (or vmsplices
 * them, zero-copy), we read them. */
static double raw_pipe_copy_how(bool zero_copy) {
        int p[2];
        Drain d;
        double t;
        pid_t pid;

        make_pipe(p);
        t = now();
        pid = fork();
        if (pid == 0) {
                uint8_t *buf = malloc(CHUNK);
                memset(buf, 0x5a, CHUNK);
                close(p[0]);
                for (uint64_t left = arg_size; left > 0;) {
                        size_t n = left < CHUNK ? left : CHUNK;
                        struct iovec iov = { buf, n };
                        ssize_t w = zero_copy ? vmsplice(p[1], &iov, 1, 0) : write(p[1], buf, n);
                        if (w <= 0)
                                _exit(1);
                        left -= (uint64_t) w;
                }
                _exit(0);
        }
        close(p[1]);
        d = (Drain) { .fd = p[0] };
        drain(&d);
        waitpid(pid, NULL, 0);
        t = now() - t;
        close(p[0]);
        if (d.bytes != arg_size) {
                fprintf(stderr, "raw copy moved %" PRIu64 " bytes\n", d.bytes);
                exit(1);
        }
        return (double) arg_size / t / 1e6;
}

static double raw_pipe_copy(void) {
        return raw_pipe_copy_how(false);
}

static double save_to_pipe_how(const char *format, bool zero_copy) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        pthread_t th;
        Drain d;
        uint64_t bytes;
        double t;
        int p[2], r;

        set_state("running");
        set_state("stop-copy");
        make_pipe(p);
        d = (Drain) { .fd = p[0] };
        pthread_create(&th, NULL, drain, &d);
        t = now();
        r = sd_bus_call_method(bus, "org.migbroker1", dev_path, "org.migbroker1.Device", "SaveTo", &e, &reply,
                               "ha{sv}", p[1], 2, "format", "s", format, "zero-copy", "b", zero_copy);
        close(p[1]);
        pthread_join(th, NULL);
        t = now() - t;
        close(p[0]);
        if (r < 0)
                die("SaveTo", r, &e);
        sd_bus_message_read(reply, "t", &bytes);
        sd_bus_message_unref(reply);
        return (double) arg_size / t / 1e6;
}

static double save_to_pipe(const char *format) {
        return save_to_pipe_how(format, false);
}

typedef struct Feed {
        int fd;
        const char *plugin;
} Feed;

/* Writes a framed stream of arg_size payload bytes in 1 MiB records. */
static void *feed(void *p) {
        Feed *f = p;
        uint8_t *buf = malloc(CHUNK), hdr[MB_STREAM_HEADER_MAX], rec[MB_STREAM_RECORD_HDR_LEN],
                end[MB_STREAM_END_RECORD_LEN];
        uint32_t idx = 0;
        int len;

        memset(buf, 0x3c, CHUNK);
        len = mb_stream_header_encode(hdr, sizeof(hdr), arg_bdf, f->plugin);
        if (len < 0 || write(f->fd, hdr, (size_t) len) != len)
                goto out;
        for (uint64_t left = arg_size; left > 0; idx++) {
                uint32_t n = left < CHUNK - sizeof(rec) ? (uint32_t) left : CHUNK - (uint32_t) sizeof(rec);
                struct iovec iov[2] = { { rec, sizeof(rec) }, { buf, n } };
                size_t want = sizeof(rec) + n;
                mb_stream_record_header_encode(rec, idx, 0, buf, n);
                /* Whole records only: a short writev on a pipe is resumed. */
                while (want > 0) {
                        ssize_t w = writev(f->fd, iov, 2);
                        if (w <= 0)
                                goto out;
                        want -= (size_t) w;
                        for (int i = 0; i < 2 && w > 0; i++) {
                                size_t k = (size_t) w < iov[i].iov_len ? (size_t) w : iov[i].iov_len;
                                iov[i].iov_base = (uint8_t *) iov[i].iov_base + k;
                                iov[i].iov_len -= k;
                                w -= (ssize_t) k;
                        }
                }
                left -= n;
        }
        mb_stream_end_record_encode(end, idx, arg_size, idx);
        if (write(f->fd, end, sizeof(end)) != (ssize_t) sizeof(end))
                goto out;
out:
        close(f->fd);
        free(buf);
        return NULL;
}

static double load_from_pipe(const char *plugin) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        pthread_t th;
        Feed f;
        double t;
        int p[2], r;

        set_state("stop");
        set_state("resuming");
        make_pipe(p);
        f = (Feed) { .fd = p[1], .plugin = plugin };
        pthread_create(&th, NULL, feed, &f);
        t = now();
        r = sd_bus_call_method(bus, "org.migbroker1", dev_path, "org.migbroker1.Device", "LoadFrom", &e, NULL,
                               "ha{sv}", p[0], 0);
        t = now() - t;
        close(p[0]);
        pthread_join(th, NULL);
        if (r < 0)
                die("LoadFrom", r, &e);
        set_state("running");
        return (double) arg_size / t / 1e6;
}

static double median(double *v, unsigned n) {
        return pct(v, n, 0.5);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bus", required_argument, NULL, 'b' },
                { "bdf", required_argument, NULL, 'd' },
                { "size", required_argument, NULL, 's' },
                { "calls", required_argument, NULL, 'c' },
                { "runs", required_argument, NULL, 'r' },
                { "plugin-name", required_argument, NULL, 'p' },
                {}
        };
        const char *plugin_name = "bench-plugin";
        double ping50, ping99, ss50, ss99, pbase, pp;
        double *save_b, *save_m, *save_raw, *load_m;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *path;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'b': arg_bus = optarg; break;
                case 'd': arg_bdf = optarg; break;
                case 's': arg_size = strtoull(optarg, NULL, 0); break;
                case 'c': arg_calls = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'r': arg_runs = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'p': plugin_name = optarg; break;
                default: return 2;
                }
        }
        if (!arg_bus || !arg_bdf || arg_calls < 10 || arg_runs < 1)
                return 2;
        signal(SIGPIPE, SIG_IGN);

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, arg_bus);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                die("connect", r, NULL);
        r = sd_bus_call_method(bus, "org.migbroker1", "/org/migbroker1", "org.migbroker1.Manager", "GetDevice", &e,
                               &reply, "s", arg_bdf);
        if (r < 0)
                die("GetDevice", r, &e);
        sd_bus_message_read(reply, "o", &path);
        dev_path = strdup(path);
        sd_bus_message_unref(reply);

        latency(&ping50, &ping99, &ss50, &ss99, &pbase, &pp);

        save_b = calloc(arg_runs, sizeof(double));
        save_m = calloc(arg_runs, sizeof(double));
        save_raw = calloc(arg_runs, sizeof(double));
        load_m = calloc(arg_runs, sizeof(double));
        double *splice_b = calloc(arg_runs, sizeof(double)), *splice_m = calloc(arg_runs, sizeof(double));
        for (unsigned i = 0; i < arg_runs; i++) {
                save_b[i] = raw_pipe_copy();
                save_m[i] = save_to_pipe("framed");
                save_raw[i] = save_to_pipe("raw");
                load_m[i] = load_from_pipe(plugin_name);
                splice_b[i] = raw_pipe_copy_how(true);
                splice_m[i] = save_to_pipe_how("framed", true);
        }
        set_state("running");

        printf("\nmigbroker benchmark: %u calls, %u runs of %.0f MiB (medians)\n\n", arg_calls, arg_runs,
               (double) arg_size / (1 << 20));
        printf("%-42s %14s %14s %8s %10s\n", "figure", "migbroker", "baseline", "ratio", "target");
        printf("%-42s %11.1f us %11.1f us %7.2fx %10s\n", "SetState round trip p50 (vs Ping)", ss50 * 1e6,
               ping50 * 1e6, ss50 / ping50, "<= 1.3x");
        printf("%-42s %11.1f us %11.1f us %7.2fx %10s\n", "SetState round trip p99 (vs Ping)", ss99 * 1e6,
               ping99 * 1e6, ss99 / ping99, "<= 1.3x");
        printf("%-42s %11.1f us %11.1f us %7.2fx %10s\n", "PendingBytes read p50 (vs Version)", pp * 1e6, pbase * 1e6,
               pp / pbase, "<= 1.3x");
        double sb = median(save_b, arg_runs), sm = median(save_m, arg_runs), sr = median(save_raw, arg_runs),
               lm = median(load_m, arg_runs);
        printf("%-42s %9.0f MB/s %9.0f MB/s %7.2fx %10s\n", "SaveTo framed -> pipe (vs raw pipe copy)", sm, sb,
               sm / sb, ">= 0.95x");
        printf("%-42s %9.0f MB/s %9.0f MB/s %7.2fx %10s\n", "SaveTo raw -> pipe (vs raw pipe copy)", sr, sb, sr / sb,
               ">= 0.95x");
        printf("%-42s %9.0f MB/s %9.0f MB/s %7.2fx %10s\n", "LoadFrom framed <- pipe (vs raw pipe copy)", lm, sb,
               lm / sb, ">= 0.95x");
        double zb = median(splice_b, arg_runs), zm = median(splice_m, arg_runs);
        printf("%-42s %9.0f MB/s %9.0f MB/s %7.2fx %10s\n", "SaveTo framed zero-copy (vs raw pipe copy)", zm, sb,
               zm / sb, "-");
        printf("%-42s %9.0f MB/s %9.0f MB/s %7.2fx %10s\n", "SaveTo framed zero-copy (vs raw vmsplice)", zm, zb,
               zm / zb, "-");
        printf("%-42s %9.0f MB/s %9.0f MB/s %7.2fx %10s\n", "raw vmsplice (vs raw pipe copy)", zb, sb, zb / sb, "-");
        free(splice_b);
        free(splice_m);
        printf("\nsize %" PRIu64 " bytes, pipe size %u bytes, record/chunk %u bytes\n", arg_size, pipe_size, CHUNK);
        free(save_b);
        free(save_m);
        free(save_raw);
        free(load_m);
        free(dev_path);
        sd_bus_flush_close_unref(bus);
        return 0;
}
