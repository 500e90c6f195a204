/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pci-sysfs.h: what the policy needs from sysfs: a PCI function's vendor and
 * device IDs, and the list of functions, under a configurable root (tests use
 * a fake tree). It does not bind drivers or read any other attribute.
 */
#pragma once

#include <stdint.h>

#include <glib.h>

#define MB_SYSFS_DEFAULT_ROOT "/sys"
#define MB_ENV_SYSFS_ROOT "MIGBROKER_SYSFS_ROOT"

/* $MIGBROKER_SYSFS_ROOT, else "/sys". */
const char *mb_pci_sysfs_default_root(void);

/* Reads SYSFS_ROOT/bus/pci/devices/BDF/{vendor,device} ("0x1af4\n").
 * root NULL means mb_pci_sysfs_default_root(). Returns 0, -ENOENT when there is no such device,
 * -EBADMSG when a file does not hold a 16-bit hex ID, or another -errno. */
int mb_pci_sysfs_read_ids(const char *root, const char *bdf, uint16_t *ret_vendor, uint16_t *ret_device);

/* The normalised BDFs under SYSFS_ROOT/bus/pci/devices (root NULL: the
 * default), sorted. Entries that
 * are not BDFs are skipped. Returns 0 and a new array of char*, or -errno. */
int mb_pci_sysfs_enumerate(const char *root, GPtrArray **ret);
