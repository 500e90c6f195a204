/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migbroker-hook: the libvirt qemu hook (interface contract §8), run by
 * libvirtd as "migbroker-hook GUEST OP SUBOP EXTRA" with the domain XML on
 * standard input and only LC_ALL and PATH in its environment. It claims,
 * prepares and releases the domain's managed devices around its lifecycle.
 *
 * Standard output stays empty: for "migrate begin" and "restore begin"
 * libvirt would take anything printed there as a replacement domain XML.
 * A failure that must stop libvirt is one line on standard error (libvirt
 * puts it into its error message) and exit status 1.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "domain-xml.h"
#include "fd-util.h"
#include "hook-actions.h"
#include "hook-bus.h"
#include "hook-config.h"
#include "log.h"
#include "macro.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* libvirtd writes the whole XML at once; do not wait for a stalled writer for ever. */
#define STDIN_STALL_MS 30000

typedef struct Context {
        const char *guest, *op, *subop;
        const HookAction *action;
        bool journal;
} Context;

static void help(void) {
        printf("Usage: migbroker-hook GUEST OP SUBOP EXTRA < DOMAIN-XML\n"
               "\n"
               "The libvirt qemu hook of migbroker: libvirtd runs it (installed as\n"
               "hooks/qemu.d/50-migbroker) around each domain's lifecycle; it claims,\n"
               "prepares and releases the domain's devices managed by migbrokerd.\n"
               "\n"
               "  migrate begin, restore begin   Preflight each device (exit 1 on failure)\n"
               "  prepare begin                  Claim each device (undone, exit 1 on failure)\n"
               "  start begin                    Open each device (exit 1 on failure)\n"
               "  stopped end, release end       Close and Release each device (exit 0)\n"
               "  reconnect begin                Claim each device again (exit 0)\n"
               "\n"
               "Settings: %s (or $%s). See migbroker-hook(8).\n"
               "  --help      show this help\n"
               "  --version   show the version\n",
               HOOK_CONFIG_DEFAULT_PATH, HOOK_ENV_CONFIG);
}

/* The failure line: standard error always (libvirt shows it), the journal too
 * when it is there (otherwise standard error is the log). */
static void report(const Context *c, const char *msg) {
        g_autofree char *line = g_strdup(msg);

        /* one line, whatever the broker's message held */
        g_strdelimit(line, "\n\r\t", ' ');
        if (c->journal)
                log_error("%s %s %s: %s", c->guest, c->op, c->subop, line);
        fprintf(stderr, "migbroker: %s\n", line);
        fflush(stderr);
}

/* A failure before any device was touched: the action's failure rule decides
 * whether libvirt hears of it. */
static int fail_early(const Context *c, const char *msg) {
        int rc = hook_action_failure_exit(c->action);

        if (rc != 0)
                report(c, msg);
        else
                log_warning("%s %s of %s: %s: nothing done", c->op, c->subop, c->guest, msg);
        return rc;
}

static int read_all(int fd, GByteArray *buf, size_t max) {
        const MbFdWaitPolicy wait = { .stall_ms = STDIN_STALL_MS };

        for (;;) {
                size_t old = buf->len;
                ssize_t n;

                if (buf->len > max)
                        return 0; /* the caller refuses it */
                g_byte_array_set_size(buf, (guint) (old + 65536));
                n = mb_fd_read_some(fd, buf->data + old, 65536, &wait);
                if (n < 0) {
                        g_byte_array_set_size(buf, (guint) old);
                        return (int) n;
                }
                g_byte_array_set_size(buf, (guint) (old + (size_t) n));
                if (n == 0)
                        return 0;
        }
}

/* For the calls we ignore: take what libvirtd writes so that it never sees a
 * broken pipe, but never wait on a terminal. */
static void drain_stdin(void) {
        g_autoptr(GByteArray) buf = NULL;

        if (isatty(STDIN_FILENO))
                return;
        buf = g_byte_array_new();
        (void) read_all(STDIN_FILENO, buf, HOOK_DOMAIN_XML_MAX);
}

/* Nothing may reach libvirtd through standard output. */
static void silence_stdout(void) {
        _cleanup_close_ int fd = open("/dev/null", O_WRONLY | O_CLOEXEC | O_NOCTTY);

        (void) fflush(stdout);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
                log_debug("cannot point standard output at /dev/null: %m");
}

static void log_notes(const HookDomain *d) {
        for (guint i = 0; i < d->notes->len; i++)
                log_debug("domain XML: %s", (const char *) d->notes->pdata[i]);
}

int main(int argc, char *argv[]) {
        g_autoptr(GByteArray) xml = NULL;
        g_autoptr(HookDomain) domain = NULL;
        g_autoptr(HookBus) bus = NULL;
        g_autofree char *error = NULL, *message = NULL;
        HookConfig config;
        Context c = {};
        const char *conf_path;
        int r, rc;

        mb_log_set_ident("migbroker-hook");

        if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                help();
                return 0;
        }
        if (argc == 2 && strcmp(argv[1], "--version") == 0) {
                printf("migbroker-hook %s\n", PACKAGE_VERSION);
                return 0;
        }
        if (argc != 5) {
                fprintf(stderr, "migbroker: usage: migbroker-hook GUEST OP SUBOP EXTRA < DOMAIN-XML "
                                "(run by libvirtd; see migbroker-hook(8))\n");
                return 2;
        }
        c = (Context) { .guest = argv[1], .op = argv[2], .subop = argv[3] };

        c.action = hook_action_lookup(c.op, c.subop);
        if (!c.action) {
                drain_stdin();
                return 0;
        }

        silence_stdout();
        /* libvirtd gives us no JOURNAL_STREAM and keeps our stderr for its error message */
        c.journal = access(JOURNAL_SOCKET, W_OK) == 0;
        mb_log_set_journal(c.journal);
        mb_log_set_level(c.journal ? LOG_INFO : LOG_WARNING);

        xml = g_byte_array_new();
        r = read_all(STDIN_FILENO, xml, HOOK_DOMAIN_XML_MAX);
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot read the domain XML from standard input: %s",
                                                       strerror(-r));
                return fail_early(&c, msg);
        }
        r = hook_domain_parse((const char *) xml->data, xml->len, &domain, &error);
        if (r < 0)
                return fail_early(&c, error);
        if (domain->devices->len == 0) {
                log_notes(domain);
                return 0; /* nothing of ours: no settings read, no connection */
        }

        hook_config_init(&config);
        conf_path = hook_config_path();
        r = hook_config_load(&config, conf_path, &error);
        if (r < 0) {
                rc = fail_early(&c, error);
                hook_config_done(&config);
                return rc;
        }
        if (config.log_level >= 0)
                mb_log_set_level(config.log_level);
        log_notes(domain);
        log_debug("%s %s of %s (%s): %u device(s), bus %s, timeout %" G_GUINT64_FORMAT " ms", c.op, c.subop,
                  c.guest, domain->uuid, domain->devices->len, config.bus ?: "system", config.timeout_ms);

        bus = hook_bus_new(config.bus, config.timeout_ms);
        hook_config_done(&config);

        rc = hook_action_run(c.action, domain, c.guest, &hook_bus_ops, bus, &message);
        if (rc != 0)
                report(&c, message ?: "failed");
        return rc;
}
