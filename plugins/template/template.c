/* SPDX-License-Identifier: MIT */
/*
 * template.c: a minimal VFIO migration plugin to copy and fill in.
 *
 * It loads unchanged in migbroker (in an unprivileged worker process, one per
 * device) and in QEMU builds that carry the seed plugin interface. The "device"
 * here is a small buffer in memory standing in for your hardware or your DPU
 * agent; every place that should talk to the real thing says TODO.
 *
 * The contract, in short (include/migbroker/plugin.h, docs/plugin-guide.md):
 *
 *  - Ops are never called concurrently for one handle: the broker serialises
 *    them (QEMU holds its lock). Different devices get different processes
 *    under migbroker, but QEMU may load one plugin for several devices in one
 *    process: keep all per-device state in the handle, none in globals.
 *  - Under migbroker the plugin runs as an unprivileged user in a sandbox:
 *    no root, no /dev/vfio, often no filesystem writes; network or a device
 *    node the policy grants is what you get. Never call exit() or abort():
 *    return an error instead, the broker turns it into a D-Bus error.
 *  - Every op returns 0 on success or a negative errno (-EINVAL, -EIO,
 *    -ETIMEDOUT, ...). init() returns NULL on failure. Never block forever:
 *    put a timeout on anything that waits for the device.
 *  - States are the VFIO v1 bits: STOP 0, RUNNING 1, SAVING 2, RESUMING 4.
 *    RUNNING|SAVING (3) is pre-copy, SAVING alone (2) stop-copy. 6 is v1's
 *    error value and never a valid request.
 *  - Saving: the caller asks update_pending(&n), then calls save(buf, len)
 *    with lengths summing to n (QEMU: chunks of at most 1 MiB). save() must
 *    fill exactly len bytes; len is never above what is pending. In pre-copy
 *    the device keeps running: update_pending may grow between rounds, and the
 *    caller moves to stop-copy when it is small. In stop-copy, pending must
 *    reach 0 once everything is out.
 *  - Loading: in RESUMING, load(buf, len) hands over the bytes save()
 *    produced, in the same order but split anywhere (QEMU uses 1 MiB chunks,
 *    migbroker may use other sizes): do not assume load() sees the boundaries
 *    save() made. Leaving RESUMING means "all state is in": verify it then.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <migbroker/plugin.h>

#define TEMPLATE_STATE_SIZE 4096u /* TODO: your device's state size, or ask the device */

typedef struct TemplateDevice {
        char bdf[32];               /* e.g. "0000:3b:00.1" */
        uint32_t state;             /* v1 bits, as last set */
        uint8_t regs[TEMPLATE_STATE_SIZE]; /* TODO: stands in for the device's real state */
        uint64_t save_pos;          /* bytes of the current save session already handed out */
        uint64_t load_pos;          /* bytes of the current load session received */
} TemplateDevice;

/*
 * init(devid, arg): devid is the PCI address ("0000:3b:00.1"); arg is the
 * string from the broker's policy (or QEMU's x-plugin-arg), e.g. the address of
 * your DPU agent. Connect, check the device exists, and return a handle.
 * NULL on failure (print why on stderr: the broker logs it).
 */
static void *template_init(char *devid, char *arg) {
        TemplateDevice *d;

        if (!devid || strlen(devid) >= sizeof(d->bdf)) {
                fprintf(stderr, "template: invalid device id\n");
                return NULL;
        }
        d = calloc(1, sizeof(*d));
        if (!d)
                return NULL;
        snprintf(d->bdf, sizeof(d->bdf), "%s", devid);
        d->state = VFIO_DEVICE_STATE_RUNNING; /* a device is running until told otherwise */
        /* TODO: connect to the device or agent named by arg; fail here, not later. */
        (void) arg;
        return d;
}

/*
 * update_pending(handle, &n): how many bytes save() can deliver now. Outside
 * the saving states there is nothing to save: report 0.
 */
static int template_update_pending(void *handle, uint64_t *pending_bytes) {
        TemplateDevice *d = handle;

        if (!d || !pending_bytes)
                return -EINVAL;
        if (!(d->state & VFIO_DEVICE_STATE_SAVING)) {
                *pending_bytes = 0;
                return 0;
        }
        /* TODO: a real device reports what it has queued (and, in pre-copy,
         * what was dirtied since the last round). This one sends its state once. */
        *pending_bytes = TEMPLATE_STATE_SIZE - d->save_pos;
        return 0;
}

/* save(handle, buf, len): fill exactly len bytes, the next ones of the stream. */
static int template_save(void *handle, uint8_t *buf, uint64_t len) {
        TemplateDevice *d = handle;

        if (!d || (!buf && len > 0))
                return -EINVAL;
        if (!(d->state & VFIO_DEVICE_STATE_SAVING))
                return -EINVAL;                  /* save outside SAVING: refuse */
        if (len > TEMPLATE_STATE_SIZE - d->save_pos)
                return -EINVAL;                  /* more than was pending: caller bug */
        /* TODO: read the next len bytes from the device. */
        memcpy(buf, d->regs + d->save_pos, len);
        d->save_pos += len;
        return 0;
}

/* load(handle, buf, len): consume len stream bytes (any split). */
static int template_load(void *handle, uint8_t *buf, uint64_t len) {
        TemplateDevice *d = handle;

        if (!d || (!buf && len > 0))
                return -EINVAL;
        if (d->state != VFIO_DEVICE_STATE_RESUMING)
                return -EINVAL;                  /* load outside RESUMING: refuse */
        if (len > TEMPLATE_STATE_SIZE - d->load_pos)
                return -EBADMSG;                 /* more data than a state holds: corrupt */
        /* TODO: hand the bytes to the device. */
        memcpy(d->regs + d->load_pos, buf, len);
        d->load_pos += len;
        return 0;
}

/*
 * set_state(handle, value): move the device. Entering a saving state starts a
 * save session, entering RESUMING a load session; leaving RESUMING with an
 * incomplete stream must fail (the broker then never runs the device on
 * partial state). Refuse values that are not 0..4 and arcs your device cannot do.
 */
static int template_set_state(void *handle, uint32_t value) {
        TemplateDevice *d = handle;
        uint32_t from;

        if (!d || value > 4)
                return -EINVAL;
        from = d->state;
        if (value == from)
                return 0;
        if (from == VFIO_DEVICE_STATE_SAVING && value == (VFIO_DEVICE_STATE_RUNNING | VFIO_DEVICE_STATE_SAVING))
                return -EINVAL;                  /* stop-copy -> pre-copy is not an arc */
        if (from == VFIO_DEVICE_STATE_RESUMING && d->load_pos != 0 && d->load_pos != TEMPLATE_STATE_SIZE)
                return -EBADMSG;                 /* partial state: do not run on it */

        if ((value & VFIO_DEVICE_STATE_SAVING) && !(from & VFIO_DEVICE_STATE_SAVING))
                d->save_pos = 0;                 /* a new save session */
        if (value == VFIO_DEVICE_STATE_RESUMING)
                d->load_pos = 0;                 /* a new load session */
        /* TODO: tell the device (stop/start it, start/stop dirty tracking). */
        d->state = value;
        return 0;
}

static int template_get_state(void *handle, uint32_t *value) {
        TemplateDevice *d = handle;

        if (!d || !value)
                return -EINVAL;
        *value = d->state;              /* TODO: ask the device if it can change by itself */
        return 0;
}

/* cleanup(handle): release everything init() took. The handle is not used again. */
static int template_cleanup(void *handle) {
        TemplateDevice *d = handle;

        if (!d)
                return -EINVAL;
        /* TODO: disconnect from the device. Do not change its state here. */
        free(d);
        return 0;
}

static VFIOMigrationPluginOps template_ops = {
        .init = template_init,
        .save = template_save,
        .load = template_load,
        .update_pending = template_update_pending,
        .set_state = template_set_state,
        .get_state = template_get_state,
        .cleanup = template_cleanup,
};

/* Optional: describe the plugin to migbroker (QEMU ignores this symbol). */
static const MigbrokerPciId template_pci_ids[] = {
        { .vendor = 0x1234, .device = 0x5678 }, /* TODO: your vendor and device IDs */
};

static const MigbrokerPluginInfo template_info = {
        .struct_size = sizeof(MigbrokerPluginInfo),
        .capabilities = 0,              /* TODO: MIGBROKER_PLUGIN_CAP_PRECOPY if your device dirty-tracks */
        .name = "template",
        .version = "0.1",
        .pci_ids = template_pci_ids,
        .n_pci_ids = sizeof(template_pci_ids) / sizeof(template_pci_ids[0]),
        .probe = NULL,
};

/* The three exported symbols; everything else stays static. */
int vfio_lm_get_plugin_version(void);
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void);
const MigbrokerPluginInfo *migbroker_get_plugin_info(void);

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return &template_ops;
}

const MigbrokerPluginInfo *migbroker_get_plugin_info(void) {
        return &template_info;
}
