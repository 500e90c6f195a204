/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

#define E(name, errnum) { name, MB_ERROR_PREFIX name, errnum }
const MbErrorInfo mb_errors[] = {
        E("NoSuchDevice", MB_ENOSUCHDEVICE),
        E("NotManaged", MB_ENOTMANAGED),
        E("Busy", MB_EBUSY),
        E("NotClaimed", MB_ENOTCLAIMED),
        E("NotOpen", MB_ENOTOPEN),
        E("InvalidTransition", MB_EINVALIDTRANSITION),
        E("PluginFailed", MB_EPLUGINFAILED),
        E("PluginCrashed", MB_EPLUGINCRASHED),
        E("Timeout", MB_ETIMEOUT),
        E("StreamCorrupt", MB_ESTREAMCORRUPT),
        E("TooLarge", MB_ETOOLARGE),
        E("PolicyInvalid", MB_EPOLICYINVALID),
        E("AccessDenied", MB_EACCESSDENIED),
        { NULL, NULL, 0 },
};
#undef E

#define M(name, errnum) SD_BUS_ERROR_MAP(MB_ERROR_PREFIX name, errnum)
const sd_bus_error_map mb_bus_error_map[] = {
        M("NoSuchDevice", MB_ENOSUCHDEVICE),
        M("NotManaged", MB_ENOTMANAGED),
        M("Busy", MB_EBUSY),
        M("NotClaimed", MB_ENOTCLAIMED),
        M("NotOpen", MB_ENOTOPEN),
        M("InvalidTransition", MB_EINVALIDTRANSITION),
        M("PluginFailed", MB_EPLUGINFAILED),
        M("PluginCrashed", MB_EPLUGINCRASHED),
        M("Timeout", MB_ETIMEOUT),
        M("StreamCorrupt", MB_ESTREAMCORRUPT),
        M("TooLarge", MB_ETOOLARGE),
        M("PolicyInvalid", MB_EPOLICYINVALID),
        M("AccessDenied", MB_EACCESSDENIED),
        SD_BUS_ERROR_MAP_END,
};
#undef M

int mb_error_register(void) {
        static int registered;
        int r;

        if (registered)
                return 0;
        r = sd_bus_error_add_map(mb_bus_error_map);
        if (r < 0)
                return r;
        registered = 1;
        return 0;
}

const MbErrorInfo *mb_error_from_errno(int err) {
        err = err < 0 ? -err : err;
        for (const MbErrorInfo *i = mb_errors; i->short_name; i++)
                if (i->errnum == err)
                        return i;
        return NULL;
}

const MbErrorInfo *mb_error_from_name(const char *name) {
        if (!name)
                return NULL;
        for (const MbErrorInfo *i = mb_errors; i->short_name; i++)
                if (strcmp(i->bus_name, name) == 0 || strcmp(i->short_name, name) == 0)
                        return i;
        return NULL;
}

int mb_bus_error_setfv(sd_bus_error *e, int r, const char *fmt, va_list ap) {
        const MbErrorInfo *info = mb_error_from_errno(r);
        char msg[1024];

        if (r >= 0)
                r = -EIO;
        if (!fmt) {
                snprintf(msg, sizeof(msg), "%s", strerror(-r));
        } else {
                (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        }
        if (info)
                (void) sd_bus_error_set(e, info->bus_name, msg);
        else
                (void) sd_bus_error_set_errnof(e, -r, "%s", msg);
        return r;
}

int mb_bus_error_setf(sd_bus_error *e, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        r = mb_bus_error_setfv(e, r, fmt, ap);
        va_end(ap);
        return r;
}

const char *mb_error_short_name(int err) {
        const MbErrorInfo *info = mb_error_from_errno(err);
        if (info)
                return info->short_name;
        err = err < 0 ? -err : err;
        switch (err) {
        case EINVAL: return "InvalidArgs";
        case ENOMEM: return "NoMemory";
        case EPERM: return "AccessDenied";
        case ENOENT: return "NotFound";
        case EPIPE: return "BrokenPipe";
        case ECONNREFUSED: return "ConnectionRefused";
        default: return "Failed";
        }
}
