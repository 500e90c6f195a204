/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simagent-dirtier.h: turns a dirty rate (bytes per second) and the time that
 * passed into a whole number of pages to dirty, carrying the remainder.
 * Pure arithmetic: it neither owns a timer nor touches a function.
 */
#pragma once

#include <stdint.h>

typedef struct SimagentDirtier {
        uint64_t rate;            /* bytes per second */
        uint32_t page_size;
        uint64_t last_usec;       /* 0: not started */
        uint64_t carry;           /* byte-microseconds not yet worth a page, scaled by 1e6 */
} SimagentDirtier;

void simagent_dirtier_init(SimagentDirtier *d, uint64_t rate, uint32_t page_size);

/* Pages to dirty for the time between the previous call and now_usec
 * (CLOCK_MONOTONIC). The first call starts the clock and returns 0. A gap of
 * more than max_gap_usec counts as max_gap_usec (a stalled loop does not burst). */
uint64_t simagent_dirtier_tick(SimagentDirtier *d, uint64_t now_usec, uint64_t max_gap_usec);
