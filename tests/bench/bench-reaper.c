/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-reaper: runs a command as a child subreaper that reaps every orphan
 * at once, as systemd does as PID 1 on a production host.
 *
 * Why: the broker starts each domain's dbus-daemon detached (--fork), so the
 * daemon's parent is PID 1. Before 735b532, on Release the broker waited (up
 * to 1 s, in its event loop) until kill(pid, 0) failed, and a daemon that has
 * exited but was not reaped yet still answers kill(pid, 0). Where PID 1 reaps
 * late (this project's build machines: about 1 s), every Release of a
 * domain's last device then cost a full second, and the figures measured
 * PID 1, not the broker. The broker now watches the daemon's pidfd and does
 * not wait, so no figure depends on this wrapper any more (docs/performance.md,
 * "Noise"); it still keeps a benchmark's orphans from piling up on PID 1.
 * Under it the orphans are ours and go at once.
 *
 *   bench-reaper COMMAND [ARG...]     exits with COMMAND's status
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

static void forward(int sig) {
        if (child > 0)
                kill(child, sig);
}

int main(int argc, char *argv[]) {
        int status = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: bench-reaper COMMAND [ARG...]\n");
                return 2;
        }
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                perror("bench-reaper: PR_SET_CHILD_SUBREAPER (running the command anyway)");
        child = fork();
        if (child < 0) {
                perror("bench-reaper: fork");
                return 1;
        }
        if (child == 0) {
                execvp(argv[1], argv + 1);
                perror(argv[1]);
                _exit(127);
        }
        signal(SIGINT, forward);
        signal(SIGTERM, forward);
        signal(SIGHUP, forward);
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, 0);
                if (p < 0) {
                        if (errno == EINTR)
                                continue;
                        break; /* no children left */
                }
                if (p == child) {
                        status = st;
                        /* Orphans still running (a domain bus the command left
                         * behind) are reparented further up once we exit. */
                        break;
                }
        }
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
