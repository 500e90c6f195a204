/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-parse.h: turns the text of one policy file into plugins, rules and
 * settings of an MbPolicy, with a diagnostic for every problem (handler tables
 * per YAML mapping). It never prints and never opens files (policy-load.h).
 */
#pragma once

#include <stddef.h>

#include <glib.h>

#include "policy-diag.h"
#include "policy.h"

typedef enum MbPolicyFileRole {
        MB_POLICY_FILE_MAIN,    /* may set "settings" */
        MB_POLICY_FILE_DROPIN,  /* version, plugins and devices only */
} MbPolicyFileRole;

/* Parses text (the whole file; any size, the caller enforces limits) as file
 * into p. The text is registered with diags for source lines. Errors go to
 * diags, at most MB_DIAG_MAX_PER_FILE per file. Returns 0, or
 * -MB_EPOLICYINVALID when it added an error (p then holds part of the file). */
int mb_policy_parse_text(MbPolicy *p, const char *file, GBytes *text, MbPolicyFileRole role, MbDiagList *diags);

/* Parses one main file from memory and finalizes it (no plugin files are
 * checked). For tests, fuzzing and "check" of standard input. On success
 * *ret is the policy; on failure *ret is NULL and diags say why. */
int mb_policy_parse_string(const char *file, const char *text, size_t len, MbPolicy **ret, MbDiagList *diags);
