/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Throughput of the CRC-32C implementations (common/crc32c.c): one row per
 * implementation the CPU has, plus mb_crc32c() as dispatched, one column per
 * buffer size in GB/s (10^9 bytes per second) and, after it, the ratio to
 * the crc32-instruction path ("sse4.2") of the same run. The sizes up to
 * 1 MiB are hashed over and over in place (in cache); 64 MiB is larger than
 * the last-level caches here (out of cache). Each figure is the best of
 * several repetitions, the others being noise from the rest of the machine.
 * Not part of 'make check'; 'make bench' builds it but does not run it:
 *
 *   make tests/bench/bench-crc32c && tests/bench/bench-crc32c [MiB per measurement [offset]]
 *
 * MiB per measurement defaults to 256; offset (default 0) is the start of the
 * buffer from a 64-byte boundary.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"

#define REPEATS 5

static const size_t sizes[] = { 64, 256, 4096, 64 * 1024, 1024 * 1024, 64 * 1024 * 1024 };
static const char *const size_names[] = { "64 B", "256 B", "4 KiB", "64 KiB", "1 MiB", "64 MiB" };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static double now(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                abort();
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* GB/s of impl (or mb_crc32c() when impl < 0) over total bytes hashed in
 * pieces of chunk, each piece continuing the previous CRC; best of REPEATS. */
static double measure(int impl, const uint8_t *buf, size_t chunk, size_t total, uint32_t *sink) {
        double best = 0;

        if (total < chunk)
                total = chunk;
        for (unsigned r = 0; r < REPEATS; r++) {
                uint32_t crc = 0;
                size_t done = 0;
                double t0, t1;

                t0 = now();
                while (done < total) {
                        crc = impl < 0 ? mb_crc32c(crc, buf, chunk)
                                       : mb_crc32c_impl((MbCrc32cImpl) impl, crc, buf, chunk);
                        done += chunk;
                }
                t1 = now();
                *sink ^= crc;
                if ((double) done / (t1 - t0) / 1e9 > best)
                        best = (double) done / (t1 - t0) / 1e9;
        }
        return best;
}

int main(int argc, char **argv) {
        size_t total = (size_t) (argc > 1 ? strtoul(argv[1], NULL, 10) : 256) * 1024 * 1024;
        size_t offset = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
        size_t bufsize = sizes[NSIZES - 1] + offset;
        double base[NSIZES];
        uint8_t *mem = NULL, *buf;
        uint32_t sink = 0;

        if (total == 0 || offset >= 4096 || posix_memalign((void **) &mem, 64, bufsize) != 0) {
                fprintf(stderr, "usage: %s [MiB per measurement [offset < 4096]]\n", argv[0]);
                return 2;
        }
        buf = mem + offset;
        for (size_t i = 0; i < sizes[NSIZES - 1]; i++)
                buf[i] = (uint8_t) (i * 2654435761u >> 13);

        printf("CRC-32C, GB/s (x ratio to sse4.2), best of %d; %zu MiB per measurement, buffer at 64n+%zu;"
               " mb_crc32c() uses %s\n",
               REPEATS, total >> 20, offset, mb_crc32c_impl_to_string(mb_crc32c_impl_best()));
        printf("%-11s", "impl");
        for (size_t s = 0; s < NSIZES; s++)
                printf(" %15s", size_names[s]);
        printf("\n");

        for (size_t s = 0; s < NSIZES; s++)
                base[s] = mb_crc32c_hw_available() ? measure(MB_CRC32C_IMPL_SSE42, buf, sizes[s], total, &sink) : 0;

        for (int impl = 0; impl <= _MB_CRC32C_IMPL_MAX; impl++) {
                /* impl == _MB_CRC32C_IMPL_MAX: the last row, mb_crc32c() itself */
                bool dispatched = impl == _MB_CRC32C_IMPL_MAX;

                if (!dispatched && !mb_crc32c_impl_available((MbCrc32cImpl) impl))
                        continue;
                printf("%-11s", dispatched ? "mb_crc32c" : mb_crc32c_impl_to_string((MbCrc32cImpl) impl));
                for (size_t s = 0; s < NSIZES; s++) {
                        /* The table path is slow: a quarter of the bytes. */
                        size_t t = impl == MB_CRC32C_IMPL_SW ? total / 4 : total;
                        double gbs = impl == MB_CRC32C_IMPL_SSE42
                                             ? base[s]
                                             : measure(dispatched ? -1 : impl, buf, sizes[s], t, &sink);

                        if (base[s] > 0)
                                printf(" %7.2f (x%4.2f)", gbs, gbs / base[s]);
                        else
                                printf(" %7.2f (  -  )", gbs);
                }
                printf("\n");
                fflush(stdout);
        }
        printf("(checksum sink 0x%08x)\n", sink);
        free(mem);
        return 0;
}
