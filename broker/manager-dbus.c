/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "device-dbus.h"
#include "error.h"
#include "log.h"
#include "manager-dbus.h"

static int prop_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int prop_policy_files(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        if (r < 0)
                return r;
        for (guint i = 0; i < m->policy_files->len; i++) {
                r = sd_bus_message_append(reply, "s", (const char *) m->policy_files->pdata[i]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static gint compare_bdf(gconstpointer a, gconstpointer b) {
        const Device *x = *(Device *const *) a, *y = *(Device *const *) b;
        return strcmp(x->bdf, y->bdf);
}

/* The devices sorted by BDF. */
static GPtrArray *sorted_devices(Manager *m) {
        GPtrArray *l = g_ptr_array_new();
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, NULL, &value))
                g_ptr_array_add(l, value);
        g_ptr_array_sort(l, compare_bdf);
        return l;
}

static int prop_devices(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        g_autoptr(GPtrArray) l = sorted_devices(userdata);
        int r;

        r = sd_bus_message_open_container(reply, 'a', "o");
        if (r < 0)
                return r;
        for (guint i = 0; i < l->len; i++) {
                Device *d = l->pdata[i];
                r = sd_bus_message_append(reply, "o", d->path);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GPtrArray) l = sorted_devices(userdata);
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssssso)");
        if (r < 0)
                return r;
        for (guint i = 0; i < l->len; i++) {
                Device *d = l->pdata[i];
                const DeviceBinding *b = d->open ? &d->session_binding : &d->binding;
                r = sd_bus_message_append(reply, "(ssssso)", d->bdf, b->plugin_name ?: "", device_state_string(d),
                                          d->owner ?: "", b->rule ?: "", d->path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char norm[MB_BDF_STRLEN + 1];
        const char *bdf;
        Device *d;
        int r;

        r = sd_bus_message_read(msg, "s", &bdf);
        if (r < 0)
                return r;
        if (mb_bdf_normalize(bdf, norm) < 0)
                return mb_bus_error_setf(error, -EINVAL, MB_QUOTE_FMT " is not a PCI address (DDDD:BB:SS.F)", MB_QUOTE(bdf));
        d = g_hash_table_lookup(m->devices, norm);
        if (!d) {
                g_autofree char *p = g_build_filename(m->config.sysfs_root ?: "/sys", "bus/pci/devices", norm, NULL);
                if (g_file_test(p, G_FILE_TEST_EXISTS))
                        return mb_bus_error_setf(error, -MB_ENOTMANAGED, "%s exists but no policy rule binds it", norm);
                return mb_bus_error_setf(error, -MB_ENOSUCHDEVICE, "no PCI function %s", norm);
        }
        return sd_bus_reply_method_return(msg, "o", d->path);
}

static int method_reload_policy(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = auth_check(m->auth, msg, AUTH_ADMIN, NULL, error);
        if (r < 0)
                return r;
        log_info("policy reload requested over D-Bus");
        r = manager_load_policy(m, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_rescan(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = auth_check(m->auth, msg, AUTH_ADMIN, NULL, error);
        if (r < 0)
                return r;
        r = manager_rescan(m);
        if (r < 0)
                return mb_bus_error_setf(error, r, "rescan failed");
        return sd_bus_reply_method_return(msg, NULL);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", prop_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PolicyFiles", "as", prop_policy_files, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Devices", "ao", prop_devices, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssssso)", devices),
                                method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetDevice", SD_BUS_ARGS("s", bdf), SD_BUS_RESULT("o", device), method_get_device,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReloadPolicy", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload_policy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Rescan", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_rescan,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int manager_dbus_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, &m->manager_slot, MANAGER_PATH, MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0)
                return r;
        return sd_bus_add_object_manager(m->bus, &m->om_slot, MANAGER_PATH);
}
