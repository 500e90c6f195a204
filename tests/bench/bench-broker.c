/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-broker: measures a running migbrokerd against a baseline taken in the
 * same run, on the same machine (tests/bench/bench-broker.sh sets it up):
 *
 *   SetState round trip p50/p99       vs  org.freedesktop.DBus.Peer.Ping on the same bus
 *   PendingBytes property read p50    vs  a bare property read (Manager.Version)
 *   SaveTo SIZE into a pipe           vs  a raw pipe copy between two processes, same pipe size
 *   SaveTo SIZE into loopback TCP     vs  a raw loopback TCP copy between two processes
 *   LoadFrom SIZE from a pipe         vs  the same raw pipe copy
 *   raw vmsplice() pipe copy          vs  the plain (write()) pipe copy; and SaveTo against vmsplice,
 *                                         and SaveTo with zero-copy off against the plain copy
 *   SaveTo of N devices at once       vs  N raw pipe copies at once (aggregate bytes per second)
 *
 * Throughput figures are medians over --runs; in each run every figure is
 * measured right beside its own baseline (baseline first in even runs,
 * migbroker first in odd ones), and the ratio is the median of the per-run
 * ratios (pairing keeps it meaningful when the machine's speed drifts).
 * Prints a table (figure, migbroker, baseline, ratio, target) and exits 0
 * whatever the figures: they are reported, not asserted.
 *
 * Where the writer and the reader of a stream run matters more than anything
 * measured here: on this kind of machine a pipe copy between two processes on
 * one CPU runs about 3x faster than between two CPUs (the data stays in that
 * CPU's cache), and the scheduler picks either from run to run. So both
 * sides are pinned, the same way for baseline and migbroker (the writers:
 * the baseline's child, the broker's workers found through --broker-pid; the
 * readers: our drain threads). --pin same (default) puts both on CPU 0: the
 * throughput is then the inverse of the CPU time per byte of writer and
 * reader together, and the ratios repeat within a few percent on a busy
 * machine. --pin split puts readers on CPU 0 and writers on CPU 1 (the
 * slower side sets the pace; about twice the run-to-run spread here);
 * --pin none leaves it to the scheduler (and the figures to chance).
 *
 *   bench-broker --bus ADDRESS --bdf BDF [--size BYTES] [--calls N] [--runs N]
 *                [--scale-bdf BDF]... [--scale-size BYTES]
 *                [--broker-pid PID] [--pin same|split|none] [--parts latency,throughput]
 *                [--tcp-pairs N]
 *
 * --parts names the rows to measure: latency (the first three), throughput
 * (the others), or both (the default), separated by commas or spaces.
 * --tcp-pairs (default 3) is how many TCP pairs each run takes: loopback TCP
 * is far noisier than a pipe, so its row takes the median of runs x N pairs.
 * Every throughput row is followed by the range of its per-pair ratios.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "bench-bus.h"
#include "bench-util.h"
#include "stream.h"

#define PIPE_SIZE (4u << 20)
#define CHUNK (1u << 20)
/* The payload of a framed record as the worker writes it: with its 16-byte
 * header a record is CHUNK bytes (worker-proto.h, MB_WORKER_FRAMED_CHUNK). */
#define RECORD_PAYLOAD (CHUNK - MB_STREAM_RECORD_HDR_LEN)
#define MAX_SCALE 64

static const char *arg_bus, *arg_bdf;
static uint64_t arg_size = 1ull << 30, arg_scale_size = 256ull << 20;
static unsigned arg_calls = 2000, arg_runs = 3, arg_tcp_pairs = 3;
static const char *arg_scale_bdf[MAX_SCALE];
static unsigned n_scale;
static sd_bus *bus;
static char *dev_path;
static int reader_cpu = -1, writer_cpu = -1;
static pid_t broker_pid;
static bool do_latency = true, do_throughput = true;

#define now mb_bench_now

/* --parts: a list of latency and throughput; false when a word is neither. */
static bool parse_parts(const char *s) {
        char *copy = strdup(s), *save = NULL;
        bool ok = copy != NULL;

        do_latency = do_throughput = false;
        for (char *w = copy ? strtok_r(copy, ", ", &save) : NULL; w; w = strtok_r(NULL, ", ", &save)) {
                if (strcmp(w, "latency") == 0)
                        do_latency = true;
                else if (strcmp(w, "throughput") == 0)
                        do_throughput = true;
                else
                        ok = false;
        }
        free(copy);
        return ok && (do_latency || do_throughput);
}

static void die(const char *what, int r, const sd_bus_error *e) {
        fprintf(stderr, "bench-broker: %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        exit(1);
}

static sd_bus *bus_connect(void) {
        return mb_bench_bus_connect("bench-broker", arg_bus);
}

static char *device_path(sd_bus *b, const char *bdf) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *path;
        char *ret;
        int r;

        r = sd_bus_call_method(b, "org.migbroker1", "/org/migbroker1", "org.migbroker1.Manager", "GetDevice", &e,
                               &reply, "s", bdf);
        if (r < 0)
                die("GetDevice", r, &e);
        sd_bus_message_read(reply, "o", &path);
        ret = strdup(path);
        sd_bus_message_unref(reply);
        return ret;
}

static void set_state_on(sd_bus *b, const char *path, const char *s) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(b, "org.migbroker1", path, "org.migbroker1.Device", "SetState", &e, NULL, "s", s);
        if (r < 0)
                die(s, r, &e);
}

static void set_state(const char *s) {
        set_state_on(bus, dev_path, s);
}

/* ---- latency -------------------------------------------------------------- */

/* A child that echoes every packet back until EOF: the other end of a bare
 * round trip between two processes, the hop every SetState makes from the
 * broker to the device's worker and back. Where that hop crosses CPUs is
 * the scheduler's choice; the echo is put where it costs the most that the
 * broker can be made to pay: on CPU 1 while we run on CPU 0 (each way wakes
 * the other CPU), unless the broker was pinned to one CPU (MB_BENCH_PIN=one:
 * then the echo shares it, and ours). *ret_cpu: the echo's CPU, or -1. */
static pid_t echo_start(int *ret_fd, int *ret_cpu) {
        cpu_set_t broker_set;
        int cpu = -1;
        int sv[2];
        pid_t pid;

        if (broker_pid > 0 && sched_getaffinity(broker_pid, sizeof(broker_set), &broker_set) == 0 &&
            CPU_COUNT(&broker_set) == 1) {
                for (int k = 0; k < CPU_SETSIZE; k++)
                        if (CPU_ISSET(k, &broker_set)) {
                                cpu = k;
                                break;
                        }
        } else if (reader_cpu == 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 2)
                cpu = 1;
        *ret_cpu = cpu;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                perror("socketpair");
                exit(1);
        }
        pid = fork();
        if (pid < 0) {
                perror("fork");
                exit(1);
        }
        if (pid == 0) {
                char c;
                close(sv[0]);
                if (cpu >= 0 && mb_bench_pin(0, cpu) < 0)
                        _exit(1);
                for (;;) {
                        ssize_t n = read(sv[1], &c, 1);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0 || write(sv[1], &c, 1) != 1)
                                _exit(0);
                }
        }
        close(sv[1]);
        *ret_fd = sv[0];
        return pid;
}

static double echo_round_trip(int fd) {
        double t = now();
        char c = 'x';

        if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
                perror("echo round trip");
                exit(1);
        }
        return now() - t;
}

static void latency(double *ping50, double *ping99, double *ss50, double *ss99, double *rt50, int *rt_cpu,
                    double *prop_base, double *prop) {
        double *a = calloc(arg_calls, sizeof(double)), *b = calloc(arg_calls, sizeof(double)),
               *c = calloc(arg_calls, sizeof(double));
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r, echo_fd, status;
        pid_t echo = echo_start(&echo_fd, rt_cpu);

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
                c[i] = echo_round_trip(echo_fd);
        }
        close(echo_fd);
        (void) waitpid(echo, &status, 0);
        *ping50 = mb_bench_pct(a, arg_calls, 0.5);
        *ping99 = mb_bench_pct(a, arg_calls, 0.99);
        *ss50 = mb_bench_pct(b, arg_calls, 0.5);
        *ss99 = mb_bench_pct(b, arg_calls, 0.99);
        *rt50 = mb_bench_pct(c, arg_calls, 0.5);
        free(c);

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
        *prop_base = mb_bench_pct(a, arg_calls, 0.5);
        *prop = mb_bench_pct(b, arg_calls, 0.5);
        free(a);
        free(b);
}

/* ---- throughput ------------------------------------------------------------- */

typedef struct Drain {
        int fd;
        uint64_t bytes;
} Drain;

/* The reader of every stream, baseline or migbroker: read() into 1 MiB. */
static void *drain(void *p) {
        Drain *d = p;
        uint8_t *buf = malloc(CHUNK);

        for (;;) {
                ssize_t n = read(d->fd, buf, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
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

/* A connected pair of loopback TCP sockets: w[0] reads, w[1] writes. Both
 * sides keep the kernel's default buffer sizes, for baseline and migbroker. */
static void make_tcp(int w[2]) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (l < 0 || bind(l, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *) &a, &len) < 0) {
                perror("tcp listen");
                exit(1);
        }
        w[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (w[1] < 0 || connect(w[1], (struct sockaddr *) &a, sizeof(a)) < 0) {
                perror("tcp connect");
                exit(1);
        }
        w[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (w[0] < 0) {
                perror("accept");
                exit(1);
        }
        close(l);
}

typedef enum Writer { WRITE_PLAIN, WRITE_VMSPLICE } Writer;

/* The writer of a baseline copy, in a child process: size bytes in 1 MiB
 * write()s, or vmsplice()d from one 1 MiB page-aligned buffer (the pages
 * go into the pipe by reference; the buffer is never changed). */
static _Noreturn void writer_child(int fd, uint64_t size, Writer how) {
        uint8_t *buf = NULL;

        (void) mb_bench_pin(0, writer_cpu);
        if (posix_memalign((void **) &buf, 4096, CHUNK) != 0)
                _exit(1);
        memset(buf, 0x5a, CHUNK);
        for (uint64_t left = size; left > 0;) {
                size_t n = left < CHUNK ? left : CHUNK;
                ssize_t w;
                if (how == WRITE_VMSPLICE) {
                        struct iovec iov = { buf + (CHUNK - n), n };
                        w = vmsplice(fd, &iov, 1, 0);
                } else
                        w = write(fd, buf, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        _exit(1);
                left -= (uint64_t) w;
        }
        _exit(0);
}

/* The baseline: n children each write size bytes into its own pipe (or TCP
 * connection); n threads of ours read them. Aggregate MB/s. */
static double raw_copy(unsigned n, uint64_t size, Writer how, int tcp) {
        int (*fds)[2] = calloc(n, sizeof(*fds));
        pid_t *pids = calloc(n, sizeof(pid_t));
        pthread_t *th = calloc(n, sizeof(pthread_t));
        Drain *d = calloc(n, sizeof(Drain));
        double t;

        for (unsigned i = 0; i < n; i++)
                tcp ? make_tcp(fds[i]) : make_pipe(fds[i]);
        t = now();
        for (unsigned i = 0; i < n; i++) {
                pids[i] = fork();
                if (pids[i] < 0) {
                        perror("fork");
                        exit(1);
                }
                if (pids[i] == 0)
                        writer_child(fds[i][1], size, how);
                close(fds[i][1]);
                d[i] = (Drain) { .fd = fds[i][0] };
                pthread_create(&th[i], NULL, drain, &d[i]);
        }
        for (unsigned i = 0; i < n; i++) {
                int status = 0;
                pthread_join(th[i], NULL);
                waitpid(pids[i], &status, 0);
                if (d[i].bytes != size || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "bench-broker: raw copy moved %" PRIu64 " of %" PRIu64 " bytes\n", d[i].bytes,
                                size);
                        exit(1);
                }
        }
        t = now() - t;
        for (unsigned i = 0; i < n; i++)
                close(fds[i][0]);
        free(fds);
        free(pids);
        free(th);
        free(d);
        return (double) size * n / t / 1e6;
}

/* Bytes SaveTo writes for size payload bytes in the given format: framed is
 * the header, one 16-byte header per 1 MiB record, the end record; raw is one
 * 8-byte round header (a single round in stop-copy). */
static void check_saved(const char *what, uint64_t drained, uint64_t replied, uint64_t size) {
        uint64_t framing = drained - size;

        if (drained < size || replied != drained || framing > MB_STREAM_HEADER_MAX + MB_STREAM_END_RECORD_LEN +
                                                                      (size / RECORD_PAYLOAD + 1) * MB_STREAM_RECORD_HDR_LEN) {
                fprintf(stderr,
                        "bench-broker: %s: read %" PRIu64 " bytes, SaveTo replied %" PRIu64 ", payload %" PRIu64 "\n",
                        what, drained, replied, size);
                exit(1);
        }
}

typedef struct Saver {
        sd_bus *bus;
        const char *path;
        const char *format;
        bool copy;             /* SaveTo option zero-copy false; else the broker's default */
        uint64_t size;
        int fd[2];
        pthread_t drain_th, save_th;
        Drain drain;
        uint64_t replied;
} Saver;

static void saver_prepare(Saver *s, int tcp) {
        set_state_on(s->bus, s->path, "running");
        set_state_on(s->bus, s->path, "stop-copy");
        tcp ? make_tcp(s->fd) : make_pipe(s->fd);
        s->drain = (Drain) { .fd = s->fd[0] };
        s->replied = 0;
}

static void *saver_run(void *p) {
        Saver *s = p;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r;

        if (s->copy)
                r = sd_bus_call_method(s->bus, "org.migbroker1", s->path, "org.migbroker1.Device", "SaveTo", &e,
                                       &reply, "ha{sv}", s->fd[1], 2, "format", "s", s->format, "zero-copy", "b", 0);
        else
                r = sd_bus_call_method(s->bus, "org.migbroker1", s->path, "org.migbroker1.Device", "SaveTo", &e,
                                       &reply, "ha{sv}", s->fd[1], 1, "format", "s", s->format);
        close(s->fd[1]);
        if (r < 0)
                die("SaveTo", r, &e);
        sd_bus_message_read(reply, "t", &s->replied);
        sd_bus_message_unref(reply);
        return NULL;
}

/* SaveTo of n devices at once, each into its own pipe (or TCP connection)
 * drained by a thread of ours; each device on its own bus connection. */
static double save_to(Saver *s, unsigned n, int tcp) {
        double t;

        for (unsigned i = 0; i < n; i++)
                saver_prepare(&s[i], tcp);
        t = now();
        for (unsigned i = 0; i < n; i++) {
                pthread_create(&s[i].drain_th, NULL, drain, &s[i].drain);
                if (n == 1)
                        saver_run(&s[i]);
                else
                        pthread_create(&s[i].save_th, NULL, saver_run, &s[i]);
        }
        for (unsigned i = 0; i < n; i++) {
                if (n > 1)
                        pthread_join(s[i].save_th, NULL);
                pthread_join(s[i].drain_th, NULL);
        }
        t = now() - t;
        for (unsigned i = 0; i < n; i++) {
                close(s[i].fd[0]);
                check_saved(s[i].path, s[i].drain.bytes, s[i].replied, s[i].size);
        }
        return (double) s[0].size * n / t / 1e6;
}

typedef struct Feed {
        int fd;
        const uint8_t *buf;  /* CHUNK bytes of payload, the same for every record */
        const uint8_t *hdrs; /* stream header, then every record header, then the end record */
        size_t hdr_len;      /* of the stream header */
} Feed;

/* Writes a framed stream of arg_size payload bytes in records of
 * RECORD_PAYLOAD bytes, as the worker's SaveTo writes them. Every
 * header is encoded before the clock starts: the CRC32C of each record is
 * the stream's cost, not the feeder's (the baseline's writer computes none). */
static void *feed(void *p) {
        Feed *f = p;
        const uint8_t *rec = f->hdrs + f->hdr_len;
        uint32_t idx = 0;

        if (write(f->fd, f->hdrs, f->hdr_len) != (ssize_t) f->hdr_len)
                goto out;
        for (uint64_t left = arg_size; left > 0; idx++, rec += MB_STREAM_RECORD_HDR_LEN) {
                uint32_t n = left < RECORD_PAYLOAD ? (uint32_t) left : RECORD_PAYLOAD;
                struct iovec iov[2] = { { (void *) rec, MB_STREAM_RECORD_HDR_LEN }, { (void *) f->buf, n } };
                size_t want = MB_STREAM_RECORD_HDR_LEN + n;
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
        if (write(f->fd, rec, MB_STREAM_END_RECORD_LEN) != (ssize_t) MB_STREAM_END_RECORD_LEN)
                goto out;
out:
        close(f->fd);
        return NULL;
}

static double load_from_pipe(const char *plugin) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t nrec = (arg_size + RECORD_PAYLOAD - 1) / RECORD_PAYLOAD;
        uint8_t *buf = malloc(CHUNK),
                *hdrs = malloc(MB_STREAM_HEADER_MAX + nrec * MB_STREAM_RECORD_HDR_LEN + MB_STREAM_END_RECORD_LEN), *rec;
        pthread_t th;
        Feed f;
        double t;
        int p[2], r, len;

        memset(buf, 0x3c, CHUNK);
        len = mb_stream_header_encode(hdrs, MB_STREAM_HEADER_MAX, arg_bdf, plugin);
        if (len < 0) {
                fprintf(stderr, "bench-broker: cannot encode a stream header\n");
                exit(1);
        }
        rec = hdrs + len;
        for (uint64_t i = 0, left = arg_size; i < nrec; i++, rec += MB_STREAM_RECORD_HDR_LEN) {
                uint32_t n = left < RECORD_PAYLOAD ? (uint32_t) left : RECORD_PAYLOAD;
                mb_stream_record_header_encode(rec, (uint32_t) i, 0, buf, n);
                left -= n;
        }
        mb_stream_end_record_encode(rec, (uint32_t) nrec, arg_size, nrec);

        set_state("stop");
        set_state("resuming");
        make_pipe(p);
        f = (Feed) { .fd = p[1], .buf = buf, .hdrs = hdrs, .hdr_len = (size_t) len };
        t = now();
        pthread_create(&th, NULL, feed, &f);
        r = sd_bus_call_method(bus, "org.migbroker1", dev_path, "org.migbroker1.Device", "LoadFrom", &e, NULL,
                               "ha{sv}", p[0], 0);
        t = now() - t;
        close(p[0]);
        pthread_join(th, NULL);
        free(buf);
        free(hdrs);
        if (r < 0)
                die("LoadFrom", r, &e);
        set_state("running");
        return (double) arg_size / t / 1e6;
}

/* ---- report ---------------------------------------------------------------- */

/* The pairs of one throughput figure and its baseline, one pair per run
 * (per_run pairs for a noisy figure). */
typedef struct Series {
        double *m, *b;
        unsigned n;
} Series;

static void series_init(Series *s, unsigned per_run) {
        s->n = arg_runs * per_run;
        s->m = calloc(s->n, sizeof(double));
        s->b = calloc(s->n, sizeof(double));
}

/* The row: medians of the figure, of the baseline and of the per-pair
 * ratios; then an indented row with the lowest and highest ratio, so that a
 * verdict within the spread reads as one. */
static void series_row(const char *figure, Series *s, MbBenchGoal goal, double bound, const char *target) {
        double *ratio = calloc(s->n, sizeof(double)), m, b, r;
        char spread[96];

        for (unsigned i = 0; i < s->n; i++)
                ratio[i] = s->m[i] / s->b[i];
        r = mb_bench_median(ratio, s->n); /* sorts ratio[] */
        m = mb_bench_median(s->m, s->n);
        b = mb_bench_median(s->b, s->n);
        mb_bench_row(figure, m, b, r, 0, "MB/s", goal, bound, target);
        if (s->n > 1) {
                snprintf(spread, sizeof(spread), "  ratio range over %u pairs: %.2fx-%.2fx", s->n, ratio[0],
                         ratio[s->n - 1]);
                mb_bench_row(spread, NAN, NAN, NAN, 0, "MB/s", MB_BENCH_REPORT, 0, NULL);
        }
        free(ratio);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bus", required_argument, NULL, 'b' },
                { "bdf", required_argument, NULL, 'd' },
                { "size", required_argument, NULL, 's' },
                { "calls", required_argument, NULL, 'c' },
                { "runs", required_argument, NULL, 'r' },
                { "plugin-name", required_argument, NULL, 'p' },
                { "scale-bdf", required_argument, NULL, 'S' },
                { "scale-size", required_argument, NULL, 'z' },
                { "broker-pid", required_argument, NULL, 'P' },
                { "pin", required_argument, NULL, 'n' },
                { "parts", required_argument, NULL, 'a' },
                { "tcp-pairs", required_argument, NULL, 't' },
                {}
        };
        const char *plugin_name = "bench-plugin", *pin = "same";
        double ping50 = NAN, ping99 = NAN, ss50 = NAN, ss99 = NAN, rt50 = NAN, pbase = NAN, pp = NAN;
        int rt_cpu = -1;
        Series framed, raw, load, tcp, vms, framed_vs_vms, zc, scale;
        Saver one, *many = NULL;
        char figure[80];
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'b': arg_bus = optarg; break;
                case 'd': arg_bdf = optarg; break;
                case 's': arg_size = strtoull(optarg, NULL, 0); break;
                case 'c': arg_calls = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'r': arg_runs = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'p': plugin_name = optarg; break;
                case 'S':
                        if (n_scale >= MAX_SCALE)
                                return 2;
                        arg_scale_bdf[n_scale++] = optarg;
                        break;
                case 'z': arg_scale_size = strtoull(optarg, NULL, 0); break;
                case 't': arg_tcp_pairs = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'P': broker_pid = (pid_t) atoi(optarg); break;
                case 'n': pin = optarg; break;
                case 'a':
                        if (!parse_parts(optarg))
                                return 2;
                        break;
                default: return 2;
                }
        }
        if (!arg_bus || !arg_bdf || arg_calls < 10 || arg_runs < 1 || arg_size == 0 || arg_tcp_pairs < 1 ||
            arg_tcp_pairs > 100)
                return 2;
        signal(SIGPIPE, SIG_IGN);
        if (strcmp(pin, "split") == 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 2)
                reader_cpu = 0, writer_cpu = 1;
        else if (strcmp(pin, "split") == 0 || strcmp(pin, "same") == 0)
                reader_cpu = writer_cpu = 0, pin = "same";
        else if (strcmp(pin, "none") != 0)
                return 2;

        bus = bus_connect();
        dev_path = device_path(bus, arg_bdf);

        series_init(&framed, 1);
        series_init(&raw, 1);
        series_init(&load, 1);
        series_init(&tcp, arg_tcp_pairs);
        series_init(&vms, 1);
        series_init(&framed_vs_vms, 1);
        series_init(&zc, 1);
        series_init(&scale, 1);
        one = (Saver) { .bus = bus, .path = dev_path, .size = arg_size };
        if (n_scale > 0) {
                many = calloc(n_scale, sizeof(Saver));
                for (unsigned i = 0; i < n_scale; i++) {
                        many[i].bus = bus_connect();
                        many[i].path = device_path(many[i].bus, arg_scale_bdf[i]);
                        many[i].size = arg_scale_size;
                        many[i].format = "framed";
                }
        }
        if (writer_cpu >= 0) {
                unsigned pinned = 0;
                for (unsigned i = 0; i <= n_scale; i++) {
                        pid_t w = broker_pid > 0 ? mb_bench_find_worker(broker_pid, i == 0 ? arg_bdf : arg_scale_bdf[i - 1])
                                                 : -1;
                        if (w > 0 && mb_bench_pin(w, writer_cpu) == 0)
                                pinned++;
                }
                if (pinned != n_scale + 1) {
                        fprintf(stderr, "bench-broker: pinned %u of %u workers (--broker-pid?): not pinning at all\n",
                                pinned, n_scale + 1);
                        reader_cpu = writer_cpu = -1;
                        pin = "none";
                }
        }
        /* Before any thread: the drain threads inherit it. */
        (void) mb_bench_pin(0, reader_cpu);

        if (do_latency)
                latency(&ping50, &ping99, &ss50, &ss99, &rt50, &rt_cpu, &pbase, &pp);

        for (unsigned i = 0; do_throughput && i < arg_runs; i++) {
                /* Each figure beside its own baseline, taken right before it
                 * (even runs) or right after it (odd runs). */
                int flip = i % 2;
#define PAIR_AT(series, at, base_expr, mig_expr)                              \
                do {                                                          \
                        if (flip)                                             \
                                (series).m[at] = (mig_expr);                  \
                        (series).b[at] = (base_expr);                         \
                        if (!flip)                                            \
                                (series).m[at] = (mig_expr);                  \
                } while (0)
#define PAIR(series, base_expr, mig_expr) PAIR_AT(series, i, base_expr, mig_expr)
                one.format = "framed";
                PAIR(framed, raw_copy(1, arg_size, WRITE_PLAIN, 0), save_to(&one, 1, 0));
                one.format = "raw";
                PAIR(raw, raw_copy(1, arg_size, WRITE_PLAIN, 0), save_to(&one, 1, 0));
                PAIR(load, raw_copy(1, arg_size, WRITE_PLAIN, 0), load_from_pipe(plugin_name));
                PAIR(vms, raw_copy(1, arg_size, WRITE_PLAIN, 0), raw_copy(1, arg_size, WRITE_VMSPLICE, 0));
                one.format = "framed";
                PAIR(framed_vs_vms, raw_copy(1, arg_size, WRITE_VMSPLICE, 0), save_to(&one, 1, 0));
                one.copy = true;
                PAIR(zc, raw_copy(1, arg_size, WRITE_PLAIN, 0), save_to(&one, 1, 0));
                one.copy = false;
                /* Loopback TCP varies far more from one copy to the next
                 * than a pipe (0.7x-1.25x between neighbouring pairs here):
                 * --tcp-pairs pairs per run. */
                for (unsigned k = 0, j = i * arg_tcp_pairs; k < arg_tcp_pairs; k++, j++) {
                        flip = (i + k) % 2;
                        PAIR_AT(tcp, j, raw_copy(1, arg_size, WRITE_PLAIN, 1), save_to(&one, 1, 1));
                }
                flip = i % 2;
                fprintf(stderr, "# run %u/%u, MB/s: SaveTo framed %.0f (raw pipe %.0f), raw %.0f (%.0f), "
                        "LoadFrom %.0f (%.0f), vmsplice pipe %.0f (%.0f), SaveTo framed %.0f (vmsplice %.0f), "
                        "SaveTo framed copying %.0f (raw pipe %.0f), SaveTo TCP %.0f (raw TCP %.0f; first of %u pairs)\n",
                        i + 1, arg_runs,
                        framed.m[i], framed.b[i], raw.m[i], raw.b[i], load.m[i], load.b[i], vms.m[i], vms.b[i],
                        framed_vs_vms.m[i], framed_vs_vms.b[i], zc.m[i], zc.b[i], tcp.m[i * arg_tcp_pairs],
                        tcp.b[i * arg_tcp_pairs], arg_tcp_pairs);
                if (n_scale > 0) {
                        PAIR(scale, raw_copy(n_scale, arg_scale_size, WRITE_PLAIN, 0), save_to(many, n_scale, 0));
                        fprintf(stderr, "# run %u/%u: %u SaveTo at once %.0f MB/s (%u raw pipe copies %.0f)\n", i + 1,
                                arg_runs, n_scale, scale.m[i], n_scale, scale.b[i]);
                }
#undef PAIR
#undef PAIR_AT
        }
        set_state("running");
        for (unsigned i = 0; i < n_scale; i++)
                set_state_on(many[i].bus, many[i].path, "running");

        if (do_throughput)
                printf("\nmigbroker benchmark: %u calls, %u runs of %.0f MiB (medians; ratio: median of per-run ratios)\n\n",
                       arg_calls, arg_runs, (double) arg_size / (1 << 20));
        else
                printf("\nmigbroker benchmark: %u calls\n\n", arg_calls);
        mb_bench_header();
        if (do_latency) {
                mb_bench_row("SetState round trip p50 (vs Ping)", ss50 * 1e6, ping50 * 1e6, ss50 / ping50, 1, "us",
                             MB_BENCH_RATIO_AT_MOST, 1.3, "<= 1.3x");
                mb_bench_row("SetState round trip p99 (vs Ping)", ss99 * 1e6, ping99 * 1e6, ss99 / ping99, 1, "us",
                             MB_BENCH_RATIO_AT_MOST, 1.3, "<= 1.3x");
                /* Context for the two rows above: a SetState is a Ping plus
                 * the hop to the worker process and back, which no broker
                 * that keeps plugins out of its own process can skip. */
                mb_bench_row("  SetState p50 (vs Ping + bare process round trip)", ss50 * 1e6, (ping50 + rt50) * 1e6,
                             ss50 / (ping50 + rt50), 1, "us", MB_BENCH_REPORT, 0, "report");
                mb_bench_row("PendingBytes read p50 (vs Version)", pp * 1e6, pbase * 1e6, pp / pbase, 1, "us",
                             MB_BENCH_RATIO_AT_MOST, 1.3, "<= 1.3x");
        }
        if (do_throughput) {
                series_row("SaveTo framed -> pipe (vs raw pipe copy)",
                           &framed, MB_BENCH_RATIO_AT_LEAST, 0.95, ">= 0.95x");
                series_row("SaveTo raw -> pipe (vs raw pipe copy)", &raw, MB_BENCH_RATIO_AT_LEAST, 0.95, ">= 0.95x");
                series_row("SaveTo framed -> TCP (vs raw loopback TCP)",
                           &tcp, MB_BENCH_RATIO_AT_LEAST, 0.95, ">= 0.95x");
                series_row("LoadFrom framed <- pipe (vs raw pipe copy)",
                           &load, MB_BENCH_RATIO_AT_LEAST, 0.95, ">= 0.95x");
                series_row("raw vmsplice pipe copy (vs raw pipe copy)", &vms, MB_BENCH_REPORT, 0, "report");
                series_row("SaveTo framed -> pipe (vs raw vmsplice pipe)",
                           &framed_vs_vms, MB_BENCH_REPORT, 0, "report");
                series_row("SaveTo framed, zero-copy off -> pipe (vs raw pipe copy)",
                           &zc, MB_BENCH_REPORT, 0, "report");
                if (n_scale > 0) {
                        snprintf(figure, sizeof(figure), "%u x SaveTo at once (vs %u raw pipe copies)",
                                 n_scale, n_scale);
                        series_row(figure, &scale, MB_BENCH_RATIO_AT_LEAST, 0.95, ">= 0.95x");
                }
                printf("\nsize %" PRIu64 " bytes (%u at once: %" PRIu64 " bytes each), pipe size %u bytes, record/chunk %u "
                       "bytes, pinning: %s (readers on CPU %d, writers on CPU %d)\n", arg_size, n_scale, arg_scale_size,
                       pipe_size, CHUNK, pin, reader_cpu, writer_cpu);
        }
        if (do_latency)
                printf("%sbare process round trip p50 %.1f us: echo on CPU %d, caller on CPU %d (-1: not pinned)\n",
                       do_throughput ? "" : "\n", rt50 * 1e6, rt_cpu, reader_cpu);
        for (unsigned i = 0; i < n_scale; i++) {
                free((char *) many[i].path);
                sd_bus_flush_close_unref(many[i].bus);
        }
        free(many);
        free(dev_path);
        sd_bus_flush_close_unref(bus);
        return 0;
}
