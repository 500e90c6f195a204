/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domain-edit.h: what `migbrokerctl domain` reads and changes in a libvirt
 * domain's XML: the <mb:devices> metadata (interface contract §8) and the
 * <qemu:commandline> dbus-vmstate object that points QEMU at the broker's
 * per-domain bus. Text in, text out, with the list of what changed; it talks
 * to neither libvirt nor the broker, and never prints.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "domain-xml.h"

#define DOMAIN_QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
/* The id of the dbus-vmstate object migbroker writes (libvirt names its own
 * object, for its helpers, "dbus-vmstate"). */
#define DOMAIN_VMSTATE_OBJECT_ID "migbroker"
/* A device enabled without an id gets this prefix and its BDF: "mb-0000:3b:00.1". */
#define DOMAIN_VMSTATE_ID_PREFIX "mb-"

typedef struct DomainEditDevice {
        const char *bdf;        /* as given; written normalised */
        const char *vmstate_id; /* NULL: the id the device has, else the default */
        bool no_vmstate;        /* no id at all: not served through dbus-vmstate (the shim path) */
} DomainEditDevice;

typedef enum DomainChangeKind {
        DOMAIN_CHANGE_DEVICE_ADDED,
        DOMAIN_CHANGE_DEVICE_CHANGED,
        DOMAIN_CHANGE_DEVICE_REMOVED,
        DOMAIN_CHANGE_OBJECT_ADDED,
        DOMAIN_CHANGE_OBJECT_CHANGED,
        DOMAIN_CHANGE_OBJECT_REMOVED,
        _DOMAIN_CHANGE_KIND_MAX,
} DomainChangeKind;

/* "device-added", "object-changed", ... */
const char *domain_change_kind_to_string(DomainChangeKind k);

typedef struct DomainChange {
        DomainChangeKind kind;
        char *subject; /* the BDF, or the object's id */
        char *message; /* one line: "added device 0000:3b:00.1 (vmstate id mb-nic0)" */
} DomainChange;

typedef struct DomainEdit {
        char *xml;          /* the new document; the input unchanged when there are no changes */
        GPtrArray *changes; /* of DomainChange, in the order made */
        GPtrArray *notes;   /* of char*: worth telling, changed nothing */
} DomainEdit;

void domain_edit_free(DomainEdit *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainEdit, domain_edit_free)

/*
 * Enables devices: each gets a managed <mb:device> (added, or the existing
 * entry updated: its vmstate-id, manage="no" dropped, duplicates merged), and
 * the dbus-vmstate object is made to match the metadata (below). Without
 * devices, only the object is brought in line. The input must be a domain
 * XML the hook accepts (hook_domain_parse), with a <uuid>.
 *
 * The object: `-object dbus-vmstate,id=migbroker,addr=unix:path=RUNTIME_DIR/
 * domain/UUID/bus,id-list=ID,,ID...` (QEMU's keyval escapes a comma in a
 * value as ",,") in <qemu:commandline>, its namespace declared on the root
 * when it is new. Its id-list holds the vmstate ids of the managed metadata
 * devices, by BDF; no id, no object. A dbus-vmstate object is migbroker's
 * when its id is "migbroker" or its bus is a per-domain bus of the broker
 * (this runtime dir, or this domain's UUID under another one): that one is
 * updated in place, keeping its id and other keys; other objects and every
 * other argument are left alone.
 *
 * Returns 0 (changes may be empty: nothing to do), or a negative errno with
 * *ret_error set to one line: -EINVAL for a bad BDF or id, a device named
 * twice, or an XML the hook refuses; -EEXIST for a vmstate id that two
 * devices would share; -EBADMSG for malformed XML.
 */
int domain_edit_enable(const char *xml, size_t len, const DomainEditDevice *devices, size_t n_devices,
                       const char *runtime_dir, DomainEdit **ret, char **ret_error);

/*
 * Disables the devices of bdfs (n_bdfs of them), or every managed device when
 * n_bdfs is 0: their <mb:device> entries go (manage="no" entries stay), an
 * emptied <mb:devices> and <metadata> go too, and migbroker's dbus-vmstate
 * object follows the metadata as for enable, except that a missing one is
 * not added (a note says so). A BDF not in the metadata is a note.
 */
int domain_edit_disable(const char *xml, size_t len, const char *const *bdfs, size_t n_bdfs,
                        const char *runtime_dir, DomainEdit **ret, char **ret_error);

typedef struct DomainVmstateObject {
        char *arg;        /* the -object argument as written */
        char *id;         /* NULL when it has none */
        char *bus_path;   /* the unix path of its addr; NULL when it names none */
        char **id_list;   /* NULL when it has no id-list */
        bool ours;
} DomainVmstateObject;

typedef enum DomainObjectState {
        DOMAIN_OBJECT_NONE,     /* no vmstate id, no object: nothing needed */
        DOMAIN_OBJECT_OK,       /* present and matching the metadata */
        DOMAIN_OBJECT_MISSING,  /* vmstate ids, but no object of migbroker's */
        DOMAIN_OBJECT_MISMATCH, /* its bus or id-list differ, or there are two */
        DOMAIN_OBJECT_UNNEEDED, /* an object, but no device has a vmstate id */
} DomainObjectState;

/* "none", "ok", "missing", "mismatch", "unneeded" */
const char *domain_object_state_to_string(DomainObjectState s);

typedef struct DomainInfo {
        HookDomain *domain;       /* name, UUID, devices as the hook sees them */
        GPtrArray *excluded;      /* of char*: BDFs with manage="no" in the metadata */
        GPtrArray *objects;       /* of DomainVmstateObject: every dbus-vmstate object */
        char *bus_address;        /* the addr migbroker's object must have */
        char **vmstate_ids;       /* the id-list it must have, by BDF */
        DomainObjectState object_state;
        char *object_problem;     /* one line for MISSING, MISMATCH, UNNEEDED */
} DomainInfo;

void domain_info_free(DomainInfo *i);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainInfo, domain_info_free)

/* What `domain show` prints of the XML. Errors as for domain_edit_enable. */
int domain_info_read(const char *xml, size_t len, const char *runtime_dir, DomainInfo **ret, char **ret_error);

/* The broker's per-domain bus: "RUNTIME_DIR/domain/UUID/bus", and as a D-Bus
 * address, "unix:path=..." (escaped as D-Bus addresses are). */
char *domain_bus_path(const char *runtime_dir, const char *uuid);
char *domain_bus_address(const char *runtime_dir, const char *uuid);
