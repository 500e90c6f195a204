/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * op-timing.h: how long each plugin op took, as seen by the caller: samples
 * per op name, and their count, median (nearest rank) and maximum. Pure
 * bookkeeping; it measures nothing itself.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct MbOpTimings MbOpTimings;

typedef struct MbTimingStats {
        size_t n;
        uint64_t min_usec;
        uint64_t p50_usec;
        uint64_t p90_usec;
        uint64_t max_usec;
} MbTimingStats;

MbOpTimings *mb_op_timings_new(void);
void mb_op_timings_free(MbOpTimings *t);
static inline void mb_op_timings_freep(MbOpTimings **t) {
        if (*t)
                mb_op_timings_free(*t);
}

/* Records one sample of op (copied). 0 or -ENOMEM. */
int mb_op_timings_add(MbOpTimings *t, const char *op, uint64_t usec);

/* Statistics of op: 0, or -ENOENT when it has no sample. */
int mb_op_timings_stats(const MbOpTimings *t, const char *op, MbTimingStats *ret);

/* The nearest-rank percentile pct (0..100) of n sorted samples: the smallest
 * sample that at least pct percent of the samples do not exceed. 0 when n == 0. */
uint64_t mb_percentile(const uint64_t *sorted, size_t n, unsigned pct);
