/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * runtime-state.h: what the broker records under its runtime directory so a
 * restarted broker knows which domain owns which device and which sessions
 * were open: one small key file per device. It does not start sessions itself.
 */
#pragma once

#include "device.h"

/* Writes RUNTIME_DIR/devices/BDF for a claimed, preflighted or open device,
 * removes it otherwise. Atomic (write to a temporary file, rename). */
int runtime_state_save(const char *runtime_dir, const Device *d);

/* Reads every record and restores claims and preflight marks onto the
 * manager's devices; sessions that were open are re-opened (asynchronously).
 * Records of devices the policy no longer manages are kept and logged. */
int runtime_state_restore(Manager *m);
