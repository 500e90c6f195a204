/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "domain-bus.h"
#include "error.h"
#include "fd-util.h"
#include "log.h"
#include "manager.h"
#include "stream.h"
#include "vmstate.h"

#define VMSTATE_PATH "/org/qemu/VMState1"
#define VMSTATE_INTERFACE "org.qemu.VMState1"
#define VMSTATE_NAME "org.qemu.VMState1"

struct Vmstate {
        Device *device;            /* not a reference: the device owns us */
        char *id;
        sd_bus *bus;
        sd_bus_slot *vtable_slot;

        /* the call in progress */
        sd_bus_message *call;
        int fd;                    /* our end of the data pipe */
        sd_event_source *io;
        GByteArray *data;          /* Save: collected, room for MB_VMSTATE_MAX + 1 bytes from the start */
        const uint8_t *load_data;  /* Load: the bytes to send, inside the call's message */
        size_t load_len;
        size_t sent;
        uint64_t total;            /* Save: bytes seen (also beyond the limit) */
        bool io_done, op_done;
        int op_r;
        sd_bus_error op_error;
};

static void call_reset(Vmstate *v) {
        v->io = sd_event_source_disable_unref(v->io);
        v->fd = mb_safe_close(v->fd);
        if (v->data)
                g_byte_array_unref(v->data);
        v->data = NULL;
        v->load_data = NULL;
        v->load_len = 0;
        v->call = sd_bus_message_unref(v->call);
        v->sent = 0;
        v->total = 0;
        v->io_done = v->op_done = false;
        v->op_r = 0;
        sd_bus_error_free(&v->op_error);
}

static void reply_error(Vmstate *v, int r, const sd_bus_error *e) {
        if (v->call) {
                if (e && sd_bus_error_is_set(e))
                        (void) sd_bus_reply_method_error(v->call, e);
                else
                        (void) sd_bus_reply_method_errnof(v->call, -r, "%m");
        }
        call_reset(v);
}

static void reply_errorf(Vmstate *v, int r, const char *fmt, ...) _printf_(3, 4);
static void reply_errorf(Vmstate *v, int r, const char *fmt, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;

        va_start(ap, fmt);
        (void) mb_bus_error_setfv(&e, r, fmt, ap);
        va_end(ap);
        log_dev_error(v->device->bdf, "dbus-vmstate: %s", e.message);
        reply_error(v, r, &e);
}

/* The data pipe between us and the worker, big enough for a whole state
 * with its framing, so neither side waits for the other to make room (each
 * wait is a wakeup in the downtime). Only root may grow a pipe past
 * /proc/sys/fs/pipe-max-size: otherwise it stays smaller, which only costs
 * more wakeups. */
#define VMSTATE_PIPE_SIZE (2u * MB_VMSTATE_MAX)

static int vmstate_pipe(int p[2]) {
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        if (fcntl(p[1], F_SETPIPE_SZ, (int) VMSTATE_PIPE_SIZE) < 0)
                log_debug("dbus-vmstate: cannot grow the data pipe to %u bytes: %m", VMSTATE_PIPE_SIZE);
        return 0;
}

/* ---- Save --------------------------------------------------------------- */

static void save_maybe_done(Vmstate *v) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Device *d = v->device;
        int r;

        if (!v->io_done || !v->op_done)
                return;
        if (v->op_r < 0) {
                reply_error(v, v->op_r, &v->op_error);
                return;
        }
        if (v->total > MB_VMSTATE_MAX) {
                reply_errorf(v, -MB_ETOOLARGE,
                             "the state of %s is %" PRIu64 " bytes with framing, QEMU's dbus-vmstate takes at most %u "
                             "bytes per helper: migrate this device through the migbroker QEMU shim plugin instead",
                             d->bdf, v->total, MB_VMSTATE_MAX);
                return;
        }
        r = sd_bus_message_new_method_return(v->call, &reply);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', v->data->data, v->data->len);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                log_dev_error_errno(d->bdf, r, "dbus-vmstate: cannot send the saved state: %m");
        else
                log_dev_info(d->bdf, "dbus-vmstate: saved %u bytes for QEMU (id %s)", v->data->len, v->id);
        call_reset(v);
}

static int on_save_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Vmstate *v = userdata;
        uint8_t scratch[65536];

        for (;;) {
                /* Straight into the array while it has room (it was sized for
                 * the limit and one byte more, to know the state did not fit);
                 * past that, only counted. */
                size_t room = MB_VMSTATE_MAX + 1 - v->data->len, old = v->data->len;
                ssize_t n;

                if (room > 0) {
                        g_byte_array_set_size(v->data, (guint) (old + room));
                        n = read(fd, v->data->data + old, room);
                        g_byte_array_set_size(v->data, (guint) (old + (n > 0 ? (size_t) n : 0)));
                } else {
                        n = read(fd, scratch, sizeof(scratch));
                }
                if (n > 0) {
                        v->total += (uint64_t) n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                /* EOF (or an error): the worker is done writing. */
                v->io = sd_event_source_disable_unref(v->io);
                v->fd = mb_safe_close(v->fd);
                v->io_done = true;
                save_maybe_done(v);
                return 0;
        }
}

static void on_saved(DeviceOp *op, int r, const sd_bus_error *e, void *userdata) {
        Vmstate *v = userdata;

        v->op_done = true;
        v->op_r = r;
        if (r < 0 && e)
                (void) sd_bus_error_copy(&v->op_error, e);
        save_maybe_done(v);
}

static void on_stop_copy(DeviceOp *op, int r, const sd_bus_error *e, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        Vmstate *v = userdata;
        Device *d = v->device;
        int p[2];

        if (r < 0) {
                reply_error(v, r, e);
                return;
        }
        r = vmstate_pipe(p);
        if (r < 0) {
                reply_errorf(v, r, "cannot create a pipe: %s", strerror(-r));
                return;
        }
        v->fd = p[0];
        v->data = g_byte_array_sized_new(MB_VMSTATE_MAX + 1);
        r = sd_event_add_io(d->manager->event, &v->io, p[0], EPOLLIN, on_save_readable, v);
        if (r >= 0)
                r = device_save_to(d, p[1], MB_STREAM_FORMAT_FRAMED, 0, true, on_saved, v, &err);
        (void) close(p[1]); /* the worker has its copy */
        if (r < 0)
                reply_error(v, r, &err);
}

static int method_save(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Vmstate *v = userdata;
        Device *d = v->device;
        int r;

        if (v->call)
                return mb_bus_error_setf(error, -MB_EBUSY, "a Save or Load of %s is already running", d->bdf);
        if (!d->open)
                return mb_bus_error_setf(error, -MB_ENOTOPEN, "%s has no open session", d->bdf);
        v->call = sd_bus_message_ref(m);
        log_dev_info(d->bdf, "dbus-vmstate: QEMU saves the state (id %s)", v->id);
        /* A full stop-copy: one framed stream, end record included. The
         * SaveTo right after it reports what is pending: no separate refresh. */
        r = device_set_target_state_full(d, MB_STATE_STOP_COPY, DEVICE_STATE_NO_PENDING_REFRESH, on_stop_copy, v,
                                         error);
        if (r < 0) {
                v->call = sd_bus_message_unref(v->call);
                return r;
        }
        return 1;
}

/* ---- Load --------------------------------------------------------------- */

static void on_running(DeviceOp *op, int r, const sd_bus_error *e, void *userdata) {
        Vmstate *v = userdata;

        if (r < 0) {
                reply_error(v, r, e);
                return;
        }
        (void) sd_bus_reply_method_return(v->call, NULL);
        call_reset(v);
}

static void on_stopped(DeviceOp *op, int r, const sd_bus_error *e, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        Vmstate *v = userdata;
        Device *d = v->device;

        if (r < 0) {
                reply_error(v, r, e);
                return;
        }
        log_dev_info(d->bdf, "dbus-vmstate: state loaded (%zu bytes, id %s); the device waits in stop", v->load_len,
                     v->id);
        /* Without a libvirt connection nobody tells us the domain resumed: run now. */
        if (!manager_follows_libvirt(d->manager)) {
                r = device_set_target_state(d, MB_STATE_RUNNING, on_running, v, &err);
                if (r < 0)
                        reply_error(v, r, &err);
                return;
        }
        /* Libvirt's resumed event runs it; should the follower miss it (down,
         * reconnecting), its "running" line after it reconnects does. */
        d->awaiting_resume = true;
        (void) sd_bus_reply_method_return(v->call, NULL);
        call_reset(v);
}

static void on_loaded(DeviceOp *op, int r, const sd_bus_error *e, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        Vmstate *v = userdata;

        if (r < 0) {
                reply_error(v, r, e);
                return;
        }
        /* Leaving resuming checks the stream was complete. */
        r = device_set_target_state(v->device, MB_STATE_STOP, on_stopped, v, &err);
        if (r < 0)
                reply_error(v, r, &err);
}

static int on_load_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Vmstate *v = userdata;

        while (v->sent < v->load_len) {
                ssize_t n = write(fd, v->load_data + v->sent, v->load_len - v->sent);
                if (n > 0) {
                        v->sent += (size_t) n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                break; /* the reader went away: LoadFrom reports what happened */
        }
        /* All written (or no reader): EOF for the worker. */
        v->io = sd_event_source_disable_unref(v->io);
        v->fd = mb_safe_close(v->fd);
        return 0;
}

static void on_resuming(DeviceOp *op, int r, const sd_bus_error *e, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        Vmstate *v = userdata;
        Device *d = v->device;
        int p[2];

        if (r < 0) {
                reply_error(v, r, e);
                return;
        }
        r = vmstate_pipe(p);
        if (r < 0) {
                reply_errorf(v, r, "cannot create a pipe: %s", strerror(-r));
                return;
        }
        v->fd = p[1];
        r = sd_event_add_io(d->manager->event, &v->io, p[1], EPOLLOUT, on_load_writable, v);
        if (r >= 0)
                r = device_load_from(d, p[0], MB_STREAM_FORMAT_FRAMED, on_loaded, v, &err);
        (void) close(p[0]);
        if (r < 0)
                reply_error(v, r, &err);
}

static int method_load(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Vmstate *v = userdata;
        Device *d = v->device;
        const void *data;
        size_t len;
        int r;

        r = sd_bus_message_read_array(m, 'y', &data, &len);
        if (r < 0)
                return r;
        if (v->call)
                return mb_bus_error_setf(error, -MB_EBUSY, "a Save or Load of %s is already running", d->bdf);
        if (!d->open)
                return mb_bus_error_setf(error, -MB_ENOTOPEN, "%s has no open session", d->bdf);
        if (len > MB_VMSTATE_MAX)
                return mb_bus_error_setf(error, -MB_ETOOLARGE, "%zu bytes of state: at most %u", len, MB_VMSTATE_MAX);
        v->call = sd_bus_message_ref(m); /* keeps data valid: it is sent from there */
        v->load_data = data;
        v->load_len = len;
        log_dev_info(d->bdf, "dbus-vmstate: QEMU loads %zu bytes (id %s)", len, v->id);
        r = device_set_target_state(d, MB_STATE_RESUMING, on_resuming, v, error);
        if (r < 0) {
                call_reset(v);
                return r;
        }
        return 1;
}

static int prop_id(sd_bus *bus, const char *path, const char *interface, const char *property, sd_bus_message *reply,
                   void *userdata, sd_bus_error *error) {
        Vmstate *v = userdata;
        return sd_bus_message_append(reply, "s", v->id);
}

/* Load and Save are UNPRIVILEGED for sd-bus: without the flag sd-bus refuses
 * a caller whose uid differs from ours and lacks CAP_SYS_ADMIN, i.e. QEMU as
 * libvirt runs it (libvirt-qemu). Who may call is decided by the domain bus
 * itself: its policy admits only root, us and settings.vmm-user. */
static const sd_bus_vtable vmstate_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", prop_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Load", SD_BUS_ARGS("ay", data), SD_BUS_NO_RESULT, method_load,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Save", SD_BUS_NO_ARGS, SD_BUS_RESULT("ay", data), method_save,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ---- lifetime ------------------------------------------------------------- */

Vmstate *vmstate_free(Vmstate *v) {
        if (!v)
                return NULL;
        if (v->call)
                reply_errorf(v, -MB_ENOTOPEN, "the session of %s was closed", v->device->bdf);
        call_reset(v);
        v->vtable_slot = sd_bus_slot_unref(v->vtable_slot);
        if (v->bus)
                v->bus = sd_bus_flush_close_unref(v->bus);
        g_free(v->id);
        g_free(v);
        return NULL;
}

int vmstate_new(Device *d, const char *address, const char *id, Vmstate **ret) {
        Vmstate *v = g_new0(Vmstate, 1);
        int r;

        v->device = d;
        v->id = g_strdup(id);
        v->fd = -1;
        v->op_error = SD_BUS_ERROR_NULL;
        r = sd_bus_new(&v->bus);
        if (r >= 0)
                r = sd_bus_set_address(v->bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(v->bus, 1);
        if (r >= 0)
                r = sd_bus_set_description(v->bus, d->bdf);
        if (r >= 0)
                r = sd_bus_start(v->bus);
        if (r >= 0)
                r = sd_bus_attach_event(v->bus, d->manager->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_add_object_vtable(v->bus, &v->vtable_slot, VMSTATE_PATH, VMSTATE_INTERFACE, vmstate_vtable,
                                             v);
        /* QEMU enumerates the queued owners of the name and asks each its Id. */
        if (r >= 0)
                r = sd_bus_request_name_async(v->bus, NULL, VMSTATE_NAME, SD_BUS_NAME_QUEUE, NULL, NULL);
        if (r < 0) {
                log_dev_error_errno(d->bdf, r, "dbus-vmstate: cannot serve %s on %s: %m", id, address);
                vmstate_free(v);
                return r;
        }
        log_dev_info(d->bdf, "dbus-vmstate: helper %s serving on %s", id, address);
        *ret = v;
        return 0;
}

const char *vmstate_id(const Vmstate *v) {
        return v->id;
}
