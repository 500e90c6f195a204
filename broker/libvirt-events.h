/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt-events.h: the broker's optional, read-only libvirt connection
 * (settings.libvirt-uri): domain lifecycle events set a domain's devices
 * running when it resumes (destination after a migration, source after a
 * failed one). libvirt's event loop runs on the broker's sd-event loop.
 */
#pragma once

#include <stdbool.h>

typedef struct Manager Manager;
typedef struct LibvirtEvents LibvirtEvents;

/* NULL when uri is empty (disabled). Without libvirtd, retries in the background. */
LibvirtEvents *libvirt_events_new(Manager *m, const char *uri);
LibvirtEvents *libvirt_events_free(LibvirtEvents *l);
bool libvirt_events_connected(const LibvirtEvents *l);
