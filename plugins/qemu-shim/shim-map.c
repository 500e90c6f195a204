/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "fsm.h"
#include "migbroker/plugin.h"
#include "shim-map.h"

const char *shim_v1_to_state(uint32_t v1) {
        /* mb_state_from_v1() maps anything invalid to error, which nobody may request. */
        if (!mb_v1_state_valid(v1))
                return NULL;
        return mb_state_to_string(mb_state_from_v1(v1));
}

int shim_state_to_v1(const char *state, uint32_t *ret) {
        MbState s;

        if (!state)
                return -EINVAL;
        s = mb_state_from_string(state);
        if (s < 0)
                return -EINVAL;
        *ret = mb_state_to_v1(s);
        return 0;
}

int shim_errno_from_bus_error(const sd_bus_error *e) {
        const MbErrorInfo *info = mb_error_from_name(e ? e->name : NULL);
        int r;

        if (info) {
                switch (info->errnum) {
                case MB_ENOSUCHDEVICE:
                case MB_ENOTMANAGED:
                case MB_ENOTOPEN:
                        return -ENODEV;
                case MB_EBUSY:
                        return -EBUSY;
                case MB_ENOTCLAIMED:
                        return -EPERM;
                case MB_EINVALIDTRANSITION:
                case MB_EPOLICYINVALID:
                        return -EINVAL;
                case MB_EPLUGINFAILED:
                case MB_EPLUGINCRASHED:
                        return -EIO;
                case MB_ETIMEOUT:
                        return -ETIMEDOUT;
                case MB_ESTREAMCORRUPT:
                        return -EBADMSG;
                case MB_ETOOLARGE:
                        return -EFBIG;
                case MB_EACCESSDENIED:
                        return -EACCES;
                default:
                        return -EIO;
                }
        }
        /* Not the broker's: sd-bus knows the org.freedesktop.DBus.Error.* names
         * and System.Error.E* (an errno the broker passed on as it was). */
        r = e ? sd_bus_error_get_errno(e) : 0;
        return r > 0 ? -r : -EIO;
}

const char *shim_error_short_name(const sd_bus_error *e) {
        const MbErrorInfo *info;

        if (!e || !e->name)
                return "unknown error";
        info = mb_error_from_name(e->name);
        return info ? info->short_name : e->name;
}

void shim_raw_hdr_encode(uint8_t out[static SHIM_RAW_HDR_LEN], uint64_t n) {
        for (int i = 0; i < SHIM_RAW_HDR_LEN; i++)
                out[i] = (uint8_t) (n >> (56 - 8 * i));
}

uint64_t shim_raw_hdr_decode(const uint8_t in[static SHIM_RAW_HDR_LEN]) {
        uint64_t n = 0;

        for (int i = 0; i < SHIM_RAW_HDR_LEN; i++)
                n = n << 8 | in[i];
        return n;
}
