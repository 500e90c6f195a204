/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crc32c.h: CRC-32C (Castagnoli, as in iSCSI and ext4), the checksum of the
 * migration stream: SSE4.2 when the CPU has it, a slicing-by-8 table otherwise.
 * It is not a general hashing facility and knows nothing about stream framing.
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
 * implementation on first use. */
uint32_t mb_crc32c(uint32_t crc, const void *data, size_t len);

/* The two implementations behind mb_crc32c(), for tests and benchmarks.
 * mb_crc32c_hw() may only be called when mb_crc32c_hw_available(). */
uint32_t mb_crc32c_sw(uint32_t crc, const void *data, size_t len);
uint32_t mb_crc32c_hw(uint32_t crc, const void *data, size_t len);
bool mb_crc32c_hw_available(void);
