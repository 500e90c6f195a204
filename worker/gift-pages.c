/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gift-pages.h"
#include "macro.h"

#ifndef MADV_COLLAPSE
#  define MADV_COLLAPSE 25
#endif

#define THP_DIR "/sys/kernel/mm/transparent_hugepage/"
/* Beyond this (arm64 with 64 KiB pages: 512 MiB) a huge page per region
 * costs more memory than a stream is worth. */
#define REGION_MAX (32u * 1024 * 1024)

static size_t huge_page_size;
static pthread_once_t huge_page_once = PTHREAD_ONCE_INIT;

/* The PMD huge page size, or 0 when transparent huge pages are off. */
static void huge_page_probe(void) {
        char mode[128] = "";
        unsigned long size = 0;
        FILE *f;

        f = fopen(THP_DIR "enabled", "re");
        if (!f)
                return;
        if (!fgets(mode, sizeof(mode), f))
                mode[0] = '\0';
        fclose(f);
        if (!mode[0] || strstr(mode, "[never]"))
                return;

        f = fopen(THP_DIR "hpage_pmd_size", "re");
        if (!f)
                return;
        if (fscanf(f, "%lu", &size) != 1)
                size = 0;
        fclose(f);
        if (size > REGION_MAX || size < (unsigned long) sysconf(_SC_PAGESIZE))
                size = 0;
        huge_page_size = size;
}

int mb_gift_pages_map(MbGiftPages *g, size_t slot_len) {
        size_t len;
        uint8_t *m, *region;

        *g = (MbGiftPages) {};
        /* pthread_once() only fails on invalid arguments. */
        (void) pthread_once(&huge_page_once, huge_page_probe);
        len = huge_page_size;
        if (len == 0 || slot_len == 0 || len % slot_len != 0)
                return -EOPNOTSUPP;

        /* Twice the size, then trim to one aligned region. */
        m = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
                return -errno;
        region = (uint8_t *) (((uintptr_t) m + len - 1) & ~(uintptr_t) (len - 1));
        if (region > m)
                (void) munmap(m, (size_t) (region - m));
        if (region + len < m + 2 * len)
                (void) munmap(region + len, (size_t) (m + 2 * len - (region + len)));
        /* A plugin may have mlockall(MCL_FUTURE)ed the worker: locked pages
         * cannot be dropped (MADV_DONTNEED fails with EINVAL) once spliced. */
        (void) munlock(region, len);

        *g = (MbGiftPages) {
                .region = region,
                .region_len = len,
                .slot_len = slot_len,
                .n_slots = (unsigned) (len / slot_len),
                .next = (unsigned) (len / slot_len), /* the first slot fills the region */
                .huge = true,
        };
        if (madvise(region, len, MADV_HUGEPAGE) < 0) {
                int r = -errno;
                mb_gift_pages_unmap(g);
                return r == -EINVAL ? -EOPNOTSUPP : r;
        }
        return 0;
}

void mb_gift_pages_unmap(MbGiftPages *g) {
        /* The pipe keeps its references to what it still holds. */
        if (g->region)
                (void) munmap(g->region, g->region_len);
        *g = (MbGiftPages) {};
}

/* Fresh pages for the region: drop the old ones if some went to the pipe,
 * fault in the new (one huge page, one zeroing), and ask whether it is one. */
static int region_refill(MbGiftPages *g) {
        if (g->spliced && madvise(g->region, g->region_len, MADV_DONTNEED) < 0)
                return -errno;
        g->spliced = false;
        g->next = 0;
        *(volatile uint8_t *) g->region = 0;
        if (madvise(g->region, g->region_len, MADV_COLLAPSE) < 0) {
                /* Small pages (or no MADV_COLLAPSE): copy from here on. */
                g->huge = false;
        }
        return 0;
}

int mb_gift_pages_next(MbGiftPages *g, uint8_t **slot, bool *spliceable) {
        int r;

        if (!g->huge) {
                /* A plain buffer: nothing of it was spliced, any slot will do. */
                *slot = g->region;
                *spliceable = false;
                return 0;
        }
        if (g->next == g->n_slots) {
                r = region_refill(g);
                if (r < 0)
                        return r;
                if (!g->huge)
                        return mb_gift_pages_next(g, slot, spliceable);
        }
        *slot = g->region + (size_t) g->next++ * g->slot_len;
        *spliceable = true;
        return 0;
}

void mb_gift_pages_spliced(MbGiftPages *g) {
        g->spliced = true;
}
