/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * error.h: migbroker's one error idiom. Code returns negative errno values;
 * this table maps each migbroker error to exactly one errno and one D-Bus name
 * (org.migbroker1.Error.*), in both directions. It is the only place the names
 * are spelled; it does not log.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <systemd/sd-bus.h>

#include <string.h>

#include "macro.h"

#define MB_ERROR_PREFIX "org.migbroker1.Error."

/* Messages that quote a caller's argument quote at most MB_QUOTE_MAX bytes of
 * it, so that what the message says about it survives the message's own
 * bound (1 KiB): printf("unknown state " MB_QUOTE_FMT " (...)", MB_QUOTE(s)). */
#define MB_QUOTE_MAX 64
#define MB_QUOTE_FMT "'%.64s%s'"
#define MB_QUOTE(s) (s), (strlen(s) > MB_QUOTE_MAX ? "..." : "")

/* The errno each named error travels as inside migbroker. */
#define MB_ENOSUCHDEVICE        ENODEV
#define MB_ENOTMANAGED          ENXIO
#define MB_EBUSY                EBUSY
#define MB_ENOTCLAIMED          ENOLCK
#define MB_ENOTOPEN             EBADFD
#define MB_EINVALIDTRANSITION   EILSEQ
#define MB_EPLUGINFAILED        EREMOTEIO
#define MB_EPLUGINCRASHED       EOWNERDEAD
#define MB_ETIMEOUT             ETIMEDOUT
#define MB_ESTREAMCORRUPT       EBADMSG
#define MB_ETOOLARGE            EFBIG
#define MB_EPOLICYINVALID       EUCLEAN
#define MB_EACCESSDENIED        EACCES

typedef struct MbErrorInfo {
        const char *short_name;   /* "NoSuchDevice" */
        const char *bus_name;     /* "org.migbroker1.Error.NoSuchDevice" */
        int errnum;               /* positive errno */
} MbErrorInfo;

/* The table, terminated by an entry with short_name == NULL. */
extern const MbErrorInfo mb_errors[];
/* Registered with sd_bus_error_add_map() by mb_error_register(). */
extern const sd_bus_error_map mb_bus_error_map[];

/* Registers the map so sd_bus_error_get_errno() knows our names. Idempotent. */
int mb_error_register(void);

/* The entry for a negative or positive errno, or NULL when it is not ours. */
const MbErrorInfo *mb_error_from_errno(int err);
/* The entry for a D-Bus error name (full or short), or NULL. */
const MbErrorInfo *mb_error_from_name(const char *name);

/* Sets a D-Bus error for a negative errno: our name when it is ours,
 * otherwise sd-bus's generic mapping. Returns r (negative). */
int mb_bus_error_setf(sd_bus_error *e, int r, const char *fmt, ...) _printf_(3, 4);
int mb_bus_error_setfv(sd_bus_error *e, int r, const char *fmt, va_list ap) _printf_(3, 0);

/* A short stable name for an errno, for CLI/JSON output: "NoSuchDevice",
 * or the errno's symbolic text for foreign errors. */
const char *mb_error_short_name(int err);
