/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "error.h"
#include "log.h"

#define AUTH_CACHE_MAX 4096

typedef struct Caller {
        uid_t uid;
        pid_t pid;
        bool admin;
} Caller;

struct Auth {
        sd_bus *bus;
        GHashTable *cache;          /* unique name -> Caller* */
        sd_bus_slot *noc_slot;
        char *admin_group;
        gid_t admin_gid;
        bool have_admin_gid;
        char *vmm_user;
        uid_t vmm_uid;
        bool have_vmm_uid;
        bool trust_own_uid;
};

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Auth *a = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (name[0] == ':' && new_owner[0] == '\0')
                g_hash_table_remove(a->cache, name);
        return 0;
}

int auth_new(sd_bus *bus, Auth **ret) {
        Auth *a = g_new0(Auth, 1);
        int r;

        a->bus = sd_bus_ref(bus);
        a->cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        r = sd_bus_match_signal_async(bus, &a->noc_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, NULL, a);
        if (r < 0) {
                auth_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

Auth *auth_free(Auth *a) {
        if (!a)
                return NULL;
        sd_bus_slot_unref(a->noc_slot);
        g_hash_table_destroy(a->cache);
        sd_bus_unref(a->bus);
        g_free(a->admin_group);
        g_free(a->vmm_user);
        g_free(a);
        return NULL;
}

int auth_configure(Auth *a, const char *admin_group, const char *vmm_user, bool trust_own_uid) {
        g_free(a->admin_group);
        a->admin_group = g_strdup(admin_group);
        a->have_admin_gid = false;
        if (admin_group && *admin_group) {
                struct group *gr = getgrnam(admin_group);
                if (gr) {
                        a->admin_gid = gr->gr_gid;
                        a->have_admin_gid = true;
                } else {
                        log_warning("admin group '%s' does not exist: only root may change devices", admin_group);
                }
        }
        g_free(a->vmm_user);
        a->vmm_user = g_strdup(vmm_user);
        a->have_vmm_uid = false;
        if (vmm_user && *vmm_user) {
                struct passwd *pw = getpwnam(vmm_user);
                if (pw) {
                        a->vmm_uid = pw->pw_uid;
                        a->have_vmm_uid = true;
                }
        }
        a->trust_own_uid = trust_own_uid;
        /* Group membership may have changed with the settings: forget cached verdicts. */
        g_hash_table_remove_all(a->cache);
        return 0;
}

static bool uid_in_group(uid_t uid, gid_t gid) {
        struct passwd *pw = getpwuid(uid);
        gid_t groups[256];
        int n = (int) G_N_ELEMENTS(groups);

        if (!pw)
                return false;
        if (pw->pw_gid == gid)
                return true;
        if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
                return false; /* more than 256 groups: treat as not a member */
        for (int i = 0; i < n; i++)
                if (groups[i] == gid)
                        return true;
        return false;
}

static int caller_lookup(Auth *a, sd_bus_message *m, Caller **ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        Caller *c;
        uid_t uid;
        pid_t pid = 0;
        int r;

        if (sender) {
                c = g_hash_table_lookup(a->cache, sender);
                if (c) {
                        *ret = c;
                        return 0;
                }
        }
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        (void) sd_bus_creds_get_pid(creds, &pid);

        c = g_new0(Caller, 1);
        c->uid = uid;
        c->pid = pid;
        c->admin = uid == 0 || (a->trust_own_uid && uid == geteuid()) ||
                   (a->have_admin_gid && uid_in_group(uid, a->admin_gid));
        if (sender) {
                if (g_hash_table_size(a->cache) >= AUTH_CACHE_MAX)
                        g_hash_table_remove_all(a->cache);
                g_hash_table_insert(a->cache, g_strdup(sender), c);
        } else {
                /* No sender (peer-to-peer): nothing to cache under. */
                static Caller tmp;
                tmp = *c;
                g_free(c);
                c = &tmp;
        }
        *ret = c;
        return 0;
}

bool auth_pid_has_uuid(pid_t pid, const char *uuid) {
        char path[64], buf[8192];
        ssize_t n;
        int fd;

        if (pid <= 0 || !uuid)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
                if (strcmp(p, "-uuid") == 0 || strcmp(p, "--uuid") == 0) {
                        char *v = p + strlen(p) + 1;
                        return v < buf + n && g_ascii_strcasecmp(v, uuid) == 0;
                }
        }
        return false;
}

int auth_check(Auth *a, sd_bus_message *m, AuthLevel level, const char *owner, sd_bus_error *error) {
        Caller *c;
        int r;

        r = caller_lookup(a, m, &c);
        if (r < 0)
                return mb_bus_error_setf(error, -MB_EACCESSDENIED, "cannot identify the caller: %s", strerror(-r));
        if (c->admin)
                return 0;
        if (level == AUTH_DATA_PATH && owner && a->have_vmm_uid && c->uid == a->vmm_uid &&
            auth_pid_has_uuid(c->pid, owner))
                return 0;
        if (level == AUTH_DATA_PATH)
                return mb_bus_error_setf(error, -MB_EACCESSDENIED,
                                         "uid %u may not call %s: it needs root, the group '%s', or the VMM user '%s' "
                                         "calling from the QEMU of the owning domain",
                                         (unsigned) c->uid, sd_bus_message_get_member(m) ?: "this method",
                                         a->admin_group ?: "(none)", a->vmm_user ?: "(none)");
        return mb_bus_error_setf(error, -MB_EACCESSDENIED, "uid %u may not call %s: it needs root or the group '%s'",
                                 (unsigned) c->uid, sd_bus_message_get_member(m) ?: "this method",
                                 a->admin_group ?: "(none)");
}

size_t auth_cache_size(const Auth *a) {
        return g_hash_table_size(a->cache);
}
