/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mb-worker-driver: drives one real migbroker-worker through libmbworkerclient
 * from a script of operations given as arguments, for integration tests and
 * the demo before the broker runs. Not installed.
 *
 *   mb-worker-driver --plugin PATH --bdf BDF [--arg ARG] [--timeout-ms N] OP...
 *
 * OPs (each may end in @ErrorName: the op must fail with that error):
 *   hello  init  cleanup  get-state  pending  set-state=V
 *   save=FILE[:begin][:final][:raw][:max=N]   (FILE '-' is stdout; appends)
 *   load=FILE[:begin][:raw]                   (FILE '-' is stdin)
 *   load-finish  sleep=MS  pid
 * Each op prints one line on stderr; the exit status is 0 when every op did
 * what was expected, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "worker-client.h"
#include "worker-proto.h"

static const char *arg_plugin, *arg_bdf = "0000:00:00.0", *arg_arg = "", *arg_worker, *arg_user;
static uint64_t arg_timeout_ms = 10000;

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static bool has_flag(const char *spec, const char *flag) {
        size_t n = strlen(flag);
        for (const char *p = strchr(spec, ':'); p; p = strchr(p + 1, ':'))
                if (strncmp(p + 1, flag, n) == 0 && (p[1 + n] == ':' || p[1 + n] == '\0' || p[1 + n] == '='))
                        return true;
        return false;
}

static uint64_t flag_value(const char *spec, const char *flag) {
        size_t n = strlen(flag);
        for (const char *p = strchr(spec, ':'); p; p = strchr(p + 1, ':'))
                if (strncmp(p + 1, flag, n) == 0 && p[1 + n] == '=')
                        return strtoull(p + 2 + n, NULL, 0);
        return 0;
}

static int open_target(const char *spec, bool writing, char **ret_path) {
        const char *colon = strchr(spec, ':');
        char *path = colon ? strndup(spec, (size_t) (colon - spec)) : strdup(spec);
        int fd;

        if (!path)
                return -ENOMEM;
        if (strcmp(path, "-") == 0)
                fd = dup(writing ? STDOUT_FILENO : STDIN_FILENO);
        else
                fd = open(path, writing ? (O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC) : (O_RDONLY | O_CLOEXEC), 0644);
        if (fd < 0) {
                fd = -errno;
                free(path);
                return fd;
        }
        *ret_path = path;
        return fd;
}

static int run_op(MbWorker *w, const char *op, sd_bus_error *error, char *out, size_t outlen) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        uint64_t timeout = arg_timeout_ms * 1000;
        bool stall = false;
        int r, fd = -1;
        _cleanup_free_ char *path = NULL;

        out[0] = '\0';
        if (strcmp(op, "pid") == 0) {
                snprintf(out, outlen, "%d", (int) mb_worker_pid(w));
                return 0;
        }
        if (strncmp(op, "sleep=", 6) == 0) {
                usleep((useconds_t) strtoul(op + 6, NULL, 10) * 1000);
                return 0;
        }

        if (strcmp(op, "hello") == 0) {
                r = mb_worker_new_call(w, &m, "Hello");
        } else if (strcmp(op, "init") == 0) {
                r = mb_worker_new_call(w, &m, "Init");
                if (r >= 0)
                        r = sd_bus_message_append(m, "ss", arg_bdf, arg_arg);
        } else if (strcmp(op, "cleanup") == 0) {
                r = mb_worker_new_call(w, &m, "Cleanup");
        } else if (strcmp(op, "get-state") == 0) {
                r = mb_worker_new_call(w, &m, "GetState");
        } else if (strcmp(op, "pending") == 0) {
                r = mb_worker_new_call(w, &m, "UpdatePending");
        } else if (strncmp(op, "set-state=", 10) == 0) {
                r = mb_worker_new_call(w, &m, "SetState");
                if (r >= 0)
                        r = sd_bus_message_append(m, "u", (uint32_t) strtoul(op + 10, NULL, 0));
        } else if (strncmp(op, "save=", 5) == 0) {
                uint32_t flags = 0;
                fd = open_target(op + 5, true, &path);
                if (fd < 0)
                        return fd;
                if (has_flag(op + 5, "begin"))
                        flags |= MB_WORKER_SAVE_BEGIN;
                if (has_flag(op + 5, "final"))
                        flags |= MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END;
                r = mb_worker_new_call(w, &m, "Save");
                if (r >= 0)
                        r = sd_bus_message_append(m, "hstuu", fd, has_flag(op + 5, "raw") ? "raw" : "framed",
                                                  flag_value(op + 5, "max"), flags, (uint32_t) arg_timeout_ms);
                stall = true;
        } else if (strncmp(op, "load=", 5) == 0) {
                fd = open_target(op + 5, false, &path);
                if (fd < 0)
                        return fd;
                r = mb_worker_new_call(w, &m, "Load");
                if (r >= 0)
                        r = sd_bus_message_append(m, "hsuu", fd, has_flag(op + 5, "raw") ? "raw" : "framed",
                                                  has_flag(op + 5, "begin") ? MB_WORKER_LOAD_BEGIN : 0,
                                                  (uint32_t) arg_timeout_ms);
                stall = true;
        } else if (strcmp(op, "load-finish") == 0) {
                r = mb_worker_new_call(w, &m, "LoadFinish");
        } else {
                fprintf(stderr, "unknown op '%s'\n", op);
                return -EINVAL;
        }
        if (fd >= 0)
                (void) close(fd);
        if (r < 0)
                return r;

        r = mb_worker_call_sync(w, m, timeout, stall, error, &reply);
        if (r < 0 || !reply)
                return r;

        if (strcmp(op, "get-state") == 0) {
                uint32_t v;
                if (sd_bus_message_read(reply, "u", &v) >= 0)
                        snprintf(out, outlen, "%u", v);
        } else if (strcmp(op, "pending") == 0) {
                uint64_t p;
                if (sd_bus_message_read(reply, "t", &p) >= 0)
                        snprintf(out, outlen, "%" PRIu64, p);
        } else if (strcmp(op, "hello") == 0) {
                const char *name, *version;
                uint32_t caps;
                if (sd_bus_message_read(reply, "ssu", &name, &version, &caps) >= 0)
                        snprintf(out, outlen, "name=%s version=%s caps=%u", name, version, caps);
        } else if (strncmp(op, "save=", 5) == 0) {
                uint64_t bytes, records, pending;
                int ended;
                if (sd_bus_message_read(reply, "tttb", &bytes, &records, &pending, &ended) >= 0)
                        snprintf(out, outlen, "bytes=%" PRIu64 " records=%" PRIu64 " pending=%" PRIu64 " ended=%d",
                                 bytes, records, pending, ended);
        } else if (strncmp(op, "load=", 5) == 0) {
                uint64_t bytes, records;
                int ended;
                if (sd_bus_message_read(reply, "ttb", &bytes, &records, &ended) >= 0)
                        snprintf(out, outlen, "bytes=%" PRIu64 " records=%" PRIu64 " ended=%d", bytes, records, ended);
        } else if (strcmp(op, "load-finish") == 0) {
                uint64_t bytes, records;
                if (sd_bus_message_read(reply, "tt", &bytes, &records) >= 0)
                        snprintf(out, outlen, "bytes=%" PRIu64 " records=%" PRIu64, bytes, records);
        }
        return 0;
}

/* At the end the worker is killed, as the last unref would do, but reaped
 * here: unref leaves a live worker to the event loop, which no longer runs. */
static void kill_and_reap(sd_event *event, MbWorker *w) {
        mb_worker_kill(w, NULL);
        while (mb_worker_alive(w))
                if (sd_event_run(event, UINT64_MAX) < 0)
                        break;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "plugin", required_argument, NULL, 'p' },
                { "bdf", required_argument, NULL, 'b' },
                { "arg", required_argument, NULL, 'a' },
                { "worker", required_argument, NULL, 'w' },
                { "user", required_argument, NULL, 'u' },
                { "timeout-ms", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(mb_worker_unrefp) MbWorker *w = NULL;
        _cleanup_free_ char *default_worker = NULL;
        int c, r, failed = 0;

        mb_log_set_ident("mb-worker-driver");
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'p': arg_plugin = optarg; break;
                case 'b': arg_bdf = optarg; break;
                case 'a': arg_arg = optarg; break;
                case 'w': arg_worker = optarg; break;
                case 'u': arg_user = optarg; break;
                case 't': arg_timeout_ms = strtoull(optarg, NULL, 10); break;
                case 'h':
                        printf("Usage: %s --plugin PATH [--bdf BDF] [--arg ARG] [--worker PATH] [--timeout-ms N] OP...\n",
                               program_invocation_short_name);
                        return 0;
                default: return 2;
                }
        }
        if (!arg_plugin) {
                fprintf(stderr, "--plugin is required\n");
                return 2;
        }
        if (!arg_worker) {
                const char *b = getenv("MB_BUILDDIR");
                if (asprintf(&default_worker, "%s/worker/migbroker-worker", b ? b : ".") < 0)
                        return 1;
                arg_worker = default_worker;
        }

        r = sd_event_new(&event);
        if (r < 0)
                return 1;
        MbWorkerConfig cfg = {
                .worker_path = arg_worker,
                .bdf = arg_bdf,
                .plugin_path = arg_plugin,
                .plugin_fd = -1,
                .user = arg_user,
                .log_level = -1,
        };
        r = mb_worker_spawn(event, &cfg, &w);
        if (r < 0) {
                fprintf(stderr, "spawn: %s\n", strerror(-r));
                return 1;
        }

        for (int i = optind; i < argc; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *op = strdup(argv[i]);
                const char *expect = NULL;
                char out[256];
                char *at;
                double t0;

                if (!op)
                        return 1;
                at = strrchr(op, '@');
                if (at) {
                        *at = '\0';
                        expect = at + 1;
                }
                t0 = now_s();
                r = run_op(w, op, &e, out, sizeof(out));
                if (r < 0) {
                        const char *name = e.name ? e.name : "";
                        const MbErrorInfo *info = mb_error_from_name(name);
                        const char *short_name = info ? info->short_name : mb_error_short_name(r);
                        bool ok = expect && strcmp(expect, short_name) == 0;
                        fprintf(stderr, "%s: error %s: %s (%.3f s)%s\n", op, short_name,
                                e.message ? e.message : strerror(-r), now_s() - t0, ok ? " [expected]" : "");
                        if (!ok) {
                                failed = 1;
                                break;
                        }
                } else {
                        fprintf(stderr, "%s: ok %s (%.3f s)%s\n", op, out, now_s() - t0,
                                expect ? " [UNEXPECTED SUCCESS]" : "");
                        if (expect) {
                                failed = 1;
                                break;
                        }
                }
        }
        kill_and_reap(event, w);
        return failed;
}
