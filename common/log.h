/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.h: the one logging facility of every migbroker program: a level filter,
 * stderr output (or the journal, when stderr is connected to it), and the
 * device BDF on every line about a device. It does not format D-Bus errors.
 */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

void mb_log_set_ident(const char *ident);
void mb_log_set_level(int level);
/* Where messages go: 1 the journal, 0 standard error, -1 (the default) the
 * journal only when standard error is connected to it (JOURNAL_STREAM). For
 * programs that must keep standard error for something else (the libvirt hook). */
void mb_log_set_journal(int on);
/* Standard error lines as "<N>message" (N the syslog priority, as sd-daemon(3)
 * writes them), without ident and pid: for a helper whose supervisor reads
 * its standard error and logs each line at its priority. */
void mb_log_set_priority_prefix(int on);
int mb_log_get_level(void);
/* "err"/"error", "warning", "notice", "info", "debug" or 0..7; -EINVAL otherwise. */
int mb_log_parse_level(const char *s);

/* Logs when level passes the filter. Returns -abs(err) when err != 0, else 0,
 * so callers can write: return log_error_errno(r, "...: %m"). errno is set to
 * abs(err) while formatting, so %m works. */
int mb_log_full(int level, int err, const char *bdf, const char *fmt, ...) _printf_(4, 5);
int mb_log_fullv(int level, int err, const char *bdf, const char *fmt, va_list ap) _printf_(4, 0);

#define log_full(level, ...)        mb_log_full(level, 0, NULL, __VA_ARGS__)
#define log_debug(...)              mb_log_full(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...)               mb_log_full(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_notice(...)             mb_log_full(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_warning(...)            mb_log_full(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...)              mb_log_full(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_error_errno(e, ...)     mb_log_full(LOG_ERR, (e), NULL, __VA_ARGS__)
#define log_warning_errno(e, ...)   mb_log_full(LOG_WARNING, (e), NULL, __VA_ARGS__)
#define log_debug_errno(e, ...)     mb_log_full(LOG_DEBUG, (e), NULL, __VA_ARGS__)

/* Device variants: the BDF is printed on the line (and is a journal field). */
#define log_dev_debug(bdf, ...)             mb_log_full(LOG_DEBUG, 0, (bdf), __VA_ARGS__)
#define log_dev_info(bdf, ...)              mb_log_full(LOG_INFO, 0, (bdf), __VA_ARGS__)
#define log_dev_notice(bdf, ...)            mb_log_full(LOG_NOTICE, 0, (bdf), __VA_ARGS__)
#define log_dev_warning(bdf, ...)           mb_log_full(LOG_WARNING, 0, (bdf), __VA_ARGS__)
#define log_dev_error(bdf, ...)             mb_log_full(LOG_ERR, 0, (bdf), __VA_ARGS__)
#define log_dev_error_errno(bdf, e, ...)    mb_log_full(LOG_ERR, (e), (bdf), __VA_ARGS__)
#define log_dev_warning_errno(bdf, e, ...)  mb_log_full(LOG_WARNING, (e), (bdf), __VA_ARGS__)
#define log_dev_debug_errno(bdf, e, ...)    mb_log_full(LOG_DEBUG, (e), (bdf), __VA_ARGS__)
#define log_dev_debug_errno(bdf, e, ...)    mb_log_full(LOG_DEBUG, (e), (bdf), __VA_ARGS__)
