/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-json.h: the few helpers migbrokerctl's --json output needs to write
 * valid JSON by hand (string escaping, null). Not a JSON library: no parsing,
 * no document model.
 */
#pragma once

#include <stdio.h>

/* Writes s as a JSON string ("..." with escapes), or null when s is NULL. */
void ctl_json_string(FILE *f, const char *s);
