/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bdf-pattern.h: the policy's BDF match syntax: an exact DDDD:BB:SS.F or a
 * pattern where "*" replaces whole fields, parsed with a precise reason and
 * offset on failure. It does not rank or index rules (policy-match.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdf.h"

/* Fields of a BDF, as bits of MbBdfPattern.wildcards. */
enum {
        MB_BDF_FIELD_DOMAIN = 1u << 0,
        MB_BDF_FIELD_BUS = 1u << 1,
        MB_BDF_FIELD_SLOT = 1u << 2,
        MB_BDF_FIELD_FUNCTION = 1u << 3,
        MB_BDF_FIELD_ALL = 0xfu,
};

/* "0000:3b:00.*" is { .bdf = 0000:3b:00.0, .wildcards = FUNCTION }; the
 * fields under a wildcard are 0 in bdf. */
typedef struct MbBdfPattern {
        MbBdf bdf;
        uint8_t wildcards;
} MbBdfPattern;

/* Longest spelling: "DDDD:BB:SS.F" */
#define MB_BDF_PATTERN_STRLEN MB_BDF_STRLEN

typedef struct MbBdfPatternError {
        size_t offset;       /* byte offset in the input of the offending part */
        char message[192];   /* e.g. `slot 0x20 is out of range (00-1f)` */
} MbBdfPatternError;

/* Parses s. Returns 0, or -EINVAL with *err filled (err may be NULL). */
int mb_bdf_pattern_parse(const char *s, MbBdfPattern *ret, MbBdfPatternError *err);

/* Number of wildcard fields (0 for an exact BDF). */
unsigned mb_bdf_pattern_rank(const MbBdfPattern *p);

bool mb_bdf_pattern_matches(const MbBdfPattern *p, const MbBdf *bdf);

/* Normalised spelling ("0000:3b:00.*"). */
char *mb_bdf_pattern_format(const MbBdfPattern *p, char buf[static MB_BDF_PATTERN_STRLEN + 1]);

/* The key of bdf under a wildcard mask: the fields covered by mask zeroed. */
uint32_t mb_bdf_pattern_key(const MbBdf *bdf, uint8_t mask);
