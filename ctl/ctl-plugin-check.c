/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <json-glib/json-glib.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bdf.h"
#include "ctl-bus.h"
#include "ctl-plugin-check.h"
#include "ctl.h"
#include "log.h"
#include "macro.h"
#include "plugin-conformance.h"

#define DEFAULT_BDF "0000:00:00.0"
#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_ITERATIONS 1000u
#define DEFAULT_ROOT_USER "nobody"
#define RSS_TOLERANCE_KIB 1024u
#define ENV_WORKER "MIGBROKER_WORKER"

typedef struct Args {
        CtlOptions common;      /* --json; --bus and --timeout are accepted and unused */
        const char *arg;
        const char *peer_arg;
        const char *bdf;
        const char *user;
        const char *worker;
        uint64_t timeout_ms;
        uint64_t iterations;
        bool verbose;
} Args;

static void help(FILE *f) {
        fputs("Usage: migbrokerctl plugin check PLUGIN.so [--arg ARG] [--peer-arg ARG] [--bdf BDF]\n"
              "                                 [--json] [--timeout-ms N] [--iterations N] [--user USER]\n"
              "\n"
              "Run the conformance suite on a migration plugin: its ABI, init/cleanup\n"
              "cycles (worker memory and fds), every v1 set_state() move QEMU's v1 code\n"
              "makes, invalid states, update_pending/save/load semantics, calls in the wrong\n"
              "state, and each op's time. The plugin runs in migbroker-worker processes,\n"
              "never in this one; a crash or a hang fails the check that caused it, and a\n"
              "fresh worker runs the remaining checks. Needs no broker.\n"
              "\n"
              "  --arg ARG          init() argument of the instance under test (default \"\")\n"
              "  --peer-arg ARG     init() argument of a second instance: a save from the first\n"
              "                     is loaded into it and saved again (without: the check is skipped)\n"
              "  --bdf BDF          the device name init() receives (default " DEFAULT_BDF ")\n"
              "  --timeout-ms N     bound on each op and each stall of a save or load (default 10000)\n"
              "  --iterations N     init/cleanup cycles of lifecycle.init-cleanup (default 1000)\n"
              "  --user USER        run the worker as USER when started as root (default nobody)\n"
              "  --worker PATH      the migbroker-worker binary (default $" ENV_WORKER ", else\n"
              "                     " PKGLIBEXECDIR "/migbroker-worker)\n"
              "  --json             one JSON object on stdout: {plugin, bdf, info, checks, summary, ok}\n"
              "  -v, --verbose      log what the worker does (stderr)\n"
              "  -h, --help         show this help\n"
              "\n"
              "The common options --bus and --timeout have no effect here (see --timeout-ms).\n"
              "Exit status: 0 when no check failed, 1 when one did, 2 on a usage error.\n",
              f);
}

static int usage(const char *fmt, ...) _printf_(1, 2);
static int usage(const char *fmt, ...) {
        va_list ap;

        fputs("migbrokerctl plugin: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'migbrokerctl plugin --help'.\n", stderr);
        return CTL_EXIT_USAGE;
}

/* ---- text output ----------------------------------------------------------- */

static void print_check_line(const MbCheck *chk, void *userdata) {
        printf("%s %-30s %s\n", mb_check_result_to_string(chk->result), chk->name, chk->reason ?: "");
        fflush(stdout);
}

/* ---- JSON output ------------------------------------------------------------ */

static void json_info(JsonBuilder *b, const MbPluginDescription *d) {
        json_builder_set_member_name(b, "info");
        if (!d->loaded) {
                json_builder_add_null_value(b);
                return;
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, d->name);
        json_builder_set_member_name(b, "version");
        json_builder_add_string_value(b, d->version);
        json_builder_set_member_name(b, "capabilities");
        json_builder_begin_array(b);
        if (d->capabilities & MIGBROKER_PLUGIN_CAP_PRECOPY)
                json_builder_add_string_value(b, "pre-copy");
        json_builder_end_array(b);
        json_builder_set_member_name(b, "pci_ids");
        json_builder_begin_array(b);
        for (size_t i = 0; i < d->n_pci_ids; i++) {
                g_autofree char *id = g_strdup_printf("%04x:%04x", d->pci_ids[i].vendor, d->pci_ids[i].device);
                json_builder_add_string_value(b, id);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "probe");
        json_builder_add_boolean_value(b, d->has_probe);
        json_builder_end_object(b);
}

static void json_check(JsonBuilder *b, const MbCheck *chk) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, chk->name);
        json_builder_set_member_name(b, "result");
        json_builder_add_string_value(b, mb_check_result_to_string(chk->result));
        json_builder_set_member_name(b, "reason");
        json_builder_add_string_value(b, chk->reason);
        json_builder_set_member_name(b, "duration_ms");
        json_builder_add_double_value(b, chk->duration_usec / 1000.0);
        if (chk->has_timing) {
                json_builder_set_member_name(b, "timing");
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "calls");
                json_builder_add_int_value(b, (gint64) chk->timing.n);
                json_builder_set_member_name(b, "p50_ms");
                json_builder_add_double_value(b, chk->timing.p50_usec / 1000.0);
                json_builder_set_member_name(b, "p90_ms");
                json_builder_add_double_value(b, chk->timing.p90_usec / 1000.0);
                json_builder_set_member_name(b, "max_ms");
                json_builder_add_double_value(b, chk->timing.max_usec / 1000.0);
                json_builder_end_object(b);
        }
        if (chk->n_values > 0) {
                json_builder_set_member_name(b, "values");
                json_builder_begin_object(b);
                for (size_t i = 0; i < chk->n_values; i++) {
                        json_builder_set_member_name(b, chk->values[i].key);
                        json_builder_add_int_value(b, (gint64) chk->values[i].value);
                }
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
}

static void print_json(const Args *a, const char *plugin, const MbConformance *res, double seconds) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "plugin");
        json_builder_add_string_value(b, plugin);
        json_builder_set_member_name(b, "bdf");
        json_builder_add_string_value(b, a->bdf);
        json_info(b, &res->plugin);
        json_builder_set_member_name(b, "checks");
        json_builder_begin_array(b);
        for (size_t i = 0; i < res->n_checks; i++)
                json_check(b, res->checks[i]);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "summary");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "passed");
        json_builder_add_int_value(b, (gint64) res->counts[MB_CHECK_PASS]);
        json_builder_set_member_name(b, "failed");
        json_builder_add_int_value(b, (gint64) res->counts[MB_CHECK_FAIL]);
        json_builder_set_member_name(b, "skipped");
        json_builder_add_int_value(b, (gint64) res->counts[MB_CHECK_SKIP]);
        json_builder_set_member_name(b, "seconds");
        json_builder_add_double_value(b, seconds);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, res->counts[MB_CHECK_FAIL] == 0);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        ctl_json_print(root);
}

/* ---- the verb ------------------------------------------------------------------ */

static const char *worker_path(const Args *a) {
        const char *e = getenv(ENV_WORKER);

        if (a->worker)
                return a->worker;
        if (e && *e)
                return e;
        return PKGLIBEXECDIR "/migbroker-worker";
}

/* The user the worker drops to: only when we are root, never root itself. */
static int worker_user(const Args *a, const char **ret) {
        const char *user = a->user ?: DEFAULT_ROOT_USER;
        struct passwd *pw;

        if (geteuid() != 0) {
                if (a->user)
                        fprintf(stderr, "migbrokerctl plugin: --user has no effect when not run as root; the "
                                        "worker runs as you\n");
                *ret = NULL;
                return 0;
        }
        errno = 0;
        pw = getpwnam(user);
        if (!pw) {
                char *end;
                unsigned long uid;

                errno = 0;
                uid = strtoul(user, &end, 10);
                if (!*user || *end || errno)
                        return usage("no user '%s' to run the worker as; name one with --user", user);
                if (uid == 0)
                        return usage("refusing to run the plugin as root (--user %s)", user);
        } else if (pw->pw_uid == 0) {
                return usage("refusing to run the plugin as root (--user %s)", user);
        }
        *ret = user;
        return 0;
}

/* The suite cannot run at all (no plugin file, no worker): exit 1, as ctl_fail reports. */
static int setup_failed(const Args *a, int r, const char *fmt, ...) _printf_(3, 4);
static int setup_failed(const Args *a, int r, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;

        errno = r < 0 ? -r : r;
        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        e.message = msg;
        return ctl_fail(&a->common, "plugin check", r, &e);
}

static double now_s(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int verb_check(Args *a, const char *plugin) {
        _cleanup_(mb_conformance_freep) MbConformance *res = NULL;
        _cleanup_close_ int fd = -1;
        const char *worker = worker_path(a), *user = NULL;
        MbConformanceConfig cfg;
        struct stat st;
        double t0;
        int r;

        r = worker_user(a, &user);
        if (r != 0)
                return r;
        /* Opened here, loaded only by the worker: it may not be able to open it itself. */
        fd = open(plugin, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return setup_failed(a, -errno, "cannot open %s: %m", plugin);
        if (!S_ISREG(st.st_mode))
                return setup_failed(a, -EINVAL, "%s is not a regular file", plugin);
        if (access(worker, X_OK) < 0)
                return setup_failed(a, -errno, "cannot run the worker %s: %m (set $" ENV_WORKER " or --worker)",
                                    worker);

        cfg = (MbConformanceConfig) {
                .worker_path = worker,
                .plugin_path = plugin,
                .plugin_fd = fd,
                .user = user,
                .worker_log_level = a->verbose ? LOG_DEBUG : LOG_CRIT,
                .bdf = a->bdf,
                .arg = a->arg,
                .peer_arg = a->peer_arg,
                .timeout_usec = a->timeout_ms * 1000,
                .iterations = (unsigned) a->iterations,
                .rss_tolerance_kib = RSS_TOLERANCE_KIB,
                .report = a->common.json ? NULL : print_check_line,
        };
        if (!a->common.json) {
                printf("plugin check: %s in %s%s%s, device %s, op timeout %" PRIu64 " ms\n", plugin, worker,
                       user ? " as user " : "", user ?: "", a->bdf, a->timeout_ms);
                fflush(stdout);
        }
        t0 = now_s();
        r = mb_conformance_run(&cfg, &res);
        if (r < 0)
                return ctl_fail(&a->common, "plugin check", r, NULL);

        if (a->common.json)
                print_json(a, plugin, res, now_s() - t0);
        else
                printf("summary: %zu checks: %zu passed, %zu failed, %zu skipped (%.2f s)\n", res->n_checks,
                       res->counts[MB_CHECK_PASS], res->counts[MB_CHECK_FAIL], res->counts[MB_CHECK_SKIP],
                       now_s() - t0);
        return res->counts[MB_CHECK_FAIL] > 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

int ctl_plugin_main(int argc, char *argv[]) {
        enum { ARG_ARG = 0x100, ARG_PEER_ARG, ARG_BDF, ARG_TIMEOUT_MS, ARG_ITERATIONS, ARG_USER, ARG_WORKER };
        static const struct option options[] = {
                CTL_COMMON_OPTIONS,
                { "arg", required_argument, NULL, ARG_ARG },
                { "peer-arg", required_argument, NULL, ARG_PEER_ARG },
                { "bdf", required_argument, NULL, ARG_BDF },
                { "timeout-ms", required_argument, NULL, ARG_TIMEOUT_MS },
                { "iterations", required_argument, NULL, ARG_ITERATIONS },
                { "user", required_argument, NULL, ARG_USER },
                { "worker", required_argument, NULL, ARG_WORKER },
                { "verbose", no_argument, NULL, 'v' },
                {},
        };
        char bdf[MB_BDF_STRLEN + 1];
        Args a = {
                .arg = "",
                .bdf = DEFAULT_BDF,
                .timeout_ms = DEFAULT_TIMEOUT_MS,
                .iterations = DEFAULT_ITERATIONS,
        };
        int c;

        ctl_options_init(&a.common);
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hv", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                case CTL_ARG_HELP:
                        help(stdout);
                        return CTL_EXIT_OK;
                case 'v':
                        a.verbose = true;
                        break;
                case CTL_ARG_BUS:
                case CTL_ARG_JSON:
                case CTL_ARG_TIMEOUT:
                        if (ctl_options_handle(&a.common, c, optarg) < 0)
                                return CTL_EXIT_USAGE;
                        break;
                case ARG_ARG:
                        a.arg = optarg;
                        break;
                case ARG_PEER_ARG:
                        a.peer_arg = optarg;
                        break;
                case ARG_BDF:
                        if (mb_bdf_normalize(optarg, bdf) < 0)
                                return usage("malformed --bdf '%s' (DDDD:BB:SS.F)", optarg);
                        a.bdf = bdf;
                        break;
                case ARG_TIMEOUT_MS:
                        if (ctl_parse_uint(optarg, &a.timeout_ms) < 0 || a.timeout_ms == 0 ||
                            a.timeout_ms > 24u * 3600 * 1000)
                                return usage("--timeout-ms needs a number of milliseconds (1 to 86400000), not '%s'",
                                             optarg);
                        break;
                case ARG_ITERATIONS:
                        if (ctl_parse_uint(optarg, &a.iterations) < 0 || a.iterations == 0 ||
                            a.iterations > 10000000)
                                return usage("--iterations needs a number from 1 to 10000000, not '%s'", optarg);
                        break;
                case ARG_USER:
                        a.user = optarg;
                        break;
                case ARG_WORKER:
                        a.worker = optarg;
                        break;
                case ':':
                        return usage("option %s needs an argument", argv[optind - 1]);
                default:
                        return usage("unknown option %s", argv[optind - 1]);
                }

        if (optind >= argc)
                return usage("missing command: check");
        if (strcmp(argv[optind], "check") != 0)
                return usage("unknown command \"%s\" (check)", argv[optind]);
        if (argc - optind != 2)
                return usage("%s", argc - optind < 2 ? "check needs a PLUGIN.so" : "check takes one PLUGIN.so");
        mb_log_set_level(a.verbose ? LOG_DEBUG : LOG_CRIT);
        return verb_check(&a, argv[optind + 1]);
}
