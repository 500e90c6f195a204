/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "follower-proto.h"
#include "macro.h"

static const char *const line_words[_MB_FOLLOWER_LINE_KIND_MAX] = {
        [MB_FOLLOWER_CONNECTED] = "connected",
        [MB_FOLLOWER_STARTED] = "started",
        [MB_FOLLOWER_RESUMED] = "resumed",
        [MB_FOLLOWER_RUNNING] = "running",
};

static int takes_uuid(MbFollowerLineKind kind) {
        return kind != MB_FOLLOWER_CONNECTED;
}

int mb_follower_line_format(const MbFollowerLine *l, char *buf, size_t size) {
        char uuid[MB_UUID_STRLEN + 1];
        int n;

        if ((unsigned) l->kind >= _MB_FOLLOWER_LINE_KIND_MAX)
                return -EINVAL;
        if (!takes_uuid(l->kind))
                n = snprintf(buf, size, "%s\n", line_words[l->kind]);
        else if (mb_uuid_normalize(l->uuid, strlen(l->uuid), uuid) < 0)
                return -EINVAL;
        else
                n = snprintf(buf, size, "%s %s\n", line_words[l->kind], uuid);
        if (n < 0 || (size_t) n >= size)
                return -EINVAL;
        return n;
}

int mb_follower_line_parse(const char *text, MbFollowerLine *ret) {
        const char *sp = strchr(text, ' ');
        size_t wlen = sp ? (size_t) (sp - text) : strlen(text);

        for (size_t k = 0; k < ELEMENTSOF(line_words); k++) {
                MbFollowerLine l = { .kind = (MbFollowerLineKind) k };

                if (strlen(line_words[k]) != wlen || strncmp(text, line_words[k], wlen) != 0)
                        continue;
                if (!takes_uuid(l.kind) ? sp != NULL
                                        : !sp || mb_uuid_normalize(sp + 1, strlen(sp + 1), l.uuid) < 0)
                        return -EBADMSG;
                *ret = l;
                return 0;
        }
        return -EBADMSG;
}
