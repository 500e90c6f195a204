/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-hook: wall time of migbroker-hook runs as libvirtd makes them (an
 * environment of LC_ALL, PATH and here MIGBROKER_HOOK_CONF only, the domain
 * XML on standard input, fork + exec + wait), beside /bin/true run the same
 * way, in pairs (order alternating), medians. tests/bench/bench-hook.sh sets
 * up the broker and the two domain XMLs.
 *
 *   no managed devices: prepare begin           target <= 5 ms
 *   8 managed devices:  one destination lifecycle per run, each call timed:
 *     migrate begin (Preflight), prepare begin (Claim), start begin (Open),
 *     stopped end (Close, Release), release end (nothing left)   <= 100 ms
 *
 *   bench-hook --hook PATH --conf FILE --none XML --devices XML --count N [--runs N]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

static const char *arg_hook, *arg_conf, *arg_none, *arg_devices;
static unsigned arg_runs = 21, arg_count = 8;
static char env_path[4096], env_conf[4096];
static unsigned failures;

/* Runs argv with stdin from xml, stdout and stderr to /dev/null (stderr to
 * errfile when given); seconds from fork to reaped. */
static double run(char *const argv[], const char *xml) {
        char *envp[] = { (char *) "LC_ALL=C", env_path, env_conf, NULL };
        int in = open(xml, O_RDONLY | O_CLOEXEC), status = 0;
        double t = mb_bench_now();
        pid_t pid;

        if (in < 0) {
                perror(xml);
                exit(1);
        }
        pid = fork();
        if (pid < 0) {
                perror("fork");
                exit(1);
        }
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(in, 0);
                dup2(null, 1);
                dup2(null, 2);
                execve(argv[0], argv, envp);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        t = mb_bench_now() - t;
        close(in);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (failures++ < 5)
                        fprintf(stderr, "bench-hook: %s %s %s exited with %d\n", argv[0], argv[2] ? argv[2] : "",
                                argv[2] && argv[3] ? argv[3] : "", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        return t;
}

static double hook(const char *op, const char *sub, const char *xml) {
        char *argv[] = { (char *) arg_hook, (char *) "t2", (char *) op, (char *) sub, (char *) "-", NULL };
        return run(argv, xml);
}

static double true_(const char *xml) {
        char *argv[] = { (char *) "/bin/true", NULL };
        return run(argv, xml);
}

#define N_LIFE 5
static const char *const life[N_LIFE][2] = {
        { "migrate", "begin" }, { "prepare", "begin" }, { "start", "begin" }, { "stopped", "end" }, { "release", "end" },
};
static const char *const life_what[N_LIFE] = { "Preflight", "Claim", "Open", "Close+Release", "nothing left" };

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "hook", required_argument, NULL, 'h' },   { "conf", required_argument, NULL, 'c' },
                { "none", required_argument, NULL, 'n' },   { "devices", required_argument, NULL, 'd' },
                { "runs", required_argument, NULL, 'r' },   { "count", required_argument, NULL, 'N' },
                {}
        };
        double *base, *none, *dev[N_LIFE], *dbase[N_LIFE], *ratio;
        char figure[96], target[32];
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'h': arg_hook = optarg; break;
                case 'c': arg_conf = optarg; break;
                case 'n': arg_none = optarg; break;
                case 'd': arg_devices = optarg; break;
                case 'r': arg_runs = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'N': arg_count = (unsigned) strtoul(optarg, NULL, 10); break;
                default: return 2;
                }
        }
        if (!arg_hook || !arg_conf || !arg_none || !arg_devices || arg_runs < 1)
                return 2;
        snprintf(env_path, sizeof(env_path), "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
        snprintf(env_conf, sizeof(env_conf), "MIGBROKER_HOOK_CONF=%s", arg_conf);

        base = calloc(arg_runs, sizeof(double));
        none = calloc(arg_runs, sizeof(double));
        ratio = calloc(arg_runs, sizeof(double));
        for (int k = 0; k < N_LIFE; k++) {
                dev[k] = calloc(arg_runs, sizeof(double));
                dbase[k] = calloc(arg_runs, sizeof(double));
        }
        /* One warm-up of each: page cache, dynamic loader. */
        (void) true_(arg_none);
        (void) hook("prepare", "begin", arg_none);
        for (int k = 0; k < N_LIFE; k++)
                (void) hook(life[k][0], life[k][1], arg_devices);

        for (unsigned i = 0; i < arg_runs; i++) {
                int flip = i % 2;
                if (flip)
                        none[i] = hook("prepare", "begin", arg_none);
                base[i] = true_(arg_none);
                if (!flip)
                        none[i] = hook("prepare", "begin", arg_none);
                for (int k = 0; k < N_LIFE; k++) {
                        if (flip)
                                dev[k][i] = hook(life[k][0], life[k][1], arg_devices);
                        dbase[k][i] = true_(arg_devices);
                        if (!flip)
                                dev[k][i] = hook(life[k][0], life[k][1], arg_devices);
                }
        }

        printf("\nmigbroker-hook benchmark: %u runs of each (medians; ratio: median of per-run ratios)\n\n", arg_runs);
        mb_bench_header();
        for (unsigned i = 0; i < arg_runs; i++)
                ratio[i] = none[i] / base[i];
        mb_bench_row("hook, no devices: prepare begin (vs /bin/true)", mb_bench_median(none, arg_runs) * 1e3,
                     mb_bench_median(base, arg_runs) * 1e3, mb_bench_median(ratio, arg_runs), 2, "ms",
                     MB_BENCH_VALUE_AT_MOST, 5, "<= 5 ms");
        for (int k = 0; k < N_LIFE; k++) {
                for (unsigned i = 0; i < arg_runs; i++)
                        ratio[i] = dev[k][i] / dbase[k][i];
                snprintf(figure, sizeof(figure), "hook, %u devices: %s %s (%s)", arg_count, life[k][0], life[k][1],
                         life_what[k]);
                snprintf(target, sizeof(target), "<= 100 ms");
                mb_bench_row(figure, mb_bench_median(dev[k], arg_runs) * 1e3, mb_bench_median(dbase[k], arg_runs) * 1e3,
                             mb_bench_median(ratio, arg_runs), 2, "ms", MB_BENCH_VALUE_AT_MOST, 100, target);
        }
        if (failures)
                printf("\n%u hook runs exited non-zero (see above): their times are in the figures\n", failures);
        return 0;
}
