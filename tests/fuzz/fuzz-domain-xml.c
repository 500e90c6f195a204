/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for hooks/domain-xml.c, the parser of the domain XML that
 * libvirtd hands the hook (a root process) on standard input; the metadata
 * part of it is written by whoever may edit the domain. Each input is parsed
 * once; a success must give sorted, unique, valid BDFs, valid and unique
 * vmstate-ids and a UUID whenever there are devices; a failure must give one
 * non-empty line (it becomes the hook's one line on standard error).
 *
 * Seeds in tests/fuzz/corpus/domain-xml/: the variants of tests/data/domain/
 * that parse, and libvirt's live hook XML with devices added.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain-xml.h"

static void check(int ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "invariant broken: %s\n", what);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        HookDomain *d = NULL;
        char *error = NULL;
        int r;

        r = hook_domain_parse((const char *) data, size, &d, &error);
        if (r < 0) {
                check(d == NULL, "no domain on failure");
                check(error && *error, "an error message");
                check(!strchr(error, '\n') && !strchr(error, '\r'), "a one-line error");
                free(error);
                return 0;
        }
        check(d && !error, "a domain and no error");
        check(d->devices->len == 0 || (d->uuid && strlen(d->uuid) == 36), "a UUID when there are devices");
        for (guint i = 0; i < d->devices->len; i++) {
                const HookDevice *dev = d->devices->pdata[i];

                check(mb_bdf_valid(dev->bdf), "a valid BDF");
                check(dev->hostdev || dev->metadata, "a device comes from somewhere");
                if (i > 0)
                        check(strcmp(((const HookDevice *) d->devices->pdata[i - 1])->bdf, dev->bdf) < 0,
                              "sorted, unique BDFs");
                if (dev->vmstate_id) {
                        size_t len = strlen(dev->vmstate_id);
                        check(len > 0 && len <= HOOK_VMSTATE_ID_MAX && !strchr(dev->vmstate_id, ','),
                              "a valid vmstate-id");
                        for (guint k = 0; k < i; k++) {
                                const HookDevice *o = d->devices->pdata[k];
                                check(!o->vmstate_id || strcmp(o->vmstate_id, dev->vmstate_id) != 0,
                                      "unique vmstate-ids");
                        }
                }
        }
        hook_domain_free(d);
        return 0;
}
