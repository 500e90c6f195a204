/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
/* A follower that has not said "connected" this long after it started is
 * stuck (virConnectOpen has no timeout of its own): it is stopped and retried. */
#define CONNECT_TIMEOUT_USEC (30ull * 1000 * 1000)
/* Its standard error is logged a line at a time; longer lines are cut. */
#define ERR_LINE_MAX 1024
/* At most this many of its stderr lines per window; the rest are counted. */
#define ERR_LINES_PER_WINDOW 100u
#define ERR_WINDOW_USEC (10ull * 1000 * 1000)
/* A pipe is read a buffer at a time, at most this many times per dispatch
 * (sd-event's epoll is level-triggered: it calls again, after the other
 * sources that are ready): a follower that floods cannot starve the bus. */
#define READ_BUF_SIZE 4096
#define READS_PER_DISPATCH 16u
/* After the follower exited, what it left in the pipe (which a grandchild
 * could keep filling: bounded too). */
#define READS_AFTER_EXIT 256u

/* One of the follower's pipes, read a line at a time. */
typedef struct LineReader {
        int fd;
        sd_event_source *source;
        size_t line_max;         /* longer lines are handed over cut, as overlong */
        size_t len;
        bool overlong;           /* the current line did not fit: the rest of it goes */
        char buf[READ_BUF_SIZE + 1];
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
        char *refused_user;      /* the worker user libvirtd refused: the follower keeps our uid */
        char *started_user;      /* the user the follower was last started as; NULL: ours */
        sd_event_source *retry;
        sd_event_source *connect_timeout; /* while a follower runs that has not said "connected" */
        uint64_t err_window_start;
        unsigned err_lines, err_suppressed;
};

static int follower_start(LibvirtEvents *l);
static void follower_stop(LibvirtEvents *l);
static void schedule_retry(LibvirtEvents *l);

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

/* Sets running the open devices of domain uuid that wants() picks,
 * logging "domain UUID <why>: the device runs again". */
static void run_domain_devices(Manager *m, const char *uuid, bool (*wants)(const Device *d), const char *why) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                Device *d = value;

                if (!d->open || !d->owner || g_ascii_strcasecmp(d->owner, uuid) != 0 || !wants(d))
                        continue;
                log_dev_info(d->bdf, "domain %s %s: the device runs again", uuid, why);
                if (device_set_target_state(d, MB_STATE_RUNNING, set_running_done, NULL, &e) < 0)
                        log_dev_warning(d->bdf, "cannot set running: %s", e.message);
        }
}

/* A domain runs again (the destination after a migration, or the source
 * after a failed one): its stopped or saving devices run too. */
static bool runs_on_resume(const Device *d) {
        return d->state == MB_STATE_STOP || d->state == MB_STATE_PRE_COPY || d->state == MB_STATE_STOP_COPY;
}

/* A domain runs when the follower (re)connected: what it may have missed
 * while it was down is a resume. Only devices a dbus-vmstate Load left in
 * stop waiting for that resume run; never a pre-copy or stop-copy one (the
 * source of a migration runs while it saves), nor one stopped by its owner. */
static bool runs_when_found_running(const Device *d) {
        return d->state == MB_STATE_STOP && d->awaiting_resume;
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
                /* Said again: nothing new (a follower that repeats it is not
                 * worth a line each time). */
                if (l->connected)
                        break;
                l->connected = true;
                l->connect_timeout = sd_event_source_disable_unref(l->connect_timeout);
                l->warned = false;
                log_info("following libvirt's domain lifecycle events on %s (migbroker-libvirt-events, pid %d)", l->uri,
                         (int) l->pid);
                break;
        case MB_FOLLOWER_STARTED:
        case MB_FOLLOWER_RESUMED:
                log_debug("libvirt: domain %s %s", line.uuid, line.kind == MB_FOLLOWER_STARTED ? "started" : "resumed");
                run_domain_devices(l->manager, line.uuid, runs_on_resume, "resumed");
                break;
        case MB_FOLLOWER_RUNNING:
                log_debug("libvirt: domain %s runs", line.uuid);
                run_domain_devices(l->manager, line.uuid, runs_when_found_running,
                                   "runs (its resume came while libvirt was not followed)");
                break;
        default:
                break;
        }
}

/* "<N>text" (sd-daemon's priority prefix, as common/log.c writes for the
 * follower) is logged at priority N, other lines (a sanitizer's report, a
 * library's own output) at info; all of them quietly while we retry quietly. */
static void err_flush_suppressed(LibvirtEvents *l) {
        if (l->err_suppressed == 0)
                return;
        log_notice("libvirt-events[%d]: %u lines suppressed (more than %u in %llu s)", (int) l->pid,
                   l->err_suppressed, ERR_LINES_PER_WINDOW, ERR_WINDOW_USEC / 1000000);
        l->err_suppressed = 0;
}

static void on_err_line(LibvirtEvents *l, const char *text, bool overlong) {
        int level = LOG_INFO;
        uint64_t now;

        if (sd_event_now(l->manager->event, CLOCK_MONOTONIC, &now) < 0)
                now = 0;
        if (now < l->err_window_start || now - l->err_window_start >= ERR_WINDOW_USEC) {
                err_flush_suppressed(l);
                l->err_window_start = now;
                l->err_lines = 0;
        }
        if (l->err_lines >= ERR_LINES_PER_WINDOW) {
                l->err_suppressed++;
                return;
        }
        l->err_lines++;

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

/* Hands each complete line in the buffer to fn (one longer than line_max
 * cut, as overlong; the rest of it dropped) and keeps the incomplete one. */
static void reader_split(LibvirtEvents *l, LineReader *r, LineFn fn) {
        size_t start = 0;
        char *nl;

        while ((nl = memchr(r->buf + start, '\n', r->len - start))) {
                char *line = r->buf + start;
                size_t k = (size_t) (nl - line);

                *nl = '\0';
                if (r->overlong)
                        r->overlong = false; /* the end of an overlong line */
                else if (k > r->line_max) {
                        line[r->line_max] = '\0';
                        fn(l, line, true);
                } else
                        fn(l, line, false);
                start += k + 1;
        }
        memmove(r->buf, r->buf + start, r->len - start);
        r->len -= start;
        if (r->len > r->line_max) {
                if (!r->overlong) {
                        r->buf[r->line_max] = '\0';
                        fn(l, r->buf, true);
                }
                r->overlong = true;
                r->len = 0;
        }
}

/* Reads at most max_reads buffers and hands each complete line to fn; at the
 * end of the file the last line too, and closes. 0 also when more is to come. */
static int reader_read(LibvirtEvents *l, LineReader *r, unsigned max_reads, LineFn fn) {
        for (unsigned i = 0; i < max_reads && r->fd >= 0; i++) {
                ssize_t n = read(r->fd, r->buf + r->len, READ_BUF_SIZE - r->len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN ? 0 : -errno;
                if (n == 0) {
                        if (r->len > 0 && !r->overlong) {
                                r->buf[r->len] = '\0';
                                fn(l, r->buf, false);
                        }
                        reader_close(r);
                        return 0;
                }
                r->len += (size_t) n;
                reader_split(l, r, fn);
        }
        return 0;
}

static void read_out(LibvirtEvents *l, unsigned max_reads) {
        int r = reader_read(l, &l->out, max_reads, on_out_line);

        if (r < 0) {
                log_warning_errno(r, "cannot read from the libvirt events follower: %m");
                reader_close(&l->out);
        }
}

static void read_err(LibvirtEvents *l, unsigned max_reads) {
        if (reader_read(l, &l->err, max_reads, on_err_line) < 0)
                reader_close(&l->err);
}

static int on_out(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        read_out(userdata, READS_PER_DISPATCH);
        return 0;
}

static int on_err(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        read_err(userdata, READS_PER_DISPATCH);
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
        const char *user = manager_worker_user(l->manager);

        return l->refused_user && g_strcmp0(l->refused_user, user) == 0 ? NULL : user;
}

/* Whom the follower runs as, for people: "user 'NAME' (uid N)". */
static void describe_user(const char *user, char *buf, size_t size) {
        struct passwd *pw;

        /* A broker that is not root cannot switch: the follower has our uid. */
        if (geteuid() != 0)
                user = NULL;
        pw = user ? getpwnam(user) : getpwuid(geteuid());
        if (user && pw)
                snprintf(buf, size, "user '%s' (uid %u)", user, (unsigned) pw->pw_uid);
        else if (user)
                snprintf(buf, size, "user '%s'", user);
        else if (pw)
                snprintf(buf, size, "user '%s' (uid %u)", pw->pw_name, (unsigned) geteuid());
        else
                snprintf(buf, size, "uid %u", (unsigned) geteuid());
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
        g_free(l->refused_user);
        l->refused_user = g_strdup(user);
        return true;
}

static void log_exit(LibvirtEvents *l, const siginfo_t *si, bool was_connected) {
        const unsigned retry_s = RECONNECT_USEC / 1000000;
        char how[64], who[128];

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
                describe_user(follower_user(l), who, sizeof(who));
                log_failure(l, LOG_WARNING,
                            "no libvirt connection to %s: permission denied to %s, as whom migbroker-libvirt-events "
                            "runs (libvirt's read-only socket must be open to it, unix_sock_ro_perms, and polkit must "
                            "allow it org.libvirt.unix.monitor, or auth_unix_ro be \"none\"); devices run right after "
                            "a dbus-vmstate Load; retrying every %u s",
                            l->uri, who, retry_s);
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
        read_out(l, READS_AFTER_EXIT);
        read_err(l, READS_AFTER_EXIT);
        err_flush_suppressed(l);
        was_connected = l->connected;
        reader_close(&l->out);
        reader_close(&l->err);
        l->child_source = sd_event_source_disable_unref(l->child_source);
        l->connect_timeout = sd_event_source_disable_unref(l->connect_timeout);
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

static int reader_open(LibvirtEvents *l, LineReader *r, int fd, size_t line_max, sd_event_io_handler_t handler) {
        int ret;

        r->fd = fd;
        r->line_max = line_max;
        ret = mb_fd_set_nonblock(fd, true);
        if (ret < 0)
                return ret;
        return sd_event_add_io(l->manager->event, &r->source, fd, EPOLLIN, handler, l);
}

/* Ends the follower, if one runs, and waits for it: it closes its connection on SIGTERM. */
static void follower_stop(LibvirtEvents *l) {
        err_flush_suppressed(l);
        l->child_source = sd_event_source_disable_unref(l->child_source);
        l->connect_timeout = sd_event_source_disable_unref(l->connect_timeout);
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

/* MIGBROKER_TEST_LIBVIRT_CONNECT_TIMEOUT_MS: for tests only (docs/env.md). */
static uint64_t connect_timeout_usec(void) {
        const char *e = getenv("MIGBROKER_TEST_LIBVIRT_CONNECT_TIMEOUT_MS");
        unsigned long ms;
        char *end;

        if (!e || !*e)
                return CONNECT_TIMEOUT_USEC;
        errno = 0;
        ms = strtoul(e, &end, 10);
        if (errno || *end || ms == 0 || ms > 3600ul * 1000)
                return CONNECT_TIMEOUT_USEC;
        return (uint64_t) ms * 1000;
}

/* libvirtd accepted the connection but does not answer (or the follower
 * hangs before it): stop it, say so once, and retry as after any failure. */
static int on_connect_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        LibvirtEvents *l = userdata;
        pid_t pid = l->pid;
        uint64_t t = connect_timeout_usec();

        l->connect_timeout = sd_event_source_disable_unref(l->connect_timeout);
        if (l->connected || pid <= 0)
                return 0;
        if (t % 1000000 == 0)
                log_failure(l, LOG_WARNING,
                            "migbroker-libvirt-events (pid %d) has not connected to %s in %llu s: libvirtd does not "
                            "answer; restarting it", (int) pid, l->uri, (unsigned long long) (t / 1000000));
        else
                log_failure(l, LOG_WARNING,
                            "migbroker-libvirt-events (pid %d) has not connected to %s in %llu ms: libvirtd does not "
                            "answer; restarting it", (int) pid, l->uri, (unsigned long long) (t / 1000));
        /* What it said so far is logged before it goes. */
        read_err(l, READS_AFTER_EXIT);
        follower_stop(l);
        schedule_retry(l);
        return 0;
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

        g_free(l->started_user);
        l->started_user = g_strdup(user);
        l->err_lines = l->err_suppressed = 0;
        l->err_window_start = 0;
        if ((r = reader_open(l, &l->out, MB_TAKE_FD(out_r), MB_FOLLOWER_LINE_MAX - 1, on_out)) < 0 ||
            (r = reader_open(l, &l->err, MB_TAKE_FD(err_r), ERR_LINE_MAX - 1, on_err)) < 0 ||
            (r = sd_event_add_child(l->manager->event, &l->child_source, pid, WEXITED, on_child, l)) < 0 ||
            (r = sd_event_add_time_relative(l->manager->event, &l->connect_timeout, CLOCK_MONOTONIC,
                                            connect_timeout_usec(), 0, on_connect_timeout, l)) < 0) {
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
        g_free(l->started_user);
        g_free(l->refused_user);
        g_free(l->uri);
        g_free(l);
        return NULL;
}

void libvirt_events_policy_reloaded(LibvirtEvents *l) {
        const char *user;

        if (!l)
                return;
        user = follower_user(l);
        if (g_strcmp0(user, l->started_user) == 0)
                return;
        log_info("the libvirt events follower of %s runs as %s%s%s: restarting it as %s%s%s", l->uri,
                 l->started_user ? "user '" : "our user", l->started_user ?: "", l->started_user ? "'" : "",
                 user ? "user '" : "our user", user ?: "", user ? "'" : "");
        l->retry = sd_event_source_disable_unref(l->retry);
        follower_stop(l);
        l->warned = false;
        (void) follower_start(l);
}

bool libvirt_events_connected(const LibvirtEvents *l) {
        return l && l->connected;
}
