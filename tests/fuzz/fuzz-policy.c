/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the policy parser, finalize (cross-checks, index), the
 * diagnostic formatter and, for what parses, the matcher. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "policy-match.h"
#include "policy-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int decline(void *userdata, const MbPolicyPlugin *plugin, const char *bdf, uint16_t vendor, uint16_t device) {
        return (vendor ^ device ^ plugin->order) & 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const MbBdf bdfs[] = {
                { 0, 0x3b, 0, 1 }, { 0, 0x3b, 0, 7 }, { 0, 0, 0, 0 }, { 0xffff, 0xff, 0x1f, 7 }, { 1, 0x3b, 0x1f, 0 },
        };
        static const MbPolicyDeviceIds ids[] = { { 0x1af4, 0x1041 }, { 0x8086, 0x1572 } };
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *text = NULL;

        if (size > 1024 * 1024) /* the loader refuses larger files before parsing */
                return 0;
        if (mb_policy_parse_string("fuzz.yaml", (const char *) data, size, &p, diags) == 0)
                for (size_t i = 0; i < G_N_ELEMENTS(bdfs); i++)
                        for (size_t j = 0; j < G_N_ELEMENTS(ids); j++) {
                                MbPolicyMatchResult res;
                                g_autoptr(GPtrArray) all = NULL;
                                (void) mb_policy_match_ids(p, &bdfs[i], &ids[j], decline, NULL, &res);
                                all = mb_policy_matching_rules(p, &bdfs[i], &ids[j]);
                        }
        text = mb_diag_list_format(diags);
        return 0;
}
