/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domain-xml.h: what the libvirt hook needs from a domain's XML: its UUID and
 * the candidate devices (PCI hostdevs by host address, and <mb:devices>
 * metadata entries), merged and checked. It does not talk to the broker
 * (which candidates are managed is the broker's answer) and never logs.
 * migbrokerctl's domain commands read the XML through it too.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "bdf.h"

#define HOOK_METADATA_NS "http://migbroker.org/xmlns/domain/1"

/* Longest vmstate-id accepted (QEMU's dbus-vmstate has no limit of its own). */
#define HOOK_VMSTATE_ID_MAX 255

/* Largest domain XML read (libvirt's own limit for a domain is 10 MiB). */
#define HOOK_DOMAIN_XML_MAX (16u * 1024 * 1024)

typedef struct HookDevice {
        char bdf[MB_BDF_STRLEN + 1]; /* normalised, lower case */
        char *vmstate_id;            /* from the metadata; NULL when none */
        bool hostdev;                /* a PCI hostdev (or hostdev interface) of the domain, by host address */
        bool metadata;               /* declared in <mb:devices>: the broker is expected to manage it */
        int line;                    /* line of its first mention in the XML */
} HookDevice;

typedef struct HookDomain {
        char *name;       /* <name>, NULL when absent */
        char *uuid;       /* <uuid> in lower case; NULL only when there are no devices */
        GPtrArray *devices; /* of HookDevice, sorted by BDF, duplicates merged, manage="no" removed */
        GPtrArray *notes; /* of char*: what was ignored and why, for a debug log */
} HookDomain;

void hook_domain_free(HookDomain *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HookDomain, hook_domain_free)

/*
 * Parses a domain XML document held in buf (len bytes, no NUL needed).
 * Returns 0 and a HookDomain, or -EINVAL/-EBADMSG/-ENOMEM with *ret_error set
 * to one line naming the XML line ("line 12: <hostdev> ...: ...").
 *
 * Candidates: <hostdev mode='subsystem' type='pci'> and
 * <interface type='hostdev'> under <devices> with a <source><address
 * domain= bus= slot= function=/> (numbers as libvirt reads them: 0x hex,
 * decimal; a missing field is 0, as in libvirt); every <device bdf=...> of
 * the <devices> elements in namespace HOOK_METADATA_NS under <metadata>
 * (a <device> without namespace inside them counts too; one of another
 * namespace is ignored with a note).
 * A hostdev with only a guest <address> (no <source>), and non-PCI hostdevs,
 * are not host PCI devices: ignored with a note. manage="no" removes a BDF.
 */
int hook_domain_parse(const char *buf, size_t len, HookDomain **ret, char **ret_error);

/*
 * Reads a domain XML document as hook_domain_parse does (no network, no DTD,
 * no DOCTYPE, the root must be <domain>): 0 and the document (free it with
 * xmlFreeDoc), or -EINVAL/-EFBIG/-EBADMSG/-ENOMEM with *ret_error set to one
 * line ("malformed domain XML: line 3: ..."). Nothing else is checked.
 */
struct _xmlDoc;
int hook_domain_read(const char *buf, size_t len, struct _xmlDoc **ret, char **ret_error);

/* 1 to HOOK_VMSTATE_ID_MAX visible ASCII characters, no ',' (QEMU's id-list
 * separator): what a metadata vmstate-id may be. */
bool hook_vmstate_id_valid(const char *id);

/* 8-4-4-4-12 hex digits, as libvirt writes a UUID. */
bool hook_uuid_valid(const char *s);

/* The device of that BDF, or NULL. */
const HookDevice *hook_domain_find(const HookDomain *d, const char *bdf);
