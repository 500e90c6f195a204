/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "error.h"
#include "pci-sysfs.h"
#include "policy-match.h"

/* Every rule is in exactly one table. Patterns are kept per wildcard mask,
 * keyed by the BDF with the wildcard fields zeroed: a lookup for one rank is
 * one hash probe per mask of that rank (at most 6). */
struct MbPolicyIndex {
        GHashTable *exact;           /* packed BDF -> rule */
        GHashTable *pattern[16];     /* mask -> (key -> rule); [0] unused */
        GHashTable *vendor_device;   /* vendor << 16 | device -> rule */
        GHashTable *vendor;          /* vendor -> rule */
};

#define KEY(x) GUINT_TO_POINTER((guint) (x))

void mb_policy_index_free(MbPolicyIndex *index) {
        if (!index)
                return;
        g_hash_table_unref(index->exact);
        for (unsigned m = 0; m < 16; m++)
                if (index->pattern[m])
                        g_hash_table_unref(index->pattern[m]);
        g_hash_table_unref(index->vendor_device);
        g_hash_table_unref(index->vendor);
        g_free(index);
}

/* Keeps the first rule for a key (duplicates were refused before). */
static void insert(GHashTable *t, guint key, MbPolicyRule *rule) {
        if (!g_hash_table_contains(t, KEY(key)))
                g_hash_table_insert(t, KEY(key), rule);
}

int mb_policy_index_build(MbPolicy *p) {
        MbPolicyIndex *index = g_new0(MbPolicyIndex, 1);

        index->exact = g_hash_table_new(g_direct_hash, g_direct_equal);
        index->vendor_device = g_hash_table_new(g_direct_hash, g_direct_equal);
        index->vendor = g_hash_table_new(g_direct_hash, g_direct_equal);
        for (guint i = 0; i < p->rules->len; i++) {
                MbPolicyRule *r = g_ptr_array_index(p->rules, i);

                switch (r->kind) {
                case MB_POLICY_MATCH_BDF:
                        insert(index->exact, mb_bdf_pack(&r->bdf.bdf), r);
                        break;
                case MB_POLICY_MATCH_PATTERN:
                        if (!index->pattern[r->bdf.wildcards])
                                index->pattern[r->bdf.wildcards] = g_hash_table_new(g_direct_hash, g_direct_equal);
                        insert(index->pattern[r->bdf.wildcards], mb_bdf_pack(&r->bdf.bdf), r);
                        break;
                case MB_POLICY_MATCH_VENDOR_DEVICE:
                        insert(index->vendor_device, (guint) r->vendor << 16 | r->device, r);
                        break;
                case MB_POLICY_MATCH_VENDOR:
                        insert(index->vendor, r->vendor, r);
                        break;
                default:
                        break;
                }
        }
        mb_policy_index_free(p->index);
        p->index = index;
        return 0;
}

static void bind_rule(MbPolicyMatchResult *ret, const MbPolicyRule *rule) {
        ret->kind = rule->kind;
        ret->rule = rule;
        ret->plugin = rule->plugin;
        ret->arg = mb_policy_rule_arg(rule);
}

/* Exact BDF, then patterns by rank. Returns 1 bound, 0 no BDF rule,
 * -MB_EPOLICYINVALID ambiguous. */
static int match_bdf(const MbPolicyIndex *index, const MbBdf *bdf, MbPolicyMatchResult *ret) {
        const MbPolicyRule *rule = g_hash_table_lookup(index->exact, KEY(mb_bdf_pack(bdf)));

        if (rule) {
                bind_rule(ret, rule);
                return 1;
        }
        for (unsigned rank = 1; rank <= 4; rank++) {
                const MbPolicyRule *first = NULL, *second = NULL;

                for (unsigned m = 1; m < 16; m++) {
                        const MbPolicyRule *r;

                        if (!index->pattern[m] || (unsigned) __builtin_popcount(m) != rank)
                                continue;
                        r = g_hash_table_lookup(index->pattern[m], KEY(mb_bdf_pattern_key(bdf, (uint8_t) m)));
                        if (!r)
                                continue;
                        if (!first || r->order < first->order) {
                                second = first;
                                first = r;
                        } else if (!second || r->order < second->order)
                                second = r;
                }
                if (first) {
                        bind_rule(ret, first);
                        if (second) {
                                ret->conflict = second;
                                return -MB_EPOLICYINVALID;
                        }
                        return 1;
                }
        }
        return 0;
}

int mb_policy_match_ids(const MbPolicy *p, const MbBdf *bdf, const MbPolicyDeviceIds *ids, MbPolicyProbeFunc probe,
                        void *userdata, MbPolicyMatchResult *ret) {
        const MbPolicyRule *rule;
        int r;

        g_return_val_if_fail(p->index, -EINVAL);

        *ret = (MbPolicyMatchResult) {};
        mb_bdf_format(bdf, ret->bdf);
        if (ids) {
                ret->ids_known = true;
                ret->vendor = ids->vendor;
                ret->device = ids->device;
        }

        r = match_bdf(p->index, bdf, ret);
        if (r != 0)
                return r;
        if (!ids)
                return 0;

        rule = g_hash_table_lookup(p->index->vendor_device, KEY((guint) ids->vendor << 16 | ids->device));
        if (!rule)
                rule = g_hash_table_lookup(p->index->vendor, KEY(ids->vendor));
        if (rule) {
                bind_rule(ret, rule);
                return 1;
        }

        if (!probe)
                return 0;
        for (guint i = 0; i < p->plugins->len; i++) {
                const MbPolicyPlugin *plugin = g_ptr_array_index(p->plugins, i);

                if (probe(userdata, plugin, ret->bdf, ids->vendor, ids->device) > 0) {
                        ret->kind = MB_POLICY_MATCH_PROBE;
                        ret->plugin = plugin;
                        ret->arg = plugin->arg;
                        return 1;
                }
        }
        return 0;
}

int mb_policy_match(const MbPolicy *p, const char *bdf, const char *sysfs_root, MbPolicyProbeFunc probe,
                    void *userdata, MbPolicyMatchResult *ret) {
        MbPolicyDeviceIds ids;
        MbBdf b;
        int r;

        *ret = (MbPolicyMatchResult) {};
        r = mb_bdf_parse(bdf, &b);
        if (r < 0)
                return r;

        /* BDF rules need no sysfs. */
        r = mb_policy_match_ids(p, &b, NULL, NULL, NULL, ret);
        if (r != 0)
                return r;

        r = mb_pci_sysfs_read_ids(sysfs_root, ret->bdf, &ids.vendor, &ids.device);
        if (r < 0) {
                ret->ids_error = r;
                return 0;
        }
        return mb_policy_match_ids(p, &b, &ids, probe, userdata, ret);
}

bool mb_policy_rule_matches(const MbPolicyRule *rule, const MbBdf *bdf, const MbPolicyDeviceIds *ids) {
        switch (rule->kind) {
        case MB_POLICY_MATCH_BDF:
        case MB_POLICY_MATCH_PATTERN:
                return mb_bdf_pattern_matches(&rule->bdf, bdf);
        case MB_POLICY_MATCH_VENDOR_DEVICE:
                return ids && ids->vendor == rule->vendor && ids->device == rule->device;
        case MB_POLICY_MATCH_VENDOR:
                return ids && ids->vendor == rule->vendor;
        default:
                return false;
        }
}

static gint compare_precedence(gconstpointer a, gconstpointer b) {
        const MbPolicyRule *x = *(const MbPolicyRule *const *) a, *y = *(const MbPolicyRule *const *) b;
        unsigned rx = mb_policy_rule_rank(x), ry = mb_policy_rule_rank(y);

        if (rx != ry)
                return rx < ry ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order;
}

GPtrArray *mb_policy_matching_rules(const MbPolicy *p, const MbBdf *bdf, const MbPolicyDeviceIds *ids) {
        GPtrArray *a = g_ptr_array_new();

        for (guint i = 0; i < p->rules->len; i++) {
                const MbPolicyRule *r = g_ptr_array_index(p->rules, i);
                if (mb_policy_rule_matches(r, bdf, ids))
                        g_ptr_array_add(a, (gpointer) r);
        }
        g_ptr_array_sort(a, compare_precedence);
        return a;
}
