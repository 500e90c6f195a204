/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * device-dbus.c: org.migbroker1.Device on /org/migbroker1/device/<bdf>: one
 * fallback vtable for all devices (found by decoding the path) and a node
 * enumerator, as ratbagd does. Validates arguments and authorization, then
 * hands over to device.c; replies when the device's operation completes.
 */
#include <errno.h>
#include <string.h>

#include "device-dbus.h"
#include "error.h"
#include "fd-util.h"
#include "log.h"
#include "manager.h"
#include "migbroker/plugin.h"
#include "stream.h"
#include "uuid.h"
#include "vmstate.h"

static int find_device(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        _cleanup_free_ char *bdf = NULL;
        Manager *m = userdata;
        Device *d;
        int r;

        r = sd_bus_path_decode(path, DEVICE_PATH_PREFIX, &bdf);
        if (r <= 0)
                return 0;
        d = manager_find_device(m, bdf);
        if (!d)
                return 0;
        *found = d;
        return 1;
}

static int enumerate_devices(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        GHashTableIter it;
        gpointer value;
        char **l;
        size_t i = 0;

        l = calloc(g_hash_table_size(m->devices) + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Device *d = value;
                l[i] = strdup(d->path);
                if (!l[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(l[k]);
                        free(l);
                        return -ENOMEM;
                }
                i++;
        }
        *nodes = l;
        return 0;
}

/* ---- properties -------------------------------------------------------- */

static const DeviceBinding *shown_binding(const Device *d) {
        return d->open ? &d->session_binding : &d->binding;
}

static int prop_bdf(sd_bus *bus, const char *path, const char *interface, const char *property,
                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", d->bdf);
}

static int prop_plugin(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", shown_binding(d)->plugin_name ?: "");
}

static int prop_plugin_arg(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", shown_binding(d)->arg ?: "");
}

static int prop_rule(sd_bus *bus, const char *path, const char *interface, const char *property,
                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", shown_binding(d)->rule ?: "");
}

static int prop_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", device_state_string(d));
}

static int prop_owner(sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", d->owner ?: "");
}

static int prop_pending(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "t", d->pending_bytes);
}

static int prop_caps(sd_bus *bus, const char *path, const char *interface, const char *property,
                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        if (r < 0)
                return r;
        if (d->open && device_has_precopy(d)) {
                r = sd_bus_message_append(reply, "s", "pre-copy");
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int prop_is_open(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "b", d->open);
}

static int prop_incoming(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", d->incoming_owner ?: "");
}

static int prop_managed(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "b", d->managed);
}

static int prop_vmstate_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", d->vmstate_id ?: "");
}

/* ---- argument checks ------------------------------------------------------ */

/* Owners are domain UUIDs; normalised to lower case. */
static int parse_owner(const char *s, char out[static 37], sd_bus_error *error) {
        if (s && mb_uuid_normalize(s, strlen(s), out) == 0)
                return 0;
        return mb_bus_error_setf(error, -EINVAL, "owner " MB_QUOTE_FMT " is not a domain UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                                 MB_QUOTE(s ?: ""));
}

typedef struct StreamOptions {
        int format;
        uint64_t max_bytes;
        bool zero_copy;
        char vmstate_id[MB_VMSTATE_ID_MAX + 1];
} StreamOptions;

/* A dbus-vmstate id as QEMU's id-list takes it: visible ASCII, no comma
 * (the list separator). The hook applies the same rule to the metadata. */
static bool vmstate_id_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > MB_VMSTATE_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == ',')
                        return false;
        return true;
}

/* Reads a{sv}; allowed: a NULL-terminated list of known keys. */
static int parse_options(sd_bus_message *m, const char *const *allowed, StreamOptions *o, sd_bus_error *error) {
        int r;

        o->format = MB_STREAM_FORMAT_FRAMED;
        o->max_bytes = 0;
        o->zero_copy = true;
        o->vmstate_id[0] = '\0';
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key, *contents;
                bool known = false;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                for (size_t i = 0; allowed && allowed[i]; i++)
                        if (strcmp(allowed[i], key) == 0)
                                known = true;
                if (!known)
                        return mb_bus_error_setf(error, -EINVAL, "unknown option " MB_QUOTE_FMT, MB_QUOTE(key));
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (strcmp(key, "format") == 0) {
                        const char *f;
                        if (strcmp(contents, "s") != 0)
                                return mb_bus_error_setf(error, -EINVAL, "option 'format' must be a string");
                        r = sd_bus_message_read(m, "v", "s", &f);
                        if (r < 0)
                                return r;
                        o->format = mb_stream_format_from_string(f);
                        if (o->format < 0)
                                return mb_bus_error_setf(error, -EINVAL, "unknown format " MB_QUOTE_FMT " (framed or raw)", MB_QUOTE(f));
                } else if (strcmp(key, "vmstate-id") == 0) {
                        const char *id;
                        if (strcmp(contents, "s") != 0)
                                return mb_bus_error_setf(error, -EINVAL, "option 'vmstate-id' must be a string");
                        r = sd_bus_message_read(m, "v", "s", &id);
                        if (r < 0)
                                return r;
                        if (!vmstate_id_valid(id))
                                return mb_bus_error_setf(error, -EINVAL,
                                                         "vmstate-id " MB_QUOTE_FMT " is not 1 to %u visible ASCII characters without a comma", MB_QUOTE(id),
                                                         MB_VMSTATE_ID_MAX);
                        g_strlcpy(o->vmstate_id, id, sizeof(o->vmstate_id));
                } else if (strcmp(key, "max-bytes") == 0) {
                        if (strcmp(contents, "t") != 0)
                                return mb_bus_error_setf(error, -EINVAL, "option 'max-bytes' must be a uint64 (t)");
                        r = sd_bus_message_read(m, "v", "t", &o->max_bytes);
                        if (r < 0)
                                return r;
                } else if (strcmp(key, "zero-copy") == 0) {
                        int b;
                        if (strcmp(contents, "b") != 0)
                                return mb_bus_error_setf(error, -EINVAL, "option 'zero-copy' must be a boolean (b)");
                        r = sd_bus_message_read(m, "v", "b", &b);
                        if (r < 0)
                                return r;
                        o->zero_copy = b;
                } else {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

/* ---- replies ------------------------------------------------------------ */

static void reply_done(DeviceOp *op, int r, const sd_bus_error *error, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata;

        if (r < 0) {
                if (error && sd_bus_error_is_set(error))
                        (void) sd_bus_reply_method_error(m, error);
                else
                        (void) sd_bus_reply_method_errnof(m, -r, "%s failed: %m", op->name);
                return;
        }
        (void) sd_bus_reply_method_return(m, NULL);
}

static void reply_done_t(DeviceOp *op, int r, const sd_bus_error *error, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata;

        if (r < 0) {
                if (error && sd_bus_error_is_set(error))
                        (void) sd_bus_reply_method_error(m, error);
                else
                        (void) sd_bus_reply_method_errnof(m, -r, "%s failed: %m", op->name);
                return;
        }
        (void) sd_bus_reply_method_return(m, "t", op->result);
}

/* Runs an enqueueing call on d, and the operation at once when d has no
 * other: 1 (replied, or a reply later) or the error. */
#define ENQUEUE(m, d, call)                                                                            \
        ({                                                                                             \
                sd_bus_message_ref(m);                                                                 \
                int _r = (call);                                                                       \
                if (_r < 0)                                                                            \
                        sd_bus_message_unref(m);                                                       \
                else                                                                                   \
                        device_queue_run(d);                                                           \
                _r < 0 ? _r : 1;                                                                       \
        })

/* ---- methods -------------------------------------------------------------- */

/* The common part of the calls that name an owner and change the device:
 * the owner (a domain UUID, normalised), then the caller's right. */
static int read_owner_call(sd_bus_message *m, Device *d, char owner[static 37], sd_bus_error *error) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        r = parse_owner(s, owner, error);
        if (r < 0)
                return r;
        return auth_check(d->manager->auth, m, AUTH_ADMIN, NULL, error);
}

static int method_preflight(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        char owner[37];
        int r;

        r = read_owner_call(m, d, owner, error);
        if (r < 0)
                return r;
        return ENQUEUE(m, d, device_preflight(d, owner, reply_done, m, error));
}

static int method_claim(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        char owner[37];
        int r;

        r = read_owner_call(m, d, owner, error);
        if (r < 0)
                return r;
        r = device_claim(d, owner, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        char owner[37];
        int r;

        r = read_owner_call(m, d, owner, error);
        if (r < 0)
                return r;
        /* Only marked incoming (a migration that never got to Claim): drop the mark. */
        if (!d->owner && d->incoming_owner && strcmp(d->incoming_owner, owner) == 0) {
                device_set_incoming(d, NULL);
                return sd_bus_reply_method_return(m, NULL);
        }
        return ENQUEUE(m, d, device_release(d, owner, reply_done, m, error));
}

static int method_open(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static const char *const allowed[] = { "vmstate-id", NULL };
        Device *d = userdata;
        StreamOptions o;
        const char *s;
        char owner[37];
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        r = parse_owner(s, owner, error);
        if (r < 0)
                return r;
        r = parse_options(m, allowed, &o, error);
        if (r < 0)
                return r;
        r = auth_check(d->manager->auth, m, AUTH_ADMIN, NULL, error);
        if (r < 0)
                return r;
        return ENQUEUE(m, d, device_open(d, owner, o.vmstate_id[0] ? o.vmstate_id : NULL, reply_done, m, error));
}

static int method_close(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        char owner[37];
        int r;

        r = read_owner_call(m, d, owner, error);
        if (r < 0)
                return r;
        if (!d->owner || strcmp(d->owner, owner) != 0)
                return mb_bus_error_setf(error, -MB_ENOTCLAIMED, "%s is not claimed by %s", d->bdf, owner);
        return ENQUEUE(m, d, device_close(d, owner, reply_done, m, error));
}

static int method_set_state(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        const char *s;
        MbState target;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        target = mb_state_from_string(s);
        if (target < 0)
                return mb_bus_error_setf(error, -EINVAL,
                                         "unknown state " MB_QUOTE_FMT " (running, stop, pre-copy, stop-copy or resuming)", MB_QUOTE(s));
        r = auth_check(d->manager->auth, m, AUTH_DATA_PATH, d->owner, error);
        if (r < 0)
                return r;
        return ENQUEUE(m, d, device_set_target_state(d, target, reply_done, m, error));
}

static int method_reset(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        int r;

        r = auth_check(d->manager->auth, m, AUTH_ADMIN, NULL, error);
        if (r < 0)
                return r;
        return ENQUEUE(m, d, device_reset(d, reply_done, m, error));
}

static int method_refresh_pending(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        int r;

        r = auth_check(d->manager->auth, m, AUTH_DATA_PATH, d->owner, error);
        if (r < 0)
                return r;
        return ENQUEUE(m, d, device_refresh_pending(d, reply_done_t, m, error));
}

static int check_fd(int fd, bool writing, sd_bus_error *error) {
        int r = mb_fd_check_stream(fd, writing);

        if (r == -EISDIR)
                return mb_bus_error_setf(error, -EINVAL, "the file descriptor is a directory");
        if (r == -EBADF)
                return mb_bus_error_setf(error, -EINVAL, "the file descriptor is not open for %s",
                                         writing ? "writing" : "reading");
        if (r < 0)
                return mb_bus_error_setf(error, -EINVAL, "cannot %s a stream %s a %s", writing ? "write" : "read",
                                         writing ? "to" : "from", mb_fd_kind(fd));
        return 0;
}

/* The common part of SaveTo and LoadFrom: fd, options, the fd's kind, authorization. */
static int read_stream_call(sd_bus_message *m, Device *d, bool writing, const char *const *allowed, int *ret_fd,
                            StreamOptions *o, sd_bus_error *error) {
        int r;

        r = sd_bus_message_read(m, "h", ret_fd);
        if (r < 0)
                return r;
        r = parse_options(m, allowed, o, error);
        if (r < 0)
                return r;
        r = check_fd(*ret_fd, writing, error);
        if (r < 0)
                return r;
        return auth_check(d->manager->auth, m, AUTH_DATA_PATH, d->owner, error);
}

static int method_save_to(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static const char *const allowed[] = { "format", "max-bytes", "zero-copy", NULL };
        Device *d = userdata;
        StreamOptions o;
        int fd, r;

        r = read_stream_call(m, d, true, allowed, &fd, &o, error);
        if (r < 0)
                return r;
        return ENQUEUE(m, d, device_save_to(d, fd, o.format, o.max_bytes, o.zero_copy, reply_done_t, m, error));
}

static int method_load_from(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static const char *const allowed[] = { "format", NULL };
        Device *d = userdata;
        StreamOptions o;
        int fd, r;

        r = read_stream_call(m, d, false, allowed, &fd, &o, error);
        if (r < 0)
                return r;
        return ENQUEUE(m, d, device_load_from(d, fd, o.format, reply_done_t, m, error));
}

static const sd_bus_vtable device_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Bdf", "s", prop_bdf, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Plugin", "s", prop_plugin, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PluginArg", "s", prop_plugin_arg, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Rule", "s", prop_rule, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", prop_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Owner", "s", prop_owner, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PendingBytes", "t", prop_pending, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Capabilities", "as", prop_caps, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IsOpen", "b", prop_is_open, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IncomingOwner", "s", prop_incoming, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Managed", "b", prop_managed, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VmstateId", "s", prop_vmstate_id, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Preflight", SD_BUS_ARGS("s", owner), SD_BUS_NO_RESULT, method_preflight,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Claim", SD_BUS_ARGS("s", owner), SD_BUS_NO_RESULT, method_claim,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_ARGS("s", owner), SD_BUS_NO_RESULT, method_release,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Open", SD_BUS_ARGS("s", owner, "a{sv}", options), SD_BUS_NO_RESULT, method_open,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Close", SD_BUS_ARGS("s", owner), SD_BUS_NO_RESULT, method_close,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetState", SD_BUS_ARGS("s", state), SD_BUS_NO_RESULT, method_set_state,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reset", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reset, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RefreshPending", SD_BUS_NO_ARGS, SD_BUS_RESULT("t", pending_bytes),
                                method_refresh_pending, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SaveTo", SD_BUS_ARGS("h", fd, "a{sv}", options), SD_BUS_RESULT("t", bytes),
                                method_save_to, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("LoadFrom", SD_BUS_ARGS("h", fd, "a{sv}", options), SD_BUS_RESULT("t", bytes),
                                method_load_from, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int device_dbus_register(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, &m->device_slot, DEVICE_PATH_PREFIX, DEVICE_INTERFACE, device_vtable,
                                       find_device, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, &m->enum_slot, DEVICE_PATH_PREFIX, enumerate_devices, m);
}
