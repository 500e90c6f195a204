/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-bus.h: a benchmark's own connection to the private bus under test
 * (bench-broker, bench-fleet). Exits with a message naming the program when
 * it cannot connect: a benchmark has nothing to measure then.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

static inline sd_bus *mb_bench_bus_connect(const char *prog, const char *address) {
        sd_bus *b = NULL;
        int r = sd_bus_new(&b);

        if (r >= 0)
                r = sd_bus_set_address(b, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(b, 1);
        if (r >= 0)
                r = sd_bus_negotiate_fds(b, 1);
        if (r >= 0)
                r = sd_bus_start(b);
        if (r < 0) {
                fprintf(stderr, "%s: connect: %s\n", prog, strerror(-r));
                exit(1);
        }
        return b;
}
