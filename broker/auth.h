/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * auth.h: who may call what on the broker: read-only calls are open; changing
 * calls need uid 0 or the admin group; data-path calls may also come from the
 * owning domain's own QEMU (the VMM user, -uuid matching). Credentials are
 * cached per unique bus name. It does not know about devices beyond an owner.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef struct Auth Auth;

typedef enum AuthLevel {
        AUTH_ADMIN,       /* uid 0 or a member of the admin group */
        AUTH_DATA_PATH,   /* admin, or the VMM user from the owner's QEMU */
} AuthLevel;

int auth_new(sd_bus *bus, Auth **ret);
Auth *auth_free(Auth *a);

/* admin_group/vmm_user may be NULL (nobody but root, resp. no VMM access).
 * trust_own_uid: our own euid counts as admin (tests run the broker as a
 * normal user). */
int auth_configure(Auth *a, const char *admin_group, const char *vmm_user, bool trust_own_uid);

/* 0 when allowed; -MB_EACCESSDENIED (error set, naming the caller's uid and
 * what would be needed) when not. owner: the device's owner for DATA_PATH. */
int auth_check(Auth *a, sd_bus_message *m, AuthLevel level, const char *owner, sd_bus_error *error);

/* Whether a process's command line carries "-uuid UUID" (QEMU's), for tests. */
bool auth_pid_has_uuid(pid_t pid, const char *uuid);
size_t auth_cache_size(const Auth *a);
