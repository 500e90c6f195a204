/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spawn.h: how the broker starts a helper program (a worker, the libvirt
 * events follower) and how it stops one: fork + exec with a clean signal
 * state, chosen descriptors in place and a fixed environment. Watching the
 * child while it runs is the caller's (sd_event_add_child).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* fds[i] is the descriptor of ours that becomes the child's fd i; a negative
 * one leaves fd i as it is (0: /dev/null, 1 and 2: ours, 3 and up: closed). */
#define MB_SPAWN_FDS_MAX 8

/* Blocks SIGCHLD in the calling thread (sd_event_add_child needs it), then
 * forks and execs argv[0] with argv, fds and an environment of a fixed PATH,
 * LC_ALL=C and, when we have them, the sanitizers' options and JOURNAL_STREAM.
 * A failed exec is reported on the child's stderr and exits 127. */
int mb_spawn(char *const argv[], const int *fds, size_t n_fds, pid_t *ret_pid);

/* Ends our child pid: sends sig (0: none, it was told otherwise), waits up to
 * timeout_usec for it to exit, then SIGKILLs it; reaps it either way. Blocking,
 * for stop paths. Returns 0 when it exited in time, 1 when it had to be killed,
 * -errno when it was not ours to wait for. */
int mb_spawn_stop(pid_t pid, int sig, uint64_t timeout_usec);
