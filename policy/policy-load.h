/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-load.h: reads a policy from disk: the main file and its policy.d/
 * drop-ins in lexical order, each opened once and checked on its fd (owner,
 * mode, size), and the plugin files they name. Atomic reload. No matching.
 */
#pragma once

#include <stdbool.h>

#include "policy-diag.h"
#include "policy.h"

#define MB_POLICY_MAX_FILE_SIZE (1024u * 1024u)
#define MB_POLICY_MAX_DROPINS 1024u
#define MB_POLICY_DROPIN_SUFFIX ".yaml"
/* Environment variables overriding the paths (docs/env.md; the sysfs one is
 * in pci-sysfs.h). */
#define MB_ENV_POLICY "MIGBROKER_POLICY"
#define MB_ENV_PLUGIN_DIR "MIGBROKER_PLUGIN_DIR"

typedef enum MbPolicyLoadFlags {
        /* Do not open the plugin files (a policy checked away from its host). */
        MB_POLICY_LOAD_SKIP_PLUGIN_FILES = 1u << 0,
} MbPolicyLoadFlags;

typedef struct MbPolicyLoadOptions {
        /* Main file; NULL: mb_policy_default_path(). Its drop-ins are
         * DIRNAME/policy.d/ *.yaml. */
        const char *path;
        /* Instead of path and its policy.d: these files, the first as the
         * main file and the others as drop-ins in this order. NULL-terminated. */
        const char *const *files;
        /* Overrides settings.plugin-dir; NULL: none. */
        const char *plugin_dir;
        unsigned flags;           /* MbPolicyLoadFlags */
} MbPolicyLoadOptions;

/* $MIGBROKER_POLICY, else MB_POLICY_DEFAULT_PATH. */
const char *mb_policy_default_path(void);
/* $MIGBROKER_PLUGIN_DIR, else NULL (settings.plugin-dir applies). */
const char *mb_policy_default_plugin_dir(void);

/* Loads, validates and finalizes a whole policy. Returns 0 and *ret, or a
 * negative errno (-MB_EPOLICYINVALID when diags holds the errors) and
 * *ret = NULL. Warnings may be added on success too. */
int mb_policy_load(const MbPolicyLoadOptions *opts, MbPolicy **ret, MbDiagList *diags);

/* Atomic reload: loads a new policy and only on success replaces *current
 * (dropping one reference to the old one; whoever holds another reference,
 * an open device session, keeps using it). On failure *current is untouched. */
int mb_policy_reload(MbPolicy **current, const MbPolicyLoadOptions *opts, MbDiagList *diags);

/* Logs every diagnostic through log.h, one entry each, in the format of
 * mb_diag_format() (source line and caret included): what the broker does
 * with a refused reload. */
void mb_diag_list_log(const MbDiagList *l);

/* Opens a plugin's file once (O_RDONLY|O_NOFOLLOW|O_CLOEXEC) and checks it on
 * the fd: a regular file owned by root or our euid, not writable by group or
 * others. Returns the fd (the broker hands it to the worker, which loads
 * /proc/self/fd/N), or a negative errno with a diagnostic at the plugin's
 * "path" (diags may be NULL). */
int mb_policy_open_plugin(const MbPolicyPlugin *plugin, MbDiagList *diags);
