/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>

#include "uuid.h"

int mb_uuid_normalize(const char *s, size_t n, char out[static MB_UUID_STRLEN + 1]) {
        if (!s || n != MB_UUID_STRLEN)
                return -EINVAL;
        for (size_t i = 0; i < MB_UUID_STRLEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return -EINVAL;
                out[i] = (char) tolower((unsigned char) s[i]);
        }
        out[MB_UUID_STRLEN] = '\0';
        return 0;
}
