/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shim-map.h: what the shim translates between QEMU and the broker: the v1
 * device_state bits of set_state()/get_state() and the broker's state names,
 * D-Bus errors and the negative errno an op returns, the raw round header.
 * Pure logic; no bus traffic.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

/* The D-Bus state name SetState takes for a v1 value QEMU may set:
 * 0 stop, 1 running, 2 stop-copy, 3 pre-copy, 4 resuming; NULL for any other
 * value (the caller returns -EINVAL). */
const char *shim_v1_to_state(uint32_t v1);

/* The v1 bits get_state() returns for a D-Bus State value: error -> 6
 * (SAVING|RESUMING, v1's error value). -EINVAL for an unknown name. */
int shim_state_to_v1(const char *state, uint32_t *ret);

/* The negative errno an op returns for a D-Bus error: the broker's errors as
 * QEMU would read them (Timeout -ETIMEDOUT, PluginCrashed and PluginFailed
 * -EIO, AccessDenied -EACCES, NotOpen -ENODEV, ...), others by sd-bus's
 * mapping, -EIO when nothing maps. e must be set. */
int shim_errno_from_bus_error(const sd_bus_error *e);

/* A short name for a D-Bus error for messages: "Timeout" for
 * org.migbroker1.Error.Timeout, the full name otherwise. */
const char *shim_error_short_name(const sd_bus_error *e);

/* The 8-byte big-endian length of a raw round (docs/stream-format.md §7). */
#define SHIM_RAW_HDR_LEN 8
void shim_raw_hdr_encode(uint8_t out[static SHIM_RAW_HDR_LEN], uint64_t n);
uint64_t shim_raw_hdr_decode(const uint8_t in[static SHIM_RAW_HDR_LEN]);
