/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdev-bitmap.h: a fixed-size page bitmap (dirty pages, pages of a save
 * round, pages a load covered) with word-at-a-time run scanning.
 * No policy: it does not know what a page means or when to clear it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct SimdevBitmap {
        uint64_t *words;
        uint64_t n_bits;
        uint64_t n_set;
} SimdevBitmap;

int simdev_bitmap_init(SimdevBitmap *b, uint64_t n_bits); /* all clear; -ENOMEM */
void simdev_bitmap_done(SimdevBitmap *b);

void simdev_bitmap_set(SimdevBitmap *b, uint64_t i);
bool simdev_bitmap_test(const SimdevBitmap *b, uint64_t i);
void simdev_bitmap_set_range(SimdevBitmap *b, uint64_t first, uint64_t count);
void simdev_bitmap_set_all(SimdevBitmap *b);
void simdev_bitmap_clear_all(SimdevBitmap *b);

/* Swaps the contents of two bitmaps of the same size. */
void simdev_bitmap_swap(SimdevBitmap *a, SimdevBitmap *b);

/* Index of the first set (clear) bit at or after i, or n_bits if none. */
uint64_t simdev_bitmap_next_set(const SimdevBitmap *b, uint64_t i);
uint64_t simdev_bitmap_next_clear(const SimdevBitmap *b, uint64_t i);
