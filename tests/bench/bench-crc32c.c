/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Throughput of the CRC-32C implementations (common/crc32c.c): the SSE4.2
 * path, the slicing-by-8 table path, and mb_crc32c() as dispatched, over
 * buffers of several sizes. Not part of 'make check'; build by hand:
 *
 *   gcc -O2 -Icommon -include $BUILD/config.h tests/bench/bench-crc32c.c common/crc32c.c \
 *       -o bench-crc32c && ./bench-crc32c [MiB per measurement, default 1024]
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"

typedef uint32_t (*CrcFn)(uint32_t, const void *, size_t);

static double now(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                abort();
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* GB/s (10^9 bytes per second) over total bytes hashed in pieces of chunk. */
static double measure(CrcFn fn, const uint8_t *buf, size_t chunk, size_t total, uint32_t *sink) {
        double t0, t1;
        uint32_t crc = 0;
        size_t done = 0;

        t0 = now();
        while (done < total) {
                crc = fn(crc, buf, chunk);
                done += chunk;
        }
        t1 = now();
        *sink ^= crc;
        return (double) done / (t1 - t0) / 1e9;
}

int main(int argc, char **argv) {
        static const size_t sizes[] = { 16, 64, 4096, 65536, 1024 * 1024, 16 * 1024 * 1024 };
        size_t total = (size_t) (argc > 1 ? strtoul(argv[1], NULL, 10) : 1024) * 1024 * 1024;
        uint8_t *buf = malloc(sizes[sizeof(sizes) / sizeof(sizes[0]) - 1]);
        uint32_t sink = 0;

        if (!buf || total == 0) {
                fprintf(stderr, "usage: %s [MiB]\n", argv[0]);
                return 2;
        }
        for (size_t i = 0; i < sizes[sizeof(sizes) / sizeof(sizes[0]) - 1]; i++)
                buf[i] = (uint8_t) (i * 2654435761u >> 13);

        printf("hardware CRC32C: %s; %zu MiB per measurement\n", mb_crc32c_hw_available() ? "yes" : "no",
               total >> 20);
        printf("%10s %12s %12s %12s\n", "chunk", "hw GB/s", "table GB/s", "mb_crc32c");
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                /* small chunks: fewer bytes, the per-call cost dominates anyway */
                size_t t = sizes[i] < 4096 ? total / 8 : total;
                double hw = mb_crc32c_hw_available() ? measure(mb_crc32c_hw, buf, sizes[i], t, &sink) : 0;
                double sw = measure(mb_crc32c_sw, buf, sizes[i], t / 4, &sink);
                double dispatch = measure(mb_crc32c, buf, sizes[i], t, &sink);

                printf("%10zu %12.2f %12.2f %12.2f\n", sizes[i], hw, sw, dispatch);
        }
        printf("(checksum sink 0x%08x)\n", sink);
        free(buf);
        return 0;
}
