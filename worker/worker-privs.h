/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * worker-privs.h: how a worker sheds what it inherited from the privileged
 * broker before any vendor code runs: uid/gid/groups, parent-death signal,
 * no_new_privs and stray fds. It does not load plugins.
 */
#pragma once

#include <sys/types.h>

/* Switches to user (name or numeric uid) when running as root; no-op for
 * other uids. -errno with a message logged on failure. */
int mb_worker_drop_privileges(const char *user);

/* Sets PR_SET_PDEATHSIG=SIGKILL (after the uid change, which clears it) and
 * checks the parent is still expected_parent (0: any parent but init). */
int mb_worker_bind_to_parent(pid_t expected_parent);

int mb_worker_set_no_new_privs(void);
