/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domain-bus.h: the private dbus-daemon of one domain, through which QEMU's
 * dbus-vmstate reaches the broker: RUNTIME_DIR/domain/<uuid>/bus, open to
 * root and the VMM user only, started by the domain's first claim, stopped by
 * its last release, and left running (then re-adopted) across broker restarts.
 * It does not serve anything on the bus itself (vmstate.h does).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct Manager Manager;

/* Makes sure the domain's bus runs (starting or re-adopting it). Returns 0, or
 * -errno with a message logged. */
int domain_bus_ensure(Manager *m, const char *uuid);

/* Stops the domain's bus and removes its directory. Does not wait: the daemon
 * gets SIGTERM now and SIGKILL if it still runs after STOP_TIMEOUT_MS; a
 * domain_bus_ensure() of the same domain meanwhile kills it at once. */
int domain_bus_stop(Manager *m, const char *uuid);

/* The table of buses told to stop (Manager.stopping_buses). */
GHashTable *domain_bus_stopping_table_new(void);

/* "unix:path=RUNTIME_DIR/domain/UUID/bus"; NULL when the bus does not run. */
char *domain_bus_address(Manager *m, const char *uuid);

/* The daemon's pid when it runs (re-read from the runtime dir), else 0. */
pid_t domain_bus_pid(Manager *m, const char *uuid);
