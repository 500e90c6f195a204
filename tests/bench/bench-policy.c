/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark (not a test): loading a policy of 10,000 device rules from disk,
 * and 1,000 lookups against it. Prints the median of several runs in the
 * rows of every benchmark here (bench-util.h) and exits 0 whatever they are.
 *   make bench   or   tests/bench/bench-policy [RUNS] */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "pci-sysfs.h"
#include "policy-load.h"
#include "policy-match.h"

#define N_RULES 10000
#define N_LOOKUPS 1000
#define N_PLUGINS 20

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double median(double *v, int n) {
        return mb_bench_median(v, (unsigned) n);
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "cannot write %s: %m\n", path);
                exit(EXIT_FAILURE);
        }
}

/* 7,000 exact BDFs, 1,500 slot patterns, 1,000 vendor+device, 500 vendor:
 * rules of every rank, no two of the same rank overlapping. */
static char *make_policy(const char *plugin_dir) {
        GString *s = g_string_new(NULL);
        int n = 0;

        g_string_append_printf(s, "version: 1\nsettings:\n  plugin-dir: %s\nplugins:\n", plugin_dir);
        for (int i = 0; i < N_PLUGINS; i++)
                g_string_append_printf(s, "  vendor%d:\n    path: vendor%d.so\n    arg: \"10.0.0.%d:7000\"\n", i, i, i);
        g_string_append(s, "devices:\n");
        for (int i = 0; i < 7000; i++, n++) /* domains 0000-0001, every bus, slots 0-13, fn 0-1 */
                g_string_append_printf(s, "  - match: { bdf: \"%04x:%02x:%02x.%x\" }\n    plugin: vendor%d\n"
                                          "    arg: \"10.1.%d.%d:7000\"\n",
                                       i / 3584, (i / 28) % 128, (i / 2) % 14, i % 2, n % N_PLUGINS, i / 256, i % 256);
        for (int i = 0; i < 1500; i++, n++) /* domain 0002-0007: whole slots */
                g_string_append_printf(s, "  - match: { bdf: \"%04x:%02x:%02x.*\" }\n    plugin: vendor%d\n",
                                       2 + i / 256, i % 256, 0, n % N_PLUGINS);
        for (int i = 0; i < 1000; i++, n++)
                g_string_append_printf(s, "  - match: { vendor: 0x%04x, device: 0x%04x }\n    plugin: vendor%d\n",
                                       0x1000 + i / 100, i % 100, n % N_PLUGINS);
        for (int i = 0; i < 500; i++, n++)
                g_string_append_printf(s, "  - match: { vendor: 0x%04x }\n    plugin: vendor%d\n", 0x2000 + i,
                                       n % N_PLUGINS);
        g_assert(n == N_RULES);
        return g_string_free(s, FALSE);
}

typedef struct Lookup {
        MbBdf bdf;
        MbPolicyDeviceIds ids;
        char name[MB_BDF_STRLEN + 1];
} Lookup;

/* 1,000 devices: a quarter each exact hits, pattern hits, ID hits, misses. */
static void make_lookups(Lookup *l) {
        for (int i = 0; i < N_LOOKUPS; i++) {
                int k = i * 7;
                switch (i % 4) {
                case 0:
                        l[i].bdf = (MbBdf) { (uint16_t) (k % 7000 / 3584), (uint8_t) (k % 7000 / 28 % 128),
                                             (uint8_t) (k % 7000 / 2 % 14), (uint8_t) (k % 2) };
                        break;
                case 1:
                        l[i].bdf = (MbBdf) { (uint16_t) (2 + k % 1500 / 256), (uint8_t) (k % 1500 % 256), 0, (uint8_t) (k % 8) };
                        break;
                default:
                        l[i].bdf = (MbBdf) { 0x00ff, (uint8_t) (k % 256), (uint8_t) (k % 32), (uint8_t) (k % 8) };
                        break;
                }
                l[i].ids = i % 4 == 2 ? (MbPolicyDeviceIds) { (uint16_t) (0x1000 + k % 10), (uint16_t) (k % 100) }
                                      : (MbPolicyDeviceIds) { 0x8086, 0x1572 };
                mb_bdf_format(&l[i].bdf, l[i].name);
        }
}

int main(int argc, char *argv[]) {
        int runs = argc > 1 ? atoi(argv[1]) : 7;
        g_autofree char *dir = g_dir_make_tmp("mb-bench-XXXXXX", NULL);
        g_autofree char *plugin_dir = g_build_filename(dir, "plugins", NULL);
        g_autofree char *sysfs = g_build_filename(dir, "sys", NULL);
        g_autofree char *path = g_build_filename(dir, "policy.yaml", NULL);
        g_autofree char *text = NULL;
        g_autofree double *load = NULL, *lookup = NULL, *lookup_sysfs = NULL;
        g_autofree Lookup *lookups = g_new0(Lookup, N_LOOKUPS);
        g_autoptr(MbPolicy) p = NULL;
        MbPolicyLoadOptions opts;
        unsigned bound = 0;
        struct stat st;

        if (runs < 1 || !dir)
                return EXIT_FAILURE;
        load = g_new(double, runs);
        lookup = g_new(double, runs);
        lookup_sysfs = g_new(double, runs);
        g_assert(g_mkdir_with_parents(plugin_dir, 0755) == 0);
        for (int i = 0; i < N_PLUGINS; i++) {
                g_autofree char *so = g_strdup_printf("%s/vendor%d.so", plugin_dir, i);
                write_text(so, "x");
        }
        text = make_policy(plugin_dir);
        write_text(path, text);
        make_lookups(lookups);
        for (int i = 0; i < N_LOOKUPS; i++) {
                g_autofree char *d = g_build_filename(sysfs, "bus/pci/devices", lookups[i].name, NULL);
                g_autofree char *v = g_build_filename(d, "vendor", NULL), *dv = g_build_filename(d, "device", NULL);
                g_autofree char *vs = g_strdup_printf("0x%04x\n", lookups[i].ids.vendor);
                g_autofree char *ds = g_strdup_printf("0x%04x\n", lookups[i].ids.device);
                g_assert(g_mkdir_with_parents(d, 0755) == 0);
                write_text(v, vs);
                write_text(dv, ds);
        }
        opts = (MbPolicyLoadOptions) { .path = path };

        for (int r = 0; r < runs; r++) {
                g_autoptr(MbDiagList) diags = mb_diag_list_new();
                g_autoptr(MbPolicy) q = NULL;
                double t0 = now_ms();
                if (mb_policy_load(&opts, &q, diags) < 0) {
                        (void) mb_diag_list_print(diags, stderr);
                        return EXIT_FAILURE;
                }
                load[r] = now_ms() - t0;
                if (r == runs - 1)
                        p = MB_TAKE_PTR(q);
        }
        g_assert(p->rules->len == N_RULES);

        for (int r = 0; r < runs; r++) {
                MbPolicyMatchResult res;
                double t0 = now_ms();
                bound = 0;
                for (int i = 0; i < N_LOOKUPS; i++)
                        if (mb_policy_match_ids(p, &lookups[i].bdf, &lookups[i].ids, NULL, NULL, &res) > 0)
                                bound++;
                lookup[r] = now_ms() - t0;
        }
        for (int r = 0; r < runs; r++) {
                MbPolicyMatchResult res;
                double t0 = now_ms();
                for (int i = 0; i < N_LOOKUPS; i++)
                        (void) mb_policy_match(p, lookups[i].name, sysfs, NULL, NULL, &res);
                lookup_sysfs[r] = now_ms() - t0;
        }

        g_assert(stat(path, &st) == 0);
        printf("\npolicy: %d device rules, %d plugins, %jd bytes; %d lookups (%u bound); median of %d runs\n\n",
               N_RULES, N_PLUGINS, (intmax_t) st.st_size, N_LOOKUPS, bound, runs);
        mb_bench_header();
        mb_bench_row("policy of 10,000 rules: load", median(load, runs), NAN, NAN, 2, "ms", MB_BENCH_VALUE_AT_MOST,
                     100, "<= 100 ms");
        mb_bench_row("policy of 10,000 rules: 1,000 lookups, IDs given", median(lookup, runs), NAN, NAN, 3, "ms",
                     MB_BENCH_VALUE_AT_MOST, 5, "<= 5 ms");
        mb_bench_row("  policy: 1,000 lookups, IDs from a fake sysfs", median(lookup_sysfs, runs), NAN, NAN, 3, "ms",
                     MB_BENCH_REPORT, 0, "report");

        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
                return EXIT_FAILURE;
        return EXIT_SUCCESS;
}
