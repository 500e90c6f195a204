/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gift-pages.h: memory for zero-copy saves. A record is built in pages that
 * the worker hands to the pipe with vmsplice(2) and never writes again, so
 * whatever the reader does with them (read, splice onward to a socket or a
 * file, tee) it sees the bytes as they were when they were spliced.
 *
 * The pages come from one region of one transparent huge page (2 MiB on
 * x86-64). Filling it costs one fault and one zeroing of the huge page;
 * once every slot of the region went to the pipe, MADV_DONTNEED drops the
 * worker's mapping (the pipe keeps its references to the old huge page)
 * and the next slot faults in a new one. With small pages the same scheme
 * would take a fault per 4 KiB and run at a third of a plain copy, so a
 * region that did not get a huge page is used as a plain buffer instead:
 * its records are written with a copy, and nothing is ever spliced from it.
 * Whether a region is backed by a huge page is asked of the kernel with
 * MADV_COLLAPSE (Linux 6.1): it returns at once for a huge page, and makes
 * one of small pages when it can. Without it, or with huge pages off
 * ("never", PR_SET_THP_DISABLE), every record is copied.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct MbGiftPages {
        uint8_t *region;       /* the mapping: region_len bytes, aligned to region_len */
        size_t region_len;
        size_t slot_len;
        unsigned n_slots;      /* slots per region */
        unsigned next;         /* next slot of the region to hand out */
        bool spliced;          /* a slot of this region went to the pipe */
        bool huge;             /* this region is backed by a huge page */
} MbGiftPages;

/* Maps a region for slots of slot_len bytes (a multiple of the page size).
 * -EOPNOTSUPP when huge pages are off, or not a multiple of slot_len; the
 * caller then copies. */
int mb_gift_pages_map(MbGiftPages *g, size_t slot_len);
void mb_gift_pages_unmap(MbGiftPages *g);

/* The next slot to build a record in. *spliceable tells whether the record
 * may be vmspliced once built (its region got a huge page); if not, write
 * it with a copy. Errors are -errno from madvise(2). */
int mb_gift_pages_next(MbGiftPages *g, uint8_t **slot, bool *spliceable);

/* Records that the slot last handed out went to the pipe. */
void mb_gift_pages_spliced(MbGiftPages *g);
