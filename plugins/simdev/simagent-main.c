/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migbroker-simagent: the simulated DPU agent (serve), and its test clients
 * (hash, status). Option parsing and wiring only; see simagent-server.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "simagent-server.h"
#include "simdev-client.h"
#include "simdev-parse.h"
#include "simdev-proto.h"

#define EXIT_USAGE 2

static const char *const subcommand_help =
        "Commands:\n"
        "  serve      run the agent (the default when the first argument is an option)\n"
        "  hash       print the SHA-256 of a function's state\n"
        "  status     print a function's migration state and dirty-tracking statistics\n"
        "\n"
        "Run 'migbroker-simagent COMMAND --help' for the options of a command.";

static gboolean arg_version = FALSE;

static int print_version(void) {
        printf("migbroker-simagent %s (protocol %u)\n", PACKAGE_VERSION, SIMDEV_PROTO_VERSION);
        return EXIT_SUCCESS;
}

static int parse_log_level(const char *s) {
        int level;

        if (!s)
                return 0;
        level = mb_log_parse_level(s);
        if (level < 0) {
                fprintf(stderr, "invalid --log-level '%s'\n", s);
                return -EINVAL;
        }
        mb_log_set_level(level);
        return 0;
}

/* Writes "PORT\n" to path atomically (temporary file + rename). */
static int write_port_file(const char *path, uint16_t port) {
        g_autofree char *tmp = g_strdup_printf("%s.XXXXXX", path);
        g_autofree char *text = g_strdup_printf("%u\n", (unsigned) port);
        _cleanup_close_ int fd = -1;
        size_t len = strlen(text);

        fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
                return log_error_errno(errno, "cannot create %s: %m", tmp);
        if (write(fd, text, len) != (ssize_t) len || fsync(fd) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return log_error_errno(r ? r : -EIO, "cannot write %s: %m", tmp);
        }
        fd = mb_safe_close(fd);
        if (rename(tmp, path) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return log_error_errno(r, "cannot rename %s to %s: %m", tmp, path);
        }
        return 0;
}

static void free_functions(SimdevFunction **fns, size_t n) {
        for (size_t i = 0; i < n; i++)
                simdev_function_free(fns[i]);
        g_free(fns);
}

static int cmd_serve(int argc, char **argv) {
        g_autofree char *listen = NULL, *port_file = NULL, *state_size_str = NULL, *seed_str = NULL,
                        *rate_str = NULL, *log_level = NULL;
        g_auto(GStrv) functions = NULL;
        gboolean empty = FALSE;
        const GOptionEntry entries[] = {
                { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
                  "Address to listen on (default 127.0.0.1:7000; port 0 picks a free port and prints it)",
                  "HOST:PORT" },
                { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file,
                  "Write the port listened on to FILE (atomically, once listening)", "FILE" },
                { "function", 'f', 0, G_OPTION_ARG_STRING_ARRAY, &functions,
                  "Simulate the function BDF (repeatable; at least one)", "BDF" },
                { "state-size", 's', 0, G_OPTION_ARG_STRING, &state_size_str,
                  "Device state of each function (default 64M; suffixes K, M, G, binary)", "SIZE" },
                { "seed", 0, 0, G_OPTION_ARG_STRING, &seed_str,
                  "Seed of the deterministic initial content and dirtying (default 0)", "N" },
                { "dirty-rate", 'r', 0, G_OPTION_ARG_STRING, &rate_str,
                  "Pages dirtied per second while RUNNING, in bytes (e.g. 1M; default 0)", "BYTES_PER_SEC" },
                { "empty", 0, 0, G_OPTION_ARG_NONE, &empty,
                  "Functions start zeroed (a migration destination)", NULL },
                { "log-level", 0, 0, G_OPTION_ARG_STRING, &log_level,
                  "err, warning, notice, info (default) or debug", "LEVEL" },
                { "version", 0, 0, G_OPTION_ARG_NONE, &arg_version, "Print the version and exit", NULL },
                {}
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- simulated DPU agent for the simdev plugin");
        g_autoptr(GError) error = NULL;
        _cleanup_(simagent_server_freep) SimagentServer *server = NULL;
        SimdevFunction **fns = NULL;
        uint64_t state_size = 64ull << 20, seed = 0, rate = 0;
        size_t n_fns;
        char host[SIMDEV_HOST_MAX];
        uint16_t port, requested_port;
        int r;

        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_description(ctx, subcommand_help);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "%s\n", error->message);
                return EXIT_USAGE;
        }
        if (arg_version)
                return print_version();
        if (argc > 1) {
                fprintf(stderr, "unexpected argument '%s'\n", argv[1]);
                return EXIT_USAGE;
        }
        if (parse_log_level(log_level) < 0)
                return EXIT_USAGE;
        if (state_size_str && (simdev_parse_size(state_size_str, &state_size) < 0 || state_size == 0 ||
                               state_size > SIMDEV_STATE_SIZE_MAX)) {
                fprintf(stderr, "invalid --state-size '%s' (1 byte to 64G)\n", state_size_str);
                return EXIT_USAGE;
        }
        if (seed_str && simdev_parse_u64(seed_str, &seed) < 0) {
                fprintf(stderr, "invalid --seed '%s'\n", seed_str);
                return EXIT_USAGE;
        }
        if (rate_str && simdev_parse_size(rate_str, &rate) < 0) {
                fprintf(stderr, "invalid --dirty-rate '%s'\n", rate_str);
                return EXIT_USAGE;
        }
        if (!functions || !functions[0]) {
                fprintf(stderr, "no --function given: name at least one BDF to simulate\n");
                return EXIT_USAGE;
        }

        n_fns = g_strv_length(functions);
        if (n_fns > SIMAGENT_MAX_FUNCTIONS) {
                fprintf(stderr, "at most %u functions per agent\n", SIMAGENT_MAX_FUNCTIONS);
                return EXIT_USAGE;
        }
        fns = g_new0(SimdevFunction *, n_fns);
        for (size_t i = 0; i < n_fns; i++) {
                char bdf[13];

                if (simdev_parse_bdf(functions[i], bdf) < 0) {
                        fprintf(stderr, "invalid --function '%s': expected a PCI address like 0000:3b:00.1\n",
                                functions[i]);
                        free_functions(fns, n_fns);
                        return EXIT_USAGE;
                }
                for (size_t j = 0; j < i; j++)
                        if (strcmp(fns[j]->bdf, bdf) == 0) {
                                fprintf(stderr, "--function %s given twice\n", bdf);
                                free_functions(fns, n_fns);
                                return EXIT_USAGE;
                        }
                r = simdev_function_new(&fns[i], bdf, state_size, empty, seed);
                if (r < 0) {
                        log_error_errno(r, "cannot create function %s of %" PRIu64 " bytes: %m", bdf, state_size);
                        free_functions(fns, n_fns);
                        return EXIT_FAILURE;
                }
        }

        r = simagent_server_new(&server, fns, n_fns, rate);
        if (r < 0) {
                log_error_errno(r, "cannot set up the event loop: %m");
                free_functions(fns, n_fns);
                return EXIT_FAILURE;
        }
        g_free(fns); /* the server owns the functions now */

        if (!listen)
                listen = g_strdup("127.0.0.1:7000");
        if (simdev_parse_hostport(listen, host, &requested_port) < 0) {
                fprintf(stderr, "invalid --listen '%s': expected HOST:PORT or [V6ADDR]:PORT\n", listen);
                return EXIT_USAGE;
        }
        r = simagent_server_listen(server, listen, &port);
        if (r < 0)
                return EXIT_FAILURE;
        if (port_file && write_port_file(port_file, port) < 0)
                return EXIT_FAILURE;
        log_info("listening on %s (port %u): %zu function(s) of %" PRIu64 " bytes, %s, dirty rate %" PRIu64 " B/s",
                 listen, (unsigned) port, n_fns, state_size,
                 empty ? "empty" : "seeded", rate);
        if (requested_port == 0) {
                /* The one line on stdout: scripts read the port from it. */
                printf("%u\n", (unsigned) port);
                fflush(stdout);
        }

        r = simagent_server_run(server);
        if (r < 0) {
                log_error_errno(r, "event loop failed: %m");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

/* Options shared by the client commands. */
typedef struct ClientArgs {
        char *connect;
        char *function;
        int timeout_ms;
} ClientArgs;

static int client_parse(int argc, char **argv, const char *summary, ClientArgs *a, bool need_function) {
        const GOptionEntry entries[] = {
                { "connect", 'c', 0, G_OPTION_ARG_STRING, &a->connect, "Agent address (default 127.0.0.1:7000)",
                  "HOST:PORT" },
                { "function", 'f', 0, G_OPTION_ARG_STRING, &a->function, "The function", "BDF" },
                { "timeout", 't', 0, G_OPTION_ARG_INT, &a->timeout_ms, "Request timeout (default 10000)", "MS" },
                {}
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new(summary);
        g_autoptr(GError) error = NULL;

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "%s\n", error->message);
                return -EINVAL;
        }
        if (argc > 1) {
                fprintf(stderr, "unexpected argument '%s'\n", argv[1]);
                return -EINVAL;
        }
        if (need_function && !a->function) {
                fprintf(stderr, "--function BDF is required\n");
                return -EINVAL;
        }
        return 0;
}

static void client_args_clear(ClientArgs *a) {
        g_free(a->connect);
        g_free(a->function);
}

static int client_connect(SimdevClient *c, const ClientArgs *a) {
        const char *addr = a->connect ? a->connect : "127.0.0.1:7000";
        int r = simdev_client_connect(c, addr, a->timeout_ms, a->timeout_ms);

        if (r < 0)
                log_error_errno(r, "cannot connect to %s: %m", addr);
        return r;
}

static int call_failed(SimdevClient *c, const char *what, int r) {
        if (c->error[0])
                return log_error_errno(r, "%s: %m (%s)", what, c->error);
        return log_error_errno(r, "%s: %m", what);
}

static int cmd_hash(int argc, char **argv) {
        __attribute__((cleanup(client_args_clear))) ClientArgs a = {};
        SimdevClient c = SIMDEV_CLIENT_INIT;
        uint8_t digest[SIMDEV_HASH_LEN];
        int r;

        if (client_parse(argc, argv, "- print the SHA-256 of a function's state", &a, true) < 0)
                return EXIT_USAGE;
        if (client_connect(&c, &a) < 0)
                return EXIT_FAILURE;
        r = simdev_client_call(&c, SIMDEV_OP_HASH, a.function, strlen(a.function), NULL, 0, digest,
                               sizeof(digest), NULL);
        simdev_client_close(&c);
        if (r < 0) {
                call_failed(&c, a.function, r);
                return EXIT_FAILURE;
        }
        for (size_t i = 0; i < sizeof(digest); i++)
                printf("%02x", digest[i]);
        printf("\n");
        return EXIT_SUCCESS;
}

static int print_status(SimdevClient *c, const char *bdf) {
        uint8_t buf[SIMDEV_STATUS_LEN];
        SimdevStatus st;
        int r;

        r = simdev_client_call(c, SIMDEV_OP_STATUS, bdf, strlen(bdf), NULL, 0, buf, sizeof(buf), NULL);
        if (r < 0)
                return call_failed(c, bdf, r);
        simdev_status_decode(buf, &st);
        printf("%s:\n", bdf);
        printf("  state:          %s (%" PRIu64 ")\n", simdev_state_name((uint32_t) st.state), st.state);
        printf("  state size:     %" PRIu64 " bytes (%" PRIu64 "-byte pages)\n", st.state_size, st.page_size);
        printf("  controlled:     %s\n", st.controlled ? "yes" : "no");
        printf("  dirty pages:    %" PRIu64 " (%" PRIu64 " page writes since start)\n", st.dirty_pages,
               st.pages_dirtied);
        printf("  save session:   %" PRIu64 " rounds, %" PRIu64 " bytes sent, %" PRIu64 " pending\n",
               st.save_rounds, st.save_bytes, st.pending);
        printf("  load session:   %" PRIu64 " bytes, %" PRIu64 " records, %s\n", st.load_bytes, st.load_records,
               st.load_complete ? "complete" : "incomplete");
        return 0;
}

static int cmd_status(int argc, char **argv) {
        __attribute__((cleanup(client_args_clear))) ClientArgs a = {};
        SimdevClient c = SIMDEV_CLIENT_INIT;
        g_autofree char *list = g_malloc(SIMAGENT_MAX_FUNCTIONS * SIMDEV_BDF_MAX + 1);
        size_t len = 0;
        int r, ret = EXIT_SUCCESS;

        if (client_parse(argc, argv, "- print migration state and dirty-tracking statistics", &a, false) < 0)
                return EXIT_USAGE;
        if (client_connect(&c, &a) < 0)
                return EXIT_FAILURE;

        if (a.function) {
                r = print_status(&c, a.function);
                simdev_client_close(&c);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = simdev_client_call(&c, SIMDEV_OP_LIST, NULL, 0, NULL, 0, list, SIMAGENT_MAX_FUNCTIONS * SIMDEV_BDF_MAX, &len);
        if (r < 0) {
                call_failed(&c, "list", r);
                simdev_client_close(&c);
                return EXIT_FAILURE;
        }
        list[len] = '\0';
        for (char *save = NULL, *bdf = strtok_r(list, "\n", &save); bdf; bdf = strtok_r(NULL, "\n", &save))
                if (print_status(&c, bdf) < 0)
                        ret = EXIT_FAILURE;
        simdev_client_close(&c);
        return ret;
}

int main(int argc, char **argv) {
        const char *cmd = argc > 1 ? argv[1] : NULL;

        mb_log_set_ident("migbroker-simagent");

        if (!cmd || cmd[0] == '-')
                return cmd_serve(argc, argv);
        /* Drop the command word so GOption sees only its options. */
        argv[1] = argv[0];
        if (strcmp(cmd, "serve") == 0)
                return cmd_serve(argc - 1, argv + 1);
        if (strcmp(cmd, "hash") == 0)
                return cmd_hash(argc - 1, argv + 1);
        if (strcmp(cmd, "status") == 0)
                return cmd_status(argc - 1, argv + 1);
        if (strcmp(cmd, "help") == 0) {
                printf("Usage: migbroker-simagent [COMMAND] [OPTION...]\n\n%s\n", subcommand_help);
                return EXIT_SUCCESS;
        }
        fprintf(stderr, "unknown command '%s'\n\n%s\n", cmd, subcommand_help);
        return EXIT_USAGE;
}
