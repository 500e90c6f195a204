/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-fleet: a broker managing many functions (tests/bench/bench-fleet.sh
 * sets up a fake sysfs of --devices PCI functions, all bound to the memory
 * plugin by the policy):
 *
 *   broker VmRSS / VmHWM with --devices managed and --open of them open
 *   idle worker RSS (median over the --open workers; RssAnon, RssFile apart):
 *       opened, never saved, so the plugin has allocated nothing it touched
 *   --clients concurrent clients, each on its own bus connection and with its
 *       own owner (domain), each doing --rounds of Claim, Open, Close,
 *       Release on its own device: errors (must be 0) and p50/p99 latency,
 *       beside Ping p99 from as many clients at once
 *
 * Prints rows (figure, migbroker, baseline, ratio, target); exits 0 whatever
 * the figures, 1 only when the set-up itself fails.
 *
 *   bench-fleet --bus ADDRESS --broker-pid PID [--devices N] [--open N]
 *               [--per-domain N] [--clients N] [--rounds N]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "bench-bus.h"
#include "bench-util.h"

#define SEQ 9 /* one-at-a-time samples of Claim and Release */

static const char *arg_bus;
static pid_t arg_broker;
static unsigned arg_devices = 1024, arg_open = 256, arg_per_domain = 8, arg_clients = 64, arg_rounds = 5;

static void die(const char *what, int r, const sd_bus_error *e) {
        fprintf(stderr, "bench-fleet: %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        exit(1);
}

static sd_bus *bus_connect(void) {
        return mb_bench_bus_connect("bench-fleet", arg_bus);
}

/* The BDF of function i of the fake tree (bench-fleet.sh makes the same). */
static void bdf_of(unsigned i, char out[32]) {
        snprintf(out, 32, "0000:%02x:%02x.%x", 0x60 + i / 256, (i / 8) % 32, i % 8);
}

static void owner_of(unsigned domain, char out[40]) {
        snprintf(out, 40, "b3e2c1d0-0000-4000-8000-%012x", domain);
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
                die(bdf, r, &e);
        sd_bus_message_read(reply, "o", &path);
        ret = strdup(path);
        sd_bus_message_unref(reply);
        return ret;
}

/* Calls METHOD(owner) (Open: with no options) on path; seconds, or -1 and
 * the error in e. */
static double owner_call(sd_bus *b, const char *path, const char *method, const char *owner, sd_bus_error *e) {
        double t = mb_bench_now();
        int r;

        if (strcmp(method, "Open") == 0)
                r = sd_bus_call_method(b, "org.migbroker1", path, "org.migbroker1.Device", method, e, NULL, "sa{sv}",
                                       owner, 0);
        else
                r = sd_bus_call_method(b, "org.migbroker1", path, "org.migbroker1.Device", method, e, NULL, "s",
                                       owner);
        return r < 0 ? -1 : mb_bench_now() - t;
}

static unsigned count_devices(sd_bus *b) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        unsigned n = 0;
        int r;

        r = sd_bus_call_method(b, "org.migbroker1", "/org/migbroker1", "org.migbroker1.Manager", "ListDevices", &e,
                               &reply, "");
        if (r < 0)
                die("ListDevices", r, &e);
        r = sd_bus_message_enter_container(reply, 'a', "(ssssso)");
        while (r >= 0 && (r = sd_bus_message_skip(reply, "(ssssso)")) > 0)
                n++;
        sd_bus_message_unref(reply);
        return n;
}

/* ---- concurrent clients ----------------------------------------------------- */

enum { OP_CLAIM, OP_OPEN, OP_CLOSE, OP_RELEASE, OP_PING, N_OPS };
static const char *const op_name[N_OPS] = { "Claim", "Open", "Close", "Release", "Ping" };

typedef struct Client {
        unsigned idx;
        int ping_only;
        sd_bus *bus;
        char *path;
        char owner[40];
        double *lat[N_OPS];
        unsigned n[N_OPS], errors;
        char first_error[256];
} Client;

static pthread_barrier_t start;

static void record(Client *c, int op, double t, const sd_bus_error *e) {
        if (t < 0) {
                if (c->errors++ == 0)
                        snprintf(c->first_error, sizeof(c->first_error), "%s: %s: %s", op_name[op],
                                 e->name ? e->name : "?", e->message ? e->message : "");
                return;
        }
        c->lat[op][c->n[op]++] = t;
}

static void *client_run(void *p) {
        Client *c = p;

        pthread_barrier_wait(&start);
        for (unsigned i = 0; i < arg_rounds; i++) {
                if (c->ping_only) {
                        for (int k = 0; k < 4; k++) {
                                sd_bus_error e = SD_BUS_ERROR_NULL;
                                double t = mb_bench_now();
                                int r = sd_bus_call_method(c->bus, "org.migbroker1", "/org/migbroker1",
                                                           "org.freedesktop.DBus.Peer", "Ping", &e, NULL, "");
                                record(c, OP_PING, r < 0 ? -1 : mb_bench_now() - t, &e);
                                sd_bus_error_free(&e);
                        }
                        continue;
                }
                for (int op = OP_CLAIM; op <= OP_RELEASE; op++) {
                        sd_bus_error e = SD_BUS_ERROR_NULL;
                        record(c, op, owner_call(c->bus, c->path, op_name[op], c->owner, &e), &e);
                        sd_bus_error_free(&e);
                }
        }
        return NULL;
}

/* Runs the clients at once (ping_only: Ping instead of the device calls);
 * returns the error count and fills lat[op] with every client's latencies. */
static unsigned run_clients(Client *cl, int ping_only, double **lat, unsigned *n, char *first_error, size_t len) {
        pthread_t *th = calloc(arg_clients, sizeof(pthread_t));
        unsigned errors = 0;

        for (int op = 0; op < N_OPS; op++)
                n[op] = 0;
        pthread_barrier_init(&start, NULL, arg_clients);
        for (unsigned i = 0; i < arg_clients; i++) {
                cl[i].ping_only = ping_only;
                cl[i].errors = 0;
                for (int op = 0; op < N_OPS; op++)
                        cl[i].n[op] = 0;
                pthread_create(&th[i], NULL, client_run, &cl[i]);
        }
        for (unsigned i = 0; i < arg_clients; i++) {
                pthread_join(th[i], NULL);
                if (cl[i].errors && errors == 0)
                        snprintf(first_error, len, "%s", cl[i].first_error);
                errors += cl[i].errors;
                for (int op = 0; op < N_OPS; op++)
                        for (unsigned k = 0; k < cl[i].n[op]; k++)
                                lat[op][n[op]++] = cl[i].lat[op][k];
        }
        pthread_barrier_destroy(&start);
        free(th);
        return errors;
}

/* ---- processes ---------------------------------------------------------------- */

typedef struct Rss {
        double rss, anon, file, shmem; /* MiB, medians */
        unsigned n;
} Rss;

/* Medians over the broker's children that are workers (their comm). */
static Rss workers_rss(void) {
        double *rss = calloc(arg_devices + arg_clients, sizeof(double)), *anon = calloc(arg_devices + arg_clients, sizeof(double)),
               *file = calloc(arg_devices + arg_clients, sizeof(double)), *shm = calloc(arg_devices + arg_clients, sizeof(double));
        DIR *d = opendir("/proc");
        struct dirent *de;
        Rss ret = {};

        while (d && (de = readdir(d)) && ret.n < arg_devices + arg_clients) {
                pid_t pid = (pid_t) atoi(de->d_name);
                char path[64], comm[64] = "";
                FILE *f;

                if (pid <= 0 || mb_bench_ppid(pid) != arg_broker)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
                f = fopen(path, "re");
                if (!f)
                        continue;
                if (!fgets(comm, sizeof(comm), f))
                        comm[0] = 0;
                fclose(f);
                if (strncmp(comm, "migbroker-worke", 15) != 0)
                        continue;
                rss[ret.n] = mb_bench_status_kb(pid, "VmRSS") / 1024.0;
                anon[ret.n] = mb_bench_status_kb(pid, "RssAnon") / 1024.0;
                file[ret.n] = mb_bench_status_kb(pid, "RssFile") / 1024.0;
                shm[ret.n] = mb_bench_status_kb(pid, "RssShmem") / 1024.0;
                ret.n++;
        }
        if (d)
                closedir(d);
        ret.rss = mb_bench_median(rss, ret.n);
        ret.anon = mb_bench_median(anon, ret.n);
        ret.file = mb_bench_median(file, ret.n);
        ret.shmem = mb_bench_median(shm, ret.n);
        free(rss);
        free(anon);
        free(file);
        free(shm);
        return ret;
}

static double mib(long kb) {
        return kb < 0 ? NAN : kb / 1024.0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bus", required_argument, NULL, 'b' },
                { "broker-pid", required_argument, NULL, 'P' },
                { "devices", required_argument, NULL, 'd' },
                { "open", required_argument, NULL, 'o' },
                { "per-domain", required_argument, NULL, 'D' },
                { "clients", required_argument, NULL, 'c' },
                { "rounds", required_argument, NULL, 'r' },
                {}
        };
        double *open_lat, *lat[N_OPS];
        unsigned n[N_OPS], ndev, errors;
        double rss0, rss1, hwm1, rss2, hwm2, anon1, file1;
        double claim_new[SEQ], claim_again[SEQ], release_last[SEQ];
        char figure[96], first_error[256] = "";
        sd_bus *bus;
        Client *cl;
        Rss w;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'b': arg_bus = optarg; break;
                case 'P': arg_broker = (pid_t) atoi(optarg); break;
                case 'd': arg_devices = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'o': arg_open = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'D': arg_per_domain = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'c': arg_clients = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'r': arg_rounds = (unsigned) strtoul(optarg, NULL, 10); break;
                default: return 2;
                }
        }
        if (!arg_bus || arg_broker <= 0 || arg_open + arg_clients + SEQ > arg_devices || arg_per_domain < 1 ||
            arg_rounds < 1 || arg_clients < 1)
                return 2;

        bus = bus_connect();
        ndev = count_devices(bus);
        if (ndev != arg_devices) {
                fprintf(stderr, "bench-fleet: the broker lists %u devices, expected %u\n", ndev, arg_devices);
                return 1;
        }
        rss0 = mib(mb_bench_status_kb(arg_broker, "VmRSS"));

        /* Open arg_open devices, arg_per_domain per owner, one after another. */
        open_lat = calloc(arg_open, sizeof(double));
        for (unsigned i = 0; i < arg_open; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                char bdf[32], owner[40], what[64];
                char *path;
                double t;

                bdf_of(i, bdf);
                owner_of(i / arg_per_domain, owner);
                path = device_path(bus, bdf);
                snprintf(what, sizeof(what), "Claim %s", bdf);
                if (owner_call(bus, path, "Claim", owner, &e) < 0)
                        die(what, -EIO, &e);
                snprintf(what, sizeof(what), "Open %s", bdf);
                t = owner_call(bus, path, "Open", owner, &e);
                if (t < 0)
                        die(what, -EIO, &e);
                open_lat[i] = t;
                free(path);
        }
        /* Let the workers settle (a worker's start-up is asynchronous to nothing
         * here, but its first page faults after Open replied may be). */
        usleep(200 * 1000);
        rss1 = mib(mb_bench_status_kb(arg_broker, "VmRSS"));
        hwm1 = mib(mb_bench_status_kb(arg_broker, "VmHWM"));
        anon1 = mib(mb_bench_status_kb(arg_broker, "RssAnon"));
        file1 = mib(mb_bench_status_kb(arg_broker, "RssFile"));
        w = workers_rss();

        /* One at a time: the Claim that starts a domain's bus, the same Claim
         * again (a no-op), the Release that stops the bus. */
        for (unsigned i = 0; i < SEQ; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                char bdf[32], owner[40];
                char *path;

                bdf_of(arg_devices - 1 - i, bdf);
                owner_of(200000 + i, owner);
                path = device_path(bus, bdf);
                claim_new[i] = owner_call(bus, path, "Claim", owner, &e);
                claim_again[i] = owner_call(bus, path, "Claim", owner, &e);
                release_last[i] = owner_call(bus, path, "Release", owner, &e);
                if (claim_new[i] < 0 || claim_again[i] < 0 || release_last[i] < 0)
                        die(bdf, -EIO, &e);
                free(path);
        }

        /* Concurrent clients, on the devices after the open ones. */
        cl = calloc(arg_clients, sizeof(Client));
        for (int op = 0; op < N_OPS; op++)
                lat[op] = calloc((size_t) arg_clients * arg_rounds * 4, sizeof(double));
        for (unsigned i = 0; i < arg_clients; i++) {
                char bdf[32];
                cl[i].idx = i;
                cl[i].bus = bus_connect();
                bdf_of(arg_open + i, bdf);
                cl[i].path = device_path(cl[i].bus, bdf);
                owner_of(100000 + i, cl[i].owner);
                for (int op = 0; op < N_OPS; op++)
                        cl[i].lat[op] = calloc(arg_rounds * 4, sizeof(double));
        }
        (void) run_clients(cl, 1, lat, n, first_error, sizeof(first_error));
        unsigned n_ping = n[OP_PING];
        double ping99 = mb_bench_pct(lat[OP_PING], n[OP_PING], 0.99), ping50 = mb_bench_pct(lat[OP_PING], n[OP_PING], 0.5);
        errors = run_clients(cl, 0, lat, n, first_error, sizeof(first_error));
        rss2 = mib(mb_bench_status_kb(arg_broker, "VmRSS"));
        hwm2 = mib(mb_bench_status_kb(arg_broker, "VmHWM"));

        printf("\nmigbroker fleet benchmark: %u devices managed, %u open (%u per domain), then %u clients x %u rounds\n\n",
               arg_devices, arg_open, arg_per_domain, arg_clients, arg_rounds);
        mb_bench_header();
        snprintf(figure, sizeof(figure), "broker VmRSS, %u devices, %u open", arg_devices, arg_open);
        mb_bench_row(figure, rss1, NAN, NAN, 1, "MiB", MB_BENCH_VALUE_AT_MOST, 16, "<= 16 MiB");
        snprintf(figure, sizeof(figure), "broker VmHWM, %u devices, %u open", arg_devices, arg_open);
        mb_bench_row(figure, hwm1, NAN, NAN, 1, "MiB", MB_BENCH_VALUE_AT_MOST, 16, "<= 16 MiB");
        mb_bench_row("  broker RssAnon (of that VmRSS)", anon1, NAN, NAN, 1, "MiB", MB_BENCH_REPORT, 0, "report");
        mb_bench_row("  broker RssFile (of that VmRSS)", file1, NAN, NAN, 1, "MiB", MB_BENCH_REPORT, 0, "report");
        snprintf(figure, sizeof(figure), "broker VmRSS, %u devices, none open", arg_devices);
        mb_bench_row(figure, rss0, NAN, NAN, 1, "MiB", MB_BENCH_REPORT, 0, "report");
        snprintf(figure, sizeof(figure), "Open (worker start) p50, one at a time");
        mb_bench_row(figure, mb_bench_pct(open_lat, arg_open, 0.5) * 1e3, NAN, NAN, 2, "ms", MB_BENCH_REPORT, 0,
                     "report");
        mb_bench_row("Claim, first of its domain (starts its bus) p50", mb_bench_median(claim_new, SEQ) * 1e3, NAN, NAN,
                     2, "ms", MB_BENCH_REPORT, 0, "report");
        mb_bench_row("Claim again, same owner (no-op) p50", mb_bench_median(claim_again, SEQ) * 1e3, NAN, NAN, 2,
                     "ms", MB_BENCH_REPORT, 0, "report");
        mb_bench_row("Release, last of its domain (stops its bus) p50", mb_bench_median(release_last, SEQ) * 1e3,
                     NAN, NAN, 2, "ms", MB_BENCH_REPORT, 0, "report");
        snprintf(figure, sizeof(figure), "idle worker VmRSS (median of %u)", w.n);
        mb_bench_row(figure, w.rss, NAN, NAN, 2, "MiB", MB_BENCH_VALUE_AT_MOST, 4, "<= 4 MiB");
        mb_bench_row("  idle worker RssAnon", w.anon, NAN, NAN, 2, "MiB", MB_BENCH_REPORT, 0, "report");
        mb_bench_row("  idle worker RssFile", w.file, NAN, NAN, 2, "MiB", MB_BENCH_REPORT, 0, "report");
        mb_bench_row("  idle worker RssShmem", w.shmem, NAN, NAN, 2, "MiB", MB_BENCH_REPORT, 0, "report");
        snprintf(figure, sizeof(figure), "%u clients at once: errors", arg_clients);
        mb_bench_row(figure, errors, NAN, NAN, 0, "", MB_BENCH_VALUE_EQUALS, 0, "0");
        for (int op = OP_CLAIM; op <= OP_RELEASE; op++) {
                double p50 = mb_bench_pct(lat[op], n[op], 0.5), p99 = mb_bench_pct(lat[op], n[op], 0.99);
                snprintf(figure, sizeof(figure), "%u clients at once: %s p50 (vs Ping p50)", arg_clients, op_name[op]);
                mb_bench_row(figure, p50 * 1e3, ping50 * 1e3, p50 / ping50, 2, "ms", MB_BENCH_REPORT, 0, "report");
                snprintf(figure, sizeof(figure), "%u clients at once: %s p99 (vs Ping p99)", arg_clients, op_name[op]);
                mb_bench_row(figure, p99 * 1e3, ping99 * 1e3, p99 / ping99, 2, "ms", MB_BENCH_REPORT, 0, "report");
        }
        snprintf(figure, sizeof(figure), "broker VmRSS after the %u clients", arg_clients);
        mb_bench_row(figure, rss2, NAN, NAN, 1, "MiB", MB_BENCH_REPORT, 0, "report");
        snprintf(figure, sizeof(figure), "broker VmHWM after the %u clients", arg_clients);
        mb_bench_row(figure, hwm2, NAN, NAN, 1, "MiB", MB_BENCH_REPORT, 0, "report");
        if (errors)
                printf("\nfirst error: %s\n", first_error);
        printf("\n%u calls per operation (%u Ping); %u worker processes seen\n", n[OP_CLAIM], n_ping, w.n);

        for (unsigned i = 0; i < arg_clients; i++) {
                for (int op = 0; op < N_OPS; op++)
                        free(cl[i].lat[op]);
                free(cl[i].path);
                sd_bus_flush_close_unref(cl[i].bus);
        }
        for (int op = 0; op < N_OPS; op++)
                free(lat[op]);
        free(cl);
        free(open_lat);
        sd_bus_flush_close_unref(bus);
        return 0;
}
