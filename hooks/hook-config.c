/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fd-util.h"
#include "hook-config.h"
#include "log.h"
#include "macro.h"

void hook_config_init(HookConfig *c) {
        *c = (HookConfig) { .timeout_ms = HOOK_DEFAULT_TIMEOUT_MS, .log_level = -1 };
}

void hook_config_done(HookConfig *c) {
        g_clear_pointer(&c->bus, g_free);
}

const char *hook_config_path(void) {
        const char *e = getenv(HOOK_ENV_CONFIG);

        return e && *e ? e : HOOK_CONFIG_DEFAULT_PATH;
}

static int fail(char **ret_error, int r, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        *ret_error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        return r;
}

enum { KEY_BUS, KEY_TIMEOUT_MS, KEY_LOG_LEVEL, N_KEYS };
static const char *const key_names[N_KEYS] = {
        [KEY_BUS] = "bus",
        [KEY_TIMEOUT_MS] = "timeout-ms",
        [KEY_LOG_LEVEL] = "log-level",
};

static int set_key(HookConfig *c, int key, const char *value, const char *path, unsigned line, char **ret_error) {
        unsigned long long n;
        char *end;
        int level;

        switch (key) {
        case KEY_BUS:
                if (!strchr(value, ':'))
                        return fail(ret_error, -EINVAL,
                                    "%s:%u: bus '%s' is not a D-Bus address (e.g. unix:path=/run/dbus/system_bus_socket)",
                                    path, line, value);
                g_free(c->bus);
                c->bus = g_strdup(value);
                return 0;
        case KEY_TIMEOUT_MS:
                errno = 0;
                n = strtoull(value, &end, 10);
                if (!g_ascii_isdigit(value[0]) || *end || errno || n < 1 || n > HOOK_TIMEOUT_MS_MAX)
                        return fail(ret_error, -EINVAL, "%s:%u: timeout-ms '%s' is not a number of milliseconds "
                                                        "from 1 to %u",
                                    path, line, value, HOOK_TIMEOUT_MS_MAX);
                c->timeout_ms = n;
                return 0;
        case KEY_LOG_LEVEL:
                level = mb_log_parse_level(value);
                if (level < 0)
                        return fail(ret_error, -EINVAL,
                                    "%s:%u: log-level '%s' is not one of err, warning, notice, info, debug", path, line,
                                    value);
                c->log_level = level;
                return 0;
        default:
                g_assert_not_reached();
        }
}

int hook_config_parse(HookConfig *c, const char *path, const char *text, size_t len, char **ret_error) {
        unsigned seen[N_KEYS] = {};
        g_auto(GStrv) lines = NULL;
        g_autofree char *copy = NULL;
        int r;

        *ret_error = NULL;
        if (memchr(text, '\0', len))
                return fail(ret_error, -EINVAL, "%s: not a text file (it holds a NUL byte)", path);
        copy = g_strndup(text, len);
        lines = g_strsplit(copy, "\n", -1);

        for (unsigned i = 0; lines[i]; i++) {
                unsigned line = i + 1;
                char *s = g_strstrip(lines[i]), *eq, *key, *value;
                int k;

                if (*s == '\0' || *s == '#')
                        continue;
                eq = strchr(s, '=');
                if (!eq)
                        return fail(ret_error, -EINVAL, "%s:%u: expected KEY = VALUE, not '%s'", path, line, s);
                *eq = '\0';
                key = g_strstrip(s);
                value = g_strstrip(eq + 1);
                for (k = 0; k < N_KEYS; k++)
                        if (strcmp(key, key_names[k]) == 0)
                                break;
                if (k == N_KEYS)
                        return fail(ret_error, -EINVAL, "%s:%u: unknown key '%s' (known: bus, timeout-ms, log-level)",
                                    path, line, key);
                if (seen[k])
                        return fail(ret_error, -EINVAL, "%s:%u: '%s' is set twice (first at line %u)", path, line, key,
                                    seen[k]);
                seen[k] = line;
                if (*value == '\0')
                        return fail(ret_error, -EINVAL, "%s:%u: '%s' has no value", path, line, key);
                r = set_key(c, k, value, path, line, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int hook_config_load(HookConfig *c, const char *path, char **ret_error) {
        _cleanup_close_ int fd = -1;
        g_autofree char *text = NULL;
        struct stat st;
        ssize_t n;

        *ret_error = NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0; /* defaults */
                return fail(ret_error, -errno, "%s: cannot open: %s", path, strerror(errno));
        }
        if (fstat(fd, &st) < 0)
                return fail(ret_error, -errno, "%s: cannot stat: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return fail(ret_error, -EINVAL, "%s: not a regular file", path);
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return fail(ret_error, -EPERM, "%s: refusing a file owned by uid %u: it must be owned by root", path,
                            (unsigned) st.st_uid);
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return fail(ret_error, -EPERM,
                            "%s: refusing a file writable by group or others (mode %04o): chmod go-w %s", path,
                            (unsigned) (st.st_mode & 07777), path);
        if (st.st_size > (off_t) HOOK_CONFIG_MAX)
                return fail(ret_error, -EFBIG, "%s: larger than %u bytes", path, HOOK_CONFIG_MAX);

        text = g_malloc(HOOK_CONFIG_MAX + 1);
        n = mb_fd_read_full(fd, text, HOOK_CONFIG_MAX + 1, &(MbFdWaitPolicy) { .stall_ms = -1 });
        if (n < 0)
                return fail(ret_error, (int) n, "%s: cannot read: %s", path, strerror((int) -n));
        if ((size_t) n > HOOK_CONFIG_MAX)
                return fail(ret_error, -EFBIG, "%s: larger than %u bytes", path, HOOK_CONFIG_MAX);
        return hook_config_parse(c, path, text, (size_t) n, ret_error);
}
