/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-match.h: which plugin a device gets: the contract's precedence
 * (exact BDF, patterns by fewest wildcards, vendor+device, vendor, probe) over
 * an index of the rules. It never loads plugins: probing is the caller's.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

/* Asks a plugin whether it takes a device (the broker asks a worker).
 * Returns > 0 to accept, 0 to decline, < 0 on failure (counted as decline). */
typedef int (*MbPolicyProbeFunc)(void *userdata, const MbPolicyPlugin *plugin, const char *bdf, uint16_t vendor,
                                 uint16_t device);

typedef struct MbPolicyDeviceIds {
        uint16_t vendor;
        uint16_t device;
} MbPolicyDeviceIds;

typedef struct MbPolicyMatchResult {
        char bdf[MB_BDF_STRLEN + 1];    /* normalised */
        MbPolicyMatchKind kind;         /* NONE when nothing binds the device */
        const MbPolicyRule *rule;       /* the rule that matched; NULL for PROBE and NONE */
        const MbPolicyRule *conflict;   /* ambiguous: the second rule of the same rank */
        const MbPolicyPlugin *plugin;   /* NULL for NONE */
        const char *arg;                /* init() arg: the rule's, else the plugin's; may be NULL */
        bool ids_known;                 /* vendor/device were read */
        int ids_error;                  /* else why not (negative errno), 0 when not needed */
        uint16_t vendor;
        uint16_t device;
} MbPolicyMatchResult;

/* Matches bdf (any case). Vendor and device IDs are read from
 * SYSFS_ROOT/bus/pci/devices/BDF/{vendor,device} (sysfs_root NULL: the default,
 * $MIGBROKER_SYSFS_ROOT or /sys)
 * only when no BDF rule matches. probe may be NULL: plugins are then not asked.
 * The result points into p: hold a reference on p as long as you use it.
 * Returns 1 when bound, 0 when nothing binds the device, -EINVAL for a
 * malformed BDF, -MB_EPOLICYINVALID when two rules of equal rank match
 * (ret->rule and ret->conflict name them). */
int mb_policy_match(const MbPolicy *p, const char *bdf, const char *sysfs_root, MbPolicyProbeFunc probe,
                    void *userdata, MbPolicyMatchResult *ret);

/* Same, with the IDs given (NULL: unknown, vendor rules and probe skipped). */
int mb_policy_match_ids(const MbPolicy *p, const MbBdf *bdf, const MbPolicyDeviceIds *ids, MbPolicyProbeFunc probe,
                        void *userdata, MbPolicyMatchResult *ret);

bool mb_policy_rule_matches(const MbPolicyRule *rule, const MbBdf *bdf, const MbPolicyDeviceIds *ids);

/* Every rule that matches, best first (rank, then file order), for
 * "policy explain". Returns a new array of const MbPolicyRule*. */
GPtrArray *mb_policy_matching_rules(const MbPolicy *p, const MbBdf *bdf, const MbPolicyDeviceIds *ids);

/* For mb_policy_finalize(). */
int mb_policy_index_build(MbPolicy *p);
void mb_policy_index_free(MbPolicyIndex *index);
