/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crc32c.h: CRC-32C (Castagnoli, as in iSCSI and ext4), the checksum of the
 * migration stream. On x86-64 it folds with carry-less multiplication
 * (VPCLMULQDQ on 512-bit registers, or PCLMULQDQ on 128-bit ones) or uses the
 * SSE4.2 crc32 instruction, whichever is the best the CPU has; a
 * slicing-by-8 table otherwise. It is not a general hashing facility and
 * knows nothing about stream framing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reflected polynomial 0x1EDC6F41, init and final XOR 0xFFFFFFFF:
 * mb_crc32c(0, "123456789", 9) == MB_CRC32C_CHECK. */
#define MB_CRC32C_CHECK 0xE3069283u

/* Incremental, zlib crc32() convention: start with 0, pass the previous
 * result to continue: mb_crc32c(mb_crc32c(0, a, n), b, m) is the CRC of a‖b.
 * data may be NULL when len is 0. Thread-safe; picks the fastest
 * implementation on first use (mb_crc32c_impl_best()). */
uint32_t mb_crc32c(uint32_t crc, const void *data, size_t len);

/* The implementations behind mb_crc32c(), for tests and benchmarks. Each
 * computes the same function as mb_crc32c(). The folding ones also run
 * crc32-instruction chains alongside on long buffers, and hand buffers too
 * short for their blocks to the next one down the list (VPCLMUL512 below 256
 * bytes to PCLMUL, PCLMUL below 96 bytes to SSE42), so every length is valid
 * for each. */
typedef enum MbCrc32cImpl {
        MB_CRC32C_IMPL_SW,         /* "sw": slicing-by-8 tables, any CPU */
        MB_CRC32C_IMPL_SSE42,      /* "sse4.2": x86-64 crc32 instruction, three interleaved chains */
        MB_CRC32C_IMPL_PCLMUL,     /* "pclmul": x86-64 PCLMULQDQ + SSE4.2, 128-bit folding */
        MB_CRC32C_IMPL_VPCLMUL512, /* "vpclmul512": x86-64 VPCLMULQDQ + AVX-512F/VL, 512-bit folding */
        _MB_CRC32C_IMPL_MAX,
        _MB_CRC32C_IMPL_INVALID = -22,
} MbCrc32cImpl;

/* Whether this build and this CPU (CPUID, checked once) can run impl. SW is
 * always available; false for values out of range. */
bool mb_crc32c_impl_available(MbCrc32cImpl impl);
/* The implementation mb_crc32c() uses: the last available one of the list. */
MbCrc32cImpl mb_crc32c_impl_best(void);
/* The short name in the comments above; NULL for values out of range. */
const char *mb_crc32c_impl_to_string(MbCrc32cImpl impl);
/* mb_crc32c() computed by impl. impl must be available; otherwise (a caller
 * error) the result is still correct, computed by mb_crc32c(). */
uint32_t mb_crc32c_impl(MbCrc32cImpl impl, uint32_t crc, const void *data, size_t len);

/* Older names: the table path, and the crc32-instruction path.
 * mb_crc32c_hw() may only be called when mb_crc32c_hw_available(). */
uint32_t mb_crc32c_sw(uint32_t crc, const void *data, size_t len);
uint32_t mb_crc32c_hw(uint32_t crc, const void *data, size_t len);
bool mb_crc32c_hw_available(void);
