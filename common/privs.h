/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * privs.h: how a helper the privileged broker starts (a worker, the libvirt
 * events follower) sheds what it inherited before doing its work: uid/gid/
 * groups, parent-death signal, no_new_privs. It does not spawn anything.
 */
#pragma once

#include <sys/types.h>

/* Switches to user (name or numeric uid) when running as root; no-op for
 * other uids. -errno with a message logged on failure. */
int mb_privs_drop(const char *user);

/* Sets PR_SET_PDEATHSIG=SIGKILL (after the uid change, which clears it) and
 * checks the parent is still expected_parent (which may be 1: a broker that
 * is a container's init); 0: any parent but pid 1. */
int mb_privs_bind_to_parent(pid_t expected_parent);

int mb_privs_set_no_new_privs(void);

/* Empties the bounding, ambient, effective, permitted and inheritable
 * capability sets: for a helper that keeps uid 0 but needs no privilege. */
int mb_privs_drop_capabilities(void);
