/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRC-32C. Four implementations computing the same function (crc32c.h lists
 * them); mb_crc32c() uses the best one the CPU has, found once with CPUID.
 *
 * - software: slicing-by-8 tables, byte order independent.
 *
 * - crc32 instruction (x86-64 with SSE4.2): it has a latency of 3 cycles but
 *   a throughput of 1 per cycle, so long buffers are cut into three adjacent
 *   blocks whose CRCs are computed interleaved and then combined. Combining
 *   uses the linearity of the CRC register: the register after A‖B equals
 *   (register after A) * x^(8|B|) mod P, XOR (register after B started from
 *   0). Multiplying by x^(8n) for a fixed n is a linear map on 32 bits,
 *   applied with four 256-entry tables (one per byte of the register). The
 *   same scheme as Mark Adler's crc32c.c, written from the math above.
 *
 * - folding with carry-less multiplication: PCLMULQDQ on 128-bit registers,
 *   or VPCLMULQDQ on 512-bit ones (four independent 128-bit lanes), each
 *   with crc32-instruction chains running alongside on long buffers. The
 *   math, from the definition:
 *
 *   Bit order. CRC-32C is bit-reflected: the first bit of the message is bit
 *   0 of its first byte and is the highest-degree coefficient. An n-bit value
 *   in this order has bit i as the coefficient of x^(n-1-i); the register is
 *   one with n = 32 (bit 31 is x^0). 16 message bytes loaded little-endian
 *   are such a 128-bit value (a "block"), whose low 64 bits (the first 8
 *   bytes) are the high-degree half. If r is the raw register (the CRC
 *   without its inversions) before a message M of m bits, the register after
 *   it is (r*x^m + M)*x^32 mod P: XORing r into the first 32 bits of M and
 *   starting from register 0 gives the same result. So only M mod P matters.
 *
 *   Folding. Cut M into blocks. Let X = Xh*x^64 + Xl be a block and Y the
 *   block D bits further on, e the number of bits after Y. Then
 *     X*x^(D+e) + Y*x^e == (Xh*(x^(D+64) mod P) + Xl*(x^D mod P) + Y)*x^e
 *   modulo P, and the sum in parentheses has fewer than 128 bits: replacing
 *   X and Y by it makes M 16 bytes shorter without changing M mod P. With A
 *   accumulator blocks side by side, each is folded into the block A*16
 *   bytes further on, i.e. into the next stretch of input, until less than
 *   A*16 bytes are left; then every accumulator is folded into the last one
 *   (each by its own distance, independently), and that one and the whole
 *   blocks left are folded likewise into the last of those blocks. What is
 *   left is one block B and t < 16 bytes T.
 *
 *   Carry-less multiplication of reflected values. pclmulqdq multiplies two
 *   64-bit values as polynomials with bit i as x^i. Given reflected a (bit i
 *   is x^(63-i)) and b, bit k of the product collects a_i*b_j for i+j = k:
 *   the coefficient of x^(126-k) in a*b. Read as a block (bit k is
 *   x^(127-k)) the product is a*b*x. A reflected 32-bit constant c (bit j is
 *   x^(31-j), the register's representation) in the low half of a 64-bit
 *   lane reads as c*x^32. So clmul(Xh, c) is Xh*c*x^33 as a block, and the
 *   constants are
 *     for Xh (the low qword):  x^(D+64-33) = x^(D+31) mod P,
 *     for Xl (the high qword): x^(D-33) mod P,
 *   each in the low 32 bits of its qword. The products have at most 95 bits
 *   (bits 0..94 of the block), so nothing is lost. All constants are
 *   computed at initialisation from x^n mod P (xnmodp(), square-and-multiply
 *   on multmodp()) for every distance used, not written down as literals.
 *
 *   Final reduction. B*x^(8t) + T == M (mod P), and the crc32 instruction
 *   computes exactly the register update of the definition: feeding B's 16
 *   bytes to it starting from register 0, then T, gives the register after
 *   M. No Barrett reduction needed; it costs two dependent crc32 (6 cycles).
 *
 *   Hybrid. The carry-less multiplier and the crc32 unit are separate: on
 *   the Zen 5 this was written on, either pclmulqdq or a 512-bit vpclmulqdq
 *   issues every 2 cycles, latency 5, while two crc32 (latency 3) issue
 *   every cycle; the 3-chain path above uses half of that. Long buffers are
 *   therefore cut into superblocks: a few ranges S_i, one per crc32 chain
 *   started from register 0, then a range V for the accumulators, all
 *   advanced in the same loop. The accumulators' first fold in a superblock
 *   jumps over the S ranges (D is the stride plus their length). A chain's
 *   register c after its range S is S*x^32 mod P, and S is wanted in the
 *   block ending d bytes after S's end as S*x^(8d) == c*x^(8d-32). With c
 *   and k = x^(8d-97) mod P each in the low 32 bits of a qword (c*x^32 and
 *   k*x^32), their carry-less product as a block is c*k*x^65 = c*x^(8d-32):
 *   at most 63 bits, XORed into the first accumulator block at the end of the
 *   superblock. (d = 16 gives k = x^31 and c in the first 4 bytes of the next
 *   block, as the initial crc goes into a message.)
 *
 * Buffers too short for a folding path's blocks go to the next one down
 * (VPCLMUL512 -> PCLMUL -> crc32 instruction), see the *_MIN thresholds.
 *
 * Tables and constants are computed once, on first use, under pthread_once(),
 * which also reads CPUID (__builtin_cpu_supports). The x86 paths are
 * compiled with __attribute__((target)) and only called when CPUID reports
 * their features, so the rest of the build stays baseline x86-64. (Under
 * valgrind, whose CPUID reports neither AVX-512 nor VPCLMULQDQ, the 512-bit
 * path is simply not chosen.)
 */

#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#  define MB_CRC32C_HAVE_HW 1
#  include <immintrin.h>
#  define TARGET_SSE42 __attribute__((target("sse4.2")))
#  define TARGET_PCLMUL __attribute__((target("pclmul,sse4.2")))
#  define TARGET_VPCLMUL512 __attribute__((target("vpclmulqdq,avx512f,avx512vl,pclmul,sse4.2")))
/* Loops over the accumulators must be unrolled for them to live in registers. */
#  define UNROLL _Pragma("GCC unroll 16")
#else
#  define MB_CRC32C_HAVE_HW 0
#endif

/* CRC-32C polynomial 0x1EDC6F41, bit-reflected. */
#define POLY 0x82F63B78u

/* Interleaved block sizes of the crc32-instruction path: three blocks of
 * LONG bytes while they fit, then three of SHORT. */
#define LONG_BLOCK 8192u
#define SHORT_BLOCK 256u

/* Folding paths: accumulators (128-bit ones for PCLMUL, 512-bit for
 * VPCLMUL512), the bytes one iteration folds, and the shortest buffer each
 * path takes (shorter ones go to the path below). */
#define PCLMUL_ACCS 8u
#define PCLMUL_STRIDE (16u * PCLMUL_ACCS)
#define PCLMUL_MIN 96u
#define VPCLMUL_ACCS 4u
#define VPCLMUL_STRIDE (64u * VPCLMUL_ACCS)
#define VPCLMUL_MIN VPCLMUL_STRIDE

/* Hybrid superblocks of the folding paths (comment above crc32c_pclmul_raw()):
 * _STREAMS ranges of _SBYTES bytes, one per crc32-instruction chain, then
 * _VBYTES for the accumulators. Each of the _ITERS iterations folds one
 * stride and advances every chain by _WORDS 8-byte words. The share of each
 * unit: per iteration, PCLMUL folds 128 bytes with 16 pclmulqdq and the 4
 * chains take 160 bytes; VPCLMUL512 folds 256 bytes with 8 vpclmulqdq and
 * the 6 chains take 240 (CPUs with VPCLMULQDQ retire two crc32 a cycle). */
#define HYB128_STREAMS 4u
#define HYB128_WORDS 5u
#define HYB128_ITERS 2u
#define HYB512_STREAMS 6u
#define HYB512_WORDS 5u
#define HYB512_ITERS 4u
#define HYB_SBYTES(h) (h##_ITERS * h##_WORDS * 8u)
#define HYB_VBYTES(h, stride) (h##_ITERS * (stride))
#define HYB_BYTES(h, stride) (h##_STREAMS * HYB_SBYTES(h) + HYB_VBYTES(h, stride))
#define HYB128_BYTES HYB_BYTES(HYB128, PCLMUL_STRIDE)
#define HYB512_BYTES HYB_BYTES(HYB512, VPCLMUL_STRIDE)
/* Cache lines prefetched per iteration (what it consumes), HYB_PF_AHEAD
 * bytes ahead: the interleaved ranges are too short for the hardware
 * prefetchers, which left alone halve the speed out of cache. */
#define HYB_PF_LINES(h, stride) (((stride) + h##_STREAMS * h##_WORDS * 8u + 63u) / 64u)
#define HYB_PF_AHEAD 8192u

/* fold_k[n]: the two constants folding a block forward by n blocks (16*n
 * bytes, D = 128*n bits), { x^(D+31) mod P, x^(D-33) mod P } as the comment
 * at the top explains; n = 1..FOLD_K_MAX. */
#define FOLD_K_MAX 32u

#if MB_CRC32C_HAVE_HW
_Static_assert(PCLMUL_MIN >= 16 && PCLMUL_STRIDE / 16 <= FOLD_K_MAX && VPCLMUL_STRIDE / 16 <= FOLD_K_MAX,
               "fold_k[] covers every distance folded by its index");
_Static_assert(HYB128_STREAMS % 2 == 0 && HYB512_STREAMS % 2 == 0, "inject128() takes chains in pairs");
_Static_assert(VPCLMUL_MIN >= VPCLMUL_STRIDE && HYB128_BYTES >= PCLMUL_STRIDE, "a path's first stride fits");
#endif

static const char *const impl_table[_MB_CRC32C_IMPL_MAX] = {
        [MB_CRC32C_IMPL_SW] = "sw",
        [MB_CRC32C_IMPL_SSE42] = "sse4.2",
        [MB_CRC32C_IMPL_PCLMUL] = "pclmul",
        [MB_CRC32C_IMPL_VPCLMUL512] = "vpclmul512",
};

static uint32_t sw_table[8][256];
static bool impl_ok[_MB_CRC32C_IMPL_MAX];
static MbCrc32cImpl impl_best = MB_CRC32C_IMPL_SW;
#if MB_CRC32C_HAVE_HW
static uint32_t shift_long[4][256];   /* multiply the register by x^(8*LONG_BLOCK) */
static uint32_t shift_short[4][256];  /* multiply the register by x^(8*SHORT_BLOCK) */
static uint64_t fold_k[FOLD_K_MAX + 1][2] __attribute__((aligned(16)));
/* The 512-bit accumulator's four lanes folded onto its last: by 3, 2, 1 and 0 blocks. */
static uint64_t fold_k_lanes[8] __attribute__((aligned(64)));
/* Hybrid superblocks: folding across the chains' ranges, and the chains'
 * registers into the first accumulator block (pairs of chains). */
static uint64_t hyb128_k_jump[2] __attribute__((aligned(16)));
static uint64_t hyb128_k_inj[HYB128_STREAMS / 2][2] __attribute__((aligned(16)));
static uint64_t hyb512_k_jump[2] __attribute__((aligned(16)));
static uint64_t hyb512_k_inj[HYB512_STREAMS / 2][2] __attribute__((aligned(16)));
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

/* x^n mod P, reflected. */
static uint32_t xnmodp(uint64_t n) {
        uint32_t r = UINT32_C(1) << 31;     /* x^0 */
        uint32_t sq = UINT32_C(1) << 30;    /* x^1, then x^2, x^4, ... */

        for (; n != 0; n >>= 1) {
                if (n & 1)
                        r = multmodp(r, sq);
                sq = multmodp(sq, sq);
        }
        return r;
}

/* Tables applying "append n zero bytes" to a raw (non-inverted) register. */
static void shift_table_init(uint32_t table[4][256], size_t nbytes) {
        uint32_t xpow = xnmodp((uint64_t) nbytes * 8);

        for (unsigned k = 0; k < 4; k++)
                for (uint32_t b = 0; b < 256; b++)
                        table[k][b] = multmodp(xpow, b << (8 * k));
}

static inline uint32_t shift_apply(const uint32_t table[4][256], uint32_t crc) {
        return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^
               table[3][crc >> 24];
}

/* Constants folding a block forward by nbytes (top comment). */
static void fold_const(uint64_t k[2], uint64_t nbytes) {
        k[0] = xnmodp(8 * nbytes + 31); /* multiplies the low qword, the high-degree half */
        k[1] = xnmodp(8 * nbytes - 33); /* multiplies the high qword */
}

/* Constants of a hybrid superblock: folding the last stride of one vector
 * range onto the first of the next, over the chains' ranges; and the
 * registers of chain i, whose data ends (streams - 1 - i) ranges plus the
 * vector range minus one stride before the end of the first 16 bytes of the
 * last stride, into those 16 bytes (top comment, "Hybrid"). */
static void hyb_init(uint64_t k_jump[2], uint64_t k_inj[][2], unsigned streams, uint64_t sbytes, uint64_t vbytes,
                     uint64_t stride) {
        fold_const(k_jump, stride + streams * sbytes);
        for (unsigned i = 0; i < streams; i++)
                k_inj[i / 2][i % 2] = xnmodp(8 * ((streams - 1 - i) * sbytes + vbytes - stride + 16) - 97);
}

static void fold_init(void) {
        for (unsigned n = 1; n <= FOLD_K_MAX; n++)
                fold_const(fold_k[n], 16 * n);
        for (unsigned lane = 0; lane < 3; lane++) {
                fold_k_lanes[2 * lane] = fold_k[3 - lane][0];
                fold_k_lanes[2 * lane + 1] = fold_k[3 - lane][1];
        }
        fold_k_lanes[6] = fold_k_lanes[7] = 0; /* lane 3 is not multiplied: see crc32c_vpclmul512_raw() */
        hyb_init(hyb128_k_jump, hyb128_k_inj, HYB128_STREAMS, HYB_SBYTES(HYB128), HYB_VBYTES(HYB128, PCLMUL_STRIDE),
                 PCLMUL_STRIDE);
        hyb_init(hyb512_k_jump, hyb512_k_inj, HYB512_STREAMS, HYB_SBYTES(HYB512), HYB_VBYTES(HYB512, VPCLMUL_STRIDE),
                 VPCLMUL_STRIDE);
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
        impl_ok[MB_CRC32C_IMPL_SW] = true;

#if MB_CRC32C_HAVE_HW
        shift_table_init(shift_long, LONG_BLOCK);
        shift_table_init(shift_short, SHORT_BLOCK);
        fold_init();
        __builtin_cpu_init();
        impl_ok[MB_CRC32C_IMPL_SSE42] = __builtin_cpu_supports("sse4.2");
        impl_ok[MB_CRC32C_IMPL_PCLMUL] = impl_ok[MB_CRC32C_IMPL_SSE42] && __builtin_cpu_supports("pclmul");
        /* libgcc reports avx512* (and vpclmulqdq) only when the OS also
         * saves the registers (XGETBV); valgrind's CPUID has none of them. */
        impl_ok[MB_CRC32C_IMPL_VPCLMUL512] = impl_ok[MB_CRC32C_IMPL_PCLMUL] &&
                                             __builtin_cpu_supports("vpclmulqdq") &&
                                             __builtin_cpu_supports("avx512f") &&
                                             __builtin_cpu_supports("avx512vl");
#endif
        for (int i = 0; i < _MB_CRC32C_IMPL_MAX; i++)
                if (impl_ok[i])
                        impl_best = (MbCrc32cImpl) i;
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
TARGET_SSE42 static inline uint64_t load64(const uint8_t *p) {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

TARGET_SSE42 static inline uint32_t load32(const uint8_t *p) {
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

TARGET_SSE42 static inline uint16_t load16(const uint8_t *p) {
        uint16_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

/* Fewer than 16 bytes: at most four dependent crc32. */
TARGET_SSE42 static inline uint32_t crc32c_hw_short(uint32_t crc, const uint8_t *p, size_t len) {
        if (len & 8) {
                crc = (uint32_t) _mm_crc32_u64(crc, load64(p));
                p += 8;
        }
        if (len & 4) {
                crc = _mm_crc32_u32(crc, load32(p));
                p += 4;
        }
        if (len & 2) {
                crc = _mm_crc32_u16(crc, load16(p));
                p += 2;
        }
        if (len & 1)
                crc = _mm_crc32_u8(crc, *p);
        return crc;
}

TARGET_SSE42 static uint32_t crc32c_hw_raw(uint32_t crc, const uint8_t *p, size_t len) {
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
        return crc32c_hw_short((uint32_t) c0, p, len);
}

/* n chains advanced by words 8-byte words: chain i reads at s + i * sbytes. */
TARGET_SSE42 static inline void chains_step(uint64_t *c, const uint8_t *s, unsigned n, size_t sbytes, unsigned words) {
        UNROLL
        for (unsigned w = 0; w < words; w++) {
                UNROLL
                for (unsigned i = 0; i < n; i++)
                        c[i] = _mm_crc32_u64(c[i], load64(s + i * sbytes + 8 * w));
        }
}

/* Prefetch lines cache lines from p on; p may be past the buffer's end
 * (prefetching does not fault), hence the integer arithmetic. */
TARGET_SSE42 static inline void prefetch_lines(const uint8_t *p, size_t off, unsigned lines) {
        UNROLL
        for (unsigned l = 0; l < lines; l++)
                _mm_prefetch((const char *) ((uintptr_t) p + off + 64 * l), _MM_HINT_T0);
}

TARGET_PCLMUL static inline __m128i load_k128(const uint64_t k[2]) {
        return _mm_load_si128((const __m128i *) k);
}

/* The two products of folding block x forward by the distance of k, XORed. */
TARGET_PCLMUL static inline __m128i fold128_mul(__m128i x, __m128i k) {
        return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* The end, from one block x followed by len < 16 * (FOLD_K_MAX + 1) bytes
 * at p: the whole blocks among them folded in all at once (x by as many
 * blocks as follow it, each of them by as many as follow it), then the
 * reduction of the top comment, then the last bytes. */
TARGET_PCLMUL static inline uint32_t fold128_finish(__m128i x, const uint8_t *p, size_t len) {
        size_t n = len / 16;
        uint64_t c;

        if (n > 0) {
                x = fold128_mul(x, load_k128(fold_k[n]));
                for (size_t i = 1; i < n; i++)
                        x = _mm_xor_si128(x, fold128_mul(_mm_loadu_si128((const __m128i *) (p + 16 * (i - 1))),
                                                         load_k128(fold_k[n - i])));
                x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *) (p + 16 * (n - 1))));
                p += 16 * n;
                len -= 16 * n;
        }
        c = _mm_crc32_u64(0, (uint64_t) _mm_cvtsi128_si64(x));
        c = _mm_crc32_u64(c, (uint64_t) _mm_extract_epi64(x, 1));
        return crc32c_hw_short((uint32_t) c, p, len);
}

/* The registers c[0..n) (n even) of crc32-instruction chains as a block to
 * XOR into another, with k[i / 2][i % 2] = x^(8d - 97) mod P when chain i's
 * data ends d bytes before that block's end (top comment, "Hybrid"): the
 * products land in the low qword, the high one stays 0. */
TARGET_PCLMUL static inline __m128i inject128(const uint64_t *c, const uint64_t (*k)[2], unsigned n) {
        __m128i r = _mm_setzero_si128();

        UNROLL
        for (unsigned i = 0; i < n; i += 2)
                r = _mm_xor_si128(r, fold128_mul(_mm_set_epi64x((long long) c[i + 1], (long long) c[i]),
                                                 load_k128(k[i / 2])));
        return r;
}

/* Folding, on 128-bit registers. Buffers of at least one hybrid superblock
 * start with superblocks: HYB128_STREAMS ranges S_i, then a vector range V.
 * Each iteration folds the next stride of V into the accumulators and
 * advances the crc32-instruction chain of every S_i, so that the crc32 and
 * carry-less multiply units work side by side. The chains start from
 * register 0 (S_1 of the first superblock from the initial crc); the first
 * fold of a superblock jumps over its S ranges (from the previous V; the
 * accumulators start as 0 and fold(0) = 0); the superblock ends with the
 * chains' registers injected into the first accumulator. What follows is
 * the plain loop, then the accumulators folded onto the last, then
 * fold128_finish(). */
TARGET_PCLMUL static uint32_t crc32c_pclmul_raw(uint32_t crc, const uint8_t *p, size_t len) {
        const __m128i k = load_k128(fold_k[PCLMUL_ACCS]);
        __m128i a[PCLMUL_ACCS], x;

        if (len < PCLMUL_MIN)
                return crc32c_hw_raw(crc, p, len);
        if (len < PCLMUL_STRIDE)
                return fold128_finish(_mm_xor_si128(_mm_loadu_si128((const __m128i *) p), _mm_cvtsi32_si128((int) crc)),
                                      p + 16, len - 16);

        if (len >= HYB128_BYTES) {
                const __m128i kjump = load_k128(hyb128_k_jump);
                uint64_t c0 = crc;

                UNROLL
                for (unsigned i = 0; i < PCLMUL_ACCS; i++)
                        a[i] = _mm_setzero_si128();
                do {
                        const uint8_t *s = p, *v = p + HYB128_STREAMS * HYB_SBYTES(HYB128);
                        uint64_t c[HYB128_STREAMS] = { c0 };
                        __m128i kv = kjump;

                        for (unsigned it = 0; it < HYB128_ITERS; it++) {
                                UNROLL
                                for (unsigned i = 0; i < PCLMUL_ACCS; i++)
                                        a[i] = _mm_xor_si128(fold128_mul(a[i], kv),
                                                             _mm_loadu_si128((const __m128i *) (v + 16 * i)));
                                kv = k;
                                chains_step(c, s, HYB128_STREAMS, HYB_SBYTES(HYB128), HYB128_WORDS);
                                prefetch_lines(p, HYB_PF_AHEAD + it * 64 * HYB_PF_LINES(HYB128, PCLMUL_STRIDE),
                                               HYB_PF_LINES(HYB128, PCLMUL_STRIDE));
                                v += PCLMUL_STRIDE;
                                s += 8 * HYB128_WORDS;
                        }
                        a[0] = _mm_xor_si128(a[0], inject128(c, hyb128_k_inj, HYB128_STREAMS));
                        c0 = 0;
                        p += HYB128_BYTES;
                        len -= HYB128_BYTES;
                } while (len >= HYB128_BYTES);
        } else {
                UNROLL
                for (unsigned i = 0; i < PCLMUL_ACCS; i++)
                        a[i] = _mm_loadu_si128((const __m128i *) (p + 16 * i));
                a[0] = _mm_xor_si128(a[0], _mm_cvtsi32_si128((int) crc));
                p += PCLMUL_STRIDE;
                len -= PCLMUL_STRIDE;
        }

        while (len >= PCLMUL_STRIDE) {
                UNROLL
                for (unsigned i = 0; i < PCLMUL_ACCS; i++)
                        a[i] = _mm_xor_si128(fold128_mul(a[i], k), _mm_loadu_si128((const __m128i *) (p + 16 * i)));
                p += PCLMUL_STRIDE;
                len -= PCLMUL_STRIDE;
        }

        /* Each accumulator onto the last, all at once. */
        x = a[PCLMUL_ACCS - 1];
        UNROLL
        for (unsigned i = 0; i < PCLMUL_ACCS - 1; i++)
                x = _mm_xor_si128(x, fold128_mul(a[i], load_k128(fold_k[PCLMUL_ACCS - 1 - i])));
        return fold128_finish(x, p, len);
}

TARGET_VPCLMUL512 static inline __m512i load_k512(const uint64_t k[2]) {
        return _mm512_broadcast_i32x4(load_k128(k));
}

/* x folded forward by the distance of k, XOR d, in every lane. */
TARGET_VPCLMUL512 static inline __m512i fold512(__m512i x, __m512i k, __m512i d) {
        return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11),
                                         d, 0x96);
}

/* As crc32c_pclmul_raw(), with 512-bit registers (four blocks each). */
TARGET_VPCLMUL512 static uint32_t crc32c_vpclmul512_raw(uint32_t crc, const uint8_t *p, size_t len) {
        __m512i k, a[VPCLMUL_ACCS], x;
        __m256i y;

        if (len < VPCLMUL_MIN)
                return crc32c_pclmul_raw(crc, p, len);

        k = load_k512(fold_k[4 * VPCLMUL_ACCS]);
        if (len >= HYB512_BYTES) {
                const __m512i kjump = load_k512(hyb512_k_jump);
                uint64_t c0 = crc;

                UNROLL
                for (unsigned i = 0; i < VPCLMUL_ACCS; i++)
                        a[i] = _mm512_setzero_si512();
                do {
                        const uint8_t *s = p, *v = p + HYB512_STREAMS * HYB_SBYTES(HYB512);
                        uint64_t c[HYB512_STREAMS] = { c0 };
                        __m512i kv = kjump;

                        for (unsigned it = 0; it < HYB512_ITERS; it++) {
                                UNROLL
                                for (unsigned i = 0; i < VPCLMUL_ACCS; i++)
                                        a[i] = fold512(a[i], kv, _mm512_loadu_si512((const void *) (v + 64 * i)));
                                kv = k;
                                chains_step(c, s, HYB512_STREAMS, HYB_SBYTES(HYB512), HYB512_WORDS);
                                prefetch_lines(p,
                                               HYB_PF_AHEAD + it * 64 * HYB_PF_LINES(HYB512, VPCLMUL_STRIDE),
                                               HYB_PF_LINES(HYB512, VPCLMUL_STRIDE));
                                v += VPCLMUL_STRIDE;
                                s += 8 * HYB512_WORDS;
                        }
                        a[0] = _mm512_xor_si512(a[0],
                                                _mm512_zextsi128_si512(inject128(c, hyb512_k_inj, HYB512_STREAMS)));
                        c0 = 0;
                        p += HYB512_BYTES;
                        len -= HYB512_BYTES;
                } while (len >= HYB512_BYTES);
        } else {
                UNROLL
                for (unsigned i = 0; i < VPCLMUL_ACCS; i++)
                        a[i] = _mm512_loadu_si512((const void *) (p + 64 * i));
                a[0] = _mm512_xor_si512(a[0], _mm512_zextsi128_si512(_mm_cvtsi32_si128((int) crc)));
                p += VPCLMUL_STRIDE;
                len -= VPCLMUL_STRIDE;
        }

        while (len >= VPCLMUL_STRIDE) {
                UNROLL
                for (unsigned i = 0; i < VPCLMUL_ACCS; i++)
                        a[i] = fold512(a[i], k, _mm512_loadu_si512((const void *) (p + 64 * i)));
                p += VPCLMUL_STRIDE;
                len -= VPCLMUL_STRIDE;
        }

        /* Each accumulator onto the last (lane by lane), then whole 64-byte blocks. */
        x = a[VPCLMUL_ACCS - 1];
        UNROLL
        for (unsigned i = 0; i < VPCLMUL_ACCS - 1; i++)
                x = fold512(a[i], load_k512(fold_k[4 * (VPCLMUL_ACCS - 1 - i)]), x);
        k = load_k512(fold_k[4]);
        while (len >= 64) {
                x = fold512(x, k, _mm512_loadu_si512((const void *) p));
                p += 64;
                len -= 64;
        }

        /* Lanes 0, 1, 2 onto lane 3 (which fold_k_lanes leaves out, masked in
         * as it is), then the four lanes XORed into one block. */
        x = fold512(x, _mm512_load_si512((const void *) fold_k_lanes), _mm512_maskz_mov_epi64(0xc0, x));
        y = _mm256_xor_si256(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));
        return fold128_finish(_mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1)), p, len);
}
#endif

static uint32_t crc32c_raw(MbCrc32cImpl impl, uint32_t crc, const uint8_t *p, size_t len) {
        switch (impl) {
#if MB_CRC32C_HAVE_HW
        case MB_CRC32C_IMPL_VPCLMUL512:
                return crc32c_vpclmul512_raw(crc, p, len);
        case MB_CRC32C_IMPL_PCLMUL:
                return crc32c_pclmul_raw(crc, p, len);
        case MB_CRC32C_IMPL_SSE42:
                return crc32c_hw_raw(crc, p, len);
#endif
        default:
                return crc32c_sw_raw(crc, p, len);
        }
}

uint32_t mb_crc32c(uint32_t crc, const void *data, size_t len) {
        tables_ensure();
        return ~crc32c_raw(impl_best, ~crc, data, len);
}

bool mb_crc32c_impl_available(MbCrc32cImpl impl) {
        if (impl < 0 || impl >= _MB_CRC32C_IMPL_MAX)
                return false;
        tables_ensure();
        return impl_ok[impl];
}

MbCrc32cImpl mb_crc32c_impl_best(void) {
        tables_ensure();
        return impl_best;
}

const char *mb_crc32c_impl_to_string(MbCrc32cImpl impl) {
        if (impl < 0 || impl >= _MB_CRC32C_IMPL_MAX)
                return NULL;
        return impl_table[impl];
}

uint32_t mb_crc32c_impl(MbCrc32cImpl impl, uint32_t crc, const void *data, size_t len) {
        if (!mb_crc32c_impl_available(impl))
                impl = impl_best; /* documented as a caller error; stay correct anyway */
        return ~crc32c_raw(impl, ~crc, data, len);
}

uint32_t mb_crc32c_sw(uint32_t crc, const void *data, size_t len) {
        return mb_crc32c_impl(MB_CRC32C_IMPL_SW, crc, data, len);
}

bool mb_crc32c_hw_available(void) {
        return mb_crc32c_impl_available(MB_CRC32C_IMPL_SSE42);
}

uint32_t mb_crc32c_hw(uint32_t crc, const void *data, size_t len) {
        /* Unavailable: documented as a caller error; stay correct anyway. */
        return mb_crc32c_impl(MB_CRC32C_IMPL_SSE42, crc, data, len);
}
