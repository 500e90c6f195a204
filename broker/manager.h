/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.h: the broker as a whole: the event loop, the bus connection, the
 * active policy, the device table and the settings every device reads. The
 * D-Bus objects live in manager-dbus.c and device-dbus.c; this is the model.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "auth.h"
#include "device.h"
#include "policy.h"
#include "libvirt-events.h"
#include "probe.h"

typedef struct ManagerConfig {
        char *bus_address;        /* NULL: the system bus */
        char *policy_path;        /* NULL: the default main file + drop-ins */
        char *sysfs_root;         /* NULL: /sys */
        char *plugin_dir;         /* NULL: the policy's */
        char *runtime_dir;        /* NULL: the policy's */
        char *worker_path;        /* NULL: PKGLIBEXECDIR/migbroker-worker */
        char *worker_user;        /* NULL: the policy's (only used as root) */
        char *libvirt_uri;        /* NULL: the policy's; "" disables */
} ManagerConfig;

struct Manager {
        sd_event *event;
        sd_bus *bus;
        ManagerConfig config;
        MbPolicy *policy;
        GPtrArray *policy_files;  /* char*, what PolicyFiles shows */
        GHashTable *devices;      /* bdf -> Device* */
        Auth *auth;
        Prober *prober;           /* the running (or last) probe pass */
        LibvirtEvents *libvirt;   /* domain lifecycle events, when connected */
        char *runtime_dir;        /* effective */
        bool shutting_down;
        GHashTable *stopping_buses;   /* uuid -> StoppingBus (domain-bus.c): told to stop, not yet gone */
        char *followed_uri;           /* libvirt URI followed ("" none); NULL before the first */
        GPtrArray *changed;           /* Device* (a reference each) with announcements due */
        sd_event_source *changed_source; /* defer: announces them after the current dispatch */
        sd_bus_slot *manager_slot, *device_slot, *enum_slot, *om_slot;
};

int manager_new(const ManagerConfig *cfg, Manager **ret);
Manager *manager_free(Manager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

/* Loads the policy (refusing it whole on any error: diags get the reasons)
 * and rebinds devices. Returns -MB_EPOLICYINVALID with a summary in error. */
int manager_load_policy(Manager *m, sd_bus_error *error);
/* Re-reads sysfs and the policy's exact BDFs: adds and removes device objects. */
int manager_rescan(Manager *m);

Device *manager_find_device(Manager *m, const char *bdf);
const MbPolicySettings *manager_settings(Manager *m);
uint64_t manager_op_timeout_usec(Manager *m);
const char *manager_worker_path(Manager *m);
const char *manager_worker_user(Manager *m);

/* Called by devices when something D-Bus shows changed. The properties are
 * announced in one PropertiesChanged per device once the current event has
 * been handled, i.e. after the reply of the call that changed them. */
void manager_device_changed(Manager *m, Device *d, const char *property, ...) G_GNUC_NULL_TERMINATED;
/* Before a property changes again: announces its queued earlier value, so
 * that no value of State or Owner goes unannounced. */
void manager_device_changing(Manager *m, Device *d, const char *property);
/* Announces now what manager_device_changed() queued. */
void manager_flush_changes(Manager *m);
/* Whether any device is claimed by owner. */
bool manager_domain_has_devices(Manager *m, const char *owner);
/* Whether libvirt's lifecycle events tell us when a domain resumes. */
bool manager_follows_libvirt(Manager *m);
/* (Re)connects to libvirt for lifecycle events (settings.libvirt-uri). */
void manager_follow_libvirt(Manager *m);

/* The set of device objects changed: announce the Devices property. */
void manager_devices_changed(Manager *m);
/* Called by devices when their claim or session changed: persist it. */
void manager_device_persist(Manager *m, Device *d);
/* Called by devices when their last queued operation ended: a device the
 * policy no longer binds goes away once it is neither claimed nor open. */
void manager_device_idle(Manager *m, Device *d);
