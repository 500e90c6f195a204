/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migbroker-libvirt-events: the broker's read-only libvirt connection, in a
 * process of its own (so that libvirt's libraries stay out of the privileged
 * broker, and a libvirtd that hangs cannot stall it). It follows the domain
 * lifecycle events of one URI on libvirt's default event loop and tells the
 * broker, on standard output, the ones that set a domain's devices running
 * (follower-proto.h). It never tells anything to libvirt.
 */
#include <errno.h>
#include <getopt.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "follower-proto.h"
#include "log.h"
#include "privs.h"

/* Like virsh: a libvirtd that answers no keepalive for 5 s x 6 is gone. */
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT 6

typedef struct Follower {
        const char *uri;
        virConnectPtr conn;
        int callback_id;
        int signal_fd;
        int signal_watch, stdout_watch;
        int exit_status;         /* -1 while following */
} Follower;

static void on_close(virConnectPtr conn, int reason, void *opaque);

static void follower_finish(Follower *f, int status) {
        if (f->exit_status < 0)
                f->exit_status = status;
}

static void follower_clear(Follower *f) {
        if (f->signal_watch >= 0)
                (void) virEventRemoveHandle(f->signal_watch);
        if (f->stdout_watch >= 0)
                (void) virEventRemoveHandle(f->stdout_watch);
        if (f->conn) {
                if (f->callback_id >= 0)
                        (void) virConnectDomainEventDeregisterAny(f->conn, f->callback_id);
                (void) virConnectUnregisterCloseCallback(f->conn, on_close);
                (void) virConnectClose(f->conn);
        }
        f->signal_fd = mb_safe_close(f->signal_fd);
}

static void tell(Follower *f, MbFollowerLineKind kind, const char *uuid) {
        MbFollowerLine l = { .kind = kind };
        char buf[MB_FOLLOWER_LINE_MAX];
        int n, r;

        if (uuid)
                snprintf(l.uuid, sizeof(l.uuid), "%s", uuid);
        n = mb_follower_line_format(&l, buf, sizeof(buf));
        if (n < 0) {
                log_warning("libvirt reported a domain UUID '%s' that is not one: ignored", uuid ?: "");
                return;
        }
        r = mb_fd_write_all(STDOUT_FILENO, buf, (size_t) n, NULL);
        if (r == -EPIPE) {
                log_debug("standard output closed: the broker is gone or stopped us");
                follower_finish(f, MB_FOLLOWER_EXIT_STOPPED);
        } else if (r < 0) {
                log_error_errno(r, "cannot write to standard output: %m");
                follower_finish(f, MB_FOLLOWER_EXIT_FAILED);
        }
}

static const char *event_name(int event) {
        switch (event) {
        case VIR_DOMAIN_EVENT_DEFINED: return "defined";
        case VIR_DOMAIN_EVENT_UNDEFINED: return "undefined";
        case VIR_DOMAIN_EVENT_STARTED: return "started";
        case VIR_DOMAIN_EVENT_SUSPENDED: return "suspended";
        case VIR_DOMAIN_EVENT_RESUMED: return "resumed";
        case VIR_DOMAIN_EVENT_STOPPED: return "stopped";
        default: return "other";
        }
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        Follower *f = opaque;
        char uuid[VIR_UUID_STRING_BUFLEN];

        if (virDomainGetUUIDString(dom, uuid) < 0)
                return 0;
        log_debug("domain %s (%s) %s, detail %d", virDomainGetName(dom), uuid, event_name(event), detail);
        /* STARTED/MIGRATED is the incoming domain's QEMU starting on the
         * destination, paused, before QEMU's dbus-vmstate Load: the device
         * must stay in stop until the state is there. The domain runs when
         * libvirt reports RESUMED/MIGRATED, after the load. */
        if (event == VIR_DOMAIN_EVENT_STARTED && detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED)
                return 0;
        if (event == VIR_DOMAIN_EVENT_RESUMED)
                tell(f, MB_FOLLOWER_RESUMED, uuid);
        else if (event == VIR_DOMAIN_EVENT_STARTED)
                tell(f, MB_FOLLOWER_STARTED, uuid);
        return 0;
}

static const char *close_reason(int reason) {
        switch (reason) {
        case VIR_CONNECT_CLOSE_REASON_ERROR: return "a communication error";
        case VIR_CONNECT_CLOSE_REASON_EOF: return "libvirtd closed it";
        case VIR_CONNECT_CLOSE_REASON_KEEPALIVE: return "libvirtd answered no keepalive";
        case VIR_CONNECT_CLOSE_REASON_CLIENT: return "closed by us";
        default: return "an unknown reason";
        }
}

static void on_close(virConnectPtr conn, int reason, void *opaque) {
        Follower *f = opaque;

        log_notice("the connection to %s closed: %s", f->uri, close_reason(reason));
        follower_finish(f, MB_FOLLOWER_EXIT_CLOSED);
}

static void on_signal(int watch, int fd, int events, void *opaque) {
        Follower *f = opaque;
        struct signalfd_siginfo si;

        if (read(fd, &si, sizeof(si)) != (ssize_t) sizeof(si))
                return;
        log_debug("SIG%s: stopping", sigabbrev_np((int) si.ssi_signo) ?: "?");
        follower_finish(f, MB_FOLLOWER_EXIT_STOPPED);
}

/* The read end of our standard output closed: the broker went away. */
static void on_stdout_hangup(int watch, int fd, int events, void *opaque) {
        if (events & (VIR_EVENT_HANDLE_ERROR | VIR_EVENT_HANDLE_HANGUP)) {
                log_debug("standard output closed: the broker is gone or stopped us");
                follower_finish(opaque, MB_FOLLOWER_EXIT_STOPPED);
        }
}

static void ignore_errors(void *userdata, virErrorPtr error) {
}

/* A URI of this host's daemon over its unix socket: "driver:///path" or
 * "driver+unix:///path", with no host (aliases and remote transports, TLS,
 * SSH, TCP, ext, are not: their failures may be our own credentials'). */
static bool uri_is_local(const char *uri) {
        const char *colon = strchr(uri, ':'), *plus;

        if (!colon || colon == uri || strncmp(colon, "://", 3) != 0)
                return false;
        plus = memchr(uri, '+', (size_t) (colon - uri));
        if (plus && ((size_t) (colon - plus - 1) != strlen("unix") || strncmp(plus + 1, "unix", 4) != 0))
                return false;
        /* No authority: the path follows "://" at once (or nothing does). */
        return colon[3] == '/' || colon[3] == '\0' || colon[3] == '?';
}

/* libvirtd, or the system, refused us on a local URI: the read-only socket's
 * permissions (connect() fails with EACCES, reported by libvirt's RPC code),
 * or libvirtd's check of a client that is not root: polkit
 * (org.libvirt.unix.monitor), asked over the system bus, which fails as an
 * error of the D-Bus or polkit domain when it cannot be asked, or an auth
 * error of the RPC layer. Not our own files (a test driver's XML). Another
 * user (root) might get through where this one cannot; on a remote URI,
 * another user would present other credentials (TLS keys, SSH identities),
 * so nothing there counts. */
static bool error_is_denial(const virError *e, const char *uri) {
        if (!e || !uri_is_local(uri))
                return false;
        if (e->code == VIR_ERR_SYSTEM_ERROR)
                return e->domain == VIR_FROM_RPC && (e->int1 == EACCES || e->int1 == EPERM);
        if (e->domain == VIR_FROM_DBUS || e->domain == VIR_FROM_POLKIT || e->domain == VIR_FROM_ACCESS)
                return true;
        if (e->domain != VIR_FROM_REMOTE && e->domain != VIR_FROM_RPC)
                return false;
        return e->code == VIR_ERR_AUTH_FAILED || e->code == VIR_ERR_AUTH_UNAVAILABLE ||
               e->code == VIR_ERR_AUTH_CANCELLED || e->code == VIR_ERR_OPERATION_DENIED;
}

static const char *error_message(void) {
        const virError *e = virGetLastError();
        return e && e->message ? e->message : "unknown error";
}

/* SIGTERM kills us (its default) while connecting, which may block; once the
 * events are followed, it ends the loop instead, and the connection is closed. */
static int watch_signals(Follower *f) {
        sigset_t ss;

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "sigprocmask: %m");
        f->signal_fd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
        if (f->signal_fd < 0)
                return log_error_errno(errno, "signalfd: %m");
        f->signal_watch = virEventAddHandle(f->signal_fd, VIR_EVENT_HANDLE_READABLE, on_signal, f, NULL);
        if (f->signal_watch < 0)
                return log_error_errno(-EIO, "cannot watch for signals: %s", error_message());
        return 0;
}

/* A pipe's write end reports POLLERR once its reader is gone, whatever is
 * asked (readable never comes). Other kinds of stdout: EPIPE on write. */
static int watch_stdout(Follower *f) {
        struct stat st;

        if (fstat(STDOUT_FILENO, &st) < 0)
                return log_error_errno(errno, "standard output: %m");
        if (!S_ISFIFO(st.st_mode))
                return 0;
        f->stdout_watch = virEventAddHandle(STDOUT_FILENO, VIR_EVENT_HANDLE_READABLE, on_stdout_hangup, f, NULL);
        if (f->stdout_watch < 0)
                return log_error_errno(-EIO, "cannot watch standard output: %s", error_message());
        return 0;
}

/* "running UUID" for each domain that runs now. */
static int tell_running(Follower *f) {
        virDomainPtr *doms = NULL;
        int n;

        n = virConnectListAllDomains(f->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_RUNNING);
        if (n < 0)
                return -EIO;
        for (int i = 0; i < n; i++) {
                char uuid[VIR_UUID_STRING_BUFLEN];

                if (f->exit_status < 0 && virDomainGetUUIDString(doms[i], uuid) == 0) {
                        log_debug("domain %s (%s) runs", virDomainGetName(doms[i]), uuid);
                        tell(f, MB_FOLLOWER_RUNNING, uuid);
                }
                (void) virDomainFree(doms[i]);
        }
        free(doms);
        return 0;
}

static int follow(Follower *f) {
        if (virEventRegisterDefaultImpl() < 0)
                return log_error("cannot set up libvirt's event loop: %s", error_message()), MB_FOLLOWER_EXIT_FAILED;

        f->conn = virConnectOpenReadOnly(f->uri);
        if (!f->conn) {
                const virError *e = virGetLastError();
                bool denied = error_is_denial(e, f->uri);

                if (e)
                        log_debug("libvirt error: domain %d, code %d, int1 %d", e->domain, e->code, e->int1);

                log_notice("cannot connect to %s%s: %s", f->uri, denied ? " (permission denied)" : "", error_message());
                return denied ? MB_FOLLOWER_EXIT_DENIED : MB_FOLLOWER_EXIT_NO_CONNECTION;
        }
        /* Not every driver has keepalives (the test driver has no daemon). */
        if (virConnectSetKeepAlive(f->conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0)
                log_debug("no keepalive on %s: %s", f->uri, error_message());
        f->callback_id = virConnectDomainEventRegisterAny(f->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                          VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), f, NULL);
        if (f->callback_id < 0) {
                log_notice("cannot follow libvirt's domain events on %s: %s", f->uri, error_message());
                return MB_FOLLOWER_EXIT_NO_EVENTS;
        }
        if (virConnectRegisterCloseCallback(f->conn, on_close, f, NULL) < 0)
                log_debug("no close callback on %s: %s", f->uri, error_message());
        if (watch_signals(f) < 0 || watch_stdout(f) < 0)
                return MB_FOLLOWER_EXIT_FAILED;

        tell(f, MB_FOLLOWER_CONNECTED, NULL);
        /* The events of while we were not connected are lost: the domains
         * that run now are told once, after the callback is registered (a
         * domain that resumes from here on is told by its event too). */
        if (tell_running(f) < 0)
                log_notice("cannot list the running domains of %s: %s", f->uri, error_message());
        while (f->exit_status < 0)
                if (virEventRunDefaultImpl() < 0) {
                        log_error("libvirt's event loop failed: %s", error_message());
                        follower_finish(f, MB_FOLLOWER_EXIT_FAILED);
                }
        return f->exit_status;
}

static void help(void) {
        printf("Usage: %s [OPTIONS] URI\n\n"
               "Follows libvirt's domain lifecycle events on URI, read-only, for migbrokerd,\n"
               "and writes one line per domain that starts or resumes on standard output:\n"
               "  connected | started UUID | resumed UUID | running UUID\n"
               "(running: each domain that runs when the connection opens, after connected).\n"
               "Started by migbrokerd; not meant to be run by hand.\n\n"
               "  --user USER          drop to this user when started as root\n"
               "  --parent PID         die with this process (and not start if it is not our parent)\n"
               "  --log-level LEVEL    err, warning, notice, info or debug\n"
               "  -h --help            show this help\n"
               "     --version         show the version\n\n"
               "Exit status: %d stopped (standard output closed, SIGTERM), %d could not connect,\n"
               "%d permission denied on a local URI, %d no lifecycle events, %d connection closed, %d usage, %d other.\n",
               program_invocation_short_name, MB_FOLLOWER_EXIT_STOPPED, MB_FOLLOWER_EXIT_NO_CONNECTION,
               MB_FOLLOWER_EXIT_DENIED, MB_FOLLOWER_EXIT_NO_EVENTS, MB_FOLLOWER_EXIT_CLOSED, MB_FOLLOWER_EXIT_USAGE,
               MB_FOLLOWER_EXIT_FAILED);
}

int main(int argc, char *argv[]) {
        enum { ARG_USER = 0x100, ARG_PARENT, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = {
                { "user", required_argument, NULL, ARG_USER },
                { "parent", required_argument, NULL, ARG_PARENT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        _cleanup_(follower_clear) Follower f = {
                .callback_id = -1, .signal_fd = -1, .signal_watch = -1, .stdout_watch = -1, .exit_status = -1,
        };
        const char *user = NULL;
        pid_t parent = 0;
        int c, r;

        mb_log_set_ident("migbroker-libvirt-events");
        /* Standard error is a pipe to the broker, which logs each line at its priority. */
        mb_log_set_journal(0);
        mb_log_set_priority_prefix(!isatty(STDERR_FILENO));
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_USER: user = optarg; break;
                case ARG_PARENT: {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        /* 1 too: a broker may be a container's init. */
                        if (errno || *end || v < 1 || v > INT32_MAX) {
                                log_error("--parent takes a process id, not '%s'", optarg);
                                return MB_FOLLOWER_EXIT_USAGE;
                        }
                        parent = (pid_t) v;
                        break;
                }
                case ARG_LOG_LEVEL:
                        r = mb_log_parse_level(optarg);
                        if (r < 0) {
                                log_error("unknown log level '%s'", optarg);
                                return MB_FOLLOWER_EXIT_USAGE;
                        }
                        mb_log_set_level(r);
                        break;
                case 'h': help(); return 0;
                case ARG_VERSION: printf("migbroker-libvirt-events %s\n", PACKAGE_VERSION); return 0;
                default: return MB_FOLLOWER_EXIT_USAGE;
                }
        }
        if (optind != argc - 1 || !*argv[optind]) {
                log_error("one libvirt URI is required (see --help)");
                return MB_FOLLOWER_EXIT_USAGE;
        }
        f.uri = argv[optind];

        /* Shed what the broker gave us before libvirt's code runs. */
        if (mb_privs_drop(user) < 0 || mb_privs_bind_to_parent(parent) < 0 || mb_privs_set_no_new_privs() < 0)
                return MB_FOLLOWER_EXIT_FAILED;
        /* Left as root (the broker's fall back): a read-only unix socket
         * that lets root in takes no capability, and nothing else here does. */
        if (geteuid() == 0 && mb_privs_drop_capabilities() < 0)
                return MB_FOLLOWER_EXIT_FAILED;
        {
                const int keep[] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
                r = mb_fd_close_all_except(keep, ELEMENTSOF(keep));
                if (r < 0)
                        return log_error_errno(r, "cannot close inherited descriptors: %m"), MB_FOLLOWER_EXIT_FAILED;
        }
        /* A broker that is gone shows as EPIPE, not as a signal. */
        if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
                return log_error_errno(errno, "cannot ignore SIGPIPE: %m"), MB_FOLLOWER_EXIT_FAILED;
        /* libvirt prints its errors on stderr unless told: we log them ourselves. */
        virSetErrorFunc(NULL, ignore_errors);

        return follow(&f);
}
