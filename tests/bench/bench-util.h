/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-util.h: what every benchmark of tests/bench shares: a monotonic clock,
 * percentiles, and one row format (figure, migbroker, baseline, ratio, target).
 * Not a test helper: benchmarks report, they never fail on a figure.
 *
 * Each row is printed to stdout and, when MB_BENCH_TSV names a file, appended
 * to it as one tab-separated line (figure, migbroker, baseline, ratio, target,
 * verdict) from which tests/bench/bench-summary.sh builds the summary table.
 */
#pragma once

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double mb_bench_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static inline int mb_bench_cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) of n values, nearest rank; sorts v. NAN when n is 0. */
static inline double mb_bench_pct(double *v, unsigned n, double p) {
        if (n == 0)
                return NAN;
        qsort(v, n, sizeof(double), mb_bench_cmp_double);
        return v[(unsigned) (p * (n - 1) + 0.5)];
}

/* The median: the mean of the two middle values when n is even; sorts v. */
static inline double mb_bench_median(double *v, unsigned n) {
        if (n == 0)
                return NAN;
        qsort(v, n, sizeof(double), mb_bench_cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* How a row's target reads: the ratio must be at least / at most the bound,
 * or the migbroker figure itself at most the bound (absolute targets), or
 * nothing (a figure reported for context). */
typedef enum MbBenchGoal {
        MB_BENCH_REPORT,
        MB_BENCH_RATIO_AT_LEAST,
        MB_BENCH_RATIO_AT_MOST,
        MB_BENCH_VALUE_AT_MOST,
        MB_BENCH_VALUE_EQUALS, /* e.g. "0 errors" */
} MbBenchGoal;

#define MB_BENCH_FMT "%-50s %16s %16s %8s %10s\n"

static inline void mb_bench_header(void) {
        printf(MB_BENCH_FMT, "figure", "migbroker", "baseline", "ratio", "target");
}

/* Formats one figure as "%.*f UNIT", or "-" for NAN. */
static inline void mb_bench_fmt(char *buf, size_t len, double v, int prec, const char *unit) {
        if (isnan(v))
                snprintf(buf, len, "-");
        else
                snprintf(buf, len, "%.*f%s%s", prec, v, unit && *unit ? " " : "", unit ? unit : "");
}

/* One row. value/base in UNIT (base NAN: no baseline), ratio NAN: none. */
static inline void mb_bench_row(const char *figure, double value, double base, double ratio, int prec,
                                const char *unit, MbBenchGoal goal, double bound, const char *target) {
        char v[32], b[32], r[16];
        const char *verdict = "-";
        const char *tsv = getenv("MB_BENCH_TSV");

        mb_bench_fmt(v, sizeof(v), value, prec, unit);
        mb_bench_fmt(b, sizeof(b), base, prec, unit);
        if (isnan(ratio))
                snprintf(r, sizeof(r), "-");
        else
                snprintf(r, sizeof(r), "%.2fx", ratio);
        switch (goal) {
        case MB_BENCH_REPORT: break;
        case MB_BENCH_RATIO_AT_LEAST: verdict = isnan(ratio) ? "-" : ratio >= bound ? "pass" : "miss"; break;
        case MB_BENCH_RATIO_AT_MOST: verdict = isnan(ratio) ? "-" : ratio <= bound ? "pass" : "miss"; break;
        case MB_BENCH_VALUE_AT_MOST: verdict = isnan(value) ? "-" : value <= bound ? "pass" : "miss"; break;
        case MB_BENCH_VALUE_EQUALS: verdict = isnan(value) ? "-" : value == bound ? "pass" : "miss"; break;
        }
        printf(MB_BENCH_FMT, figure, v, b, r, target ? target : "-");
        fflush(stdout);
        if (tsv && *tsv) {
                FILE *f = fopen(tsv, "ae");
                if (f) {
                        fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\n", figure, v, b, r, target ? target : "-", verdict);
                        fclose(f);
                }
        }
}

/* A row that could not be measured: "skipped (REASON)". */
static inline void mb_bench_skip(const char *figure, const char *target, const char *fmt, ...) {
        char why[200], cell[240];
        const char *tsv = getenv("MB_BENCH_TSV");
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        snprintf(cell, sizeof(cell), "skipped (%s)", why);
        printf("%-50s %s\n", figure, cell);
        fflush(stdout);
        if (tsv && *tsv) {
                FILE *f = fopen(tsv, "ae");
                if (f) {
                        fprintf(f, "%s\t%s\t-\t-\t%s\tskipped\n", figure, cell, target ? target : "-");
                        fclose(f);
                }
        }
}

/* An unsigned knob from the environment (decimal), or def. */
static inline unsigned long long mb_bench_env(const char *name, unsigned long long def) {
        const char *s = getenv(name);
        char *end;
        unsigned long long v;

        if (!s || !*s)
                return def;
        v = strtoull(s, &end, 10);
        return *end ? def : v;
}

/* ---- processes: /proc ----------------------------------------------------- */

#include <dirent.h>
#include <sched.h>
#include <sys/types.h>

/* A field of /proc/PID/status in kB (VmRSS, VmHWM, RssAnon, RssFile, ...),
 * or -1. */
static inline long mb_bench_status_kb(pid_t pid, const char *key) {
        char path[64], line[256];
        size_t klen = strlen(key);
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        v = strtol(line + klen + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

/* The parent of pid from /proc/PID/stat, or -1. */
static inline pid_t mb_bench_ppid(pid_t pid) {
        char path[64], buf[512], *p;
        int ppid = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && sscanf(p + 2, "%*c %d", &ppid) != 1)
                ppid = -1;
        fclose(f);
        return ppid;
}

/* The child of parent whose command line has the argument pair "--bdf BDF"
 * (a broker's worker for that device), or -1. */
static inline pid_t mb_bench_find_worker(pid_t parent, const char *bdf) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t found = -1;

        if (!d)
                return -1;
        while (found < 0 && (de = readdir(d))) {
                char path[64], buf[4096];
                pid_t pid = (pid_t) atoi(de->d_name);
                size_t n;
                FILE *f;

                if (pid <= 0 || mb_bench_ppid(pid) != parent)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
                f = fopen(path, "re");
                if (!f)
                        continue;
                n = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
                buf[n] = 0;
                for (size_t off = 0; off < n; off += strlen(buf + off) + 1)
                        if (strcmp(buf + off, "--bdf") == 0 && off + 6 < n && strcmp(buf + off + 6, bdf) == 0) {
                                found = pid;
                                break;
                        }
        }
        closedir(d);
        return found;
}

/* Puts every thread of pid (0: the caller's process) on one CPU; cpu < 0:
 * does nothing. Returns 0 or -errno. */
static inline int mb_bench_pin(pid_t pid, int cpu) {
        char path[64];
        struct dirent *de;
        cpu_set_t set;
        DIR *d;
        int r = 0;

        if (cpu < 0)
                return 0;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (pid == 0)
                pid = getpid();
        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        d = opendir(path);
        if (!d)
                return sched_setaffinity(pid, sizeof(set), &set) < 0 ? -errno : 0;
        while ((de = readdir(d)))
                if (atoi(de->d_name) > 0 && sched_setaffinity((pid_t) atoi(de->d_name), sizeof(set), &set) < 0)
                        r = -errno;
        closedir(d);
        return r;
}
