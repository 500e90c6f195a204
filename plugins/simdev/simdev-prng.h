/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdev-prng.h: the deterministic pseudo-random generator of the simulated
 * device (splitmix64 for seeding, xoshiro256** for content and dirtying).
 * Not cryptographic; same seed, same sequence, on every host.
 */
#pragma once

#include <stdint.h>

typedef struct SimdevPrng {
        uint64_t s[4];
} SimdevPrng;

static inline uint64_t simdev_splitmix64(uint64_t *x) {
        uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static inline void simdev_prng_seed(SimdevPrng *p, uint64_t seed) {
        uint64_t x = seed;
        for (int i = 0; i < 4; i++)
                p->s[i] = simdev_splitmix64(&x);
}

static inline uint64_t simdev_rotl64(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

static inline uint64_t simdev_prng_next(SimdevPrng *p) {
        uint64_t *s = p->s;
        const uint64_t result = simdev_rotl64(s[1] * 5, 7) * 9;
        const uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = simdev_rotl64(s[3], 45);
        return result;
}

/* FNV-1a of a string: mixes a function's BDF into its seed. */
static inline uint64_t simdev_fnv1a(const char *str) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (; *str; str++) {
                h ^= (uint8_t) *str;
                h *= 0x100000001b3ull;
        }
        return h;
}
