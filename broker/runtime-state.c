/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "manager.h"
#include "runtime-state.h"

#define GROUP "device"

static char *record_path(const char *runtime_dir, const char *bdf) {
        return g_build_filename(runtime_dir, "devices", bdf, NULL);
}

static int ensure_dirs(const char *runtime_dir) {
        g_autofree char *devices = g_build_filename(runtime_dir, "devices", NULL);

        if (g_mkdir_with_parents(runtime_dir, 0755) < 0)
                return -errno;
        if (g_mkdir_with_parents(devices, 0700) < 0)
                return -errno;
        return 0;
}

int runtime_state_save(const char *runtime_dir, const Device *d) {
        g_autofree char *path = record_path(runtime_dir, d->bdf);
        g_autoptr(GKeyFile) kf = NULL;
        g_autoptr(GError) err = NULL;
        g_autofree char *data = NULL;
        gsize len;
        int r;

        if (!d->owner && !d->incoming_owner && !d->open) {
                if (g_unlink(path) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        r = ensure_dirs(runtime_dir);
        if (r < 0)
                return r;
        kf = g_key_file_new();
        g_key_file_set_string(kf, GROUP, "Bdf", d->bdf);
        if (d->owner)
                g_key_file_set_string(kf, GROUP, "Owner", d->owner);
        if (d->incoming_owner)
                g_key_file_set_string(kf, GROUP, "IncomingOwner", d->incoming_owner);
        if (d->vmstate_id)
                g_key_file_set_string(kf, GROUP, "VmstateId", d->vmstate_id);
        g_key_file_set_boolean(kf, GROUP, "Open", d->open);
        if (d->open && d->session_binding.plugin_name)
                g_key_file_set_string(kf, GROUP, "Plugin", d->session_binding.plugin_name);
        data = g_key_file_to_data(kf, &len, NULL);
        if (!g_file_set_contents_full(path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &err))
                return -EIO;
        return 0;
}

static void reopen_done(DeviceOp *op, int r, const sd_bus_error *error, void *userdata) {
        if (r < 0)
                log_dev_error(op->device->bdf, "could not re-open the session after a restart: %s",
                              error && error->message ? error->message : g_strerror(-r));
        else
                log_dev_info(op->device->bdf, "session re-opened after a restart");
}

int runtime_state_restore(Manager *m) {
        g_autofree char *dir = g_build_filename(m->runtime_dir, "devices", NULL);
        g_autoptr(GDir) gd = NULL;
        const char *name;

        gd = g_dir_open(dir, 0, NULL);
        if (!gd)
                return 0;
        while ((name = g_dir_read_name(gd))) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                g_autofree char *path = g_build_filename(dir, name, NULL);
                g_autoptr(GKeyFile) kf = g_key_file_new();
                g_autofree char *owner = NULL, *incoming = NULL, *vmstate_id = NULL;
                Device *d;
                bool open;

                if (!mb_bdf_valid(name))
                        continue;
                if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL)) {
                        log_warning("ignoring unreadable record %s", path);
                        continue;
                }
                owner = g_key_file_get_string(kf, GROUP, "Owner", NULL);
                incoming = g_key_file_get_string(kf, GROUP, "IncomingOwner", NULL);
                vmstate_id = g_key_file_get_string(kf, GROUP, "VmstateId", NULL);
                open = g_key_file_get_boolean(kf, GROUP, "Open", NULL);
                d = manager_find_device(m, name);
                if (!d) {
                        log_warning("%s: recorded as claimed by %s but the policy no longer manages it; record kept in %s",
                                    name, owner ?: "(nobody)", path);
                        continue;
                }
                g_free(d->incoming_owner);
                d->incoming_owner = g_steal_pointer(&incoming);
                if (owner && device_claim(d, owner, &e) < 0) {
                        log_dev_warning(d->bdf, "cannot restore the claim of %s: %s", owner, e.message);
                        continue;
                }
                if (owner)
                        log_dev_info(d->bdf, "claim of %s restored", owner);
                g_free(d->vmstate_id);
                d->vmstate_id = g_steal_pointer(&vmstate_id);
                if (open && owner && device_open(d, owner, d->vmstate_id, reopen_done, NULL, &e) < 0)
                        log_dev_warning(d->bdf, "cannot re-open the session: %s", e.message);
        }
        return 0;
}
