/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "spawn.h"

/* What a helper's environment takes from the broker's: the sanitizers'
 * options of test builds, and JOURNAL_STREAM (a helper whose stderr is the
 * broker's then logs natively, with its fields). */
static const char *const env_pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "JOURNAL_STREAM" };

typedef struct SpawnEnv {
        char *extra[ELEMENTSOF(env_pass)];
        char *envp[2 + ELEMENTSOF(env_pass) + 1];
} SpawnEnv;

static void spawn_env_clear(SpawnEnv *e) {
        for (size_t i = 0; i < ELEMENTSOF(e->extra); i++)
                free(e->extra[i]);
}

/* Helpers are not trusted with the broker's environment: a fixed PATH and locale. */
static int spawn_env_build(SpawnEnv *e) {
        size_t k = 0;

        e->envp[k++] = (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        e->envp[k++] = (char *) "LC_ALL=C";
        for (size_t i = 0; i < ELEMENTSOF(env_pass); i++) {
                const char *v = getenv(env_pass[i]);

                if (!v)
                        continue;
                if (asprintf(&e->extra[i], "%s=%s", env_pass[i], v) < 0) {
                        e->extra[i] = NULL;
                        return -ENOMEM;
                }
                e->envp[k++] = e->extra[i];
        }
        e->envp[k] = NULL;
        return 0;
}

_noreturn_ static void child_exec(char *const argv[], const int *fds, size_t n_fds, char *const envp[]) {
        int moved[MB_SPAWN_FDS_MAX];
        sigset_t ss;

        /* Undo what the broker set up for itself. */
        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) signal(sig, SIG_DFL);

        /* Move our fds out of the way, then into place (dup2 clears FD_CLOEXEC). */
        for (size_t i = 0; i < n_fds; i++) {
                moved[i] = -1;
                if (fds[i] >= 0 && (moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, MB_SPAWN_FDS_MAX + 3)) < 0)
                        _exit(126);
        }
        for (size_t i = 0; i < n_fds; i++)
                if (moved[i] >= 0 && dup2(moved[i], (int) i) < 0)
                        _exit(126);
        if (n_fds == 0 || fds[0] < 0) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                /* fd 0 was closed: /dev/null is it, and must survive execve. */
                if (fd == STDIN_FILENO)
                        (void) fcntl(fd, F_SETFD, 0);
                else if (fd >= 0)
                        (void) dup2(fd, STDIN_FILENO);
        }

        execve(argv[0], argv, envp);
        fprintf(stderr, "%s: cannot execute %s: %s\n", program_invocation_short_name, argv[0], strerror(errno));
        _exit(127);
}

int mb_spawn(char *const argv[], const int *fds, size_t n_fds, pid_t *ret_pid) {
        _cleanup_(spawn_env_clear) SpawnEnv env = {};
        sigset_t ss;
        pid_t pid;
        int r;

        if (!argv || !argv[0] || n_fds > MB_SPAWN_FDS_MAX)
                return -EINVAL;
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        r = pthread_sigmask(SIG_BLOCK, &ss, NULL);
        if (r != 0)
                return -r;
        r = spawn_env_build(&env);
        if (r < 0)
                return r;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_exec(argv, fds, n_fds, env.envp);
        *ret_pid = pid;
        return 0;
}

static int pidfd_signal(int pidfd, int sig) {
        return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int mb_spawn_stop(pid_t pid, int sig, uint64_t timeout_usec) {
        _cleanup_close_ int pidfd = -1;
        int killed = 0;

        if (pid <= 0)
                return -EINVAL;
        /* A pidfd names this process even if it exits meanwhile: no signal
         * reaches a recycled pid, and poll() tells when it has exited. */
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
                (void) kill(pid, SIGKILL);
                killed = 1;
        } else {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                uint64_t ms = timeout_usec / 1000;
                int r;

                if (sig > 0)
                        (void) pidfd_signal(pidfd, sig);
                do
                        r = poll(&p, 1, ms > INT32_MAX ? INT32_MAX : (int) ms);
                while (r < 0 && errno == EINTR);
                if (r <= 0) {
                        (void) pidfd_signal(pidfd, SIGKILL);
                        killed = 1;
                }
        }
        while (waitpid(pid, NULL, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return killed;
}
