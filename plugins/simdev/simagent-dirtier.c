/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "simagent-dirtier.h"

void simagent_dirtier_init(SimagentDirtier *d, uint64_t rate, uint32_t page_size) {
        *d = (SimagentDirtier) { .rate = rate, .page_size = page_size > 0 ? page_size : 1 };
}

uint64_t simagent_dirtier_tick(SimagentDirtier *d, uint64_t now_usec, uint64_t max_gap_usec) {
        unsigned __int128 work, unit;
        uint64_t gap, pages;

        if (d->last_usec == 0 || now_usec < d->last_usec) {
                d->last_usec = now_usec;
                return 0;
        }
        gap = now_usec - d->last_usec;
        if (gap > max_gap_usec)
                gap = max_gap_usec;
        d->last_usec = now_usec;

        /* bytes = rate * gap / 1e6; keep the remainder in byte-microseconds. */
        unit = (unsigned __int128) d->page_size * 1000000u;
        work = (unsigned __int128) d->rate * gap + d->carry;
        pages = (uint64_t) (work / unit);
        d->carry = (uint64_t) (work % unit);
        return pages;
}
