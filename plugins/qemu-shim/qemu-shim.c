/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migbroker-qemu-shim.so: a seed-ABI migration plugin for QEMU that runs no
 * vendor code. Every op becomes a call to migbrokerd over D-Bus; the state
 * moves through SaveTo/LoadFrom on a socketpair, one raw round per save() or
 * load() call, so QEMU sees the bytes the vendor plugin would have given it
 * in-process and the vendor plugin gets QEMU's chunks (README.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "macro.h"
#include "migbroker/plugin.h"
#include "shim-args.h"
#include "shim-call.h"
#include "shim-map.h"

#define SHIM_NAME "migbroker-qemu-shim"
#define BROKER_NAME "org.migbroker1"
#define BROKER_PATH "/org/migbroker1"
#define MANAGER_IFACE "org.migbroker1.Manager"
#define DEVICE_IFACE "org.migbroker1.Device"
#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
#define SYSTEM_BUS_ADDRESS "unix:path=/run/dbus/system_bus_socket"
/* Longer device names are cut in messages only; the broker gets them whole. */
#define SHIM_DEVID_MAX 64

typedef struct ShimHandle {
        pthread_mutex_t lock; /* QEMU serialises the ops of a device; this makes sure */
        sd_bus *bus;
        char *path;           /* the device object */
        char bdf[SHIM_DEVID_MAX + 1];
        ShimArgs args;
        uint64_t timeout_usec;
} ShimHandle;

static void shim_log(const char *bdf, const char *op, const char *fmt, ...) _printf_(3, 4);
static void shim_log(const char *bdf, const char *op, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* One line, one call: stderr is QEMU's log (libvirt's domain log). */
        (void) fprintf(stderr, SHIM_NAME ": %s: %s: %s\n", bdf && *bdf ? bdf : "?", op, msg);
}

static void handle_free(ShimHandle *h) {
        if (!h)
                return;
        h->bus = sd_bus_close_unref(h->bus);
        free(h->path);
        shim_args_done(&h->args);
        (void) pthread_mutex_destroy(&h->lock);
        free(h);
}
MB_DEFINE_CLEANUP(ShimHandle *, handle_free);

static int bus_connect(ShimHandle *h, char *err, size_t errlen) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        const char *address = h->args.bus_address;
        int r;

        if (!address) {
                /* What sd_bus_open_system() does, with our settings. */
                address = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
                if (!address || !*address)
                        address = SYSTEM_BUS_ADDRESS;
        }
        r = sd_bus_new(&bus);
        if (r < 0)
                goto fail;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                goto fail;
        r = sd_bus_set_bus_client(bus, 1);
        if (r < 0)
                goto fail;
        r = sd_bus_negotiate_fds(bus, 1);
        if (r < 0)
                goto fail;
        r = sd_bus_set_method_call_timeout(bus, h->timeout_usec);
        if (r < 0)
                goto fail;
        r = sd_bus_set_description(bus, SHIM_NAME);
        if (r < 0)
                goto fail;
        r = sd_bus_start(bus);
        if (r < 0)
                goto fail;
        h->bus = MB_TAKE_PTR(bus);
        return 0;
fail:
        (void) snprintf(err, errlen, "cannot connect to the bus %s: %s", address, strerror(-r));
        return r;
}

/* A method call on the device object, bounded by the handle's timeout. */
static int device_call(ShimHandle *h, const char *member, sd_bus_message **ret_reply, char *err, size_t errlen,
                       const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(h->bus, &m, BROKER_NAME, h->path, DEVICE_IFACE, member);
        if (r < 0)
                goto fail;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        goto fail;
        }
        return shim_call(h->bus, &m, h->timeout_usec, NULL, ret_reply, err, errlen);
fail:
        (void) snprintf(err, errlen, "cannot build the %s call: %s", member, strerror(-r));
        return r;
}

/* Properties.Get of a Device property; *ret_reply is positioned inside the variant. */
static int device_get_property(ShimHandle *h, const char *name, const char *type, sd_bus_message **ret_reply,
                               char *err, size_t errlen) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(h->bus, &m, BROKER_NAME, h->path, PROPERTIES_IFACE, "Get");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", DEVICE_IFACE, name);
        if (r < 0) {
                (void) snprintf(err, errlen, "cannot build the Get(%s) call: %s", name, strerror(-r));
                return r;
        }
        r = shim_call(h->bus, &m, h->timeout_usec, NULL, &reply, err, errlen);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'v', type);
        if (r < 0) {
                (void) snprintf(err, errlen, "property %s is not of type %s", name, type);
                return -EIO;
        }
        *ret_reply = MB_TAKE_PTR(reply);
        return 0;
}

static int find_device(ShimHandle *h, const char *devid, char *err, size_t errlen) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        int r;

        r = sd_bus_message_new_method_call(h->bus, &m, BROKER_NAME, BROKER_PATH, MANAGER_IFACE, "GetDevice");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", devid);
        if (r < 0) {
                (void) snprintf(err, errlen, "cannot build the GetDevice call: %s", strerror(-r));
                return r;
        }
        r = shim_call(h->bus, &m, h->timeout_usec, NULL, &reply, err, errlen);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0) {
                (void) snprintf(err, errlen, "malformed GetDevice reply: %s", strerror(-r));
                return -EIO;
        }
        h->path = strdup(path);
        return h->path ? 0 : -ENOMEM;
}

/* The shim neither claims nor opens: the libvirt hook did at 'start begin'. */
static int check_device(ShimHandle *h, char *err, size_t errlen) {
        int r;

        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                int open = 0;

                r = device_get_property(h, "IsOpen", "b", &reply, err, errlen);
                if (r < 0)
                        return r;
                r = sd_bus_message_read(reply, "b", &open);
                if (r < 0) {
                        (void) snprintf(err, errlen, "malformed IsOpen reply: %s", strerror(-r));
                        return -EIO;
                }
                if (!open) {
                        (void) snprintf(err, errlen,
                                        "the device is not open in migbrokerd (the libvirt hook opens it at "
                                        "'start begin'; by hand: migbrokerctl open %s --owner UUID)", h->bdf);
                        return -ENODEV;
                }
        }
        if (h->args.has_owner) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *owner;

                r = device_get_property(h, "Owner", "s", &reply, err, errlen);
                if (r < 0)
                        return r;
                r = sd_bus_message_read(reply, "s", &owner);
                if (r < 0) {
                        (void) snprintf(err, errlen, "malformed Owner reply: %s", strerror(-r));
                        return -EIO;
                }
                if (strcasecmp(owner, h->args.owner) != 0) {
                        (void) snprintf(err, errlen, "the device is claimed by %s, not by owner=%s",
                                        *owner ? owner : "nobody", h->args.owner);
                        return -EPERM;
                }
        }
        return 0;
}

static void *shim_init(char *devid, char *arg) {
        _cleanup_(handle_freep) ShimHandle *h = NULL;
        char err[768];
        int r;

        if (!devid || !*devid) {
                shim_log(NULL, "init", "no device name");
                return NULL;
        }
        h = calloc(1, sizeof(*h));
        if (!h) {
                shim_log(devid, "init", "out of memory");
                return NULL;
        }
        (void) snprintf(h->bdf, sizeof(h->bdf), "%s", devid);
        r = pthread_mutex_init(&h->lock, NULL);
        if (r != 0) {
                free(MB_TAKE_PTR(h));
                shim_log(devid, "init", "cannot create a lock: %s", strerror(r));
                return NULL;
        }
        r = shim_args_parse(arg, &h->args, err, sizeof(err));
        if (r < 0) {
                shim_log(h->bdf, "init", "invalid argument '%s': %s", arg, r == -ENOMEM ? "out of memory" : err);
                return NULL;
        }
        h->timeout_usec = (uint64_t) h->args.timeout_ms * 1000u;

        r = bus_connect(h, err, sizeof(err));
        if (r < 0) {
                shim_log(h->bdf, "init", "%s", err);
                return NULL;
        }
        r = find_device(h, devid, err, sizeof(err));
        if (r < 0) {
                shim_log(h->bdf, "init", "GetDevice: %s", err);
                return NULL;
        }
        r = check_device(h, err, sizeof(err));
        if (r < 0) {
                shim_log(h->bdf, "init", "%s", err);
                return NULL;
        }
        return MB_TAKE_PTR(h);
}

static int shim_update_pending(void *handle, uint64_t *pending_bytes) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ShimHandle *h = handle;
        char err[768];
        uint64_t p;
        int r;

        if (!h || !pending_bytes)
                return -EINVAL;
        (void) pthread_mutex_lock(&h->lock);
        r = device_call(h, "RefreshPending", &reply, err, sizeof(err), NULL);
        (void) pthread_mutex_unlock(&h->lock);
        if (r < 0) {
                shim_log(h->bdf, "update_pending", "RefreshPending: %s", err);
                return r;
        }
        r = sd_bus_message_read(reply, "t", &p);
        if (r < 0) {
                shim_log(h->bdf, "update_pending", "malformed RefreshPending reply: %s", strerror(-r));
                return -EIO;
        }
        *pending_bytes = p;
        return 0;
}

static int shim_set_state(void *handle, uint32_t value) {
        ShimHandle *h = handle;
        const char *state;
        char err[768];
        int r;

        if (!h)
                return -EINVAL;
        state = shim_v1_to_state(value);
        if (!state) {
                shim_log(h->bdf, "set_state", "%" PRIu32 " is not a state QEMU may set (0 stop, 1 running, "
                         "2 stop-copy, 3 pre-copy, 4 resuming)", value);
                return -EINVAL;
        }
        (void) pthread_mutex_lock(&h->lock);
        r = device_call(h, "SetState", NULL, err, sizeof(err), "s", state);
        (void) pthread_mutex_unlock(&h->lock);
        if (r < 0) {
                shim_log(h->bdf, "set_state", "SetState(%s): %s", state, err);
                return r;
        }
        return 0;
}

static int shim_get_state(void *handle, uint32_t *value) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ShimHandle *h = handle;
        const char *state;
        char err[768];
        uint32_t v1;
        int r;

        if (!h || !value)
                return -EINVAL;
        (void) pthread_mutex_lock(&h->lock);
        r = device_get_property(h, "State", "s", &reply, err, sizeof(err));
        (void) pthread_mutex_unlock(&h->lock);
        if (r < 0) {
                shim_log(h->bdf, "get_state", "State: %s", err);
                return r;
        }
        r = sd_bus_message_read(reply, "s", &state);
        if (r < 0 || shim_state_to_v1(state, &v1) < 0) {
                shim_log(h->bdf, "get_state", "unknown State '%s'", r < 0 ? "(malformed)" : state);
                return -EIO;
        }
        *value = v1;
        return 0;
}

static void close_pair(int (*sv)[2]) {
        (*sv)[0] = mb_safe_close((*sv)[0]);
        (*sv)[1] = mb_safe_close((*sv)[1]);
}

/* One SaveTo or LoadFrom call moving exactly one raw round of len bytes. */
static int stream_call(ShimHandle *h, ShimXferDir dir, uint8_t *buf, uint64_t len, char *err, size_t errlen) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(close_pair) int sv[2] = { -1, -1 };
        const char *member = dir == SHIM_XFER_SAVE ? "SaveTo" : "LoadFrom";
        ShimXfer x;
        uint64_t bytes;
        int r, fl;

        /* A socket, not a pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE in QEMU,
         * and the broker takes sockets for both directions. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                r = -errno;
                (void) snprintf(err, errlen, "socketpair: %s", strerror(-r));
                return r;
        }
        fl = fcntl(sv[0], F_GETFL);
        if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) {
                r = -errno;
                (void) snprintf(err, errlen, "cannot make the socket non-blocking: %s", strerror(-r));
                return r;
        }

        r = sd_bus_message_new_method_call(h->bus, &m, BROKER_NAME, h->path, DEVICE_IFACE, member);
        if (r < 0)
                goto build_fail;
        r = sd_bus_message_append(m, "h", sv[1]); /* sd-bus keeps a copy */
        if (r < 0)
                goto build_fail;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                goto build_fail;
        r = sd_bus_message_append(m, "{sv}", "format", "s", "raw");
        if (r < 0)
                goto build_fail;
        if (dir == SHIM_XFER_SAVE) {
                /* One round of at most len plugin bytes; exactly len when that much is pending. */
                r = sd_bus_message_append(m, "{sv}", "max-bytes", "t", len);
                if (r < 0)
                        goto build_fail;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                goto build_fail;
        sv[1] = mb_safe_close(sv[1]);

        x = (ShimXfer) { .dir = dir, .fd = sv[0], .buf = buf, .len = len };
        if (dir == SHIM_XFER_LOAD)
                shim_raw_hdr_encode(x.hdr, len);
        r = shim_call(h->bus, &m, h->timeout_usec, &x, &reply, err, errlen);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "t", &bytes);
        if (r < 0) {
                (void) snprintf(err, errlen, "malformed %s reply: %s", member, strerror(-r));
                return -EIO;
        }
        /* SaveTo counts the round header; LoadFrom counts what it read (header
         * included today; the documented meaning leaves it out: take both). */
        if (bytes != SHIM_RAW_HDR_LEN + len && !(dir == SHIM_XFER_LOAD && bytes == len)) {
                (void) snprintf(err, errlen, "%s reports %" PRIu64 " bytes for a round of %" PRIu64, member, bytes,
                                len);
                return -EIO;
        }
        return 0;
build_fail:
        (void) snprintf(err, errlen, "cannot build the %s call: %s", member, strerror(-r));
        return r;
}

static int shim_save(void *handle, uint8_t *state, uint64_t len) {
        ShimHandle *h = handle;
        char err[768];
        int r;

        if (!h || (!state && len > 0))
                return -EINVAL;
        if (len == 0) /* max-bytes 0 would mean "no cap" */
                return 0;
        (void) pthread_mutex_lock(&h->lock);
        r = stream_call(h, SHIM_XFER_SAVE, state, len, err, sizeof(err));
        (void) pthread_mutex_unlock(&h->lock);
        if (r < 0)
                shim_log(h->bdf, "save", "SaveTo(%" PRIu64 " bytes): %s", len, err);
        return r;
}

static int shim_load(void *handle, uint8_t *state, uint64_t len) {
        ShimHandle *h = handle;
        char err[768];
        int r;

        if (!h || (!state && len > 0))
                return -EINVAL;
        if (len == 0) /* a round of 0 bytes makes no load() call either */
                return 0;
        (void) pthread_mutex_lock(&h->lock);
        r = stream_call(h, SHIM_XFER_LOAD, state, len, err, sizeof(err));
        (void) pthread_mutex_unlock(&h->lock);
        if (r < 0)
                shim_log(h->bdf, "load", "LoadFrom(%" PRIu64 " bytes): %s", len, err);
        return r;
}

/* Lets go of the connection; the device stays open (the hook closes it). */
static int shim_cleanup(void *handle) {
        handle_free(handle);
        return 0;
}

static VFIOMigrationPluginOps shim_ops = {
        .init = shim_init,
        .save = shim_save,
        .load = shim_load,
        .update_pending = shim_update_pending,
        .set_state = shim_set_state,
        .get_state = shim_get_state,
        .cleanup = shim_cleanup,
};

int vfio_lm_get_plugin_version(void);
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void);

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return &shim_ops;
}
