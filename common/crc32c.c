/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRC-32C. Two implementations computing the same function:
 *
 * - hardware (x86-64 with SSE4.2): the crc32 instruction has a latency of 3
 *   cycles but a throughput of 1 per cycle, so long buffers are cut into three
 *   adjacent blocks whose CRCs are computed interleaved and then combined.
 *   Combining uses the linearity of the CRC register: the register after
 *   A‖B equals (register after A) * x^(8|B|) mod P, XOR (register after B
 *   started from 0). Multiplying by x^(8n) for a fixed n is a linear map on
 *   32 bits, applied with four 256-entry tables (one per byte of the register).
 *   The same scheme as Mark Adler's crc32c.c, written from the math above.
 * - software: slicing-by-8 tables, byte order independent.
 *
 * Tables are computed once, on first use, under pthread_once().
 */

#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#  define MB_CRC32C_HAVE_HW 1
#  include <nmmintrin.h>
#else
#  define MB_CRC32C_HAVE_HW 0
#endif

/* CRC-32C polynomial 0x1EDC6F41, bit-reflected. */
#define POLY 0x82F63B78u

/* Interleaved block sizes of the hardware path: three blocks of LONG bytes
 * while they fit, then three of SHORT. */
#define LONG_BLOCK 8192u
#define SHORT_BLOCK 256u

static uint32_t sw_table[8][256];
#if MB_CRC32C_HAVE_HW
static uint32_t shift_long[4][256];   /* multiply the register by x^(8*LONG_BLOCK) */
static uint32_t shift_short[4][256];  /* multiply the register by x^(8*SHORT_BLOCK) */
static bool hw_available;
#endif
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

#if MB_CRC32C_HAVE_HW
/* a * b mod P, both in reflected representation (bit 31 is x^0). */
static uint32_t multmodp(uint32_t a, uint32_t b) {
        uint32_t p = 0;

        for (uint32_t m = UINT32_C(1) << 31; m != 0; m >>= 1) {
                if (a & m)
                        p ^= b;
                b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
        }
        return p;
}

/* Tables applying "append n zero bytes" to a raw (non-inverted) register. */
static void shift_table_init(uint32_t table[4][256], size_t nbytes) {
        uint32_t xpow = UINT32_C(1) << 31; /* x^0 */

        for (size_t i = 0; i < nbytes * 8; i++)
                xpow = (xpow & 1) ? (xpow >> 1) ^ POLY : xpow >> 1;

        for (unsigned k = 0; k < 4; k++)
                for (uint32_t b = 0; b < 256; b++)
                        table[k][b] = multmodp(xpow, b << (8 * k));
}

static inline uint32_t shift_apply(const uint32_t table[4][256], uint32_t crc) {
        return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^
               table[3][crc >> 24];
}
#endif

static void tables_init(void) {
        for (uint32_t n = 0; n < 256; n++) {
                uint32_t c = n;

                for (unsigned k = 0; k < 8; k++)
                        c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
                sw_table[0][n] = c;
        }
        for (uint32_t n = 0; n < 256; n++)
                for (unsigned k = 1; k < 8; k++)
                        sw_table[k][n] = (sw_table[k - 1][n] >> 8) ^ sw_table[0][sw_table[k - 1][n] & 0xff];

#if MB_CRC32C_HAVE_HW
        shift_table_init(shift_long, LONG_BLOCK);
        shift_table_init(shift_short, SHORT_BLOCK);
        __builtin_cpu_init();
        hw_available = __builtin_cpu_supports("sse4.2");
#endif
}

static void tables_ensure(void) {
        /* pthread_once() only fails on invalid arguments. */
        (void) pthread_once(&tables_once, tables_init);
}

static inline uint64_t load_le64(const uint8_t *p) {
        return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16 | (uint64_t) p[3] << 24 |
               (uint64_t) p[4] << 32 | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48 | (uint64_t) p[7] << 56;
}

static uint32_t crc32c_sw_raw(uint32_t crc, const uint8_t *p, size_t len) {
        while (len > 0 && ((uintptr_t) p & 7) != 0) {
                crc = (crc >> 8) ^ sw_table[0][(crc ^ *p++) & 0xff];
                len--;
        }
        while (len >= 8) {
                uint64_t w = load_le64(p) ^ crc;

                crc = sw_table[7][w & 0xff] ^ sw_table[6][(w >> 8) & 0xff] ^ sw_table[5][(w >> 16) & 0xff] ^
                      sw_table[4][(w >> 24) & 0xff] ^ sw_table[3][(w >> 32) & 0xff] ^
                      sw_table[2][(w >> 40) & 0xff] ^ sw_table[1][(w >> 48) & 0xff] ^ sw_table[0][w >> 56];
                p += 8;
                len -= 8;
        }
        while (len > 0) {
                crc = (crc >> 8) ^ sw_table[0][(crc ^ *p++) & 0xff];
                len--;
        }
        return crc;
}

#if MB_CRC32C_HAVE_HW
/* The crc32 instruction consumes little-endian words, as x86-64 loads them. */
__attribute__((target("sse4.2"))) static inline uint64_t load64(const uint8_t *p) {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw_raw(uint32_t crc, const uint8_t *p, size_t len) {
        uint64_t c0;

        while (len > 0 && ((uintptr_t) p & 7) != 0) {
                crc = _mm_crc32_u8(crc, *p++);
                len--;
        }
        c0 = crc;

        while (len >= 3 * LONG_BLOCK) {
                const uint8_t *end = p + LONG_BLOCK;
                uint64_t c1 = 0, c2 = 0;

                do {
                        c0 = _mm_crc32_u64(c0, load64(p));
                        c1 = _mm_crc32_u64(c1, load64(p + LONG_BLOCK));
                        c2 = _mm_crc32_u64(c2, load64(p + 2 * LONG_BLOCK));
                        p += 8;
                } while (p < end);
                c0 = shift_apply(shift_long, (uint32_t) c0) ^ c1;
                c0 = shift_apply(shift_long, (uint32_t) c0) ^ c2;
                p += 2 * LONG_BLOCK;
                len -= 3 * LONG_BLOCK;
        }

        while (len >= 3 * SHORT_BLOCK) {
                const uint8_t *end = p + SHORT_BLOCK;
                uint64_t c1 = 0, c2 = 0;

                do {
                        c0 = _mm_crc32_u64(c0, load64(p));
                        c1 = _mm_crc32_u64(c1, load64(p + SHORT_BLOCK));
                        c2 = _mm_crc32_u64(c2, load64(p + 2 * SHORT_BLOCK));
                        p += 8;
                } while (p < end);
                c0 = shift_apply(shift_short, (uint32_t) c0) ^ c1;
                c0 = shift_apply(shift_short, (uint32_t) c0) ^ c2;
                p += 2 * SHORT_BLOCK;
                len -= 3 * SHORT_BLOCK;
        }

        while (len >= 8) {
                c0 = _mm_crc32_u64(c0, load64(p));
                p += 8;
                len -= 8;
        }

        crc = (uint32_t) c0;
        while (len > 0) {
                crc = _mm_crc32_u8(crc, *p++);
                len--;
        }
        return crc;
}
#endif

uint32_t mb_crc32c_sw(uint32_t crc, const void *data, size_t len) {
        tables_ensure();
        return ~crc32c_sw_raw(~crc, data, len);
}

bool mb_crc32c_hw_available(void) {
        tables_ensure();
#if MB_CRC32C_HAVE_HW
        return hw_available;
#else
        return false;
#endif
}

uint32_t mb_crc32c_hw(uint32_t crc, const void *data, size_t len) {
#if MB_CRC32C_HAVE_HW
        tables_ensure();
        if (hw_available)
                return ~crc32c_hw_raw(~crc, data, len);
#endif
        /* Documented as a caller error; stay correct anyway. */
        return mb_crc32c_sw(crc, data, len);
}

uint32_t mb_crc32c(uint32_t crc, const void *data, size_t len) {
        tables_ensure();
#if MB_CRC32C_HAVE_HW
        if (hw_available)
                return ~crc32c_hw_raw(~crc, data, len);
#endif
        return ~crc32c_sw_raw(~crc, data, len);
}
