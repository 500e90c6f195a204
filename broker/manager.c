/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <assert.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device-dbus.h"
#include "domain-bus.h"
#include "error.h"
#include "log.h"
#include "manager-dbus.h"
#include "manager.h"
#include "pci-sysfs.h"
#include "policy-load.h"
#include "policy-match.h"
#include "runtime-state.h"

static void manager_config_clear(ManagerConfig *c) {
        g_free(c->bus_address);
        g_free(c->policy_path);
        g_free(c->sysfs_root);
        g_free(c->plugin_dir);
        g_free(c->runtime_dir);
        g_free(c->worker_path);
        g_free(c->worker_user);
        g_free(c->libvirt_uri);
}

Manager *manager_free(Manager *m) {
        GHashTableIter it;
        gpointer value;

        if (!m)
                return NULL;
        m->shutting_down = true; /* nothing is persisted or removed from here on */
        if (m->devices) {
                g_hash_table_iter_init(&it, m->devices);
                while (g_hash_table_iter_next(&it, NULL, &value)) {
                        Device *d = value;
                        /* Queued operations can no longer be answered: drop them. */
                        while (!g_queue_is_empty(&d->ops)) {
                                DeviceOp *op = g_queue_peek_head(&d->ops);
                                d->op_running = true;
                                device_op_finish_errorf(op, -ECANCELED, "the broker is shutting down");
                        }
                        d->worker = mb_worker_unref(d->worker);
                }
                g_hash_table_destroy(m->devices);
        }
        m->changed_source = sd_event_source_disable_unref(m->changed_source);
        if (m->changed)
                g_ptr_array_unref(m->changed);
        m->manager_slot = sd_bus_slot_unref(m->manager_slot);
        m->device_slot = sd_bus_slot_unref(m->device_slot);
        m->enum_slot = sd_bus_slot_unref(m->enum_slot);
        m->om_slot = sd_bus_slot_unref(m->om_slot);
        m->prober = prober_free(m->prober);
        /* Workers let go of above were killed; the loop will not run again
         * to reap them: do it here (and free what holds the loop). */
        mb_worker_reap_released();
        m->libvirt = libvirt_events_free(m->libvirt);
        g_free(m->followed_uri);
        if (m->stopping_buses)
                g_hash_table_destroy(m->stopping_buses);
        auth_free(m->auth);
        if (m->bus)
                sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        g_clear_pointer(&m->policy, mb_policy_unref);
        if (m->policy_files)
                g_ptr_array_unref(m->policy_files);
        g_free(m->runtime_dir);
        manager_config_clear(&m->config);
        g_free(m);
        return NULL;
}

static void device_free_value(gpointer p) {
        device_unref(p);
}

static int on_changes_due(sd_event_source *s, void *userdata);

int manager_new(const ManagerConfig *cfg, Manager **ret) {
        g_autoptr(Manager) m = g_new0(Manager, 1);
        int r;

        m->config = (ManagerConfig) {
                .bus_address = g_strdup(cfg->bus_address),
                .policy_path = g_strdup(cfg->policy_path),
                .sysfs_root = g_strdup(cfg->sysfs_root),
                .plugin_dir = g_strdup(cfg->plugin_dir),
                .runtime_dir = g_strdup(cfg->runtime_dir),
                .worker_path = g_strdup(cfg->worker_path),
                .worker_user = g_strdup(cfg->worker_user),
                .libvirt_uri = g_strdup(cfg->libvirt_uri),
        };
        m->devices = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, device_free_value);
        m->policy_files = g_ptr_array_new_with_free_func(g_free);
        m->stopping_buses = domain_bus_stopping_table_new();

        /* Not sd_event_default(): a default loop checks its thread with a
         * gettid() in every pass, and nothing else here takes the default. */
        r = sd_event_new(&m->event);
        if (r < 0)
                return log_error_errno(r, "cannot create the event loop: %m");

        if (cfg->bus_address) {
                r = sd_bus_new(&m->bus);
                if (r >= 0)
                        r = sd_bus_set_address(m->bus, cfg->bus_address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(m->bus, 1);
                if (r >= 0)
                        r = sd_bus_negotiate_creds(m->bus, 1, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID);
                if (r >= 0)
                        r = sd_bus_start(m->bus);
        } else {
                r = sd_bus_open_system(&m->bus);
        }
        if (r < 0)
                return log_error_errno(r, "cannot connect to the %s bus%s%s: %m", cfg->bus_address ? "given" : "system",
                                       cfg->bus_address ? " " : "", cfg->bus_address ?: "");
        (void) sd_bus_negotiate_fds(m->bus, 1);
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "cannot attach the bus to the event loop: %m");
        m->changed = g_ptr_array_new_with_free_func(device_free_value);
        /* Same priority as the bus: runs after the dispatch that queued it. */
        r = sd_event_add_defer(m->event, &m->changed_source, on_changes_due, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->changed_source, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "cannot set up property announcements: %m");
        r = mb_error_register();
        if (r < 0)
                return r;
        r = auth_new(m->bus, &m->auth);
        if (r < 0)
                return log_error_errno(r, "cannot set up authorization: %m");

        r = manager_dbus_register(m);
        if (r < 0)
                return log_error_errno(r, "cannot register the Manager object: %m");
        r = device_dbus_register(m);
        if (r < 0)
                return log_error_errno(r, "cannot register the device objects: %m");

        *ret = g_steal_pointer(&m);
        return 0;
}

/* ---- settings ------------------------------------------------------------- */

const MbPolicySettings *manager_settings(Manager *m) {
        return &m->policy->settings;
}

uint64_t manager_op_timeout_usec(Manager *m) {
        return (uint64_t) m->policy->settings.op_timeout_ms * 1000;
}

const char *manager_worker_path(Manager *m) {
        const char *e = getenv("MIGBROKER_WORKER");

        if (m->config.worker_path)
                return m->config.worker_path;
        if (e && *e)
                return e;
        return PKGLIBEXECDIR "/migbroker-worker";
}

const char *manager_worker_user(Manager *m) {
        if (geteuid() != 0)
                return NULL;
        return m->config.worker_user ?: m->policy->settings.worker_user;
}

/* ---- change notification ---------------------------------------------------- */

/* ---- property announcements ------------------------------------------------ */

/* The Device properties that change; manager_device_changed() takes these. */
static const char *const changing_properties[] = {
        "State", "Owner", "PendingBytes", "IncomingOwner", "IsOpen", "Capabilities",
        "Plugin", "PluginArg", "Rule", "Managed", "VmstateId",
};
_Static_assert(G_N_ELEMENTS(changing_properties) <= sizeof(((Device *) NULL)->changed_order),
               "Device.changed_order holds every changing property");

static int changed_property_bit(const char *name) {
        for (size_t i = 0; i < G_N_ELEMENTS(changing_properties); i++)
                if (strcmp(changing_properties[i], name) == 0)
                        return (int) i;
        return -1;
}

static void announce(Manager *m, Device *d) {
        const char *names[G_N_ELEMENTS(changing_properties) + 1];
        size_t n = 0;
        int r;

        for (size_t i = 0; i < d->n_changed; i++)
                names[n++] = changing_properties[d->changed_order[i]];
        names[n] = NULL;
        d->changed = 0;
        d->n_changed = 0;
        /* A device removed (or replaced by a new object for its BDF) meanwhile
         * has nothing left to announce. */
        if (n == 0 || !m->bus || !d->path || manager_find_device(m, d->bdf) != d)
                return;
        r = sd_bus_emit_properties_changed_strv(m->bus, d->path, DEVICE_INTERFACE, (char **) names);
        if (r < 0)
                log_dev_debug_errno(d->bdf, r, "cannot announce the changed properties: %m");
}

void manager_flush_changes(Manager *m) {
        g_autoptr(GPtrArray) due = NULL;

        if (!m->changed || m->changed->len == 0)
                return;
        due = g_steal_pointer(&m->changed);
        m->changed = g_ptr_array_new_with_free_func(device_free_value);
        for (guint i = 0; i < due->len; i++)
                announce(m, g_ptr_array_index(due, i));
        /* Flushed before the pass it asked for: that pass has nothing to do. */
        if (m->changed->len == 0)
                (void) sd_event_source_set_enabled(m->changed_source, SD_EVENT_OFF);
}

void manager_device_changing(Manager *m, Device *d, const char *property) {
        int bit = changed_property_bit(property);

        assert(bit >= 0);
        if (d->changed & (UINT32_C(1) << bit))
                manager_flush_changes(m);
}

static int on_changes_due(sd_event_source *s, void *userdata) {
        manager_flush_changes(userdata);
        return 0;
}

void manager_device_changed(Manager *m, Device *d, const char *property, ...) {
        bool queued = d->changed != 0;
        va_list ap;
        int r;

        if (!m->bus || !d->path || !manager_find_device(m, d->bdf))
                return;
        va_start(ap, property);
        for (const char *p = property; p; p = va_arg(ap, const char *)) {
                int bit = changed_property_bit(p);
                assert(bit >= 0);
                if (d->changed & (UINT32_C(1) << bit))
                        continue;
                d->changed |= UINT32_C(1) << bit;
                d->changed_order[d->n_changed++] = (uint8_t) bit;
        }
        va_end(ap);
        if (queued)
                return;
        g_ptr_array_add(m->changed, device_ref(d));
        r = sd_event_source_set_enabled(m->changed_source, SD_EVENT_ONESHOT);
        if (r < 0) { /* announce now rather than never */
                log_dev_debug_errno(d->bdf, r, "cannot defer the announcement: %m");
                manager_flush_changes(m);
        }
}

void manager_device_persist(Manager *m, Device *d) {
        int r;

        if (m->shutting_down || !m->runtime_dir)
                return;
        r = runtime_state_save(m->runtime_dir, d);
        if (r < 0)
                log_dev_warning_errno(d->bdf, r, "cannot record the device's claim in %s: %m", m->runtime_dir);
}

bool manager_domain_has_devices(Manager *m, const char *owner) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Device *d = value;
                if (d->owner && strcmp(d->owner, owner) == 0)
                        return true;
        }
        return false;
}

bool manager_follows_libvirt(Manager *m) {
        return libvirt_events_connected(m->libvirt);
}

static const char *libvirt_uri(Manager *m) {
        return m->config.libvirt_uri ?: m->policy->settings.libvirt_uri ?: "";
}

void manager_follow_libvirt(Manager *m) {
        m->libvirt = libvirt_events_free(m->libvirt);
        g_free(m->followed_uri);
        m->followed_uri = g_strdup(libvirt_uri(m));
        m->libvirt = libvirt_events_new(m, m->followed_uri);
}

Device *manager_find_device(Manager *m, const char *bdf) {
        char norm[MB_BDF_STRLEN + 1];

        if (mb_bdf_normalize(bdf, norm) < 0)
                return NULL;
        return g_hash_table_lookup(m->devices, norm);
}

/* ---- policy and devices ------------------------------------------------------ */

static int check_worker_user(const MbPolicy *p, const char *override, sd_bus_error *error) {
        const char *user = override ?: p->settings.worker_user;
        struct passwd *pw;

        if (geteuid() != 0)
                return 0; /* workers keep our uid */
        if (!user || !*user)
                return mb_bus_error_setf(error, -MB_EPOLICYINVALID, "settings.worker-user is empty");
        pw = getpwnam(user);
        if (!pw)
                return mb_bus_error_setf(error, -MB_EPOLICYINVALID,
                                         "worker user '%s' does not exist (the sysusers.d file of migbroker creates it)",
                                         user);
        if (pw->pw_uid == 0)
                return mb_bus_error_setf(error, -MB_EPOLICYINVALID, "worker user '%s' is root: plugins never run as root",
                                         user);
        if (p->settings.admin_group && *p->settings.admin_group) {
                struct group *gr = getgrnam(p->settings.admin_group);
                gid_t groups[256];
                int n = (int) G_N_ELEMENTS(groups);

                if (gr && getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) >= 0)
                        for (int i = 0; i < n; i++)
                                if (groups[i] == gr->gr_gid)
                                        return mb_bus_error_setf(error, -MB_EPOLICYINVALID,
                                                                 "worker user '%s' is in the admin group '%s': refused",
                                                                 user, p->settings.admin_group);
        }
        return 0;
}

static void binding_from_match(DeviceBinding *b, MbPolicy *p, const MbPolicyMatchResult *res) {
        device_binding_clear(b);
        b->policy = mb_policy_ref(p);
        b->plugin = res->plugin;
        b->plugin_name = g_strdup(res->plugin->name);
        b->plugin_path = g_strdup(res->plugin->resolved_path);
        b->arg = g_strdup(res->arg ?: "");
        b->rule = res->rule ? g_strdup_printf("%s:%u", res->rule->loc.file, res->rule->loc.line) : g_strdup("probe");
        b->match_kind = g_strdup(mb_policy_match_kind_to_string(res->kind));
}

/* The candidate functions: sysfs plus the exact BDFs the policy names. */
static GPtrArray *candidate_bdfs(Manager *m, MbPolicy *p, GHashTable **ret_present) {
        g_autoptr(GPtrArray) sysfs = NULL;
        GHashTable *present = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        GPtrArray *all = g_ptr_array_new_with_free_func(g_free);
        int r;

        r = mb_pci_sysfs_enumerate(m->config.sysfs_root, &sysfs);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "cannot list PCI functions under %s: %m", m->config.sysfs_root ?: "/sys");
        for (guint i = 0; sysfs && i < sysfs->len; i++) {
                const char *bdf = sysfs->pdata[i];
                if (g_hash_table_add(present, g_strdup(bdf)))
                        g_ptr_array_add(all, g_strdup(bdf));
        }
        for (guint i = 0; i < p->rules->len; i++) {
                const MbPolicyRule *rule = p->rules->pdata[i];
                char bdf[MB_BDF_STRLEN + 1];

                if (rule->kind != MB_POLICY_MATCH_BDF)
                        continue;
                mb_bdf_format(&rule->bdf.bdf, bdf);
                if (!g_hash_table_contains(present, bdf)) {
                        g_hash_table_add(present, g_strdup(bdf));
                        g_ptr_array_add(all, g_strdup(bdf));
                }
        }
        *ret_present = present;
        return all;
}

void manager_devices_changed(Manager *m) {
        (void) sd_bus_emit_properties_changed(m->bus, MANAGER_PATH, MANAGER_INTERFACE, "Devices", NULL);
}

void manager_device_idle(Manager *m, Device *d) {
        if (m->shutting_down || d->managed || d->owner || d->open || !g_queue_is_empty(&d->ops))
                return;
        if (g_hash_table_lookup(m->devices, d->bdf) != d)
                return;
        log_dev_info(d->bdf, "released and no longer in the policy: removed");
        (void) sd_bus_emit_object_removed(m->bus, d->path);
        g_hash_table_remove(m->devices, d->bdf);
        manager_devices_changed(m);
}

/* Binds every candidate against p; an ambiguity refuses p as a whole. */
static int apply_policy(Manager *m, MbPolicy *p, bool dry_run, sd_bus_error *error) {
        g_autoptr(GHashTable) present = NULL;
        g_autoptr(GPtrArray) bdfs = candidate_bdfs(m, p, &present);
        g_autoptr(GHashTable) bound = g_hash_table_new(g_str_hash, g_str_equal);
        GHashTableIter it;
        gpointer key, value;
        bool changed_set = false;

        /* First pass: match everything (and refuse ambiguous policies). */
        g_autoptr(GPtrArray) results = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GArray) unbound = prober_candidates_new();
        for (guint i = 0; i < bdfs->len; i++) {
                MbPolicyMatchResult *res = g_new0(MbPolicyMatchResult, 1);
                int r = mb_policy_match(p, bdfs->pdata[i], m->config.sysfs_root, NULL, NULL, res);

                if (r == -MB_EPOLICYINVALID) {
                        g_autofree char *a = mb_policy_rule_match_to_string(res->rule);
                        g_autofree char *b = mb_policy_rule_match_to_string(res->conflict);
                        mb_bus_error_setf(error, -MB_EPOLICYINVALID,
                                          "%s is matched by two rules of equal rank: %s:%u %s and %s:%u %s",
                                          (const char *) bdfs->pdata[i], res->rule->loc.file, res->rule->loc.line, a,
                                          res->conflict->loc.file, res->conflict->loc.line, b);
                        g_free(res);
                        return -MB_EPOLICYINVALID;
                }
                if (r == 0 && res->ids_known)
                        prober_candidates_add(unbound, res->bdf, res->vendor, res->device);
                if (r <= 0) {
                        g_free(res);
                        continue;
                }
                g_ptr_array_add(results, res);
        }
        if (dry_run)
                return 0;

        /* Second pass: update the table. */
        for (guint i = 0; i < results->len; i++) {
                MbPolicyMatchResult *res = results->pdata[i];
                Device *d = g_hash_table_lookup(m->devices, res->bdf);
                DeviceBinding nb = {};
                bool is_new = false;

                binding_from_match(&nb, p, res);
                if (!d) {
                        d = device_new(m, res->bdf);
                        if (!d) {
                                device_binding_clear(&nb);
                                continue;
                        }
                        g_hash_table_insert(m->devices, d->bdf, d);
                        is_new = true;
                }
                g_hash_table_add(bound, d->bdf);
                d->present = g_hash_table_contains(present, d->bdf);
                if (is_new || !device_binding_equal(&d->binding, &nb) || !d->managed) {
                        device_binding_clear(&d->binding);
                        d->binding = nb;
                        d->managed = true;
                        if (!is_new)
                                manager_device_changed(m, d, "Plugin", "PluginArg", "Rule", "Managed", NULL);
                } else {
                        /* Same binding: keep it but point at the new policy object. */
                        device_binding_clear(&d->binding);
                        d->binding = nb;
                }
                if (is_new) {
                        log_dev_info(d->bdf, "managed: plugin %s (%s, %s)", d->binding.plugin_name,
                                     d->binding.match_kind, d->binding.rule);
                        (void) sd_bus_emit_object_added(m->bus, d->path);
                        changed_set = true;
                }
        }

        /* Devices the policy no longer binds: keep them while claimed or open. */
        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                Device *d = value;

                if (g_hash_table_contains(bound, key))
                        continue;
                /* Bound by a probe: the probe pass below decides. */
                if (prober_device_is_probed(d))
                        continue;
                if (d->owner || d->incoming_owner || d->open || !g_queue_is_empty(&d->ops)) {
                        if (d->managed) {
                                log_dev_notice(d->bdf, "no longer in the policy; kept until released");
                                d->managed = false;
                                manager_device_changed(m, d, "Managed", NULL);
                        }
                        continue;
                }
                log_dev_info(d->bdf, "no longer managed: removed");
                (void) sd_bus_emit_object_removed(m->bus, d->path);
                g_hash_table_iter_remove(&it);
                changed_set = true;
        }
        if (changed_set)
                manager_devices_changed(m);
        return prober_start(m, unbound);
}

int manager_load_policy(Manager *m, sd_bus_error *error) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        MbPolicyLoadOptions o = {
                .path = m->config.policy_path,
                .plugin_dir = m->config.plugin_dir,
        };
        int r;

        r = mb_policy_load(&o, &p, diags);
        if (r < 0) {
                g_autofree char *text = mb_diag_list_format(diags);
                if (text && *text)
                        log_error("the policy is refused:\n%s", text);
                return mb_bus_error_setf(error, -MB_EPOLICYINVALID, "the policy is refused (%zu error%s)%s%s",
                                         mb_diag_list_count(diags, MB_DIAG_ERROR),
                                         mb_diag_list_count(diags, MB_DIAG_ERROR) == 1 ? "" : "s",
                                         text && *text ? ":\n" : ": ", text && *text ? text : strerror(-r));
        }
        if (mb_diag_list_size(diags) > 0) {
                g_autofree char *text = mb_diag_list_format(diags);
                log_warning("policy warnings:\n%s", text);
        }
        r = check_worker_user(p, m->config.worker_user, error);
        if (r < 0) {
                log_error("the policy is refused: %s", error->message);
                return r;
        }
        r = apply_policy(m, p, true, error);
        if (r < 0) {
                log_error("the policy is refused: %s", error->message);
                return r;
        }

        /* Accepted: swap it in. Open sessions hold their own reference. */
        g_clear_pointer(&m->policy, mb_policy_unref);
        m->policy = g_steal_pointer(&p);
        g_ptr_array_set_size(m->policy_files, 0);
        for (guint i = 0; i < m->policy->files->len; i++)
                g_ptr_array_add(m->policy_files, g_strdup(m->policy->files->pdata[i]));
        g_free(m->runtime_dir);
        m->runtime_dir = g_strdup(m->config.runtime_dir ?: m->policy->settings.runtime_dir);
        (void) auth_configure(m->auth, m->policy->settings.admin_group, m->policy->settings.vmm_user, true);
        (void) sd_bus_emit_properties_changed(m->bus, MANAGER_PATH, MANAGER_INTERFACE, "PolicyFiles", NULL);
        /* A reload that changes settings.libvirt-uri follows the new one. */
        if (m->followed_uri && strcmp(m->followed_uri, libvirt_uri(m)) != 0) {
                log_info("settings.libvirt-uri changed from '%s' to '%s'", m->followed_uri, libvirt_uri(m));
                manager_follow_libvirt(m);
        } else {
                /* One that changes settings.worker-user restarts the follower as the new user. */
                libvirt_events_policy_reloaded(m->libvirt);
        }

        r = apply_policy(m, m->policy, false, error);
        if (r < 0)
                return r;
        log_info("policy loaded: %u file(s), %u plugin(s), %u rule(s), %u device(s)", m->policy->files->len,
                 m->policy->plugins->len, m->policy->rules->len, g_hash_table_size(m->devices));
        return 0;
}

int manager_rescan(Manager *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = apply_policy(m, m->policy, false, &e);
        if (r < 0)
                log_error("rescan: %s", e.message);
        return r;
}
