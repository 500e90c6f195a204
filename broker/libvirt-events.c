/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>

#include "device.h"
#include "libvirt-events.h"
#include "log.h"
#include "manager.h"

#define RECONNECT_USEC (10u * 1000 * 1000)

/* ---- libvirt's event loop on sd-event ---------------------------------------- */

typedef struct Watch {
        int id;
        sd_event_source *source;
        virEventHandleCallback hcb;
        virEventTimeoutCallback tcb;
        void *opaque;
        virFreeCallback ff;
        int fd;
        int interval_ms;         /* timeouts: -1 off, 0 every iteration, > 0 period */
} Watch;

static sd_event *loop_event;
static GHashTable *watches;      /* id -> Watch* */
static GPtrArray *removed;       /* Watch* whose free callback is still owed */
static sd_event_source *free_source;
static int next_watch_id = 1;

static uint32_t to_epoll(int events) {
        uint32_t e = 0;
        if (events & VIR_EVENT_HANDLE_READABLE)
                e |= EPOLLIN;
        if (events & VIR_EVENT_HANDLE_WRITABLE)
                e |= EPOLLOUT;
        return e;
}

static int from_epoll(uint32_t e) {
        int events = 0;
        if (e & EPOLLIN)
                events |= VIR_EVENT_HANDLE_READABLE;
        if (e & EPOLLOUT)
                events |= VIR_EVENT_HANDLE_WRITABLE;
        if (e & EPOLLERR)
                events |= VIR_EVENT_HANDLE_ERROR;
        if (e & EPOLLHUP)
                events |= VIR_EVENT_HANDLE_HANGUP;
        return events;
}

static int on_handle(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Watch *w = userdata;
        w->hcb(w->id, fd, from_epoll(revents), w->opaque);
        return 0;
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff) {
        Watch *w = g_new0(Watch, 1);

        w->id = next_watch_id++;
        w->hcb = cb;
        w->opaque = opaque;
        w->ff = ff;
        w->fd = fd;
        if (sd_event_add_io(loop_event, &w->source, fd, to_epoll(events), on_handle, w) < 0) {
                g_free(w);
                return -1;
        }
        if (events == 0)
                (void) sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
        g_hash_table_insert(watches, GINT_TO_POINTER(w->id), w);
        return w->id;
}

static void update_handle(int id, int events) {
        Watch *w = g_hash_table_lookup(watches, GINT_TO_POINTER(id));

        if (!w || !w->source)
                return;
        if (events == 0) {
                (void) sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(w->source, to_epoll(events));
        (void) sd_event_source_set_enabled(w->source, SD_EVENT_ON);
}

/* libvirt removes watches while it holds its own locks, and their free
 * callbacks take those locks: run them later, from the event loop, or after
 * the connection is closed at shutdown. Never from inside remove. */
static void free_removed(void) {
        while (removed && removed->len > 0) {
                Watch *w = g_ptr_array_steal_index(removed, 0);
                if (w->ff)
                        w->ff(w->opaque);
                g_free(w);
        }
}

static int on_free_later(sd_event_source *s, void *userdata) {
        free_removed();
        return 0;
}

static int remove_watch(int id) {
        Watch *w = g_hash_table_lookup(watches, GINT_TO_POINTER(id));

        if (!w)
                return -1;
        g_hash_table_remove(watches, GINT_TO_POINTER(id));
        w->source = sd_event_source_disable_unref(w->source);
        g_ptr_array_add(removed, w);
        if (!free_source && sd_event_add_defer(loop_event, &free_source, on_free_later, NULL) < 0)
                return 0; /* the loop is gone (shutdown): libvirt_events_free() frees them */
        (void) sd_event_source_set_enabled(free_source, SD_EVENT_ONESHOT);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Watch *w = userdata;
        int id = w->id;

        if (w->interval_ms > 0)
                (void) sd_event_source_set_time(s, usec + (uint64_t) w->interval_ms * 1000);
        w->tcb(id, w->opaque);
        return 0;
}

static int on_timer_defer(sd_event_source *s, void *userdata) {
        Watch *w = userdata;
        w->tcb(w->id, w->opaque);
        return 0;
}

static void arm_timeout(Watch *w, int interval_ms) {
        uint64_t now = 0;

        w->source = sd_event_source_disable_unref(w->source);
        w->interval_ms = interval_ms;
        if (interval_ms < 0)
                return;
        if (interval_ms == 0) {
                if (sd_event_add_defer(loop_event, &w->source, on_timer_defer, w) >= 0)
                        (void) sd_event_source_set_enabled(w->source, SD_EVENT_ON);
                return;
        }
        (void) sd_event_now(loop_event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(loop_event, &w->source, CLOCK_MONOTONIC, now + (uint64_t) interval_ms * 1000, 1000,
                              on_timer, w) >= 0)
                (void) sd_event_source_set_enabled(w->source, SD_EVENT_ON);
}

static int add_timeout(int interval_ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff) {
        Watch *w = g_new0(Watch, 1);

        w->id = next_watch_id++;
        w->tcb = cb;
        w->opaque = opaque;
        w->ff = ff;
        w->fd = -1;
        arm_timeout(w, interval_ms);
        g_hash_table_insert(watches, GINT_TO_POINTER(w->id), w);
        return w->id;
}

static void update_timeout(int id, int interval_ms) {
        Watch *w = g_hash_table_lookup(watches, GINT_TO_POINTER(id));
        if (w && w->interval_ms != interval_ms)
                arm_timeout(w, interval_ms);
        else if (w && interval_ms > 0 && !w->source)
                arm_timeout(w, interval_ms);
}

static void register_event_impl(sd_event *event) {
        if (loop_event)
                return;
        loop_event = sd_event_ref(event);
        watches = g_hash_table_new(g_direct_hash, g_direct_equal);
        removed = g_ptr_array_new();
        virEventRegisterImpl(add_handle, update_handle, remove_watch, add_timeout, update_timeout, remove_watch);
}

/* ---- the connection and the lifecycle events ------------------------------------- */

struct LibvirtEvents {
        Manager *manager;
        char *uri;
        virConnectPtr conn;
        int callback_id;
        sd_event_source *retry;
        bool warned;
};

static int connect_now(LibvirtEvents *l);

static const char *event_name(int event) {
        switch (event) {
        case VIR_DOMAIN_EVENT_DEFINED: return "defined";
        case VIR_DOMAIN_EVENT_UNDEFINED: return "undefined";
        case VIR_DOMAIN_EVENT_STARTED: return "started";
        case VIR_DOMAIN_EVENT_SUSPENDED: return "suspended";
        case VIR_DOMAIN_EVENT_RESUMED: return "resumed";
        case VIR_DOMAIN_EVENT_STOPPED: return "stopped";
        default: return "other";
        }
}

static void set_running_done(DeviceOp *op, int r, const sd_bus_error *e, void *userdata) {
        if (r < 0)
                log_dev_warning(op->device->bdf, "could not set running after the domain resumed: %s",
                                e && e->message ? e->message : g_strerror(-r));
}

/* A domain runs again (the destination after a migration, or the source
 * after a failed one): its stopped or saving devices run too. */
static void domain_resumed(Manager *m, const char *uuid) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                Device *d = value;

                if (!d->open || !d->owner || g_ascii_strcasecmp(d->owner, uuid) != 0)
                        continue;
                if (d->state != MB_STATE_STOP && d->state != MB_STATE_PRE_COPY && d->state != MB_STATE_STOP_COPY)
                        continue;
                log_dev_info(d->bdf, "domain %s resumed: the device runs again", uuid);
                if (device_set_target_state(d, MB_STATE_RUNNING, set_running_done, NULL, &e) < 0)
                        log_dev_warning(d->bdf, "cannot set running: %s", e.message);
        }
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        LibvirtEvents *l = opaque;
        char uuid[VIR_UUID_STRING_BUFLEN];

        if (virDomainGetUUIDString(dom, uuid) < 0)
                return 0;
        log_debug("libvirt: domain %s (%s) %s, detail %d", virDomainGetName(dom), uuid, event_name(event), detail);
        /* STARTED/MIGRATED is the incoming domain's QEMU starting on the
         * destination, paused, before QEMU's dbus-vmstate Load: the device
         * must stay in stop until the state is there. The domain runs when
         * libvirt reports RESUMED/MIGRATED, after the load. */
        if (event == VIR_DOMAIN_EVENT_STARTED && detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED)
                return 0;
        if (event == VIR_DOMAIN_EVENT_RESUMED || event == VIR_DOMAIN_EVENT_STARTED)
                domain_resumed(l->manager, uuid);
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        LibvirtEvents *l = userdata;

        l->retry = sd_event_source_disable_unref(l->retry);
        (void) connect_now(l);
        return 0;
}

static void schedule_retry(LibvirtEvents *l) {
        if (l->retry)
                return;
        (void) sd_event_add_time_relative(l->manager->event, &l->retry, CLOCK_MONOTONIC, RECONNECT_USEC, 0, on_retry,
                                          l);
}

static void on_close(virConnectPtr conn, int reason, void *opaque) {
        LibvirtEvents *l = opaque;

        log_warning("libvirt connection to %s closed (reason %d): reconnecting", l->uri, reason);
        /* The connection object is released outside of libvirt's callback. */
        l->callback_id = -1;
        schedule_retry(l);
}

static void ignore_errors(void *userdata, virErrorPtr error) {
}

static int connect_now(LibvirtEvents *l) {
        if (l->conn) {
                if (l->callback_id >= 0)
                        (void) virConnectDomainEventDeregisterAny(l->conn, l->callback_id);
                (void) virConnectUnregisterCloseCallback(l->conn, on_close);
                virConnectClose(l->conn);
                l->conn = NULL;
        }
        l->conn = virConnectOpenReadOnly(l->uri);
        if (!l->conn) {
                virErrorPtr err = virGetLastError();
                if (!l->warned)
                        log_notice("no libvirt connection to %s (%s): devices run right after a dbus-vmstate Load; "
                                   "retrying every %u s",
                                   l->uri, err && err->message ? err->message : "unknown error", RECONNECT_USEC / 1000000);
                l->warned = true;
                schedule_retry(l);
                return -ENOTCONN;
        }
        l->callback_id = virConnectDomainEventRegisterAny(l->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                          VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), l, NULL);
        if (l->callback_id < 0) {
                log_warning("cannot follow libvirt's domain events on %s", l->uri);
                virConnectClose(l->conn);
                l->conn = NULL;
                schedule_retry(l);
                return -EIO;
        }
        (void) virConnectRegisterCloseCallback(l->conn, on_close, l, NULL);
        log_info("following libvirt's domain lifecycle events on %s", l->uri);
        l->warned = false;
        return 0;
}

LibvirtEvents *libvirt_events_new(Manager *m, const char *uri) {
        LibvirtEvents *l;

        if (!uri || !*uri)
                return NULL;
        register_event_impl(m->event);
        virSetErrorFunc(NULL, ignore_errors);
        l = g_new0(LibvirtEvents, 1);
        l->manager = m;
        l->uri = g_strdup(uri);
        l->callback_id = -1;
        (void) connect_now(l);
        return l;
}

LibvirtEvents *libvirt_events_free(LibvirtEvents *l) {
        if (!l)
                return NULL;
        l->retry = sd_event_source_disable_unref(l->retry);
        if (l->conn) {
                if (l->callback_id >= 0)
                        (void) virConnectDomainEventDeregisterAny(l->conn, l->callback_id);
                (void) virConnectUnregisterCloseCallback(l->conn, on_close);
                virConnectClose(l->conn);
        }
        free_removed();
        free_source = sd_event_source_disable_unref(free_source);
        g_free(l->uri);
        g_free(l);
        return NULL;
}

bool libvirt_events_connected(const LibvirtEvents *l) {
        return l && l->conn && l->callback_id >= 0;
}
