/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uuid.h: the textual domain UUID as libvirt and QEMU write it
 * (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx): checking and normalising one.
 * Not generating UUIDs.
 */
#pragma once

#define MB_UUID_STRLEN 36

#include <stddef.h>

/* The n bytes at s are 8-4-4-4-12 hexadecimal digits, any case, nothing
 * else: 0 with the lower case form in out, or -EINVAL. */
int mb_uuid_normalize(const char *s, size_t n, char out[static MB_UUID_STRLEN + 1]);
