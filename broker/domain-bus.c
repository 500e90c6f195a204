/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain-bus.h"
#include "fd-util.h"
#include "log.h"
#include "manager.h"

#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 1000

/* A daemon told to stop: watched through a pidfd (readable once it has
 * exited, zombie or not: it is not our child, and its reaper may be slow). */
typedef struct StoppingBus {
        Manager *manager;
        char *uuid;
        int pidfd;
        sd_event_source *exit_source, *kill_timer;
} StoppingBus;

static void stopping_bus_free(gpointer p) {
        StoppingBus *b = p;

        b->exit_source = sd_event_source_disable_unref(b->exit_source);
        b->kill_timer = sd_event_source_disable_unref(b->kill_timer);
        b->pidfd = mb_safe_close(b->pidfd);
        g_free(b->uuid);
        g_free(b);
}

GHashTable *domain_bus_stopping_table_new(void) {
        return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, stopping_bus_free);
}

static int pidfd_signal(int pidfd, int sig) {
        return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

static int on_stopped(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        StoppingBus *b = userdata;

        log_info("domain %s: bus stopped", b->uuid);
        g_hash_table_remove(b->manager->stopping_buses, b->uuid); /* frees b */
        return 0;
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        StoppingBus *b = userdata;

        log_warning("domain %s: the bus did not stop within %d ms of SIGTERM: killing it", b->uuid, STOP_TIMEOUT_MS);
        (void) pidfd_signal(b->pidfd, SIGKILL);
        return 0;
}

/* Kills at once a daemon of this domain still stopping (before a new one binds
 * the same path: the old one would remove the new socket when it exits). */
static void kill_stopping(Manager *m, const char *uuid) {
        StoppingBus *b = g_hash_table_lookup(m->stopping_buses, uuid);

        if (!b)
                return;
        log_info("domain %s: the previous bus is still stopping: killing it", uuid);
        (void) pidfd_signal(b->pidfd, SIGKILL);
        g_hash_table_remove(m->stopping_buses, uuid);
}

static char *domain_dir(Manager *m, const char *uuid) {
        return g_build_filename(m->runtime_dir, "domain", uuid, NULL);
}

static const char *dbus_daemon_path(void) {
        const char *e = getenv("MIGBROKER_DBUS_DAEMON");

        if (e && *e)
                return e;
        if (access("/usr/bin/dbus-daemon", X_OK) == 0)
                return "/usr/bin/dbus-daemon";
        return "/bin/dbus-daemon";
}

pid_t domain_bus_pid(Manager *m, const char *uuid) {
        g_autofree char *dir = domain_dir(m, uuid);
        g_autofree char *pidfile = g_build_filename(dir, "pid", NULL);
        g_autofree char *conf = g_build_filename(dir, "bus.conf", NULL);
        g_autofree char *text = NULL, *cmdline = NULL, *procfile = NULL;
        gsize len = 0;
        long pid;
        char *end;

        if (!g_file_get_contents(pidfile, &text, NULL, NULL))
                return 0;
        errno = 0;
        pid = strtol(text, &end, 10);
        if (errno || pid <= 1 || (*end && *end != '\n'))
                return 0;
        /* Is it still our daemon (and not a recycled pid)? */
        procfile = g_strdup_printf("/proc/%ld/cmdline", pid);
        if (!g_file_get_contents(procfile, &cmdline, &len, NULL))
                return 0;
        for (gsize i = 0; i + 1 < len; i++)
                if (cmdline[i] == '\0')
                        cmdline[i] = ' ';
        if (!strstr(cmdline, "dbus-daemon") || !strstr(cmdline, conf))
                return 0;
        return (pid_t) pid;
}

char *domain_bus_address(Manager *m, const char *uuid) {
        g_autofree char *dir = NULL;

        if (domain_bus_pid(m, uuid) <= 0)
                return NULL;
        dir = domain_dir(m, uuid);
        return g_strdup_printf("unix:path=%s/bus", dir);
}

static char *user_name(uid_t uid) {
        struct passwd *pw = getpwuid(uid);
        return pw ? g_strdup(pw->pw_name) : g_strdup_printf("%u", (unsigned) uid);
}

static int write_config(Manager *m, const char *dir, const char *conf) {
        const char *vmm = m->policy->settings.vmm_user;
        g_autofree char *self = user_name(geteuid());
        g_autoptr(GString) s = g_string_new(NULL);
        g_autofree char *vmm_rule = NULL;

        if (vmm && *vmm && getpwnam(vmm))
                vmm_rule = g_markup_printf_escaped("    <allow user=\"%s\"/>\n", vmm);
        g_string_append_printf(s,
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<!-- Written by migbrokerd: the dbus-vmstate bus of one domain. -->\n"
                "<busconfig>\n"
                "  <type>migbroker-domain</type>\n"
                "  <listen>unix:path=%s/bus</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow user=\"root\"/>\n"
                "    <allow user=\"%s\"/>\n"
                "%s"
                "    <allow own=\"*\"/>\n"
                "    <allow send_type=\"method_call\"/>\n"
                "    <allow send_type=\"method_return\"/>\n"
                "    <allow send_type=\"error\"/>\n"
                "    <allow send_type=\"signal\"/>\n"
                "    <allow receive_type=\"method_call\"/>\n"
                "    <allow receive_type=\"method_return\"/>\n"
                "    <allow receive_type=\"error\"/>\n"
                "    <allow receive_type=\"signal\"/>\n"
                "  </policy>\n"
                "</busconfig>\n",
                dir, self, vmm_rule ?: "");
        if (!g_file_set_contents_full(conf, s->str, (gssize) s->len, G_FILE_SET_CONTENTS_CONSISTENT, 0644, NULL))
                return -EIO;
        return 0;
}

/* The directory is reachable by root and the VMM user's group only. */
static int make_dir(Manager *m, const char *dir) {
        const char *vmm = m->policy->settings.vmm_user;
        struct passwd *pw = vmm && *vmm ? getpwnam(vmm) : NULL;

        if (g_mkdir_with_parents(dir, 0750) < 0)
                return -errno;
        if (geteuid() == 0 && pw) {
                if (chown(dir, 0, pw->pw_gid) < 0)
                        return -errno;
                if (chmod(dir, 0750) < 0)
                        return -errno;
        } else if (chmod(dir, 0755) < 0) {
                /* Unprivileged broker (tests): the VMM user is ourselves or nobody. */
                return -errno;
        }
        return 0;
}

int domain_bus_ensure(Manager *m, const char *uuid) {
        g_autofree char *dir = domain_dir(m, uuid);
        g_autofree char *conf = g_build_filename(dir, "bus.conf", NULL);
        g_autofree char *sock = g_build_filename(dir, "bus", NULL);
        g_autofree char *pidfile = g_build_filename(dir, "pid", NULL);
        g_autofree char *domains = g_build_filename(m->runtime_dir, "domain", NULL);
        _cleanup_close_ int rfd = -1, wfd = -1;
        char buf[64], fdarg[48];
        int p[2], r, status;
        ssize_t n;
        pid_t pid, child;

        if (domain_bus_pid(m, uuid) > 0)
                return 0; /* running (maybe started by a broker before a restart): adopt it */
        kill_stopping(m, uuid);

        if (g_mkdir_with_parents(domains, 0755) < 0)
                return log_error_errno(-errno, "cannot create %s: %m", domains);
        r = make_dir(m, dir);
        if (r < 0)
                return log_error_errno(r, "cannot create %s: %m", dir);
        r = write_config(m, dir, conf);
        if (r < 0)
                return log_error_errno(r, "cannot write %s: %m", conf);
        (void) unlink(sock);

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        rfd = p[0];
        wfd = p[1];
        snprintf(fdarg, sizeof(fdarg), "--print-pid=%d", 3);
        child = fork();
        if (child < 0)
                return -errno;
        if (child == 0) {
                sigset_t ss;
                int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

                sigemptyset(&ss);
                (void) sigprocmask(SIG_SETMASK, &ss, NULL);
                if (dup2(wfd, 3) < 0)
                        _exit(126);
                if (devnull >= 0) {
                        (void) dup2(devnull, STDIN_FILENO);
                        (void) dup2(devnull, STDOUT_FILENO);
                }
                (void) setsid();
                {
                        g_autofree char *confarg = g_strdup_printf("--config-file=%s", conf);
                        char *argv[] = { (char *) dbus_daemon_path(), confarg, (char *) "--fork", fdarg, NULL };
                        execv(argv[0], argv);
                }
                _exit(127);
        }
        wfd = mb_safe_close(wfd);
        /* With --fork the daemon detaches: our child exits once it is ready. */
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
                ;
        {
                MbFdWaitPolicy wp = { .stall_ms = START_TIMEOUT_MS };
                n = mb_fd_read_full(rfd, buf, sizeof(buf) - 1, &wp);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n <= 0)
                return log_error_errno(-EIO, "the bus of domain %s did not start (%s exited with %d)", uuid,
                                       dbus_daemon_path(), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        buf[n] = '\0';
        pid = (pid_t) strtol(buf, NULL, 10);
        if (pid <= 1)
                return log_error_errno(-EIO, "the bus of domain %s reported no pid", uuid);
        if (!g_file_set_contents_full(pidfile, buf, n, G_FILE_SET_CONTENTS_CONSISTENT, 0644, NULL))
                return log_error_errno(-EIO, "cannot write %s", pidfile);
        log_info("domain %s: bus started at %s (pid %d)", uuid, sock, (int) pid);
        return 0;
}

int domain_bus_stop(Manager *m, const char *uuid) {
        g_autofree char *dir = domain_dir(m, uuid);
        pid_t pid = domain_bus_pid(m, uuid);
        const char *names[] = { "bus", "bus.conf", "pid" };

        if (pid > 0) {
                StoppingBus *b = g_new0(StoppingBus, 1);
                uint64_t now;
                int r;

                *b = (StoppingBus) { .manager = m, .uuid = g_strdup(uuid), .pidfd = -1 };
                b->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
                if (b->pidfd < 0) {
                        r = -errno;
                        if (r != -ESRCH) { /* ESRCH: it is gone already */
                                log_warning_errno(r, "domain %s: cannot watch bus pid %d: %m; sending SIGTERM only",
                                                  uuid, (int) pid);
                                (void) kill(pid, SIGTERM);
                        }
                        stopping_bus_free(b);
                } else {
                        kill_stopping(m, uuid);
                        (void) pidfd_signal(b->pidfd, SIGTERM);
                        r = sd_event_add_io(m->event, &b->exit_source, b->pidfd, EPOLLIN, on_stopped, b);
                        if (r >= 0)
                                r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
                        if (r >= 0)
                                r = sd_event_add_time(m->event, &b->kill_timer, CLOCK_MONOTONIC,
                                                      now + STOP_TIMEOUT_MS * 1000ULL, 0, on_stop_timeout, b);
                        if (r < 0) {
                                log_warning_errno(r, "domain %s: cannot watch the bus stop: %m; killing it", uuid);
                                (void) pidfd_signal(b->pidfd, SIGKILL);
                                stopping_bus_free(b);
                        } else {
                                g_hash_table_replace(m->stopping_buses, b->uuid, b);
                        }
                }
        }
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                g_autofree char *f = g_build_filename(dir, names[i], NULL);
                (void) g_unlink(f);
        }
        (void) g_rmdir(dir);
        return 0;
}
