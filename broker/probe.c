/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "device.h"
#include "error.h"
#include "log.h"
#include "manager.h"
#include "policy-load.h"
#include "probe.h"

typedef struct Candidate {
        char bdf[MB_BDF_STRLEN + 1];
        uint16_t vendor, device;
        bool bound;
} Candidate;

struct Prober {
        Manager *manager;
        MbPolicy *policy;
        GArray *candidates;        /* Candidate */
        guint plugin_idx;
        guint cand_idx;
        MbWorker *worker;
        const MbPolicyPlugin *plugin;
        GHashTable *bound;         /* bdf -> plugin name, of this pass */
        bool done;
};

static void next_plugin(Prober *p);

Prober *prober_free(Prober *p) {
        if (!p)
                return NULL;
        p->worker = mb_worker_unref(p->worker);
        g_clear_pointer(&p->policy, mb_policy_unref);
        if (p->candidates)
                g_array_unref(p->candidates);
        if (p->bound)
                g_hash_table_destroy(p->bound);
        g_free(p);
        return NULL;
}

static bool by_probe(const Device *d) {
        return d->binding.match_kind && strcmp(d->binding.match_kind, mb_policy_match_kind_to_string(MB_POLICY_MATCH_PROBE)) == 0;
}

/* The pass is over: devices an earlier pass bound but none accepted now go,
 * unless something holds them. */
static void finish(Prober *p) {
        Manager *m = p->manager;
        GHashTableIter it;
        gpointer key, value;
        bool changed = false;

        p->worker = mb_worker_unref(p->worker);
        p->done = true;
        g_hash_table_iter_init(&it, m->devices);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                Device *d = value;

                if (!by_probe(d) || g_hash_table_contains(p->bound, d->bdf))
                        continue;
                if (d->owner || d->incoming_owner || d->open || !g_queue_is_empty(&d->ops)) {
                        if (d->managed) {
                                d->managed = false;
                                manager_device_changed(m, d, "Managed", NULL);
                        }
                        continue;
                }
                log_dev_info(d->bdf, "no plugin's probe accepts it any more: removed");
                (void) sd_bus_emit_object_removed(m->bus, d->path);
                g_hash_table_iter_remove(&it);
                changed = true;
        }
        if (changed)
                manager_devices_changed(m);
        log_debug("probe pass done: %u device(s) bound by probe", g_hash_table_size(p->bound));
}

static void bind(Prober *p, Candidate *c) {
        Manager *m = p->manager;
        Device *d = g_hash_table_lookup(m->devices, c->bdf);
        DeviceBinding nb = {
                .policy = mb_policy_ref(p->policy),
                .plugin = p->plugin,
                .plugin_name = g_strdup(p->plugin->name),
                .plugin_path = g_strdup(p->plugin->resolved_path),
                .arg = g_strdup(p->plugin->arg ?: ""),
                .rule = g_strdup_printf("probe of plugin %s", p->plugin->name),
                .match_kind = g_strdup(mb_policy_match_kind_to_string(MB_POLICY_MATCH_PROBE)),
        };
        bool is_new = !d;

        c->bound = true;
        g_hash_table_insert(p->bound, g_strdup(c->bdf), g_strdup(p->plugin->name));
        if (!d) {
                d = device_new(m, c->bdf);
                if (!d) {
                        device_binding_clear(&nb);
                        return;
                }
                g_hash_table_insert(m->devices, d->bdf, d);
        }
        d->present = true;
        if (is_new || !device_binding_equal(&d->binding, &nb) || !d->managed) {
                device_binding_clear(&d->binding);
                d->binding = nb;
                d->managed = true;
                if (!is_new)
                        manager_device_changed(m, d, "Plugin", "PluginArg", "Rule", "Managed", NULL);
        } else {
                device_binding_clear(&d->binding);
                d->binding = nb;
        }
        if (is_new) {
                log_dev_info(d->bdf, "managed: plugin %s (its probe accepted %04x:%04x)", p->plugin->name, c->vendor,
                             c->device);
                (void) sd_bus_emit_object_added(m->bus, d->path);
                manager_devices_changed(m);
        }
}

static void probe_next_device(Prober *p);

static void on_probe(MbWorker *w, int r, const sd_bus_error *e, sd_bus_message *reply, void *userdata) {
        Prober *p = userdata;
        Candidate *c = &g_array_index(p->candidates, Candidate, p->cand_idx);
        int accepted = 0;

        if (r < 0) {
                log_warning("plugin %s: probe of %s failed: %s; skipping the plugin", p->plugin->name, c->bdf,
                            e && e->message ? e->message : strerror(-r));
                p->worker = mb_worker_unref(p->worker);
                p->plugin_idx++;
                next_plugin(p);
                return;
        }
        if (sd_bus_message_read(reply, "b", &accepted) >= 0 && accepted)
                bind(p, c);
        p->cand_idx++;
        probe_next_device(p);
}

static void probe_next_device(Prober *p) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        while (p->cand_idx < p->candidates->len &&
               g_array_index(p->candidates, Candidate, p->cand_idx).bound)
                p->cand_idx++;
        if (p->cand_idx >= p->candidates->len) {
                p->worker = mb_worker_unref(p->worker);
                p->plugin_idx++;
                next_plugin(p);
                return;
        }
        Candidate *c = &g_array_index(p->candidates, Candidate, p->cand_idx);
        r = mb_worker_new_call(p->worker, &m, "Probe");
        if (r >= 0)
                r = sd_bus_message_append(m, "sqq", c->bdf, c->vendor, c->device);
        if (r >= 0)
                r = mb_worker_call(p->worker, m, manager_op_timeout_usec(p->manager), false, on_probe, p);
        if (r < 0) {
                log_warning_errno(r, "plugin %s: cannot ask its probe: %m", p->plugin->name);
                p->worker = mb_worker_unref(p->worker);
                p->plugin_idx++;
                next_plugin(p);
        }
}

static void on_hello(MbWorker *w, int r, const sd_bus_error *e, sd_bus_message *reply, void *userdata) {
        Prober *p = userdata;
        const char *name, *version, *stream;
        uint32_t caps;
        int has_probe = 0;

        if (r < 0) {
                log_warning("plugin %s cannot be loaded for probing: %s", p->plugin->name,
                            e && e->message ? e->message : strerror(-r));
                goto next;
        }
        if (sd_bus_message_read(reply, "ssu", &name, &version, &caps) < 0 ||
            sd_bus_message_skip(reply, "a(qq)") < 0 || sd_bus_message_read(reply, "bs", &has_probe, &stream) < 0)
                goto next;
        if (!has_probe)
                goto next;
        p->cand_idx = 0;
        probe_next_device(p);
        return;
next:
        p->worker = mb_worker_unref(p->worker);
        p->plugin_idx++;
        next_plugin(p);
}

static bool all_bound(Prober *p) {
        for (guint i = 0; i < p->candidates->len; i++)
                if (!g_array_index(p->candidates, Candidate, i).bound)
                        return false;
        return true;
}

/* Plugins are asked in the order the policy declares them: the first that accepts binds. */
static void next_plugin(Prober *p) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        for (; p->plugin_idx < p->policy->plugins->len && !all_bound(p); p->plugin_idx++) {
                p->plugin = p->policy->plugins->pdata[p->plugin_idx];
                fd = mb_policy_open_plugin(p->plugin, diags);
                if (fd < 0) {
                        log_warning("plugin %s cannot be probed: %s", p->plugin->name,
                                    mb_diag_list_size(diags) ? mb_diag_list_get(diags, 0)->message : strerror(-fd));
                        continue;
                }
                MbWorkerConfig cfg = {
                        .worker_path = manager_worker_path(p->manager),
                        .bdf = g_array_index(p->candidates, Candidate, 0).bdf,
                        .plugin_path = p->plugin->resolved_path,
                        .plugin_fd = fd,
                        .user = manager_worker_user(p->manager),
                        .log_level = -1,
                };
                r = mb_worker_spawn(p->manager->event, &cfg, &p->worker);
                fd = mb_safe_close(fd);
                if (r >= 0)
                        r = mb_worker_new_call(p->worker, &m, "Hello");
                if (r >= 0)
                        r = mb_worker_call(p->worker, m, manager_op_timeout_usec(p->manager), false, on_hello, p);
                if (r >= 0)
                        return;
                log_warning_errno(r, "plugin %s: cannot start a worker to probe: %m", p->plugin->name);
                p->worker = mb_worker_unref(p->worker);
                m = sd_bus_message_unref(m);
        }
        finish(p);
}

int prober_start(Manager *m, GArray *unbound) {
        Prober *p;

        m->prober = prober_free(m->prober);
        p = g_new0(Prober, 1);
        p->manager = m;
        p->policy = mb_policy_ref(m->policy);
        p->candidates = g_array_ref(unbound);
        p->bound = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        m->prober = p;
        if (unbound->len == 0) {
                finish(p);
                return 0;
        }
        next_plugin(p);
        return 0;
}

GArray *prober_candidates_new(void) {
        return g_array_new(FALSE, TRUE, sizeof(Candidate));
}

void prober_candidates_add(GArray *a, const char *bdf, uint16_t vendor, uint16_t device) {
        Candidate c = { .vendor = vendor, .device = device };

        g_strlcpy(c.bdf, bdf, sizeof(c.bdf));
        g_array_append_val(a, c);
}

bool prober_done(const Prober *p) {
        return !p || p->done;
}

bool prober_device_is_probed(const Device *d) {
        return by_probe(d);
}
