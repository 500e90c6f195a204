/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * device.h: one managed PCI function in the broker: its plugin binding, owner
 * (claim), session (worker, state, pending bytes, save/load sessions) and the
 * FIFO of operations that serialises everything done to it. No D-Bus here.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bdf.h"
#include "fsm.h"
#include "policy.h"
#include "worker-client.h"

typedef struct Manager Manager;
typedef struct Device Device;
typedef struct DeviceOp DeviceOp;

/* What binds a device to a plugin. It holds a reference on the policy it came
 * from, so a session keeps its plugin across policy reloads. */
typedef struct DeviceBinding {
        MbPolicy *policy;
        const MbPolicyPlugin *plugin;
        char *plugin_name;       /* the policy's name */
        char *plugin_path;       /* resolved */
        char *arg;               /* init() arg ("" when none) */
        char *rule;              /* "FILE:LINE" of the rule, or "probe" */
        char *match_kind;        /* "exact BDF", ... */
} DeviceBinding;

void device_binding_clear(DeviceBinding *b);
int device_binding_copy(DeviceBinding *dst, const DeviceBinding *src);
bool device_binding_equal(const DeviceBinding *a, const DeviceBinding *b);

/* Completion of an operation: r < 0 with error set on failure. */
typedef void (*DeviceOpDone)(DeviceOp *op, int r, const sd_bus_error *error, void *userdata);
/* Starts an operation; returns < 0 (with error set) to fail it at once. */
typedef int (*DeviceOpStart)(DeviceOp *op, sd_bus_error *error);

struct DeviceOp {
        Device *device;
        const char *name;        /* "SetState", ... for messages */
        DeviceOpStart start;
        DeviceOpDone done;
        void *userdata;
        sd_bus_message *message; /* the D-Bus call, replied to by the D-Bus edge via done */

        /* arguments and progress of the operation */
        char *owner;
        MbState target;
        uint32_t calls[MB_FSM_V1_CALLS_MAX];
        size_t n_calls, call_idx;
        int fd;
        int format;              /* MbStreamFormat */
        uint64_t max_bytes;
        bool zero_copy;          /* SaveTo: vmsplice into the caller's pipe */
        bool no_pending_refresh; /* SetState: DEVICE_STATE_NO_PENDING_REFRESH */
        int step;
        bool is_reset;           /* Open steps run for Reset: failure leaves error */
        bool v1_reset_tried;     /* Reset: set_state(RUNNING) was issued to a plugin in v1 error */
        MbWorker *aux_worker;    /* Preflight's short-lived worker */
        sd_event_source *timer;  /* Reset's backoff */
        char *vmstate_id;        /* Open's option */
        uint64_t result;         /* a 't' result: bytes, pending */
        sd_bus_error saved_error; /* an error kept while recovering (GetState after a failure) */
        int saved_r;
};

struct Device {
        unsigned n_ref;
        uint32_t changed;        /* properties to announce (manager.c): bits, */
        uint8_t changed_order[16]; /* and their indexes in the order they changed */
        uint8_t n_changed;
        Manager *manager;
        char bdf[MB_BDF_STRLEN + 1];
        char *path;              /* D-Bus object path */

        DeviceBinding binding;   /* current policy binding */
        bool managed;            /* still bound by the current policy */
        bool present;            /* seen in sysfs (or named exactly by the policy) */

        char *owner;             /* claim, or NULL */
        char *incoming_owner;    /* Preflight mark, or NULL */
        char *vmstate_id;        /* dbus-vmstate id given at Open, or NULL */
        struct Vmstate *vmstate; /* its helper while the session is open */

        /* session */
        MbWorker *worker;        /* while open */
        DeviceBinding session_binding; /* the binding the session was opened with */
        bool open;
        MbState state;
        uint64_t pending_bytes;
        uint32_t capabilities;   /* MIGBROKER_PLUGIN_CAP_* of the session's plugin */
        char *stream_name;       /* the plugin's name in streams */
        bool save_fresh;         /* next SaveTo begins a session */
        bool save_ended;
        bool load_fresh;         /* next LoadFrom begins a session */
        bool load_started;
        bool load_ended;
        bool awaiting_resume;    /* in stop after a dbus-vmstate Load, until libvirt says the domain
                                  * runs (an event, or a follower's "running" after it reconnects) */
        unsigned respawns;       /* consecutive Resets, for backoff */
        uint64_t last_respawn_usec;

        GQueue ops;              /* DeviceOp*, head is running */
        bool op_running;
        sd_event_source *defer;  /* kicks the queue */
};

Device *device_new(Manager *m, const char *bdf);
Device *device_ref(Device *d);
Device *device_unref(Device *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Device, device_unref)

/* Queue an operation; it starts when every earlier one is done. A full queue
 * frees op and fails with Busy (error set). */
DeviceOp *device_op_new(Device *d, const char *name, DeviceOpStart start, DeviceOpDone done, void *userdata);
int device_op_enqueue(DeviceOp *op, sd_bus_error *error);
/* An operation ends: calls done, frees op, starts the next one. */
void device_op_finish(DeviceOp *op, int r, const sd_bus_error *error);
void device_op_finish_errorf(DeviceOp *op, int r, const char *fmt, ...) _printf_(3, 4);
size_t device_queue_length(const Device *d);
/* Starts the first queued operation now unless one is running, instead of in
 * the event loop's next pass: its done callback may run before this returns.
 * For callers that touch nothing of theirs afterwards (D-Bus method handlers). */
void device_queue_run(Device *d);

/* State changes that the D-Bus edge announces. */
void device_set_state(Device *d, MbState s);
void device_set_owner(Device *d, const char *owner);
void device_set_pending(Device *d, uint64_t pending);
void device_set_incoming(Device *d, const char *owner);
/* Drops the claim (owner, preflight mark, vmstate id); stops the domain's bus
 * when no other device is claimed by it. */
void device_release_claim(Device *d);

const char *device_state_string(const Device *d);
bool device_has_precopy(const Device *d);

/* Kills the worker and ends the session at once (shutdown, removal). */
void device_session_drop(Device *d, const char *why);

/* The operations; each validates, then enqueues. Errors before enqueueing are
 * returned with error set. done gets the final result. */
int device_preflight(Device *d, const char *owner, DeviceOpDone done, void *ud, sd_bus_error *error);
int device_claim(Device *d, const char *owner, sd_bus_error *error);
int device_release(Device *d, const char *owner, DeviceOpDone done, void *ud, sd_bus_error *error);
int device_open(Device *d, const char *owner, const char *vmstate_id, DeviceOpDone done, void *ud,
                sd_bus_error *error);
int device_close(Device *d, const char *owner, DeviceOpDone done, void *ud, sd_bus_error *error);
int device_set_target_state(Device *d, MbState target, DeviceOpDone done, void *ud, sd_bus_error *error);
/* DEVICE_STATE_NO_PENDING_REFRESH: entering pre-copy or stop-copy, skip the
 * UpdatePending that refreshes PendingBytes, for a caller whose SaveTo
 * follows at once (and refreshes it). */
enum { DEVICE_STATE_NO_PENDING_REFRESH = 1 << 0 };
int device_set_target_state_full(Device *d, MbState target, unsigned flags, DeviceOpDone done, void *ud,
                                 sd_bus_error *error);
int device_reset(Device *d, DeviceOpDone done, void *ud, sd_bus_error *error);
int device_refresh_pending(Device *d, DeviceOpDone done, void *ud, sd_bus_error *error);
int device_save_to(Device *d, int fd, int format, uint64_t max_bytes, bool zero_copy, DeviceOpDone done, void *ud,
                   sd_bus_error *error);
int device_load_from(Device *d, int fd, int format, DeviceOpDone done, void *ud, sd_bus_error *error);
