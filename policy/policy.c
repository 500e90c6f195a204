/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "error.h"
#include "policy-match.h"
#include "policy.h"

MbPolicy *mb_policy_new(void) {
        MbPolicy *p = g_new0(MbPolicy, 1);

        p->n_ref = 1;
        p->settings.op_timeout_ms = MB_POLICY_DEFAULT_OP_TIMEOUT_MS;
        p->files = g_ptr_array_new_with_free_func(g_free);
        p->plugins = g_ptr_array_new_with_free_func((GDestroyNotify) mb_policy_plugin_free);
        p->plugins_by_name = g_hash_table_new(g_str_hash, g_str_equal);
        p->rules = g_ptr_array_new_with_free_func((GDestroyNotify) mb_policy_rule_free);
        return p;
}

MbPolicy *mb_policy_ref(MbPolicy *p) {
        g_atomic_int_inc(&p->n_ref);
        return p;
}

void mb_policy_unref(MbPolicy *p) {
        if (!p || !g_atomic_int_dec_and_test(&p->n_ref))
                return;
        mb_policy_index_free(p->index);
        g_hash_table_unref(p->plugins_by_name);
        g_ptr_array_unref(p->rules);
        g_ptr_array_unref(p->plugins);
        g_free(p->settings.plugin_dir);
        g_free(p->settings.worker_user);
        g_free(p->settings.admin_group);
        g_free(p->settings.runtime_dir);
        g_free(p->settings.vmm_user);
        g_free(p->settings.libvirt_uri);
        g_ptr_array_unref(p->files);
        g_free(p);
}

const char *mb_policy_intern_file(MbPolicy *p, const char *file) {
        for (guint i = 0; i < p->files->len; i++)
                if (strcmp(g_ptr_array_index(p->files, i), file) == 0)
                        return g_ptr_array_index(p->files, i);
        g_ptr_array_add(p->files, g_strdup(file));
        return g_ptr_array_index(p->files, p->files->len - 1);
}

void mb_policy_plugin_free(MbPolicyPlugin *plugin) {
        if (!plugin)
                return;
        g_free(plugin->name);
        g_free(plugin->path);
        g_free(plugin->resolved_path);
        g_free(plugin->arg);
        g_free(plugin->description);
        g_free(plugin);
}

void mb_policy_rule_free(MbPolicyRule *rule) {
        if (!rule)
                return;
        g_free(rule->plugin_name);
        g_free(rule->arg);
        g_free(rule->description);
        g_free(rule);
}

int mb_policy_add_plugin(MbPolicy *p, MbPolicyPlugin *plugin, MbDiagList *diags) {
        const MbPolicyPlugin *old = g_hash_table_lookup(p->plugins_by_name, plugin->name);

        if (old) {
                mb_diag_error(diags, plugin->loc.file, plugin->loc.line, plugin->loc.column,
                              "plugin \"%s\" is already defined at %s:%u; a later file may not redefine a "
                              "plugin (rename one, or remove one definition)",
                              plugin->name, old->loc.file, old->loc.line);
                mb_policy_plugin_free(plugin);
                return -EEXIST;
        }
        plugin->order = p->plugins->len;
        g_ptr_array_add(p->plugins, plugin);
        g_hash_table_insert(p->plugins_by_name, plugin->name, plugin);
        return 0;
}

void mb_policy_add_rule(MbPolicy *p, MbPolicyRule *rule) {
        rule->order = p->rules->len;
        g_ptr_array_add(p->rules, rule);
}

const MbPolicyPlugin *mb_policy_find_plugin(const MbPolicy *p, const char *name) {
        return g_hash_table_lookup(p->plugins_by_name, name);
}

const char *mb_policy_rule_arg(const MbPolicyRule *rule) {
        if (rule->arg)
                return rule->arg;
        return rule->plugin ? rule->plugin->arg : NULL;
}

const char *mb_policy_match_kind_to_string(MbPolicyMatchKind k) {
        switch (k) {
        case MB_POLICY_MATCH_NONE:
                return "none";
        case MB_POLICY_MATCH_BDF:
                return "exact BDF";
        case MB_POLICY_MATCH_PATTERN:
                return "BDF pattern";
        case MB_POLICY_MATCH_VENDOR_DEVICE:
                return "vendor+device";
        case MB_POLICY_MATCH_VENDOR:
                return "vendor";
        case MB_POLICY_MATCH_PROBE:
                return "plugin probe";
        }
        return "none";
}

char *mb_policy_rule_match_to_string(const MbPolicyRule *rule) {
        char buf[MB_BDF_PATTERN_STRLEN + 1];

        switch (rule->kind) {
        case MB_POLICY_MATCH_BDF:
        case MB_POLICY_MATCH_PATTERN:
                return g_strdup_printf("{ bdf: \"%s\" }", mb_bdf_pattern_format(&rule->bdf, buf));
        case MB_POLICY_MATCH_VENDOR_DEVICE:
                return g_strdup_printf("{ vendor: 0x%04x, device: 0x%04x }", rule->vendor, rule->device);
        case MB_POLICY_MATCH_VENDOR:
                return g_strdup_printf("{ vendor: 0x%04x }", rule->vendor);
        default:
                return g_strdup("{ }");
        }
}

unsigned mb_policy_rule_rank(const MbPolicyRule *rule) {
        switch (rule->kind) {
        case MB_POLICY_MATCH_BDF:
                return 0;
        case MB_POLICY_MATCH_PATTERN:
                return mb_bdf_pattern_rank(&rule->bdf);
        case MB_POLICY_MATCH_VENDOR_DEVICE:
                return 5;
        case MB_POLICY_MATCH_VENDOR:
                return 6;
        default:
                return 7;
        }
}

/* A key equal for two rules exactly when they match the same devices. */
static char *rule_key(const MbPolicyRule *rule) {
        switch (rule->kind) {
        case MB_POLICY_MATCH_BDF:
        case MB_POLICY_MATCH_PATTERN:
                return g_strdup_printf("b%08x/%x", mb_bdf_pack(&rule->bdf.bdf), rule->bdf.wildcards);
        case MB_POLICY_MATCH_VENDOR_DEVICE:
                return g_strdup_printf("vd%04x:%04x", rule->vendor, rule->device);
        default:
                return g_strdup_printf("v%04x", rule->vendor);
        }
}

static void check_unknown_plugin(MbPolicy *p, MbPolicyRule *rule, MbDiagList *diags) {
        g_autofree const char **names = g_new0(const char *, p->plugins->len + 1);
        g_autofree char *list = NULL;
        const char *hint;

        for (guint i = 0; i < p->plugins->len; i++)
                names[i] = ((MbPolicyPlugin *) g_ptr_array_index(p->plugins, i))->name;
        hint = mb_diag_suggest(rule->plugin_name, names);
        if (hint) {
                mb_diag_error(diags, rule->plugin_loc.file, rule->plugin_loc.line, rule->plugin_loc.column,
                              "unknown plugin \"%s\"; did you mean \"%s\"?", rule->plugin_name, hint);
                return;
        }
        if (p->plugins->len == 0) {
                mb_diag_error(diags, rule->plugin_loc.file, rule->plugin_loc.line, rule->plugin_loc.column,
                              "unknown plugin \"%s\"; no plugin is defined (declare it under \"plugins\")",
                              rule->plugin_name);
                return;
        }
        list = g_strjoinv(", ", (char **) names);
        mb_diag_error(diags, rule->plugin_loc.file, rule->plugin_loc.line, rule->plugin_loc.column,
                      "unknown plugin \"%s\"; defined plugins: %s", rule->plugin_name, list);
}

/* Patterns of equal rank but different wildcard fields can both match one
 * device, which then is bound by neither. Warn about each such pair once. */
static void warn_overlapping_patterns(MbPolicy *p, MbDiagList *diags) {
        GPtrArray *by_mask[16] = {};
        unsigned warned = 0;

        for (guint i = 0; i < p->rules->len; i++) {
                MbPolicyRule *r = g_ptr_array_index(p->rules, i);
                if (r->kind != MB_POLICY_MATCH_PATTERN)
                        continue;
                if (!by_mask[r->bdf.wildcards])
                        by_mask[r->bdf.wildcards] = g_ptr_array_new();
                g_ptr_array_add(by_mask[r->bdf.wildcards], r);
        }
        for (unsigned a = 1; a < 16; a++)
                for (unsigned b = a + 1; b < 16; b++) {
                        g_autoptr(GHashTable) keys = NULL;

                        if (!by_mask[a] || !by_mask[b] || __builtin_popcount(a) != __builtin_popcount(b))
                                continue;
                        keys = g_hash_table_new(g_direct_hash, g_direct_equal);
                        for (guint i = 0; i < by_mask[b]->len; i++) {
                                MbPolicyRule *r = g_ptr_array_index(by_mask[b], i);
                                uint32_t k = mb_bdf_pattern_key(&r->bdf.bdf, (uint8_t) (a | b));
                                if (!g_hash_table_contains(keys, GUINT_TO_POINTER(k)))
                                        g_hash_table_insert(keys, GUINT_TO_POINTER(k), r);
                        }
                        for (guint i = 0; i < by_mask[a]->len && warned < 20; i++) {
                                MbPolicyRule *ra = g_ptr_array_index(by_mask[a], i), *rb, *first, *second;
                                uint32_t k = mb_bdf_pattern_key(&ra->bdf.bdf, (uint8_t) (a | b));
                                char example[MB_BDF_PATTERN_STRLEN + 1], fa[MB_BDF_PATTERN_STRLEN + 1],
                                        fb[MB_BDF_PATTERN_STRLEN + 1];
                                MbBdfPattern both;

                                rb = g_hash_table_lookup(keys, GUINT_TO_POINTER(k));
                                if (!rb)
                                        continue;
                                first = ra->order < rb->order ? ra : rb;
                                second = first == ra ? rb : ra;
                                /* A device both match: each field from whichever pattern fixes it. */
                                both.wildcards = 0;
                                both.bdf = ra->bdf.bdf;
                                if (a & MB_BDF_FIELD_DOMAIN)
                                        both.bdf.domain = rb->bdf.bdf.domain;
                                if (a & MB_BDF_FIELD_BUS)
                                        both.bdf.bus = rb->bdf.bdf.bus;
                                if (a & MB_BDF_FIELD_SLOT)
                                        both.bdf.slot = rb->bdf.bdf.slot;
                                if (a & MB_BDF_FIELD_FUNCTION)
                                        both.bdf.function = rb->bdf.bdf.function;
                                mb_diag_add(diags, MB_DIAG_WARNING, second->match_loc.file, second->match_loc.line,
                                            second->match_loc.column,
                                            "patterns \"%s\" and \"%s\" (%s:%u) have the same rank and both "
                                            "match %s: such a device is bound by neither",
                                            mb_bdf_pattern_format(&second->bdf, fb),
                                            mb_bdf_pattern_format(&first->bdf, fa), first->loc.file,
                                            first->loc.line, mb_bdf_pattern_format(&both, example));
                                warned++;
                        }
                }
        for (unsigned m = 0; m < 16; m++)
                if (by_mask[m])
                        g_ptr_array_unref(by_mask[m]);
}

int mb_policy_finalize(MbPolicy *p, const char *plugin_dir_override, MbDiagList *diags) {
        MbPolicySettings *s = &p->settings;
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        size_t errors_before = mb_diag_list_count(diags, MB_DIAG_ERROR);
        const char *plugin_dir;
        int r;

        if (!s->plugin_dir)
                s->plugin_dir = g_strdup(PLUGINDIR);
        if (!s->worker_user)
                s->worker_user = g_strdup(MB_DEFAULT_WORKER_USER);
        if (!s->admin_group)
                s->admin_group = g_strdup(MB_DEFAULT_ADMIN_GROUP);
        if (!s->runtime_dir)
                s->runtime_dir = g_strdup(MB_POLICY_DEFAULT_RUNTIME_DIR);
        if (!s->vmm_user)
                s->vmm_user = g_strdup(MB_POLICY_DEFAULT_VMM_USER);
        if (!s->libvirt_uri)
                s->libvirt_uri = g_strdup(MB_POLICY_DEFAULT_LIBVIRT_URI);

        plugin_dir = plugin_dir_override ? plugin_dir_override : s->plugin_dir;
        for (guint i = 0; i < p->plugins->len; i++) {
                MbPolicyPlugin *pl = g_ptr_array_index(p->plugins, i);
                g_free(pl->resolved_path);
                pl->resolved_path = g_path_is_absolute(pl->path) ? g_strdup(pl->path)
                                                                 : g_build_filename(plugin_dir, pl->path, NULL);
        }

        for (guint i = 0; i < p->rules->len; i++) {
                MbPolicyRule *rule = g_ptr_array_index(p->rules, i);
                g_autofree char *key = rule_key(rule);
                const MbPolicyRule *old = g_hash_table_lookup(seen, key);

                /* Past a file's error cap nothing more is shown: spare the suggestions. */
                if (mb_diag_list_full(diags, rule->loc.file))
                        continue;
                if (rule->kind == MB_POLICY_MATCH_NONE)
                        ; /* its match was reported by the parser */
                else if (old) {
                        g_autofree char *m = mb_policy_rule_match_to_string(rule);
                        mb_diag_error(diags, rule->match_loc.file, rule->match_loc.line, rule->match_loc.column,
                                      "duplicate match %s: the rule at %s:%u matches the same devices", m,
                                      old->loc.file, old->loc.line);
                } else
                        g_hash_table_insert(seen, MB_TAKE_PTR(key), rule);

                if (!rule->plugin_name)
                        continue; /* reported by the parser */
                rule->plugin = mb_policy_find_plugin(p, rule->plugin_name);
                if (!rule->plugin)
                        check_unknown_plugin(p, rule, diags);
        }

        if (mb_diag_list_count(diags, MB_DIAG_ERROR) > errors_before)
                return -MB_EPOLICYINVALID;

        warn_overlapping_patterns(p, diags);

        r = mb_policy_index_build(p);
        if (r < 0)
                return r;
        return 0;
}
