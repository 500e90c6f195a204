/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bdf.h: PCI addresses ("BDF", DDDD:BB:SS.F): strict parsing, validation and
 * the one normalised spelling (lower-case hex) used everywhere in migbroker.
 * It does not parse wildcard patterns (policy/bdf-pattern.h) or touch sysfs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* "DDDD:BB:SS.F" */
#define MB_BDF_STRLEN 12
#define MB_BDF_SLOT_MAX 0x1f
#define MB_BDF_FUNCTION_MAX 7

typedef struct MbBdf {
        uint16_t domain;
        uint8_t bus;
        uint8_t slot;     /* 0..0x1f */
        uint8_t function; /* 0..7 */
} MbBdf;

/* Parses exactly DDDD:BB:SS.F (hex digits of either case, each field of its
 * full width, slot <= 0x1f, function <= 7). Returns 0 or -EINVAL. ret may be NULL. */
int mb_bdf_parse(const char *s, MbBdf *ret);
bool mb_bdf_valid(const char *s);

/* Writes the normalised form into buf and returns buf. */
char *mb_bdf_format(const MbBdf *b, char buf[static MB_BDF_STRLEN + 1]);

/* Parse + format: "0000:3B:00.1" -> "0000:3b:00.1". Returns 0 or -EINVAL. */
int mb_bdf_normalize(const char *s, char buf[static MB_BDF_STRLEN + 1]);

/* A dense 32-bit key: domain(16) bus(8) slot(5) function(3), as PCI packs it. */
static inline uint32_t mb_bdf_pack(const MbBdf *b) {
        return ((uint32_t) b->domain << 16) | ((uint32_t) b->bus << 8) | ((uint32_t) b->slot << 3) |
               (uint32_t) b->function;
}
