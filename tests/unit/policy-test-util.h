/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-test-util.h: helpers the policy unit tests share: parse YAML text
 * from a string into a finalized policy, write files into a temporary tree.
 * Test code only; static inline so each test program takes what it uses.
 */
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "error.h"
#include "policy-diag.h"
#include "policy-parse.h"
#include "policy.h"

/* Parses yaml as "test.yaml" (as a drop-in after an empty "main.yaml" when
 * role is DROPIN), finalizes, sorts the diagnostics. Returns the policy even
 * when invalid (for inspection); *r gets the result. */
static inline MbPolicy *parse_yaml_len(const char *yaml, size_t len, MbPolicyFileRole role, MbDiagList *diags,
                                       int *r) {
        MbPolicy *p = mb_policy_new();
        g_autoptr(GBytes) text = g_bytes_new(yaml, len);
        int r1 = 0, r2, r3;

        if (role == MB_POLICY_FILE_DROPIN) {
                g_autoptr(GBytes) main_text = g_bytes_new_static("version: 1\n", 11);
                r1 = mb_policy_parse_text(p, "main.yaml", main_text, MB_POLICY_FILE_MAIN, diags);
        }
        r2 = mb_policy_parse_text(p, "test.yaml", text, role, diags);
        r3 = mb_policy_finalize(p, NULL, diags);
        mb_diag_list_sort(diags);
        *r = r1 < 0 ? r1 : r2 < 0 ? r2 : r3;
        return p;
}

static inline MbPolicy *parse_yaml(const char *yaml, MbPolicyFileRole role, MbDiagList *diags, int *r) {
        return parse_yaml_len(yaml, strlen(yaml), role, diags, r);
}

/* First diagnostic of a severity, or NULL. */
static inline const MbDiag *first_diag(const MbDiagList *l, MbDiagSeverity severity) {
        for (size_t i = 0; i < mb_diag_list_size(l); i++)
                if (mb_diag_list_get(l, i)->severity == severity)
                        return mb_diag_list_get(l, i);
        return NULL;
}

/* Writes content to dir/name with mode; returns the path (g_free it). */
static inline char *write_file(const char *dir, const char *name, const char *content, mode_t mode) {
        char *path = g_build_filename(dir, name, NULL);
        g_autofree char *parent = g_path_get_dirname(path);
        int fd;

        g_assert(g_mkdir_with_parents(parent, 0755) == 0);
        (void) unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        g_assert(fd >= 0);
        g_assert(write(fd, content, strlen(content)) == (ssize_t) strlen(content));
        g_assert(fchmod(fd, mode) == 0);
        g_assert(close(fd) == 0);
        return path;
}

/* Removes a directory tree made by a test. */
static inline void remove_tree(const char *path) {
        g_autofree char *cmd = NULL;

        if (!path || !g_str_has_prefix(path, g_get_tmp_dir()))
                return;
        cmd = g_strdup_printf("rm -rf '%s'", path);
        g_assert(system(cmd) == 0);
}
