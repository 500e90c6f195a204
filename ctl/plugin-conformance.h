/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugin-conformance.h: the conformance suite of "migbrokerctl plugin check":
 * runs a plugin in migbroker-worker processes (never in the caller) and checks
 * its ABI, lifecycle, v1 states, data path, robustness and timing. It prints
 * nothing; the verb (ctl-plugin-check.c) formats the results.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migbroker/plugin.h"
#include "op-timing.h"

typedef enum MbCheckResult {
        MB_CHECK_PASS,
        MB_CHECK_FAIL,
        MB_CHECK_SKIP,
        _MB_CHECK_RESULT_MAX,
} MbCheckResult;

const char *mb_check_result_to_string(MbCheckResult r); /* "PASS", "FAIL", "SKIP" */

#define MB_CHECK_VALUES_MAX 8

/* A figure a check measured (e.g. the worker's VmRSS before and after). */
typedef struct MbCheckValue {
        const char *key;              /* static: "rss_kib_before" */
        uint64_t value;
} MbCheckValue;

typedef struct MbCheck {
        char *name;                   /* "states.move.1-3" */
        MbCheckResult result;
        char *reason;                 /* one line, control characters escaped */
        uint64_t duration_usec;       /* of the whole check */
        bool has_timing;              /* timing.* checks: the op's statistics */
        MbTimingStats timing;
        MbCheckValue values[MB_CHECK_VALUES_MAX];
        size_t n_values;
} MbCheck;

/* The plugin as the worker's loader reported it (Hello). */
typedef struct MbPluginDescription {
        bool loaded;
        char *refusal;                /* the loader's message when !loaded and it refused */
        char *name;
        char *version;
        uint32_t capabilities;        /* MIGBROKER_PLUGIN_CAP_* */
        MigbrokerPciId *pci_ids;
        size_t n_pci_ids;
        bool has_probe;
} MbPluginDescription;

typedef void (*MbCheckReportFn)(const MbCheck *check, void *userdata);

typedef struct MbConformanceConfig {
        const char *worker_path;      /* the migbroker-worker binary */
        const char *plugin_path;      /* for messages */
        int plugin_fd;                /* the plugin file, opened (not loaded) by the caller */
        const char *user;             /* the worker drops to this user when we are root; may be NULL */
        int worker_log_level;         /* <0: ours */
        const char *bdf;              /* devid given to init() */
        const char *arg;              /* init() argument of the instance under test */
        const char *peer_arg;         /* of a second instance to load into; NULL skips the round trip */
        uint64_t timeout_usec;        /* bound on each op (on each stall of a save or load) */
        unsigned iterations;          /* init/cleanup cycles of lifecycle.init-cleanup */
        uint64_t rss_tolerance_kib;   /* allowed VmRSS growth over those cycles */
        MbCheckReportFn report;       /* called as each check completes; may be NULL */
        void *userdata;
} MbConformanceConfig;

typedef struct MbConformance {
        MbCheck **checks;
        size_t n_checks;
        MbPluginDescription plugin;
        size_t counts[_MB_CHECK_RESULT_MAX];
} MbConformance;

/* Runs every check. Returns 0 with *ret filled (failed checks are results, not
 * errors), or -errno when the suite could not run at all. */
int mb_conformance_run(const MbConformanceConfig *cfg, MbConformance **ret);
void mb_conformance_free(MbConformance *c);
static inline void mb_conformance_freep(MbConformance **c) {
        if (*c)
                mb_conformance_free(*c);
}

/* The bad argument lifecycle.bad-arg gives init(). */
#define MB_CONFORMANCE_BAD_ARG "\x01invalid"
