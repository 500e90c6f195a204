/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "policy-load.h"
#include "policy-parse.h"

#define OPEN_FLAGS (O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

const char *mb_policy_default_path(void) {
        const char *e = getenv(MB_ENV_POLICY);

        return e && *e ? e : MB_POLICY_DEFAULT_PATH;
}

const char *mb_policy_default_plugin_dir(void) {
        const char *e = getenv(MB_ENV_PLUGIN_DIR);

        return e && *e ? e : NULL;
}

static char *describe_uid(uid_t uid) {
        struct passwd *pw = getpwuid(uid);

        return pw ? g_strdup_printf("uid %u (%s)", (unsigned) uid, pw->pw_name) : g_strdup_printf("uid %u",
                                                                                                 (unsigned) uid);
}

/* Why fd (of kind "policy file", "plugin", "drop-in directory") may not be
 * trusted, or NULL. Trusted: owned by root or by us, not writable by group
 * or others. */
static char *untrusted_reason(const struct stat *st, const char *kind, const char *path) {
        uid_t self = geteuid();

        if (st->st_uid != 0 && st->st_uid != self) {
                g_autofree char *owner = describe_uid(st->st_uid);
                g_autofree char *me = self != 0 ? describe_uid(self) : NULL;
                return g_strdup_printf("refusing %s owned by %s: it must be owned by root%s%s%s", kind, owner,
                                       me ? " or by " : "", me ? me : "", me ? ", which runs this program" : "");
        }
        if (st->st_mode & (S_IWGRP | S_IWOTH)) {
                const char *what = (st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH) ? "group- and other-writable"
                                   : st->st_mode & S_IWGRP                             ? "group-writable"
                                                                                       : "other-writable";
                return g_strdup_printf("refusing %s with mode %04o (%s): it must not be writable by group or "
                                       "others (chmod go-w %s)",
                                       kind, (unsigned) (st->st_mode & 07777), what, path);
        }
        return NULL;
}

/* The message for a failed open() of path. */
static char *open_failure(int err, const char *path) {
        if (err == ELOOP) {
                char target[PATH_MAX];
                ssize_t n = readlink(path, target, sizeof(target) - 1);
                if (n >= 0) {
                        target[n] = '\0';
                        return g_strdup_printf("refusing a symbolic link (to %s): policy files and plugins must "
                                               "be regular files", target);
                }
        }
        return g_strdup_printf("cannot open: %s", g_strerror(err));
}

/* Checks an open fd of kind; returns NULL or the problem. */
static char *check_fd(int fd, const char *path, const char *kind, size_t max_size, struct stat *st) {
        if (fstat(fd, st) < 0)
                return g_strdup_printf("cannot stat: %s", g_strerror(errno));
        if (!S_ISREG(st->st_mode))
                return g_strdup_printf("refusing %s that is not a regular file", kind);
        if (max_size > 0 && (uint64_t) st->st_size > max_size)
                return g_strdup_printf("file too large (%jd bytes; the limit is %zu)", (intmax_t) st->st_size,
                                       max_size);
        return untrusted_reason(st, kind, path);
}

/* Reads at most max bytes (one more to notice a file that grew). */
static int read_fd(int fd, size_t max, GBytes **ret, char **problem) {
        g_autoptr(GByteArray) buf = g_byte_array_new();
        uint8_t chunk[65536];

        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        *problem = g_strdup_printf("cannot read: %s", g_strerror(errno));
                        return -errno;
                }
                if (n == 0)
                        break;
                g_byte_array_append(buf, chunk, (guint) n);
                if (buf->len > max) {
                        *problem = g_strdup_printf("file too large (more than %zu bytes)", max);
                        return -EFBIG;
                }
        }
        *ret = g_byte_array_free_to_bytes(MB_TAKE_PTR(buf));
        return 0;
}

/* Opens name (relative to dirfd) once, checks and reads it, and parses it as
 * path. Problems with the file itself are whole-file diagnostics. */
static int load_file(MbPolicy *p, int dirfd, const char *name, const char *path, MbPolicyFileRole role,
                     MbDiagList *diags) {
        g_autoptr(GBytes) text = NULL;
        g_autofree char *problem = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = openat(dirfd, name, OPEN_FLAGS);
        if (fd < 0) {
                r = -errno;
                problem = open_failure(-r, path);
        } else if ((problem = check_fd(fd, path, "a policy file", MB_POLICY_MAX_FILE_SIZE, &st)))
                r = -MB_EPOLICYINVALID;
        else
                r = read_fd(fd, MB_POLICY_MAX_FILE_SIZE, &text, &problem);
        if (problem) {
                (void) mb_policy_intern_file(p, path); /* keeps files[0] the main file */
                mb_diag_error(diags, path, 0, 0, "%s", problem);
                return r < 0 ? r : -MB_EPOLICYINVALID;
        }
        return mb_policy_parse_text(p, path, text, role, diags);
}

static gint compare_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Drop-ins: DIR/ *.yaml (not hidden), in strcmp() order. A missing directory
 * is no drop-in. */
static void load_dropins(MbPolicy *p, const char *dir, MbDiagList *diags) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *problem = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        DIR *d;
        struct dirent *de;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno != ENOENT) {
                        problem = open_failure(errno, dir);
                        mb_diag_error(diags, dir, 0, 0, "%s", problem);
                }
                return;
        }
        if (fstat(fd, &st) < 0) {
                mb_diag_error(diags, dir, 0, 0, "cannot stat: %s", g_strerror(errno));
                return;
        }
        problem = untrusted_reason(&st, "a drop-in directory", dir);
        if (problem) {
                mb_diag_error(diags, dir, 0, 0, "%s", problem);
                return;
        }
        int fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd2 < 0 || !(d = fdopendir(fd2))) {
                mb_diag_error(diags, dir, 0, 0, "cannot read: %s", g_strerror(errno));
                if (fd2 >= 0)
                        (void) close(fd2);
                return;
        }
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.' || !g_str_has_suffix(de->d_name, MB_POLICY_DROPIN_SUFFIX))
                        continue;
                g_ptr_array_add(names, g_strdup(de->d_name));
        }
        (void) closedir(d);
        g_ptr_array_sort(names, compare_names);
        if (names->len > MB_POLICY_MAX_DROPINS) {
                mb_diag_error(diags, dir, 0, 0, "too many drop-ins (%u; the limit is %u)", names->len,
                              MB_POLICY_MAX_DROPINS);
                return;
        }
        for (guint i = 0; i < names->len; i++) {
                const char *name = g_ptr_array_index(names, i);
                g_autofree char *path = g_build_filename(dir, name, NULL);
                (void) load_file(p, fd, name, path, MB_POLICY_FILE_DROPIN, diags);
        }
}

static void plugin_error(MbDiagList *diags, const MbPolicyPlugin *plugin, const char *problem) {
        const MbPolicyLoc *loc = plugin->path_loc.file ? &plugin->path_loc : &plugin->loc;

        if (diags)
                mb_diag_error(diags, loc->file, loc->line, loc->column, "plugin \"%s\": %s: %s", plugin->name,
                              plugin->resolved_path, problem);
}

int mb_policy_open_plugin(const MbPolicyPlugin *plugin, MbDiagList *diags) {
        g_autofree char *problem = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (!plugin->resolved_path || !plugin->resolved_path[0])
                return -EINVAL;
        fd = open(plugin->resolved_path, OPEN_FLAGS);
        if (fd < 0) {
                int r = -errno;
                problem = open_failure(-r, plugin->resolved_path);
                plugin_error(diags, plugin, problem);
                return r;
        }
        problem = check_fd(fd, plugin->resolved_path, "a plugin", 0, &st);
        if (problem) {
                plugin_error(diags, plugin, problem);
                return -MB_EACCESSDENIED;
        }
        /* Back to blocking reads for whoever uses it. */
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -errno;
        return MB_TAKE_FD(fd);
}

int mb_policy_load(const MbPolicyLoadOptions *opts, MbPolicy **ret, MbDiagList *diags) {
        static const MbPolicyLoadOptions defaults = {};
        g_autoptr(MbPolicy) p = mb_policy_new();
        size_t errors_before;

        *ret = NULL;
        if (!opts)
                opts = &defaults;
        errors_before = mb_diag_list_count(diags, MB_DIAG_ERROR);

        if (opts->files && opts->files[0]) {
                for (size_t i = 0; opts->files[i]; i++)
                        (void) load_file(p, AT_FDCWD, opts->files[i], opts->files[i],
                                         i == 0 ? MB_POLICY_FILE_MAIN : MB_POLICY_FILE_DROPIN, diags);
        } else {
                const char *path = opts->path ? opts->path : mb_policy_default_path();
                g_autofree char *dir = g_path_get_dirname(path);
                g_autofree char *dropins = g_build_filename(dir, MB_POLICY_DROPIN_DIR_NAME, NULL);

                (void) load_file(p, AT_FDCWD, path, path, MB_POLICY_FILE_MAIN, diags);
                load_dropins(p, dropins, diags);
        }

        /* Cross-file checks run even after errors, to report them too. */
        (void) mb_policy_finalize(p, opts->plugin_dir, diags);

        if (!(opts->flags & MB_POLICY_LOAD_SKIP_PLUGIN_FILES))
                for (guint i = 0; i < p->plugins->len; i++) {
                        const MbPolicyPlugin *plugin = g_ptr_array_index(p->plugins, i);
                        int fd;

                        if (!plugin->path || !plugin->path[0])
                                continue; /* already reported */
                        fd = mb_policy_open_plugin(plugin, diags);
                        if (fd >= 0)
                                (void) close(fd);
                }

        mb_diag_list_sort(diags);
        if (mb_diag_list_count(diags, MB_DIAG_ERROR) > errors_before)
                return -MB_EPOLICYINVALID;
        *ret = MB_TAKE_PTR(p);
        return 0;
}

void mb_diag_list_log(const MbDiagList *l) {
        for (size_t i = 0; i < mb_diag_list_size(l); i++) {
                const MbDiag *d = mb_diag_list_get(l, i);
                g_autoptr(GString) s = g_string_new(NULL);

                mb_diag_format(d, s);
                g_string_truncate(s, s->len - 1); /* the final newline */
                (void) log_full(d->severity == MB_DIAG_ERROR     ? LOG_ERR
                                : d->severity == MB_DIAG_WARNING ? LOG_WARNING
                                                                 : LOG_NOTICE,
                                "%s", s->str);
        }
}

int mb_policy_reload(MbPolicy **current, const MbPolicyLoadOptions *opts, MbDiagList *diags) {
        MbPolicy *p;
        int r;

        r = mb_policy_load(opts, &p, diags);
        if (r < 0)
                return r;
        mb_policy_unref(*current);
        *current = p;
        return 0;
}
