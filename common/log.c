/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "log.h"

static const char *log_ident = "migbroker";
static int log_level = LOG_INFO;
static int log_to_journal = -1; /* -1: not yet decided */
static int log_priority_prefix;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void mb_log_set_ident(const char *ident) {
        log_ident = ident;
}

void mb_log_set_level(int level) {
        if (level >= LOG_EMERG && level <= LOG_DEBUG)
                log_level = level;
}

void mb_log_set_journal(int on) {
        log_to_journal = on < 0 ? -1 : !!on;
}

void mb_log_set_priority_prefix(int on) {
        log_priority_prefix = !!on;
}

int mb_log_get_level(void) {
        return log_level;
}

int mb_log_parse_level(const char *s) {
        if (!s || !*s)
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

/* Same test as systemd's: stderr is the journal when JOURNAL_STREAM names its device:inode. */
static int stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return 0;
        if (fstat(STDERR_FILENO, &st) < 0)
                return 0;
        if ((unsigned long long) st.st_dev != dev || (unsigned long long) st.st_ino != ino)
                return 0;
        /* sd_journal_send() drops messages silently when the socket does
         * not exist (or this process may not write to it): stderr then. */
        return access("/run/systemd/journal/socket", W_OK) == 0;
}

int mb_log_fullv(int level, int err, const char *bdf, const char *fmt, va_list ap) {
        int saved_errno = errno;
        int ret = err == 0 ? 0 : -abs(err);
        char msg[2048];

        if (level > log_level)
                goto out;

        errno = abs(err);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);

        if (log_to_journal < 0)
                log_to_journal = stderr_is_journal();

        if (log_to_journal) {
                int r;

                if (bdf)
                        r = sd_journal_send("MESSAGE=%s: %s", bdf, msg, "PRIORITY=%i", level, "MIGBROKER_BDF=%s", bdf,
                                            "SYSLOG_IDENTIFIER=%s", log_ident, NULL);
                else
                        r = sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", level, "SYSLOG_IDENTIFIER=%s",
                                            log_ident, NULL);
                if (r >= 0)
                        goto out;
                /* The journal's socket is out of reach (a sandbox): stderr
                 * still reaches the journal, without the fields. */
        }
        if (log_priority_prefix) {
                fprintf(stderr, "<%d>%s%s%s\n", level, bdf ?: "", bdf ? ": " : "", msg);
        } else {
                const char *lvl = level <= LOG_ERR ? "error: " : level == LOG_WARNING ? "warning: " : "";
                if (bdf)
                        fprintf(stderr, "%s[%d]: %s%s: %s\n", log_ident, (int) getpid(), lvl, bdf, msg);
                else
                        fprintf(stderr, "%s[%d]: %s%s\n", log_ident, (int) getpid(), lvl, msg);
        }
out:
        errno = saved_errno;
        return ret;
}

int mb_log_full(int level, int err, const char *bdf, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = mb_log_fullv(level, err, bdf, fmt, ap);
        va_end(ap);
        return r;
}
