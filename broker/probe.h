/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe.h: the last rung of the policy's precedence: for PCI functions no rule
 * binds, ask each plugin's optional probe() (in a worker, never in the
 * broker), in declaration order; the first that accepts binds. Asynchronous.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Manager Manager;
typedef struct Device Device;
typedef struct Prober Prober;

/* A list of unbound functions with their IDs, for prober_start(). */
GArray *prober_candidates_new(void);
void prober_candidates_add(GArray *a, const char *bdf, uint16_t vendor, uint16_t device);

/* Starts a pass with the manager's current policy (cancelling a running one). */
int prober_start(Manager *m, GArray *unbound);
Prober *prober_free(Prober *p);
bool prober_done(const Prober *p);

/* Whether a device is bound by a probe (not by a rule). */
bool prober_device_is_probed(const Device *d);
