/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the broker's D-Bus surface, black box. On first use it
 * starts a private dbus-daemon; for each input a real migbrokerd built with
 * ASan+UBSan (tests/fuzz/san/, built by 'make fuzz', workers too) over a fake
 * sysfs and a policy of testing.so devices, faults included (failing, lying,
 * aborting, exiting, hanging and slow plugins), plus two devices whose worker
 * lies (tests/fuzz/lying-worker.c: wrong values, wrong signatures, errors,
 * silence, exits, as the input's script says: the broker's side of the worker
 * protocol, where the untrusted end is the worker). The input is then a
 * sequence of calls on org.migbroker1.Manager and org.migbroker1.Device
 * objects (and on the dbus-vmstate helpers of the domain buses) with
 * input-derived arguments: right and wrong signatures, bad BDFs, states,
 * owners and options, fds of every kind (pipes, sockets, memfds, /dev/null,
 * directories, eventfds, O_PATH fds, the wrong end of a pipe, replays of the
 * input's own saved streams); calls run one by one or several at once, as
 * root or as nobody; a device may vanish from sysfs and come back.
 *
 * After each input every claim is released, and the target checks that the
 * broker answers (a property read, and every call within 30 s of quiet),
 * that its process is alive, that every claim and session did end, that no
 * worker remains and no domain bus is left running; then the broker gets
 * SIGTERM and must exit 0 with no sanitizer report in its log (workers log
 * there too; LeakSanitizer reports at its exit). Otherwise the target
 * aborts, so libFuzzer keeps the input, after printing the end of the
 * broker's log (the sanitizer's report). A broker per input keeps inputs
 * independent (the reset backoff, for one, lasts a quiet minute).
 *
 * The broker runs in another process, so libFuzzer sees no coverage of it;
 * the target feeds libFuzzer's extra counters with what it can see instead:
 * (previous call's outcome, call, outcome) where an outcome is the error
 * name or "ok". Expect a few inputs per second, not thousands.
 *
 * Clean-up: a reaper process forked first waits for the target to end (its
 * pipe closes, however the target ends: exit, crash, timeout, signal), then
 * stops every process whose command line names our temporary directory (the
 * broker first: its workers die with it, PR_SET_PDEATHSIG; then the domain
 * buses it started and the bus), and removes the directory (kept with
 * MB_FUZZ_KEEP_TMP=1). The target is a subreaper, so the domain buses (which
 * daemonize) are its children and are reaped at once.
 *
 * Input: a length byte and that many bytes of the lying worker's script,
 * then calls, each an op byte (bits 0-4: the call, see enum Op; bit 5: do
 * not wait for the reply; bit 6: call as nobody), then its arguments:
 * integers big-endian, strings and words as in fuzz-input.h, a device a byte
 * (the policy's devices, then an absent one and a malformed path), an owner
 * a word (two UUIDs and one in upper case, or a random string), options a
 * count byte then key/type/value, an fd a kind byte (fd_open()) then for
 * LoadFrom a data source (0: literal u16 length + bytes, 1: what earlier
 * SaveTo calls of the input wrote, 2: that with one byte xor'ed, u16 offset +
 * u8, 3: that truncated, u16 length).
 *
 * Needs root (workers drop to nobody; one caller is nobody). Environment:
 * MB_FUZZ_SAN_DIR (where migbrokerd, migbroker-worker and lying-worker are;
 * default tests/fuzz/san/ beside this program), MB_FUZZ_PLUGIN_DIR (default
 * plugins/testing/.libs of the build tree), DBUS_DAEMON, MB_FUZZ_VERBOSE=1
 * (each call and its reply on stderr), MB_FUZZ_KEEP_TMP=1. Seeds:
 * tests/fuzz/corpus/dbus-surface/, written by tests/fuzz/dbus-surface-seeds.py.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#define FUZZ_NAME "fuzz-dbus-surface"
#include "fuzz-input.h"

#include "macro.h"

static void strv_freep(char ***l) {
        for (char **p = *l; p && *p; p++)
                free(*p);
        free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define BUS_NAME "org.migbroker1"
#define MANAGER_PATH "/org/migbroker1"
#define MANAGER_IFACE "org.migbroker1.Manager"
#define DEVICE_PREFIX "/org/migbroker1/device"
#define DEVICE_IFACE "org.migbroker1.Device"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"

#define MAX_CALLS 20
#define MAX_PENDING 8
#define MAX_SAVED (4u * 1024 * 1024)
#define CALL_TIMEOUT_USEC (60ull * 1000 * 1000)
#define QUIET_LIMIT_MS 30000
#define WORKERS_GONE_MS 5000
#define NOBODY 65534
#define MAX_RESETS 4 /* the broker's backoff of a fourth: 1 s; more would only make the input slow */

static const char *const owners[] = {
        "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41",
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "6F1C9A52-1D1E-4C5B-9B0E-3F6A2D7C8E41", /* the first, in upper case */
};
#define N_DOMAINS 2 /* owners[2] is owners[0] */

/* The fake PCI functions: BDF, vendor, device, and the rule that binds them (if any). */
typedef struct FakeDevice {
        const char *bdf, *vendor, *device, *plugin, *arg;
} FakeDevice;

static const FakeDevice devices[] = {
        { "0000:3b:00.1", "0x1af4", "0x1041", "testing", "state-size=64K,seed=1" },
        { "0000:3b:00.2", "0x1af4", "0x1041", "testing", "state-size=64K,seed=2,dirty=4K" },
        { "0000:3b:00.3", "0x1af4", "0x1041", "noprecopy", "state-size=16K,seed=3" },
        { "0000:3b:00.4", "0x1af4", "0x1041", "testing",
          "save=fail:EIO+after:3,load=fail:EPROTO+after:2,state-size=16K" },
        { "0000:3b:00.5", "0x1af4", "0x1041", "testing", "update_pending=garbage,get_state=garbage,state-size=16K" },
        { "0000:3b:00.6", "0x1af4", "0x1041", "testing", "set_state=abort+after:4,save=exit:3+after:2,state-size=16K" },
        { "0000:3b:00.7", "0x1af4", "0x1041", "testing", "init=fail" },
        { "0000:3b:01.0", "0x1af4", "0x1041", "testing", "save=slow:1500,set_state=hang+after:6,state-size=16K" },
        { "0000:3c:00.0", "0x1af4", "0x1041", NULL, NULL },      /* a BDF pattern rule */
        { "0000:3d:00.0", "0x1af4", "0x1042", NULL, NULL },      /* a vendor+device rule */
        { "0000:3e:00.0", "0x8086", "0x1572", NULL, NULL },      /* in sysfs, no rule (probed) */
        { "0000:3f:00.0", "0x1af4", "0x1041", "liar", "state-size=16K" }, /* the lying worker's */
        { "0000:3f:00.1", "0x1af4", "0x1041", "liar", "" },
        { "0000:3b:01.1", "0x1af4", "0x1041", "testing", "state-size=16K" }, /* comes and goes (OP_HOTPLUG) */
};
#define N_DEVICES (sizeof(devices) / sizeof(devices[0]))
#define HOTPLUG_DEVICE (N_DEVICES - 1)

/* ---- the environment: paths, processes, connections --------------------------------- */

static struct {
        char tmp[PATH_MAX], sysfs[PATH_MAX], rundir[PATH_MAX], policy[PATH_MAX], log[PATH_MAX];
        char hidden[PATH_MAX]; /* where the hot-plugged device's sysfs directory waits while absent */
        char bus_address[PATH_MAX + 16];
        char broker_path[PATH_MAX], worker_path[PATH_MAX], plugin_dir[PATH_MAX];
        char liar_dir[PATH_MAX], liar_script[PATH_MAX + 16];
        pid_t bus_pid, broker_pid, reaper_pid;
        int reaper_fd, log_fd;
        sd_bus *root, *nobody;
        bool verbose, broker_gone, hotplug_absent;
} E = { .reaper_fd = -1, .log_fd = -1 };

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void write_file(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        size_t len = strlen(text);

        CHECK(fd >= 0);
        CHECK(write(fd, text, len) == (ssize_t) len);
        CHECK(fchmod(fd, mode) == 0);
        CHECK(close(fd) == 0);
}

static void mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                (void) mkdir(buf, mode);
                *p = '/';
        }
        CHECK(mkdir(buf, mode) == 0 || errno == EEXIST);
}

/* Prints the end of the broker's log and what the sanitizers said in it. */
static void print_log(const char *why) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = fopen(E.log, "re");
        const char *start;
        int lines = 0;

        fprintf(stderr, "%s: %s\n", FUZZ_NAME, why);
        if (!f)
                return;
        {
                FILE *m = open_memstream(&text, &len);
                char buf[4096];
                size_t n;
                CHECK(m);
                while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                        fwrite(buf, 1, n, m);
                fclose(m);
        }
        fclose(f);
        start = text + len;
        while (start > text && lines < 80)
                if (*--start == '\n')
                        lines++;
        fprintf(stderr, "%s: ---- the broker's log (%s), last %d lines:\n%s\n%s: ---- end of the broker's log\n",
                FUZZ_NAME, E.log, lines, start, FUZZ_NAME);
        free(text);
}

/* strstr() without libFuzzer's hook: the log's words are not the input's. */
static bool contains(const char *hay, const char *needle) {
        for (; *hay; hay++) {
                size_t i = 0;
                while (needle[i] && hay[i] == needle[i])
                        i++;
                if (!needle[i])
                        return true;
        }
        return false;
}

/* A sanitizer's report in the broker's log (the broker's or a worker's). */
static const char *log_has_report(void) {
        static const char *const marks[] = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                                             "AddressSanitizer:DEADLYSIGNAL", "ERROR: UndefinedBehaviorSanitizer" };
        static char buf[1 << 20];
        const char *found = NULL;
        int fd = open(E.log, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]) && !found; i++)
                if (contains(buf, marks[i]))
                        found = marks[i];
        return found;
}

/* Aborts (libFuzzer records the input) when the broker died; reaps it. */
static void check_broker_alive(const char *when) {
        char why[256];
        int status;
        pid_t p;

        if (E.broker_gone)
                return;
        p = waitpid(E.broker_pid, &status, WNOHANG);
        if (p == 0)
                return;
        E.broker_gone = true;
        if (p < 0)
                snprintf(why, sizeof(why), "%s: cannot wait for the broker: %s", when, strerror(errno));
        else if (WIFSIGNALED(status))
                snprintf(why, sizeof(why), "%s: the broker (pid %d) was killed by signal %d (%s)", when,
                         (int) E.broker_pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
                snprintf(why, sizeof(why), "%s: the broker (pid %d) exited with status %d", when, (int) E.broker_pid,
                         WEXITSTATUS(status));
        print_log(why);
        abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

/* Whether pid is a process whose command line mentions our directory (and
 * whether it is a broker). */
static bool is_ours(pid_t pid, bool *is_broker) {
        char path[64], cmd[4096];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, cmd, sizeof(cmd) - 1);
        (void) close(fd);
        if (n <= 0)
                return false;
        cmd[n] = '\0';
        if (is_broker) {
                const char *base = strrchr(cmd, '/');
                *is_broker = strcmp(base ? base + 1 : cmd, "migbrokerd") == 0;
        }
        for (ssize_t i = 0; i < n; i++)
                if (cmd[i] == '\0')
                        cmd[i] = ' ';
        return strstr(cmd, E.tmp) != NULL;
}

/* SIGTERM, up to 5 s, SIGKILL: for each process of ours (brokers first when asked). */
static void stop_ours(bool brokers) {
        pid_t pids[256];
        size_t n = 0;
        struct dirent *de;
        DIR *d = opendir("/proc");

        if (!d)
                return;
        while ((de = readdir(d)) && n < sizeof(pids) / sizeof(pids[0])) {
                pid_t pid = (pid_t) atoi(de->d_name);
                bool broker;
                if (pid > 1 && pid != getpid() && is_ours(pid, &broker) && broker == brokers)
                        pids[n++] = pid;
        }
        closedir(d);
        for (size_t i = 0; i < n; i++) {
                (void) kill(pids[i], SIGTERM);
                (void) kill(pids[i], SIGCONT);
        }
        for (size_t i = 0; i < n; i++) {
                for (int k = 0; k < 100 && kill(pids[i], 0) == 0 && is_ours(pids[i], NULL); k++)
                        usleep(50 * 1000);
                if (kill(pids[i], 0) == 0 && is_ours(pids[i], NULL))
                        (void) kill(pids[i], SIGKILL);
        }
}

/* The reaper: waits until the target's end of the pipe closes (however the
 * target ends), then stops every process whose command line names our
 * directory: the broker (it stops its workers), then the domain buses it
 * started and the bus; and removes the directory. */
_Noreturn static void reaper(int fd) {
        char buf[256];

        (void) signal(SIGINT, SIG_IGN);
        (void) signal(SIGTERM, SIG_IGN);
        (void) signal(SIGHUP, SIG_IGN);
        (void) prctl(PR_SET_NAME, "mb-fuzz-reaper");
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n == 0 || (n < 0 && errno != EINTR))
                        break;
        }
        stop_ours(true);
        stop_ours(false);
        if (!getenv("MB_FUZZ_KEEP_TMP"))
                (void) nftw(E.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        else
                fprintf(stderr, "%s: kept %s\n", FUZZ_NAME, E.tmp);
        _exit(0);
}

/* Starts argv with stdout+stderr to log_fd (or ours), fd 3 = fd3 if >= 0. */
static pid_t spawn(char *const argv[], char *const envp[], int log_fd, int fd3) {
        pid_t pid = fork();

        CHECK(pid >= 0);
        if (pid == 0) {
                sigset_t ss;
                int null = open("/dev/null", O_RDONLY);

                sigemptyset(&ss);
                (void) sigprocmask(SIG_SETMASK, &ss, NULL);
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                if (log_fd >= 0) {
                        (void) dup2(log_fd, STDOUT_FILENO);
                        (void) dup2(log_fd, STDERR_FILENO);
                }
                if (fd3 >= 0 && dup2(fd3, 3) < 0)
                        _exit(126);
                for (int fd = 4; fd < 1024; fd++)
                        (void) close(fd);
                if (envp)
                        execve(argv[0], argv, envp);
                else
                        execv(argv[0], argv);
                fprintf(stderr, "%s: cannot execute %s: %s\n", FUZZ_NAME, argv[0], strerror(errno));
                _exit(127);
        }
        return pid;
}

static void start_bus(void) {
        char conf[PATH_MAX + 16], text[4096], confarg[PATH_MAX + 32];
        const char *daemon = getenv("DBUS_DAEMON");
        char *argv[6];
        int p[2];
        ssize_t n;

        snprintf(conf, sizeof(conf), "%s/bus.conf", E.tmp);
        snprintf(text, sizeof(text),
                 "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                 " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                 "<busconfig>\n"
                 "  <type>system</type>\n"
                 "  <listen>unix:path=%s/bus</listen>\n"
                 "  <auth>EXTERNAL</auth>\n"
                 "  <policy context=\"default\">\n"
                 "    <allow user=\"*\"/>\n"
                 "    <allow own=\"*\"/>\n"
                 "    <allow send_type=\"method_call\"/>\n"
                 "    <allow send_type=\"signal\"/>\n"
                 "    <allow send_type=\"method_return\"/>\n"
                 "    <allow send_type=\"error\"/>\n"
                 "    <allow receive_type=\"method_call\"/>\n"
                 "    <allow receive_type=\"signal\"/>\n"
                 "    <allow receive_type=\"method_return\"/>\n"
                 "    <allow receive_type=\"error\"/>\n"
                 "  </policy>\n"
                 "  <limit name=\"max_replies_per_connection\">50000</limit>\n"
                 "  <limit name=\"max_connections_per_user\">4096</limit>\n"
                 "</busconfig>\n",
                 E.tmp);
        write_file(conf, text, 0644);
        snprintf(confarg, sizeof(confarg), "--config-file=%s", conf);
        argv[0] = (char *) (daemon && *daemon ? daemon : "/usr/bin/dbus-daemon");
        argv[1] = confarg;
        argv[2] = (char *) "--nofork";
        argv[3] = (char *) "--nopidfile";
        argv[4] = (char *) "--print-address=3";
        argv[5] = NULL;
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        E.bus_pid = spawn(argv, NULL, -1, p[1]);
        (void) close(p[1]);
        n = read(p[0], text, sizeof(text) - 1);
        (void) close(p[0]);
        if (n <= 0) {
                fprintf(stderr, "%s: %s did not start\n", FUZZ_NAME, argv[0]);
                abort();
        }
        text[n] = '\0';
        text[strcspn(text, "\n")] = '\0';
        snprintf(E.bus_address, sizeof(E.bus_address), "%s", text);
        {
                char sock[PATH_MAX + 16];
                snprintf(sock, sizeof(sock), "%s/bus", E.tmp);
                (void) chmod(sock, 0666);
        }
}

static void write_sysfs_device(size_t i, const char *base) {
        char dir[PATH_MAX * 2], path[PATH_MAX * 3];

        snprintf(dir, sizeof(dir), "%s/%s", base, devices[i].bdf);
        mkdir_p(dir, 0755);
        snprintf(path, sizeof(path), "%s/vendor", dir);
        write_file(path, devices[i].vendor, 0644);
        snprintf(path, sizeof(path), "%s/device", dir);
        write_file(path, devices[i].device, 0644);
}

static void write_sysfs_and_policy(void) {
        char base[PATH_MAX + 32];
        FILE *f;

        snprintf(base, sizeof(base), "%s/bus/pci/devices", E.sysfs);
        mkdir_p(base, 0755);
        for (size_t i = 0; i < N_DEVICES; i++)
                write_sysfs_device(i, base);
        mkdir_p(E.hidden, 0755);

        /* The liar plugin: testing.so in a directory of its own, where the
         * script tells tests/fuzz/lying-worker.c to lie. */
        mkdir_p(E.liar_dir, 0755);
        {
                char src[PATH_MAX + 16], dst[PATH_MAX + 16], buf[65536];
                int in, out;
                ssize_t n;

                snprintf(src, sizeof(src), "%s/testing.so", E.plugin_dir);
                snprintf(dst, sizeof(dst), "%s/testing.so", E.liar_dir);
                in = open(src, O_RDONLY | O_CLOEXEC);
                CHECK(in >= 0);
                out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
                CHECK(out >= 0);
                while ((n = read(in, buf, sizeof(buf))) > 0)
                        CHECK(write(out, buf, (size_t) n) == n);
                CHECK(n == 0);
                (void) close(in);
                CHECK(close(out) == 0);
                write_file(E.liar_script, "", 0644);
        }

        f = fopen(E.policy, "we");
        CHECK(f);
        fprintf(f,
                "version: 1\n"
                "settings:\n"
                "  worker-user: nobody\n"
                "  op-timeout-ms: 1000\n"
                "plugins:\n"
                "  testing:\n"
                "    path: %s/testing.so\n"
                "  noprecopy:\n"
                "    path: %s/testing-noprecopy.so\n"
                "    arg: \"state-size=16K\"\n"
                "  liar:\n"
                "    path: %s/testing.so\n"
                "devices:\n",
                E.plugin_dir, E.plugin_dir, E.liar_dir);
        for (size_t i = 0; i < N_DEVICES; i++)
                if (devices[i].plugin)
                        fprintf(f, "  - match: { bdf: \"%s\" }\n    plugin: %s\n    arg: \"%s\"\n", devices[i].bdf,
                                devices[i].plugin, devices[i].arg);
        fprintf(f,
                "  - match: { bdf: \"0000:3c:00.*\" }\n    plugin: testing\n    arg: \"state-size=16K,seed=7\"\n"
                "  - match: { vendor: 0x1af4, device: 0x1042 }\n    plugin: noprecopy\n");
        CHECK(fclose(f) == 0);
        CHECK(chmod(E.policy, 0644) == 0);
}

static sd_bus *connect_bus(const char *address) {
        sd_bus *b = NULL;

        CHECK_R(sd_bus_new(&b));
        CHECK_R(sd_bus_set_address(b, address));
        CHECK_R(sd_bus_set_bus_client(b, 1));
        CHECK_R(sd_bus_negotiate_fds(b, 1));
        CHECK_R(sd_bus_start(b));
        return b;
}

/* A connection whose credentials are nobody's: the whole handshake runs with that euid. */
static sd_bus *connect_as_nobody(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus *b;

        CHECK(setegid(NOBODY) == 0);
        CHECK(seteuid(NOBODY) == 0);
        b = connect_bus(E.bus_address);
        CHECK_R(sd_bus_call_method(b, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                   "GetId", &e, &reply, ""));
        CHECK(seteuid(0) == 0);
        CHECK(setegid(0) == 0);
        return b;
}

static void start_broker(void) {
        char *argv[] = {
                E.broker_path, (char *) "--bus", E.bus_address, (char *) "--policy", E.policy,
                (char *) "--sysfs-root", E.sysfs, (char *) "--runtime-dir", E.rundir, (char *) "--worker",
                E.worker_path, (char *) "--libvirt-uri", (char *) "", (char *) "--log-level", (char *) "info", NULL,
        };
        /* Workers get the sanitizer options through the broker (worker-client.c passes them on). */
        char *envp[] = {
                (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                (char *) "LC_ALL=C",
                (char *) "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:print_summary=1",
                (char *) "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1",
                NULL,
        };
        uint64_t start = now_ms();

        /* A fresh log per broker: what is in it is this input's. */
        CHECK(ftruncate(E.log_fd, 0) == 0);
        E.broker_gone = false;
        __atomic_store_n(&E.broker_pid, spawn(argv, envp, E.log_fd, -1), __ATOMIC_SEQ_CST);
        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

                if (sd_bus_call_method(E.root, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListDevices", &e, &reply,
                                       "") >= 0)
                        break;
                check_broker_alive("starting the broker");
                if (now_ms() - start > 30000) {
                        print_log("the broker did not come up within 30 s");
                        abort();
                }
                usleep(5 * 1000);
        }
}

/* SIGTERM: the broker must stop its sessions and exit 0, with no report from
 * LeakSanitizer (or anything else) in its log. Returns the problem, or NULL. */
static const char *stop_broker(void) {
        uint64_t start = now_ms();
        int status = 0;
        pid_t p = 0;

        if (E.broker_gone)
                return NULL;
        E.broker_gone = true;
        (void) kill(E.broker_pid, SIGTERM);
        while (now_ms() - start < 20000 && (p = waitpid(E.broker_pid, &status, WNOHANG)) == 0)
                usleep(2 * 1000);
        if (p == 0) {
                (void) kill(E.broker_pid, SIGKILL);
                (void) waitpid(E.broker_pid, NULL, 0);
                return "the broker did not exit within 20 s of SIGTERM";
        }
        if (p < 0)
                return "cannot wait for the broker";
        if (WIFSIGNALED(status))
                return "the broker was killed by a signal after SIGTERM";
        if (WEXITSTATUS(status) != 0)
                return "the broker exited with an error after SIGTERM (a LeakSanitizer report?)";
        return log_has_report();
}

static void resolve_paths(void) {
        char exe[PATH_MAX], top[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        const char *v;
        char *slash;

        CHECK(n > 0);
        exe[n] = '\0';
        /* BUILDDIR/tests/fuzz/fuzz-dbus-surface */
        slash = strrchr(exe, '/');
        CHECK(slash);
        *slash = '\0';
        snprintf(top, sizeof(top), "%s/../..", exe);
        /* The sanitized broker, and the lying worker that execs the real one beside it. */
        v = getenv("MB_FUZZ_SAN_DIR");
        if (v && *v) {
                snprintf(E.broker_path, sizeof(E.broker_path), "%.*s/migbrokerd", PATH_MAX - 20, v);
                snprintf(E.worker_path, sizeof(E.worker_path), "%.*s/lying-worker", PATH_MAX - 20, v);
        } else {
                snprintf(E.broker_path, sizeof(E.broker_path), "%.*s/san/migbrokerd", PATH_MAX - 20, exe);
                snprintf(E.worker_path, sizeof(E.worker_path), "%.*s/san/lying-worker", PATH_MAX - 30, exe);
        }
        v = getenv("MB_FUZZ_PLUGIN_DIR");
        snprintf(E.plugin_dir, sizeof(E.plugin_dir), "%s", v && *v ? v : "");
        if (!E.plugin_dir[0])
                snprintf(E.plugin_dir, sizeof(E.plugin_dir), "%.*s/plugins/testing/.libs", PATH_MAX - 30, top);
        {
                char *r;
                if ((r = realpath(E.plugin_dir, NULL))) {
                        snprintf(E.plugin_dir, sizeof(E.plugin_dir), "%s", r);
                        free(r);
                }
        }
        if (access(E.broker_path, X_OK) < 0 || access(E.worker_path, X_OK) < 0) {
                fprintf(stderr, "%s: %s or %s is missing: 'make fuzz' builds them (or set MB_FUZZ_SAN_DIR)\n",
                        FUZZ_NAME, E.broker_path, E.worker_path);
                exit(1);
        }
}

/* We are a subreaper: the domain buses the broker starts (daemons: they fork
 * and their first process exits) become our children, and a thread reaps
 * them as soon as they end. Without this an init that reaps late (some
 * container inits do) keeps them as zombies, and the broker's
 * domain_bus_stop() waits its full second for each. SIGCHLD is blocked
 * everywhere else, so that it never interrupts a call (sd_bus_call() fails
 * with EINTR). Our own children (the broker, the bus, the reaper) are left
 * for the code that waits for them. */
static void *orphan_reaper(void *userdata) {
        sigset_t *ss = userdata;

        for (;;) {
                int sig;

                if (sigwait(ss, &sig) != 0)
                        continue;
                for (;;) {
                        siginfo_t si = {};
                        pid_t pid;
                        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
                                break;
                        pid = si.si_pid;
                        if (pid == __atomic_load_n(&E.broker_pid, __ATOMIC_SEQ_CST) || pid == E.bus_pid ||
                            pid == E.reaper_pid)
                                break;
                        (void) waitpid(pid, NULL, WNOHANG);
                }
        }
        return NULL;
}

static void shutdown_all(void);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        int p[2];

        E.verbose = getenv("MB_FUZZ_VERBOSE") != NULL;
        if (geteuid() != 0) {
                /* Workers drop to 'nobody' and one caller is nobody: this needs root. run.sh reports the skip. */
                fprintf(stderr, "%s: SKIP: needs root (the broker's workers drop to nobody, and so does a caller)\n",
                        FUZZ_NAME);
                exit(0);
        }
        resolve_paths();
        snprintf(E.tmp, sizeof(E.tmp), "%s/mb-fuzz-dbus.XXXXXX", getenv("TMPDIR") ?: "/tmp");
        CHECK(mkdtemp(E.tmp));
        CHECK(chmod(E.tmp, 0755) == 0);
        snprintf(E.sysfs, sizeof(E.sysfs), "%.*s/sysfs", PATH_MAX - 10, E.tmp);
        snprintf(E.rundir, sizeof(E.rundir), "%.*s/run", PATH_MAX - 10, E.tmp);
        snprintf(E.policy, sizeof(E.policy), "%.*s/policy.yaml", PATH_MAX - 20, E.tmp);
        snprintf(E.log, sizeof(E.log), "%.*s/broker.log", PATH_MAX - 20, E.tmp);
        snprintf(E.hidden, sizeof(E.hidden), "%.*s/hidden", PATH_MAX - 20, E.tmp);
        snprintf(E.liar_dir, sizeof(E.liar_dir), "%.*s/liar", PATH_MAX - 20, E.tmp);
        snprintf(E.liar_script, sizeof(E.liar_script), "%s/script", E.liar_dir);

        /* The reaper first, so that it holds nothing but its pipe. */
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        E.reaper_pid = fork();
        CHECK(E.reaper_pid >= 0);
        if (E.reaper_pid == 0) {
                (void) close(p[1]);
                reaper(p[0]);
        }
        (void) close(p[0]);
        E.reaper_fd = p[1];

        (void) signal(SIGPIPE, SIG_IGN);
        {
                static sigset_t ss;
                pthread_t t;

                sigemptyset(&ss);
                sigaddset(&ss, SIGCHLD);
                CHECK(pthread_sigmask(SIG_BLOCK, &ss, NULL) == 0);
                CHECK(pthread_create(&t, NULL, orphan_reaper, &ss) == 0);
                CHECK(pthread_detach(t) == 0);
                CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
        }
        mkdir_p(E.rundir, 0755);
        write_sysfs_and_policy();
        start_bus();
        E.log_fd = open(E.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        CHECK(E.log_fd >= 0);
        E.root = connect_bus(E.bus_address);
        E.nobody = connect_as_nobody();
        E.broker_gone = true;
        CHECK(atexit(shutdown_all) == 0);
        fprintf(stderr, "%s: one broker %s per input on %s, log %s\n", FUZZ_NAME, E.broker_path, E.bus_address,
                E.log);
        return 0;
}

/* At a normal exit (between inputs no broker runs): the bus, the reaper. */
static void shutdown_all(void) {
        const char *problem;

        E.root = sd_bus_flush_close_unref(E.root);
        E.nobody = sd_bus_flush_close_unref(E.nobody);
        problem = stop_broker();
        if (problem)
                print_log(problem);
        (void) close(E.reaper_fd);
        E.reaper_fd = -1;
        while (waitpid(E.reaper_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        if (problem)
                _exit(1);
}

/* ---- calls ------------------------------------------------------------------------------ */

/* libFuzzer's extra counters: what the target sees of the broker's behaviour. */
__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t outcome_counters[1 << 14];

static uint32_t hash_str(uint32_t h, const char *s) {
        for (; s && *s; s++)
                h = (h ^ (uint8_t) *s) * 16777619u;
        return h;
}

typedef struct Pending {
        bool active;
        unsigned op;
        uint64_t sent_ms;
        char what[160];
        sd_bus_slot *slot;
} Pending;

static struct {
        Pending pending[MAX_PENDING];
        unsigned n_pending;
        uint32_t last_outcome;
        uint8_t *saved;              /* what the SaveTo calls of this input wrote */
        size_t saved_len;
        int drain[4 * MAX_CALLS];    /* our ends of SaveTo pipes and sockets: read into saved */
        size_t n_drain;
        int collect[4 * MAX_CALLS];  /* SaveTo memfds: read into saved once the call is over */
        size_t n_collect;
        struct Feed {                /* our ends of LoadFrom fds: written, then closed */
                int fd;
                uint8_t *buf;
                size_t len, off;
        } feed[MAX_CALLS * 2];
        size_t n_feed;
        int hold[4 * MAX_CALLS];     /* other fds kept open until the input ends */
        size_t n_hold;
        unsigned n_resets;           /* Reset calls of this input (each may wait for a backoff) */
} S;

static void record_outcome(unsigned op, const char *outcome) {
        uint32_t h = hash_str(2166136261u ^ (op * 0x9e3779b9u), outcome);
        uint32_t key = (S.last_outcome * 31u) ^ h;

        outcome_counters[key % sizeof(outcome_counters)]++;
        S.last_outcome = h;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        Pending *p = userdata;

        if (E.verbose)
                fprintf(stderr, "%s:   %s -> %s%s%s (%" PRIu64 " ms)\n", FUZZ_NAME, p->what, e ? e->name : "ok",
                        e ? ": " : "", e && e->message ? e->message : "", now_ms() - p->sent_ms);
        if (e && (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) || sd_bus_error_has_name(e, SD_BUS_ERROR_TIMEOUT))) {
                check_broker_alive(p->what);
                print_log("no reply within the call's timeout");
                fprintf(stderr, "%s: %s got %s: %s\n", FUZZ_NAME, p->what, e->name, e->message ?: "");
                abort();
        }
        record_outcome(p->op, e ? e->name : "ok");
        p->active = false;
        p->slot = sd_bus_slot_unref(p->slot);
        S.n_pending--;
        return 0;
}

static void drain_fd(int fd) {
        for (;;) {
                uint8_t scratch[65536];
                size_t room = MAX_SAVED - S.saved_len;
                ssize_t n = read(fd, room > 0 ? S.saved + S.saved_len : scratch, room > 0 ? room : sizeof(scratch));
                if (n <= 0)
                        return;
                if (room > 0)
                        S.saved_len += (size_t) n;
        }
}

static void feed_fd(struct Feed *f) {
        while (f->fd >= 0 && f->off < f->len) {
                ssize_t n = write(f->fd, f->buf + f->off, f->len - f->off);
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0)
                        break;
                f->off += (size_t) n;
        }
        if (f->fd >= 0) {
                (void) close(f->fd);
                f->fd = -1;
        }
}

/* Runs the connections and the fds until no call is pending. */
static void settle(void) {
        uint64_t quiet_since = now_ms();

        while (S.n_pending > 0) {
                struct pollfd pfd[2 + 4 * MAX_CALLS + MAX_CALLS * 2];
                size_t n = 0;
                bool busy = false;
                int r;

                r = sd_bus_process(E.root, NULL);
                CHECK_R(r);
                busy |= r > 0;
                r = sd_bus_process(E.nobody, NULL);
                CHECK_R(r);
                busy |= r > 0;
                for (size_t i = 0; i < S.n_drain; i++)
                        drain_fd(S.drain[i]);
                for (size_t i = 0; i < S.n_feed; i++)
                        feed_fd(&S.feed[i]);
                if (busy) {
                        quiet_since = now_ms();
                        continue;
                }
                if (S.n_pending == 0)
                        break;
                check_broker_alive("waiting for replies");
                if (now_ms() - quiet_since > QUIET_LIMIT_MS) {
                        print_log("the broker sent nothing for 30 s while calls were pending");
                        for (size_t i = 0; i < MAX_PENDING; i++)
                                if (S.pending[i].active)
                                        fprintf(stderr, "%s: pending: %s\n", FUZZ_NAME, S.pending[i].what);
                        abort();
                }
                pfd[n++] = (struct pollfd) { .fd = sd_bus_get_fd(E.root), .events = (short) sd_bus_get_events(E.root) };
                pfd[n++] = (struct pollfd) { .fd = sd_bus_get_fd(E.nobody),
                                             .events = (short) sd_bus_get_events(E.nobody) };
                for (size_t i = 0; i < S.n_drain; i++)
                        pfd[n++] = (struct pollfd) { .fd = S.drain[i], .events = POLLIN };
                for (size_t i = 0; i < S.n_feed; i++)
                        if (S.feed[i].fd >= 0)
                                pfd[n++] = (struct pollfd) { .fd = S.feed[i].fd, .events = POLLOUT };
                r = poll(pfd, n, 200);
                CHECK(r >= 0 || errno == EINTR);
                if (r > 0)
                        quiet_since = now_ms();
        }
}

static Pending *pending_slot(void) {
        if (S.n_pending == MAX_PENDING)
                settle();
        for (size_t i = 0; i < MAX_PENDING; i++)
                if (!S.pending[i].active)
                        return &S.pending[i];
        CHECK(false);
        return NULL;
}

/* Sends m (built on bus) and, unless async, waits for its reply. */
static void send_call(sd_bus *bus, sd_bus_message *m, unsigned op, bool async) {
        Pending *p = pending_slot();

        *p = (Pending) { .active = true, .op = op, .sent_ms = now_ms() };
        snprintf(p->what, sizeof(p->what), "%s%s %s.%s(%s)", bus == E.nobody ? "[nobody] " : "",
                 sd_bus_message_get_path(m), sd_bus_message_get_interface(m) ?: "", sd_bus_message_get_member(m),
                 sd_bus_message_get_signature(m, true) ?: "");
        if (E.verbose)
                fprintf(stderr, "%s: %s%s\n", FUZZ_NAME, p->what, async ? " (not waiting)" : "");
        CHECK_R(sd_bus_call_async(bus, &p->slot, m, on_reply, p, CALL_TIMEOUT_USEC));
        S.n_pending++;
        if (!async)
                settle();
}

/* A synchronous call on the root connection for the harness itself; the reply or NULL with e set. */
static sd_bus_message *harness_call(const char *path, const char *iface, const char *member, sd_bus_error *e,
                                    const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_message *reply = NULL;
        va_list ap;
        int r;

        CHECK_R(sd_bus_message_new_method_call(E.root, &m, BUS_NAME, path, iface, member));
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        CHECK_R(r);
        r = sd_bus_call(E.root, m, 20ull * 1000 * 1000, e, &reply);
        if (r < 0) {
                check_broker_alive(member);
                if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) || sd_bus_error_has_name(e, SD_BUS_ERROR_TIMEOUT)) {
                        print_log("the broker does not answer");
                        fprintf(stderr, "%s: %s.%s on %s: %s\n", FUZZ_NAME, iface, member, path, e->message ?: "");
                        abort();
                }
                return NULL;
        }
        return reply;
}

/* ---- arguments ------------------------------------------------------------------------ */

static void device_path(size_t i, char *buf, size_t size) {
        _cleanup_free_ char *p = NULL;

        CHECK_R(sd_bus_path_encode(DEVICE_PREFIX, devices[i].bdf, &p));
        snprintf(buf, size, "%s", p);
}

static void take_device(Input *in, char *buf, size_t size) {
        uint8_t k = take_u8(in) % (N_DEVICES + 2);

        if (k < N_DEVICES)
                device_path(k, buf, size);
        else if (k == N_DEVICES) { /* a valid BDF that is not in sysfs */
                _cleanup_free_ char *p = NULL;
                CHECK_R(sd_bus_path_encode(DEVICE_PREFIX, "0000:3b:02.0", &p));
                snprintf(buf, size, "%s", p);
        } else
                snprintf(buf, size, DEVICE_PREFIX "/zz");
}

static void take_owner(Input *in, char *buf, size_t size) {
        take_word(in, owners, 3, buf, size);
}

static void take_bdf(Input *in, char *buf, size_t size) {
        static const char *const bdfs[] = {
                "0000:3b:00.1", "0000:3B:00.2", "0000:3e:00.0", "0000:3b:02.0", "0000:3b:00", "3b:00.1",
                "0000:3b:00.8", "0000:3c:00.0", "not-a-bdf", "0000:3b:01.1",
        };
        take_word(in, bdfs, sizeof(bdfs) / sizeof(bdfs[0]), buf, size);
}

static int append_options(sd_bus_message *m, Input *in) {
        static const char *const keys[] = { "format", "max-bytes", "vmstate-id", "frobnicate" };
        static const char *const formats[] = { "framed", "raw" };
        static const char *const ids[] = { "mb-nic0", "mb-nic1", "a,b", "" };
        unsigned n = take_u8(in) % 4;
        char key[256], s[256];
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (unsigned i = 0; i < n; i++) {
                uint8_t k, type;

                take_word(in, keys, 4, key, sizeof(key));
                k = (uint8_t) (strcmp(key, "format") == 0 ? 0 : strcmp(key, "max-bytes") == 0 ? 1 :
                               strcmp(key, "vmstate-id") == 0 ? 2 : 3);
                type = take_u8(in) % 8; /* 0-4: the key's own type, then s, t, b */
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "s", key);
                if (r < 0)
                        return r;
                if (type < 5 && k == 1)
                        type = 6;
                else if (type < 5)
                        type = 5;
                switch (type) {
                case 5:
                        if (k == 0)
                                take_word(in, formats, 2, s, sizeof(s));
                        else if (k == 2)
                                take_word(in, ids, 4, s, sizeof(s));
                        else
                                take_str(in, s, sizeof(s));
                        r = sd_bus_message_append(m, "v", "s", s);
                        break;
                case 6:
                        r = sd_bus_message_append(m, "v", "t", take_uint(in, 8));
                        break;
                default:
                        r = sd_bus_message_append(m, "v", "b", (int) (take_u8(in) & 1));
                        break;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int keep(int *list, size_t *n, size_t max, int fd) {
        CHECK(fd >= 0);
        CHECK(*n < max);
        list[(*n)++] = fd;
        return fd;
}
#define HOLD(fd) keep(S.hold, &S.n_hold, sizeof(S.hold) / sizeof(S.hold[0]), (fd))
#define DRAIN(fd) keep(S.drain, &S.n_drain, sizeof(S.drain) / sizeof(S.drain[0]), (fd))
#define COLLECT(fd) keep(S.collect, &S.n_collect, sizeof(S.collect) / sizeof(S.collect[0]), (fd))

static void add_feed(int fd, const uint8_t *data, size_t len) {
        struct Feed *f;

        CHECK(S.n_feed < sizeof(S.feed) / sizeof(S.feed[0]));
        f = &S.feed[S.n_feed++];
        *f = (struct Feed) { .fd = fd, .len = len };
        CHECK(f->buf = malloc(len ? len : 1));
        memcpy(f->buf, data, len);
}

/* What a LoadFrom fd delivers: literal bytes, or the input's saved stream (maybe damaged). */
static const uint8_t *take_data(Input *in, size_t *ret_len) {
        static uint8_t buf[MAX_SAVED];
        uint8_t src = take_u8(in) % 4;
        size_t len;

        if (src == 0) {
                len = take_uint(in, 2);
                len = len < in->n ? len : in->n;
                memcpy(buf, in->p, len);
                in->p += len;
                in->n -= len;
        } else {
                len = S.saved_len;
                memcpy(buf, S.saved, len);
                if (src == 2 && len > 0) {
                        size_t off = take_uint(in, 2) % len;
                        buf[off] ^= take_u8(in) | 1;
                } else if (src == 3) {
                        size_t cut = take_uint(in, 2);
                        len = cut < len ? cut : len;
                }
        }
        *ret_len = len;
        return buf;
}

static int memfd_with(const uint8_t *buf, size_t len) {
        int fd = memfd_create("fuzz-dbus-surface", MFD_CLOEXEC);

        CHECK(fd >= 0);
        CHECK(len == 0 || write(fd, buf, len) == (ssize_t) len);
        CHECK(lseek(fd, 0, SEEK_SET) == 0);
        return fd;
}

/* The fd of a SaveTo (writing) or LoadFrom: ours to send; the other ends are
 * drained, fed or held by the target until the input ends. */
static int fd_open(Input *in, bool writing) {
        uint8_t k = take_u8(in) % 11;
        const uint8_t *data = NULL;
        size_t len = 0;
        int p[2], fd;

        if (!writing && (k == 0 || k == 1 || k == 4 || k == 5 || k == 9))
                data = take_data(in, &len);
        switch (k) {
        case 0: /* a pipe */
        case 9: /* a blocking pipe (our end does not block) */
                CHECK(pipe2(p, O_CLOEXEC | (k == 0 ? O_NONBLOCK : 0)) == 0);
                if (k == 9)
                        CHECK(fcntl(writing ? p[0] : p[1], F_SETFL, O_NONBLOCK) == 0);
                if (writing) {
                        DRAIN(p[0]);
                        return HOLD(p[1]);
                }
                add_feed(p[1], data, len);
                return HOLD(p[0]);
        case 1: /* a regular file */
                if (writing) /* its offset is shared with the worker: read only after the call */
                        return COLLECT(memfd_with(NULL, 0));
                return HOLD(memfd_with(data, len));
        case 2:
                return HOLD(open("/dev/null", O_RDWR | O_CLOEXEC));
        case 3:
                return HOLD(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        case 4: /* a socket */
                CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p) == 0);
                if (writing)
                        DRAIN(p[1]);
                else
                        add_feed(p[1], data, len);
                return HOLD(p[0]);
        case 5: { /* a regular file open read-only */
                char path[64];
                int m = memfd_with(data, len);
                snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                (void) close(m);
                return HOLD(fd);
        }
        case 6:
                return HOLD(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        case 7:
                return HOLD(open("/dev/null", O_PATH | O_CLOEXEC));
        case 8: /* the wrong end of a pipe */
                CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
                HOLD(p[0]);
                HOLD(p[1]);
                return writing ? p[0] : p[1];
        default: /* a pipe whose other end is gone */
                CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
                (void) close(writing ? p[0] : p[1]);
                return HOLD(writing ? p[1] : p[0]);
        }
}

/* The memfds SaveTo wrote (after the call: the file offset is shared with the worker). */
static void collect_memfds(void) {
        for (size_t i = 0; i < S.n_collect; i++) {
                CHECK(lseek(S.collect[i], 0, SEEK_SET) == 0);
                drain_fd(S.collect[i]);
                CHECK(ftruncate(S.collect[i], 0) == 0);
                CHECK(lseek(S.collect[i], 0, SEEK_SET) == 0);
        }
}

static int random_fd(Input *in, void *userdata) {
        return fd_open(in, take_u8(in) & 1);
}

/* ---- one input ---------------------------------------------------------------------- */

enum Op {
        OP_LIST_DEVICES, OP_GET_DEVICE, OP_RELOAD_POLICY, OP_RESCAN, OP_MANAGER_PROPERTIES, OP_MANAGED_OBJECTS,
        OP_PREFLIGHT, OP_CLAIM, OP_RELEASE, OP_OPEN, OP_CLOSE, OP_SET_STATE, OP_RESET, OP_REFRESH_PENDING,
        OP_SAVE_TO, OP_LOAD_FROM, OP_DEVICE_PROPERTIES, OP_RANDOM_CALL, OP_INTROSPECT, OP_HOTPLUG, OP_VMSTATE,
        OP_PING, OP_SIGHUP, _OP_MAX,
};

static const char *const device_members[] = {
        "Preflight", "Claim", "Release", "Open", "Close", "SetState", "Reset", "RefreshPending", "SaveTo", "LoadFrom",
};
static const char *const manager_members[] = { "ListDevices", "GetDevice", "ReloadPolicy", "Rescan" };

static void hotplug(bool present) {
        char shown[PATH_MAX * 2], hidden[PATH_MAX * 2];

        if (E.hotplug_absent != present)
                return;
        snprintf(shown, sizeof(shown), "%s/bus/pci/devices/%s", E.sysfs, devices[HOTPLUG_DEVICE].bdf);
        snprintf(hidden, sizeof(hidden), "%s/%s", E.hidden, devices[HOTPLUG_DEVICE].bdf);
        CHECK(rename(present ? hidden : shown, present ? shown : hidden) == 0);
        E.hotplug_absent = !present;
}

/* Save() or Load() on one of the dbus-vmstate helpers the broker serves on a domain's bus. */
static void vmstate_call(Input *in) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *m = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *b = NULL;
        _cleanup_strv_free_ char **names = NULL;
        char sock[PATH_MAX * 2], address[PATH_MAX * 2 + 16], what[256];
        const char *uuid = owners[take_u8(in) % N_DOMAINS];
        uint8_t which = take_u8(in), method = take_u8(in) % 3;
        const uint8_t *data = NULL;
        size_t n = 0, len = 0;
        int r;

        if (method == 1)
                data = take_data(in, &len);
        settle(); /* a synchronous call follows: nothing of ours may wait on it */
        snprintf(sock, sizeof(sock), "%s/domain/%s/bus", E.rundir, uuid);
        if (access(sock, F_OK) < 0)
                return;
        snprintf(address, sizeof(address), "unix:path=%s", sock);
        CHECK_R(sd_bus_new(&b));
        CHECK_R(sd_bus_set_address(b, address));
        CHECK_R(sd_bus_set_bus_client(b, 1));
        if (sd_bus_start(b) < 0)
                return;
        r = sd_bus_call_method(b, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "ListQueuedOwners", &e, &reply, "s", "org.qemu.VMState1");
        if (r < 0 || sd_bus_message_read_strv(reply, &names) < 0 || !names)
                return;
        while (names[n])
                n++;
        if (n == 0)
                return;
        reply = sd_bus_message_unref(reply);
        CHECK_R(sd_bus_message_new_method_call(b, &m, names[which % n], "/org/qemu/VMState1",
                                               method == 2 ? PROPS_IFACE : "org.qemu.VMState1",
                                               method == 0 ? "Save" : method == 1 ? "Load" : "Get"));
        if (method == 1)
                CHECK_R(sd_bus_message_append_array(m, 'y', data, len));
        else if (method == 2)
                CHECK_R(sd_bus_message_append(m, "ss", "org.qemu.VMState1", "Id"));
        snprintf(what, sizeof(what), "[domain %s] %s org.qemu.VMState1.%s", uuid, names[which % n],
                 sd_bus_message_get_member(m));
        if (E.verbose)
                fprintf(stderr, "%s: %s\n", FUZZ_NAME, what);
        sd_bus_error_free(&e);
        r = sd_bus_call(b, m, 20ull * 1000 * 1000, &e, &reply);
        if (r < 0 && (sd_bus_error_has_name(&e, SD_BUS_ERROR_NO_REPLY) || sd_bus_error_has_name(&e, SD_BUS_ERROR_TIMEOUT))) {
                check_broker_alive(what);
                print_log("a dbus-vmstate helper did not answer");
                fprintf(stderr, "%s: %s: %s\n", FUZZ_NAME, what, e.message ?: "");
                abort();
        }
        if (E.verbose)
                fprintf(stderr, "%s:   -> %s%s%s\n", FUZZ_NAME, r < 0 ? e.name : "ok", r < 0 ? ": " : "",
                        r < 0 && e.message ? e.message : "");
        if (r >= 0 && method == 0) {
                const void *state;
                size_t state_len;
                if (sd_bus_message_read_array(reply, 'y', &state, &state_len) >= 0 && state_len <= MAX_SAVED) {
                        memcpy(S.saved, state, state_len);
                        S.saved_len = state_len;
                }
        }
        record_outcome(OP_VMSTATE * 8 + method, r < 0 ? e.name : "ok");
}

static void one_call(Input *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        uint8_t b = take_u8(in);
        unsigned op = (b & 0x1f) % _OP_MAX;
        bool async = b & 0x20;
        sd_bus *bus = (b & 0x40) ? E.nobody : E.root;
        char path[256], s[256], t[256];
        int r = 0;

        switch (op) {
        case OP_LIST_DEVICES:
        case OP_GET_DEVICE:
        case OP_RELOAD_POLICY:
        case OP_RESCAN:
                CHECK_R(sd_bus_message_new_method_call(bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                                       manager_members[op - OP_LIST_DEVICES]));
                if (op == OP_GET_DEVICE) {
                        take_bdf(in, s, sizeof(s));
                        r = sd_bus_message_append(m, "s", s);
                }
                break;
        case OP_MANAGER_PROPERTIES:
        case OP_DEVICE_PROPERTIES: {
                static const char *const props[] = { "Version", "PolicyFiles", "Devices", "State", "Owner",
                                                     "PendingBytes", "Capabilities", "IsOpen", "VmstateId" };
                static const char *const ifaces[] = { MANAGER_IFACE, DEVICE_IFACE };
                if (op == OP_DEVICE_PROPERTIES)
                        take_device(in, path, sizeof(path));
                else
                        snprintf(path, sizeof(path), MANAGER_PATH);
                take_word(in, ifaces, 2, s, sizeof(s));
                if (take_u8(in) & 1) {
                        CHECK_R(sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, PROPS_IFACE, "GetAll"));
                        r = sd_bus_message_append(m, "s", s);
                } else {
                        take_word(in, props, sizeof(props) / sizeof(props[0]), t, sizeof(t));
                        CHECK_R(sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, PROPS_IFACE, "Get"));
                        r = sd_bus_message_append(m, "ss", s, t);
                }
                break;
        }
        case OP_MANAGED_OBJECTS:
                CHECK_R(sd_bus_message_new_method_call(bus, &m, BUS_NAME, MANAGER_PATH,
                                                       "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"));
                break;
        case OP_PREFLIGHT:
        case OP_CLAIM:
        case OP_RELEASE:
        case OP_OPEN:
        case OP_CLOSE:
        case OP_SET_STATE:
        case OP_RESET:
        case OP_REFRESH_PENDING:
        case OP_SAVE_TO:
        case OP_LOAD_FROM:
                take_device(in, path, sizeof(path));
                CHECK_R(sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, DEVICE_IFACE,
                                                       device_members[op - OP_PREFLIGHT]));
                if (op <= OP_CLOSE) {
                        take_owner(in, s, sizeof(s));
                        r = sd_bus_message_append(m, "s", s);
                        if (r >= 0 && op == OP_OPEN)
                                r = append_options(m, in);
                } else if (op == OP_SET_STATE) {
                        static const char *const states[] = { "running", "stop", "pre-copy", "stop-copy",
                                                              "resuming", "error", "RUNNING" };
                        take_word(in, states, sizeof(states) / sizeof(states[0]), s, sizeof(s));
                        r = sd_bus_message_append(m, "s", s);
                } else if (op == OP_SAVE_TO || op == OP_LOAD_FROM) {
                        r = sd_bus_message_append(m, "h", fd_open(in, op == OP_SAVE_TO));
                        if (r >= 0)
                                r = append_options(m, in);
                }
                break;
        case OP_RANDOM_CALL: {
                bool on_device = take_u8(in) & 1;
                unsigned n = take_u8(in) % 5;
                if (on_device) {
                        take_device(in, path, sizeof(path));
                        CHECK_R(sd_bus_message_new_method_call(
                                bus, &m, BUS_NAME, path, DEVICE_IFACE,
                                device_members[take_u8(in) % (sizeof(device_members) / sizeof(device_members[0]))]));
                } else {
                        take_str(in, s, sizeof(s));
                        if (!sd_bus_member_name_is_valid(s))
                                snprintf(s, sizeof(s), "%s",
                                         manager_members[(uint8_t) s[0] % (sizeof(manager_members) / sizeof(manager_members[0]))]);
                        CHECK_R(sd_bus_message_new_method_call(bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, s));
                }
                for (unsigned i = 0; i < n && r >= 0; i++)
                        r = append_random(m, in, random_fd, NULL, 0);
                break;
        }
        case OP_INTROSPECT: {
                static const char *const paths[] = { "/", "/org", MANAGER_PATH, DEVICE_PREFIX };
                uint8_t k = take_u8(in);
                if (k & 0x80)
                        take_device(in, path, sizeof(path));
                else
                        snprintf(path, sizeof(path), "%s", paths[k % 4]);
                CHECK_R(sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, "org.freedesktop.DBus.Introspectable",
                                                       "Introspect"));
                break;
        }
        case OP_HOTPLUG:
                hotplug(E.hotplug_absent);
                if (E.verbose)
                        fprintf(stderr, "%s: %s %s in sysfs\n", FUZZ_NAME, devices[HOTPLUG_DEVICE].bdf,
                                E.hotplug_absent ? "removed" : "back");
                return;
        case OP_VMSTATE:
                vmstate_call(in);
                return;
        case OP_PING:
                CHECK_R(sd_bus_message_new_method_call(bus, &m, BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.Peer",
                                                       "Ping"));
                break;
        default: /* OP_SIGHUP: reload from the signal (the same policy) */
                if (E.verbose)
                        fprintf(stderr, "%s: SIGHUP\n", FUZZ_NAME);
                CHECK(kill(E.broker_pid, SIGHUP) == 0);
                return;
        }
        if (r < 0) /* sd-bus refused the value: nothing to send */
                return;
        if (op == OP_RESET && ++S.n_resets > MAX_RESETS)
                return;
        send_call(bus, m, op, async);
        if (!async)
                collect_memfds();
}

/* GetAll of a device into what the reset needs. */
typedef struct DeviceView {
        char owner[64], incoming[64], state[32];
        int is_open;
} DeviceView;

static bool device_view(const char *path, DeviceView *v) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        *v = (DeviceView) {};
        reply = harness_call(path, PROPS_IFACE, "GetAll", &e, "s", DEVICE_IFACE);
        if (!reply)
                return false;
        CHECK_R(sd_bus_message_enter_container(reply, 'a', "{sv}"));
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                const char *name, *value;
                CHECK_R(sd_bus_message_read(reply, "s", &name));
                if (strcmp(name, "Owner") == 0) {
                        CHECK_R(sd_bus_message_read(reply, "v", "s", &value));
                        snprintf(v->owner, sizeof(v->owner), "%s", value);
                } else if (strcmp(name, "IncomingOwner") == 0) {
                        CHECK_R(sd_bus_message_read(reply, "v", "s", &value));
                        snprintf(v->incoming, sizeof(v->incoming), "%s", value);
                } else if (strcmp(name, "State") == 0) {
                        CHECK_R(sd_bus_message_read(reply, "v", "s", &value));
                        snprintf(v->state, sizeof(v->state), "%s", value);
                } else if (strcmp(name, "IsOpen") == 0) {
                        CHECK_R(sd_bus_message_read(reply, "v", "b", &v->is_open));
                } else {
                        CHECK_R(sd_bus_message_skip(reply, "v"));
                }
                CHECK_R(sd_bus_message_exit_container(reply));
        }
        return true;
}

/* The device object paths the broker lists. */
static char **list_device_paths(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char **l = calloc(64, sizeof(char *));
        const char *path;
        size_t n = 0;

        CHECK(l);
        reply = harness_call(MANAGER_PATH, MANAGER_IFACE, "ListDevices", &e, "");
        if (!reply) {
                print_log("ListDevices failed");
                fprintf(stderr, "%s: ListDevices: %s: %s\n", FUZZ_NAME, e.name, e.message ?: "");
                abort();
        }
        CHECK_R(sd_bus_message_enter_container(reply, 'a', "(ssssso)"));
        while (n < 63 && sd_bus_message_read(reply, "(ssssso)", NULL, NULL, NULL, NULL, NULL, &path) > 0)
                CHECK(l[n++] = strdup(path));
        return l;
}

/* The broker's children that are workers (and zombies among them). */
static unsigned count_workers(unsigned *zombies) {
        struct dirent *de;
        DIR *d = opendir("/proc");
        unsigned n = 0;

        CHECK(d);
        *zombies = 0;
        while ((de = readdir(d))) {
                char path[64], buf[512], *rp;
                int fd, ppid;
                ssize_t len;
                char state;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                len = read(fd, buf, sizeof(buf) - 1);
                (void) close(fd);
                if (len <= 0)
                        continue;
                buf[len] = '\0';
                rp = strrchr(buf, ')');
                if (!rp || sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || ppid != E.broker_pid)
                        continue;
                if (!strstr(buf, "(migbroker-work") && !strstr(buf, "(lying-worker)"))
                        continue;
                n++;
                *zombies += state == 'Z';
        }
        closedir(d);
        return n;
}

static unsigned count_domain_dirs(void) {
        char dir[PATH_MAX + 16];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/domain", E.rundir);
        d = opendir(dir);
        if (!d)
                return 0;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* Back to the state every input starts from, checking the broker on the way. */
static void reset_and_check(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **paths = NULL;
        const char *report;
        unsigned workers = 0, zombies = 0;
        uint64_t start;

        settle();
        /* It answers. */
        reply = harness_call(MANAGER_PATH, PROPS_IFACE, "Get", &e, "ss", MANAGER_IFACE, "Version");
        if (!reply) {
                print_log("the Version property cannot be read");
                fprintf(stderr, "%s: %s: %s\n", FUZZ_NAME, e.name, e.message ?: "");
                abort();
        }
        check_broker_alive("after the input");

        if (E.hotplug_absent) {
                hotplug(true);
                sd_bus_error_free(&e);
                reply = sd_bus_message_unref(reply);
                reply = harness_call(MANAGER_PATH, MANAGER_IFACE, "Rescan", &e, "");
        }
        /* Every claim, incoming mark and session ends with a Release by its owner. */
        paths = list_device_paths();
        for (size_t i = 0; paths[i]; i++) {
                DeviceView v;
                for (int round = 0; round < 2; round++) {
                        if (!device_view(paths[i], &v))
                                break;
                        if (!v.owner[0] && !v.incoming[0] && !v.is_open)
                                break;
                        if (round == 1) {
                                print_log("a device stays claimed, marked or open after its owner released it");
                                fprintf(stderr, "%s: %s: Owner '%s', IncomingOwner '%s', IsOpen %d, State %s\n",
                                        FUZZ_NAME, paths[i], v.owner, v.incoming, v.is_open, v.state);
                                abort();
                        }
                        for (int k = 0; k < 2; k++) {
                                _cleanup_(sd_bus_error_free) sd_bus_error re = SD_BUS_ERROR_NULL;
                                _cleanup_(sd_bus_message_unrefp) sd_bus_message *rr = NULL;
                                const char *o = k == 0 ? v.owner : v.incoming;
                                if (!o[0] || (k == 1 && strcmp(v.owner, v.incoming) == 0))
                                        continue;
                                rr = harness_call(paths[i], DEVICE_IFACE, "Release", &re, "s", o);
                                if (!rr && E.verbose)
                                        fprintf(stderr, "%s: reset: Release(%s) on %s: %s\n", FUZZ_NAME, o, paths[i],
                                                re.message ?: re.name);
                        }
                }
        }
        /* No worker survives its session; every one is reaped. */
        start = now_ms();
        while ((workers = count_workers(&zombies)) > 0 && now_ms() - start < WORKERS_GONE_MS)
                usleep(20 * 1000);
        if (workers > 0) {
                print_log("workers remain after every session ended");
                fprintf(stderr, "%s: %u worker(s) of the broker remain, %u of them zombies\n", FUZZ_NAME, workers,
                        zombies);
                abort();
        }
        /* No domain bus outlives the last claim of its domain. */
        start = now_ms();
        while (count_domain_dirs() > 0 && now_ms() - start < 3000)
                usleep(20 * 1000);
        if (count_domain_dirs() > 0) {
                print_log("a domain bus remains after every claim was released");
                abort();
        }
        check_broker_alive("after the reset");
        report = log_has_report();
        if (report) {
                print_log(report);
                abort();
        }
}

static void input_end(void) {
        settle();
        collect_memfds();
        for (size_t i = 0; i < S.n_feed; i++) {
                if (S.feed[i].fd >= 0)
                        (void) close(S.feed[i].fd);
                free(S.feed[i].buf);
        }
        for (size_t i = 0; i < S.n_drain; i++)
                (void) close(S.drain[i]);
        for (size_t i = 0; i < S.n_collect; i++)
                (void) close(S.collect[i]);
        for (size_t i = 0; i < S.n_hold; i++)
                (void) close(S.hold[i]);
        S.n_feed = S.n_drain = S.n_collect = S.n_hold = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Input in = { data, size };
        const char *problem;

        if (!S.saved)
                CHECK(S.saved = malloc(MAX_SAVED));
        S.saved_len = 0;
        S.last_outcome = 0;
        S.n_resets = 0;

        /* The lying worker's script: a length byte, then that many bytes. */
        {
                size_t len = take_u8(&in);
                int fd = open(E.liar_script, O_WRONLY | O_TRUNC | O_CLOEXEC);
                len = len < in.n ? len : in.n;
                CHECK(fd >= 0);
                CHECK(len == 0 || write(fd, in.p, len) == (ssize_t) len);
                CHECK(close(fd) == 0);
                in.p += len;
                in.n -= len;
        }
        /* A broker per input: inputs do not depend on each other (the reset
         * backoff, for one, lasts a quiet minute), and its leaks are the input's. */
        start_broker();
        for (unsigned i = 0; i < MAX_CALLS && in.n > 0; i++)
                one_call(&in);
        input_end();
        reset_and_check();
        problem = stop_broker();
        if (problem) {
                print_log(problem);
                abort();
        }
        return 0;
}
