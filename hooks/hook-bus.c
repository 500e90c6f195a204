/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "hook-bus.h"
#include "macro.h"

struct HookBus {
        sd_bus *bus;
        char *address;        /* NULL: the system bus */
        uint64_t timeout_usec;
        uint64_t timeout_ms;
};

HookBus *hook_bus_new(const char *address, uint64_t timeout_ms) {
        HookBus *b = g_new0(HookBus, 1);

        b->address = g_strdup(address);
        b->timeout_ms = timeout_ms;
        b->timeout_usec = timeout_ms * 1000;
        return b;
}

void hook_bus_free(HookBus *b) {
        if (!b)
                return;
        sd_bus_flush_close_unref(b->bus);
        g_free(b->address);
        g_free(b);
}

static const char *bus_description(const HookBus *b) {
        return b->address ?: "the system bus";
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int bus_connect(void *userdata, sd_bus_error *error) {
        HookBus *b = userdata;
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        if (b->bus)
                return 0;
        (void) mb_error_register();
        if (b->address) {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, b->address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else
                r = sd_bus_open_system(&bus);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "cannot connect to %s: %s", bus_description(b),
                                               strerror(-r));
        b->bus = MB_TAKE_PTR(bus);
        return 0;
}

typedef struct Pending {
        bool done;
        sd_bus_message *reply;
} Pending;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;

        p->reply = sd_bus_message_ref(m);
        p->done = true;
        return 0;
}

/* sd_bus_call() with one deadline for everything it waits for: the
 * connection's authentication and Hello (which sd_bus_call() would wait for
 * without bound) as well as the reply. */
static int call_bounded(HookBus *b, sd_bus_message *m, sd_bus_message **ret_reply, sd_bus_error *error) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint64_t deadline = now_usec() + b->timeout_usec;
        char member[64];
        Pending p = {};
        int r;

        /* A copy: sending seals m, which moves its header (and the member name in it). */
        snprintf(member, sizeof(member), "%s", sd_bus_message_get_member(m) ?: "?");
        r = sd_bus_call_async(b->bus, &slot, m, on_reply, &p, b->timeout_usec);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "cannot call %s on %s: %s", member, bus_description(b),
                                               strerror(-r));
        while (!p.done) {
                uint64_t now;

                r = sd_bus_process(b->bus, NULL);
                /* The reply may come with any return, 0 included: seen when
                 * sd-bus's own timeout, due with ours, ran the callback with its
                 * synthetic NoReply and sd_bus_process() returned 0. */
                if (p.done)
                        break;
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "lost the connection to %s: %s",
                                                       bus_description(b), strerror(-r));
                if (r > 0)
                        continue;
                now = now_usec();
                if (now >= deadline)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_NO_REPLY,
                                                 "no reply from migbrokerd to %s within %" PRIu64 " ms", member,
                                                 b->timeout_ms);
                r = sd_bus_wait(b->bus, deadline - now);
                if (r < 0 && r != -EINTR)
                        return sd_bus_error_set_errnof(error, r, "lost the connection to %s: %s",
                                                       bus_description(b), strerror(-r));
        }
        reply = MB_TAKE_PTR(p.reply);

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                    sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        return sd_bus_error_setf(error, e->name, "migbrokerd is not running (nobody owns %s on %s)",
                                                 HOOK_BUS_NAME, bus_description(b));
                if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY))
                        return sd_bus_error_setf(error, e->name, "no reply from migbrokerd to %s within %" PRIu64
                                                                 " ms",
                                                 member, b->timeout_ms);
                r = sd_bus_error_copy(error, e);
                return r < 0 ? r : -EIO;
        }
        *ret_reply = MB_TAKE_PTR(reply);
        return 0;
}

static int bus_get_device(void *userdata, const char *bdf, char **ret_path, sd_bus_error *error) {
        HookBus *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        int r;

        r = sd_bus_message_new_method_call(b->bus, &m, HOOK_BUS_NAME, HOOK_MANAGER_PATH, HOOK_MANAGER_IFACE,
                                           "GetDevice");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", bdf);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "cannot build a GetDevice call: %s", strerror(-r));
        r = call_bounded(b, m, &reply, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "GetDevice(%s) returned no object path: %s", bdf,
                                               strerror(-r));
        *ret_path = g_strdup(path);
        return 0;
}

static int bus_call(void *userdata, const char *bdf, const char *path, HookMethod method, const char *owner,
                    const char *vmstate_id, sd_bus_error *error) {
        HookBus *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *name = hook_method_name(method);
        int r;

        r = sd_bus_message_new_method_call(b->bus, &m, HOOK_BUS_NAME, path, HOOK_DEVICE_IFACE, name);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", owner);
        if (r >= 0 && method == HOOK_METHOD_OPEN && vmstate_id)
                r = sd_bus_message_append(m, "a{sv}", 1, "vmstate-id", "s", vmstate_id);
        else if (r >= 0 && method == HOOK_METHOD_OPEN)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "cannot build a %s call for %s: %s", name, bdf,
                                               strerror(-r));
        return call_bounded(b, m, &reply, error);
}

const HookBrokerOps hook_bus_ops = {
        .connect = bus_connect,
        .get_device = bus_get_device,
        .call = bus_call,
};
