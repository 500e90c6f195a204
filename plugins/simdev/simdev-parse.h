/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdev-parse.h: parsers for the text the simulated device takes from users:
 * sizes ("64M"), HOST:PORT / [v6]:PORT addresses, PCI BDFs, plain integers.
 * Pure functions, libc only (plugins link them); they neither log nor resolve names.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SIMDEV_HOST_MAX 256u

/* "4096", "4K", "64M", "1G", "2T" (binary suffixes, optional "i"/"iB"/"B").
 * -EINVAL on syntax, -ERANGE on overflow. */
int simdev_parse_size(const char *s, uint64_t *ret);

/* Decimal (or 0x hex) unsigned 64-bit integer, nothing else. -EINVAL, -ERANGE. */
int simdev_parse_u64(const char *s, uint64_t *ret);

/* "HOST:PORT", "[V6ADDR]:PORT" or ":PORT" (empty host). Port 0..65535.
 * host receives the address without brackets. -EINVAL on syntax. */
int simdev_parse_hostport(const char *s, char host[SIMDEV_HOST_MAX], uint16_t *port);

/* "DDDD:BB:DD.F" or "BB:DD.F" (domain 0000), hex in any case; writes the
 * canonical lower-case "dddd:bb:dd.f" (13 bytes incl. NUL). -EINVAL otherwise. */
int simdev_parse_bdf(const char *s, char out[13]);
