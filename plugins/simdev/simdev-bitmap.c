/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "simdev-bitmap.h"

#define WORD_BITS 64u
#define N_WORDS(n) (((n) + WORD_BITS - 1) / WORD_BITS)

int simdev_bitmap_init(SimdevBitmap *b, uint64_t n_bits) {
        uint64_t n = N_WORDS(n_bits);

        *b = (SimdevBitmap) { .n_bits = n_bits };
        b->words = calloc(n > 0 ? n : 1, sizeof(uint64_t));
        if (!b->words)
                return -ENOMEM;
        return 0;
}

void simdev_bitmap_done(SimdevBitmap *b) {
        free(b->words);
        *b = (SimdevBitmap) {};
}

void simdev_bitmap_set(SimdevBitmap *b, uint64_t i) {
        uint64_t m = 1ull << (i % WORD_BITS);

        if (i >= b->n_bits)
                return;
        if (!(b->words[i / WORD_BITS] & m)) {
                b->words[i / WORD_BITS] |= m;
                b->n_set++;
        }
}

bool simdev_bitmap_test(const SimdevBitmap *b, uint64_t i) {
        if (i >= b->n_bits)
                return false;
        return b->words[i / WORD_BITS] & (1ull << (i % WORD_BITS));
}

void simdev_bitmap_set_range(SimdevBitmap *b, uint64_t first, uint64_t count) {
        uint64_t end;

        if (first >= b->n_bits)
                return;
        end = count > b->n_bits - first ? b->n_bits : first + count;
        for (uint64_t i = first; i < end;) {
                if (i % WORD_BITS == 0 && end - i >= WORD_BITS) {
                        b->n_set += WORD_BITS - (uint64_t) __builtin_popcountll(b->words[i / WORD_BITS]);
                        b->words[i / WORD_BITS] = UINT64_MAX;
                        i += WORD_BITS;
                } else
                        simdev_bitmap_set(b, i++);
        }
}

void simdev_bitmap_set_all(SimdevBitmap *b) {
        simdev_bitmap_set_range(b, 0, b->n_bits);
}

void simdev_bitmap_clear_all(SimdevBitmap *b) {
        memset(b->words, 0, N_WORDS(b->n_bits) * sizeof(uint64_t));
        b->n_set = 0;
}

void simdev_bitmap_swap(SimdevBitmap *a, SimdevBitmap *b) {
        SimdevBitmap t = *a;
        *a = *b;
        *b = t;
}

static uint64_t next_bit(const SimdevBitmap *b, uint64_t i, uint64_t invert) {
        uint64_t w, word;

        if (i >= b->n_bits)
                return b->n_bits;
        w = i / WORD_BITS;
        word = (b->words[w] ^ invert) & (UINT64_MAX << (i % WORD_BITS));
        for (;;) {
                if (word) {
                        uint64_t r = w * WORD_BITS + (uint64_t) __builtin_ctzll(word);
                        return r < b->n_bits ? r : b->n_bits;
                }
                if (++w >= N_WORDS(b->n_bits))
                        return b->n_bits;
                word = b->words[w] ^ invert;
        }
}

uint64_t simdev_bitmap_next_set(const SimdevBitmap *b, uint64_t i) {
        return next_bit(b, i, 0);
}

uint64_t simdev_bitmap_next_clear(const SimdevBitmap *b, uint64_t i) {
        return next_bit(b, i, UINT64_MAX);
}
