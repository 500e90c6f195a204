/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device.h"
#include "fd-util.h"
#include "follower-proto.h"
#include "libvirt-events.h"
#include "log.h"
#include "manager.h"
#include "spawn.h"

#define RECONNECT_USEC (10u * 1000 * 1000)
/* How long the follower has to close its connection after SIGTERM. */
#define STOP_TIMEOUT_USEC (1000u * 1000)
/* Its standard error is logged a line at a time; longer lines are cut. */
#define ERR_LINE_MAX 1024

/* One of the follower's pipes, read a line at a time. */
typedef struct LineReader {
        int fd;
        sd_event_source *source;
        size_t len;
        bool overlong;           /* the current line did not fit: the rest of it goes */
        char buf[ERR_LINE_MAX];
} LineReader;

struct LibvirtEvents {
        Manager *manager;
        char *uri;
        pid_t pid;               /* the follower; 0 when none runs */
        sd_event_source *child_source;
        LineReader out, err;
        bool connected;          /* it said "connected" */
        bool warned;             /* a failure to connect was logged: the next ones quietly */
        bool bad_line_warned;    /* this follower wrote a line that does not parse */
        bool as_root;            /* libvirtd refused the worker user: the follower keeps our uid */
        sd_event_source *retry;
};

static int follower_start(LibvirtEvents *l);

static const char *follower_path(void) {
        const char *e = getenv("MIGBROKER_LIBVIRT_EVENTS");

        if (e && *e)
                return e;
        return PKGLIBEXECDIR "/migbroker-libvirt-events";
}

/* ---- what the follower says ------------------------------------------------ */

static void set_running_done(DeviceOp *op, int r, const sd_bus_error *e, void *userdata) {
        if (r < 0)
                log_dev_warning(op->device->bdf, "could not set running after the domain resumed: %s",
                                e && e->message ? e->message : g_strerror(-r));
}

/* A domain runs again (the destination after a migration, or the source
 * after a failed one): its stopped or saving devices run too. */
static void domain_resumed(Manager *m, const char *uuid) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                Device *d = value;

                if (!d->open || !d->owner || g_ascii_strcasecmp(d->owner, uuid) != 0)
                        continue;
                if (d->state != MB_STATE_STOP && d->state != MB_STATE_PRE_COPY && d->state != MB_STATE_STOP_COPY)
                        continue;
                log_dev_info(d->bdf, "domain %s resumed: the device runs again", uuid);
                if (device_set_target_state(d, MB_STATE_RUNNING, set_running_done, NULL, &e) < 0)
                        log_dev_warning(d->bdf, "cannot set running: %s", e.message);
        }
}

static void on_out_line(LibvirtEvents *l, const char *text, bool overlong) {
        MbFollowerLine line;

        if (overlong || mb_follower_line_parse(text, &line) < 0) {
                log_full(l->bad_line_warned ? LOG_DEBUG : LOG_WARNING,
                         "the libvirt events follower (pid %d) wrote a line that is not of its protocol: \"%.*s%s\": ignored",
                         (int) l->pid, 80, text, overlong || strlen(text) > 80 ? "..." : "");
                l->bad_line_warned = true;
                return;
        }
        switch (line.kind) {
        case MB_FOLLOWER_CONNECTED:
                l->connected = true;
                l->warned = false;
                log_info("following libvirt's domain lifecycle events on %s (migbroker-libvirt-events, pid %d)", l->uri,
                         (int) l->pid);
                break;
        case MB_FOLLOWER_STARTED:
        case MB_FOLLOWER_RESUMED:
                log_debug("libvirt: domain %s %s", line.uuid, line.kind == MB_FOLLOWER_STARTED ? "started" : "resumed");
                domain_resumed(l->manager, line.uuid);
                break;
        default:
                break;
        }
}

/* "<N>text" (sd-daemon's priority prefix, as common/log.c writes for the
 * follower) is logged at priority N, other lines (a sanitizer's report, a
 * library's own output) at info; all of them quietly while we retry quietly. */
static void on_err_line(LibvirtEvents *l, const char *text, bool overlong) {
        int level = LOG_INFO;

        if (text[0] == '<' && text[1] >= '0' && text[1] <= '7' && text[2] == '>') {
                level = MB_MAX(text[1] - '0', LOG_ERR);
                text += 3;
        }
        if (l->warned)
                level = LOG_DEBUG;
        log_full(level, "libvirt-events[%d]: %s%s", (int) l->pid, text, overlong ? "..." : "");
}

typedef void (*LineFn)(LibvirtEvents *l, const char *text, bool overlong);

static void reader_close(LineReader *r) {
        r->source = sd_event_source_disable_unref(r->source);
        r->fd = mb_safe_close(r->fd);
        r->len = 0;
        r->overlong = false;
}

/* Reads what is there and hands each complete line to fn. The stdout of the
 * protocol has short lines: one that does not fit is handed over as overlong. */
static int reader_read(LibvirtEvents *l, LineReader *r, size_t max, LineFn fn) {
        for (;;) {
                char *nl;
                ssize_t n;

                if (r->fd < 0)
                        return 0;
                n = read(r->fd, r->buf + r->len, max - 1 - r->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        if (r->len > 0 && !r->overlong) {
                                r->buf[r->len] = '\0';
                                fn(l, r->buf, false);
                        }
                        reader_close(r);
                        return 0;
                }
                r->len += (size_t) n;
                while ((nl = memchr(r->buf, '\n', r->len))) {
                        size_t k = (size_t) (nl - r->buf);

                        *nl = '\0';
                        if (!r->overlong)
                                fn(l, r->buf, false);
                        r->overlong = false;
                        memmove(r->buf, nl + 1, r->len - k - 1);
                        r->len -= k + 1;
                }
                if (r->len == max - 1) {
                        r->buf[r->len] = '\0';
                        if (!r->overlong)
                                fn(l, r->buf, true);
                        r->overlong = true;
                        r->len = 0;
                }
        }
}

static int on_out(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        LibvirtEvents *l = userdata;
        int r = reader_read(l, &l->out, MB_FOLLOWER_LINE_MAX, on_out_line);

        if (r < 0 && r != -EAGAIN) {
                log_warning_errno(r, "cannot read from the libvirt events follower: %m");
                reader_close(&l->out);
        }
        return 0;
}

static int on_err(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        LibvirtEvents *l = userdata;
        int r = reader_read(l, &l->err, sizeof(l->err.buf), on_err_line);

        if (r < 0 && r != -EAGAIN)
                reader_close(&l->err);
        return 0;
}

/* ---- the follower's life ------------------------------------------------------ */

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        LibvirtEvents *l = userdata;

        l->retry = sd_event_source_disable_unref(l->retry);
        (void) follower_start(l);
        return 0;
}

static void schedule_retry(LibvirtEvents *l) {
        int r;

        if (l->retry)
                return;
        r = sd_event_add_time_relative(l->manager->event, &l->retry, CLOCK_MONOTONIC, RECONNECT_USEC, 0, on_retry, l);
        if (r < 0)
                log_warning_errno(r, "cannot schedule a new libvirt connection to %s: %m; not following libvirt",
                                  l->uri);
}

/* Why a follower that never connected ended; every later one quietly. */
static void log_failure(LibvirtEvents *l, int level, const char *fmt, ...) _printf_(3, 4);
static void log_failure(LibvirtEvents *l, int level, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) mb_log_fullv(l->warned ? LOG_DEBUG : level, 0, NULL, fmt, ap);
        va_end(ap);
        l->warned = true;
}

/* The user the follower runs as; NULL: ours. */
static const char *follower_user(const LibvirtEvents *l) {
        return l->as_root ? NULL : manager_worker_user(l->manager);
}

/* libvirtd refused the read-only connection to the worker user: on a host
 * without polkit, libvirtd's default (auth_unix_ro "polkit") refuses every
 * client but root. The broker followed libvirt as root before the follower
 * had its own process: do so again rather than lose the events (a source
 * domain resuming after a failed migration needs its devices running), and
 * say how to let it run unprivileged. True when the follower is to be
 * started again at once. */
static bool fall_back_to_root(LibvirtEvents *l) {
        const char *user = follower_user(l);

        if (!user || geteuid() != 0)
                return false;
        log_notice("libvirtd refused a read-only connection to %s as user '%s' (no polkit, or unix_sock_ro_perms): "
                   "following libvirt as root instead; to keep migbroker-libvirt-events unprivileged, let polkit "
                   "allow '%s' org.libvirt.unix.monitor or set auth_unix_ro = \"none\" in libvirtd.conf",
                   l->uri, user, user);
        l->as_root = true;
        return true;
}

static void log_exit(LibvirtEvents *l, const siginfo_t *si, bool was_connected) {
        const unsigned retry_s = RECONNECT_USEC / 1000000;
        const char *user = follower_user(l);
        char how[64];

        if (si->si_code == CLD_EXITED)
                snprintf(how, sizeof(how), "exited with status %d", si->si_status);
        else
                snprintf(how, sizeof(how), "was killed by signal SIG%s", sigabbrev_np(si->si_status) ?: "?");

        if (was_connected) {
                /* Losing a working connection is news every time. */
                if (si->si_code == CLD_EXITED && si->si_status == MB_FOLLOWER_EXIT_CLOSED)
                        log_warning("libvirt connection to %s closed: reconnecting in %u s", l->uri, retry_s);
                else
                        log_warning("the libvirt events follower of %s %s: restarting it in %u s", l->uri, how,
                                    retry_s);
                return;
        }
        if (si->si_code != CLD_EXITED) {
                log_failure(l, LOG_WARNING, "the libvirt events follower of %s %s: restarting it every %u s", l->uri,
                            how, retry_s);
                return;
        }
        switch (si->si_status) {
        case MB_FOLLOWER_EXIT_NO_CONNECTION:
        case MB_FOLLOWER_EXIT_NO_EVENTS:
        case MB_FOLLOWER_EXIT_CLOSED:
                log_failure(l, LOG_NOTICE,
                            "no libvirt connection to %s: devices run right after a dbus-vmstate Load; retrying every %u s",
                            l->uri, retry_s);
                break;
        case MB_FOLLOWER_EXIT_DENIED:
                log_failure(l, LOG_WARNING,
                            "no libvirt connection to %s: permission denied to %s%s%s, as whom migbroker-libvirt-events "
                            "runs (libvirt's read-only socket must be open to it, unix_sock_ro_perms, and polkit must "
                            "allow it org.libvirt.unix.monitor, or auth_unix_ro be \"none\"); devices run right after "
                            "a dbus-vmstate Load; retrying every %u s",
                            l->uri, user ? "user '" : "our uid", user ?: "", user ? "'" : "", retry_s);
                break;
        default:
                log_failure(l, LOG_WARNING, "the libvirt events follower of %s (%s) %s: restarting it every %u s",
                            l->uri, follower_path(), how, retry_s);
                break;
        }
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        LibvirtEvents *l = userdata;
        bool was_connected;

        /* What it wrote before it ended comes first (its "connected" too). */
        (void) on_out(NULL, l->out.fd, 0, l);
        (void) on_err(NULL, l->err.fd, 0, l);
        was_connected = l->connected;
        reader_close(&l->out);
        reader_close(&l->err);
        l->child_source = sd_event_source_disable_unref(l->child_source);
        l->connected = false;

        l->pid = 0;
        if (!was_connected && si->si_code == CLD_EXITED && si->si_status == MB_FOLLOWER_EXIT_DENIED &&
            fall_back_to_root(l)) {
                (void) follower_start(l);
                return 0;
        }
        log_exit(l, si, was_connected);
        schedule_retry(l);
        return 0;
}

static int reader_open(LibvirtEvents *l, LineReader *r, int fd, sd_event_io_handler_t handler) {
        int ret;

        r->fd = fd;
        ret = mb_fd_set_nonblock(fd, true);
        if (ret < 0)
                return ret;
        return sd_event_add_io(l->manager->event, &r->source, fd, EPOLLIN, handler, l);
}

/* Ends the follower, if one runs, and waits for it: it closes its connection on SIGTERM. */
static void follower_stop(LibvirtEvents *l) {
        l->child_source = sd_event_source_disable_unref(l->child_source);
        reader_close(&l->out);
        reader_close(&l->err);
        l->connected = false;
        if (l->pid > 0) {
                int r = mb_spawn_stop(l->pid, SIGTERM, STOP_TIMEOUT_USEC);

                if (r > 0)
                        log_warning("the libvirt events follower (pid %d) did not stop within %u ms of SIGTERM: killed it",
                                    (int) l->pid, STOP_TIMEOUT_USEC / 1000);
                else if (r < 0)
                        log_warning_errno(r, "cannot reap the libvirt events follower (pid %d): %m", (int) l->pid);
        }
        l->pid = 0;
}

static int follower_start(LibvirtEvents *l) {
        _cleanup_close_ int out_r = -1, out_w = -1, err_r = -1, err_w = -1;
        const char *user = follower_user(l);
        char parent[32], level[16];
        char *argv[12];
        int p[2], n = 0, r;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                goto fail_errno;
        out_r = p[0];
        out_w = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                goto fail_errno;
        err_r = p[0];
        err_w = p[1];

        snprintf(parent, sizeof(parent), "%d", (int) getpid());
        snprintf(level, sizeof(level), "%d", mb_log_get_level());
        argv[n++] = (char *) follower_path();
        if (user) {
                argv[n++] = (char *) "--user";
                argv[n++] = (char *) user;
        }
        argv[n++] = (char *) "--parent";
        argv[n++] = parent;
        argv[n++] = (char *) "--log-level";
        argv[n++] = level;
        argv[n++] = (char *) "--";
        argv[n++] = l->uri;
        argv[n] = NULL;
        {
                const int fds[] = { -1, out_w, err_w };
                r = mb_spawn(argv, fds, ELEMENTSOF(fds), &pid);
                if (r < 0)
                        goto fail;
        }
        l->pid = pid;
        l->bad_line_warned = false;
        log_debug("started %s for %s (pid %d)", argv[0], l->uri, (int) pid);

        if ((r = reader_open(l, &l->out, MB_TAKE_FD(out_r), on_out)) < 0 ||
            (r = reader_open(l, &l->err, MB_TAKE_FD(err_r), on_err)) < 0 ||
            (r = sd_event_add_child(l->manager->event, &l->child_source, pid, WEXITED, on_child, l)) < 0) {
                follower_stop(l);
                goto fail;
        }
        return 0;

fail_errno:
        r = -errno;
fail:
        log_failure(l, LOG_WARNING, "cannot start the libvirt events follower of %s: %s; retrying every %u s", l->uri,
                    g_strerror(-r), RECONNECT_USEC / 1000000);
        schedule_retry(l);
        return r;
}

/* ---- the API ------------------------------------------------------------------- */

LibvirtEvents *libvirt_events_new(Manager *m, const char *uri) {
        LibvirtEvents *l;

        if (!uri || !*uri)
                return NULL;
        l = g_new0(LibvirtEvents, 1);
        l->manager = m;
        l->uri = g_strdup(uri);
        l->out.fd = l->err.fd = -1;
        (void) follower_start(l);
        return l;
}

LibvirtEvents *libvirt_events_free(LibvirtEvents *l) {
        if (!l)
                return NULL;
        l->retry = sd_event_source_disable_unref(l->retry);
        follower_stop(l);
        g_free(l->uri);
        g_free(l);
        return NULL;
}

bool libvirt_events_connected(const LibvirtEvents *l) {
        return l && l->connected;
}
