/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt-events.h: the broker's optional, read-only libvirt connection
 * (settings.libvirt-uri): domain lifecycle events set a domain's devices
 * running when it resumes (destination after a migration, source after a
 * failed one). The connection lives in migbroker-libvirt-events, a process
 * this supervises (restarts, logs, reads); the broker links no libvirt.
 */
#pragma once

#include <stdbool.h>

typedef struct Manager Manager;
typedef struct LibvirtEvents LibvirtEvents;

/* NULL when uri is empty (disabled). Starts the follower; without libvirtd
 * (or when it dies, or has not connected within 30 s) starts it again every
 * 10 s. */
LibvirtEvents *libvirt_events_new(Manager *m, const char *uri);
/* Stops the follower (SIGTERM, then SIGKILL after 1 s) and reaps it. */
LibvirtEvents *libvirt_events_free(LibvirtEvents *l);
/* After a policy reload: a follower that runs as another user than the one
 * it is to run as now (settings.worker-user changed) is started again. */
void libvirt_events_policy_reloaded(LibvirtEvents *l);
/* The follower said it follows the events (and has not ended since). */
bool libvirt_events_connected(const LibvirtEvents *l);
