/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

static int resolve_user(const char *user, uid_t *uid, gid_t *gid) {
        struct passwd *pw;
        char *end;
        unsigned long n;

        errno = 0;
        pw = getpwnam(user);
        if (pw) {
                *uid = pw->pw_uid;
                *gid = pw->pw_gid;
                return 0;
        }
        errno = 0;
        n = strtoul(user, &end, 10);
        if (*user && !*end && errno == 0 && n < (unsigned long) (uid_t) -1) {
                pw = getpwuid((uid_t) n);
                *uid = (uid_t) n;
                *gid = pw ? pw->pw_gid : (gid_t) n;
                return 0;
        }
        return -ESRCH;
}

int mb_privs_drop(const char *user) {
        uid_t uid;
        gid_t gid;
        int r;

        if (geteuid() != 0 || !user || !*user)
                return 0;

        r = resolve_user(user, &uid, &gid);
        if (r < 0)
                return log_error_errno(r, "user '%s' does not exist", user);
        if (uid == 0)
                return log_error_errno(-EPERM, "refusing to run as root (user '%s')", user);

        /* No supplementary groups at all: our helpers need none. */
        if (setgroups(0, NULL) < 0)
                return log_error_errno(errno, "setgroups: %m");
        if (setresgid(gid, gid, gid) < 0)
                return log_error_errno(errno, "setresgid(%u): %m", (unsigned) gid);
        if (setresuid(uid, uid, uid) < 0)
                return log_error_errno(errno, "setresuid(%u): %m", (unsigned) uid);
        if (getuid() != uid || geteuid() != uid || getgid() != gid)
                return log_error_errno(-EPERM, "privileges were not dropped");
        /* There is no way back. */
        if (setuid(0) == 0)
                return log_error_errno(-EPERM, "could regain root after dropping privileges");
        return 0;
}

int mb_privs_bind_to_parent(pid_t expected_parent) {
        pid_t ppid;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                return log_error_errno(errno, "PR_SET_PDEATHSIG: %m");
        /* The parent may have died before the line above: then we have been reparented. */
        ppid = getppid();
        /* A broker that is pid 1 (in a container) is a parent like any
         * other: only without an expected parent does pid 1 mean ours is gone. */
        if (expected_parent > 0 ? ppid != expected_parent : ppid == 1)
                return log_error_errno(-ESRCH, "our parent is pid %d, not the broker (pid %d): it has exited", (int) ppid,
                                       (int) expected_parent);
        return 0;
}

int mb_privs_set_no_new_privs(void) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_error_errno(errno, "PR_SET_NO_NEW_PRIVS: %m");
        return 0;
}

int mb_privs_drop_capabilities(void) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

        /* The bounding set first: dropping from it takes CAP_SETPCAP, which
         * the capset() below gives up. The kernel's last capability answers
         * PR_CAPBSET_READ; the one after it EINVAL. */
        for (unsigned long cap = 0;; cap++) {
                if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) {
                        if (errno == EINVAL)
                                break;
                        return log_error_errno(errno, "PR_CAPBSET_READ(%lu): %m", cap);
                }
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return log_error_errno(errno, "PR_CAPBSET_DROP(%lu): %m", cap);
        }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return log_error_errno(errno, "PR_CAP_AMBIENT_CLEAR_ALL: %m");
        if (syscall(SYS_capset, &hdr, data) < 0)
                return log_error_errno(errno, "capset: %m");
        return 0;
}
