/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmstate.h: QEMU's dbus-vmstate helper for one device: a connection to the
 * domain's bus that queues for org.qemu.VMState1 and serves Id, Save() (a
 * full stop-copy as one framed stream, at most 1 MiB) and Load() (resuming,
 * load, then stop). It does not manage the bus (domain-bus.h).
 */
#pragma once

#define MB_VMSTATE_MAX (1024u * 1024u)  /* QEMU's limit per helper, framing included */
#define MB_VMSTATE_ID_MAX 255u

typedef struct Device Device;
typedef struct Vmstate Vmstate;

int vmstate_new(Device *d, const char *address, const char *id, Vmstate **ret);
Vmstate *vmstate_free(Vmstate *v);
const char *vmstate_id(const Vmstate *v);
