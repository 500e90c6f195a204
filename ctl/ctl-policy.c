/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl-bus.h"
#include "ctl-json.h"
#include "ctl-policy.h"
#include "ctl.h"
#include "error.h"
#include "pci-sysfs.h"
#include "policy-load.h"
#include "policy-match.h"

typedef struct Args {
        CtlOptions bus;           /* --bus, --timeout (for reload) */
        bool json;
        const char *policy;
        const char *plugin_dir;
        const char *sysfs_root;
        bool skip_plugin_files;
        char **positional;
        int n_positional;
} Args;

static void help(FILE *f) {
        fputs("Usage: migbrokerctl policy check [FILE...] [--json]\n"
              "       migbrokerctl policy explain BDF [--sysfs-root DIR] [--json]\n"
              "       migbrokerctl policy reload [--bus ADDRESS]\n"
              "\n"
              "Check or explain the device policy (migbroker-policy(5)). check and\n"
              "explain read the files themselves and need no running broker.\n"
              "\n"
              "  check [FILE...]     validate the policy: by default the main file and its\n"
              "                      policy.d/*.yaml drop-ins; with FILEs, those files as one\n"
              "                      policy (the first as the main file, the others as\n"
              "                      drop-ins in the order given). Exit 0 if valid, 1 if not.\n"
              "  explain BDF         which rule and plugin apply to the PCI function BDF, and\n"
              "                      why, or why none does. Exit 0 when a rule binds it.\n"
              "  reload              ask the running broker to reload its policy\n"
              "\n"
              "Options:\n"
              "  --policy PATH       main policy file (default: $" MB_ENV_POLICY " or\n"
              "                      " MB_POLICY_DEFAULT_PATH "); drop-ins are read from\n"
              "                      policy.d/ beside it\n"
              "  --plugin-dir DIR    resolve relative plugin paths in DIR (default:\n"
              "                      $" MB_ENV_PLUGIN_DIR ", else settings.plugin-dir)\n"
              "  --sysfs-root DIR    where sysfs is (default: $" MB_ENV_SYSFS_ROOT " or /sys)\n"
              "  --skip-plugin-files do not open the plugin files the policy names (for a\n"
              "                      policy checked away from its host)\n"
              "  --bus ADDRESS       reload: the broker's bus (default: the system bus)\n"
              "  --timeout SEC       reload: bound on the call (default 30)\n"
              "  --json              machine-readable output on stdout\n"
              "  -h, --help          show this help\n",
              f);
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("migbrokerctl policy: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'migbrokerctl policy --help'.\n", stderr);
        return CTL_EXIT_USAGE;
}

static void json_diags(const MbDiagList *diags) {
        size_t n = mb_diag_list_size(diags);

        fputs("[", stdout);
        for (size_t i = 0; i < n; i++) {
                const MbDiag *d = mb_diag_list_get(diags, i);
                fputs(i == 0 ? "\n  {\"file\": " : ",\n  {\"file\": ", stdout);
                ctl_json_string(stdout, d->file);
                printf(", \"line\": %u, \"column\": %u, \"severity\": \"%s\", \"message\": ", d->line, d->column,
                       mb_diag_severity_to_string(d->severity));
                ctl_json_string(stdout, d->message);
                fputs("}", stdout);
        }
        fputs(n > 0 ? "\n]\n" : "]\n", stdout);
}

static void load_options(const Args *a, MbPolicyLoadOptions *opts, const char *const *files) {
        *opts = (MbPolicyLoadOptions) {
                .path = a->policy,
                .files = files,
                .plugin_dir = a->plugin_dir,
                .flags = a->skip_plugin_files ? MB_POLICY_LOAD_SKIP_PLUGIN_FILES : 0,
        };
}

static const char *plural(size_t n) {
        return n == 1 ? "" : "s";
}

static int verb_check(const Args *a) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        MbPolicyLoadOptions opts;
        int r;

        load_options(a, &opts, a->n_positional > 1 ? (const char *const *) a->positional + 1 : NULL);
        r = mb_policy_load(&opts, &p, diags);

        if (a->json) {
                json_diags(diags);
                return r < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
        }
        (void) mb_diag_list_print(diags, stderr);
        if (r < 0) {
                size_t e = mb_diag_list_count(diags, MB_DIAG_ERROR), f = mb_diag_list_files_with_errors(diags);
                if (r == -MB_EPOLICYINVALID)
                        fprintf(stderr, "policy invalid: %zu error%s in %zu file%s\n", e, plural(e), f, plural(f));
                else
                        fprintf(stderr, "policy check failed: %s\n", g_strerror(-r));
                return CTL_EXIT_FAILED;
        }
        for (guint i = 0; i < p->files->len; i++)
                printf("%s: ok\n", (const char *) g_ptr_array_index(p->files, i));
        printf("policy valid: %u file%s, %u plugin%s, %u device rule%s\n", p->files->len, plural(p->files->len),
               p->plugins->len, plural(p->plugins->len), p->rules->len, plural(p->rules->len));
        return CTL_EXIT_OK;
}

/* ---- explain ------------------------------------------------------------- */

static void print_rule(const char *prefix, const MbPolicyRule *rule) {
        g_autofree char *m = mb_policy_rule_match_to_string(rule);
        unsigned rank = mb_policy_rule_rank(rule);

        printf("%s%s:%u: %s -> %s (%s", prefix, rule->loc.file, rule->loc.line, m, rule->plugin_name,
               mb_policy_match_kind_to_string(rule->kind));
        if (rule->kind == MB_POLICY_MATCH_PATTERN)
                printf(", %u wildcard%s", rank, plural(rank));
        printf(")\n");
}

static void json_rule(const MbPolicyRule *rule) {
        g_autofree char *m = NULL;

        if (!rule) {
                fputs("null", stdout);
                return;
        }
        m = mb_policy_rule_match_to_string(rule);
        fputs("{\"file\": ", stdout);
        ctl_json_string(stdout, rule->loc.file);
        printf(", \"line\": %u, \"column\": %u, \"kind\": ", rule->loc.line, rule->loc.column);
        ctl_json_string(stdout, mb_policy_match_kind_to_string(rule->kind));
        fputs(", \"match\": ", stdout);
        ctl_json_string(stdout, m);
        fputs(", \"plugin\": ", stdout);
        ctl_json_string(stdout, rule->plugin_name);
        fputs("}", stdout);
}

static void explain_json(const MbPolicy *p, const MbPolicyMatchResult *res, int match_r, const GPtrArray *all,
                         const char *ids_path) {
        printf("{\"bdf\": \"%s\", ", res->bdf);
        if (res->ids_known) {
                printf("\"vendor\": \"0x%04x\", \"device\": \"0x%04x\", \"ids_error\": null, ", res->vendor,
                       res->device);
        } else {
                g_autofree char *e = g_strdup_printf("%s: %s", ids_path, g_strerror(-res->ids_error));
                fputs("\"vendor\": null, \"device\": null, \"ids_error\": ", stdout);
                ctl_json_string(stdout, e);
                fputs(", ", stdout);
        }
        printf("\"bound\": %s, \"kind\": ", match_r > 0 ? "true" : "false");
        ctl_json_string(stdout, match_r > 0 ? mb_policy_match_kind_to_string(res->kind) : NULL);
        fputs(", \"plugin\": ", stdout);
        ctl_json_string(stdout, match_r > 0 && res->plugin ? res->plugin->name : NULL);
        fputs(", \"plugin_path\": ", stdout);
        ctl_json_string(stdout, match_r > 0 && res->plugin ? res->plugin->resolved_path : NULL);
        fputs(", \"arg\": ", stdout);
        ctl_json_string(stdout, match_r > 0 ? res->arg : NULL);
        fputs(", \"arg_source\": ", stdout);
        ctl_json_string(stdout, match_r <= 0 || !res->arg ? NULL : res->rule && res->rule->arg ? "rule" : "plugin");
        fputs(", \"rule\": ", stdout);
        json_rule(match_r != 0 ? res->rule : NULL);
        fputs(", \"conflict\": ", stdout);
        json_rule(res->conflict);
        fputs(", \"matching_rules\": [", stdout);
        for (guint i = 0; i < all->len; i++) {
                if (i > 0)
                        fputs(", ", stdout);
                json_rule(g_ptr_array_index(all, i));
        }
        fputs("], \"probe_order\": [", stdout);
        for (guint i = 0; i < p->plugins->len; i++) {
                if (i > 0)
                        fputs(", ", stdout);
                ctl_json_string(stdout, ((const MbPolicyPlugin *) g_ptr_array_index(p->plugins, i))->name);
        }
        fputs("]}\n", stdout);
}

static void explain_none(const MbPolicy *p, const MbPolicyMatchResult *res) {
        printf("plugin:  none: no rule matches this device\n");
        printf("checked, best first:\n");
        printf("  exact BDF:      no rule for %s\n", res->bdf);
        printf("  BDF pattern:    no pattern covers %s\n", res->bdf);
        if (res->ids_known) {
                printf("  vendor+device:  no rule for vendor 0x%04x, device 0x%04x\n", res->vendor, res->device);
                printf("  vendor:         no rule for vendor 0x%04x\n", res->vendor);
        } else {
                printf("  vendor+device:  not applicable: the IDs are unknown\n");
                printf("  vendor:         not applicable: the IDs are unknown\n");
        }
        if (!res->ids_known)
                printf("  plugin probe:   not applicable: no such device\n");
        else if (p->plugins->len == 0)
                printf("  plugin probe:   no plugin is defined\n");
        else {
                printf("  plugin probe:   not run by this command; the broker asks, in this order:");
                for (guint i = 0; i < p->plugins->len; i++)
                        printf("%s %s", i ? "," : "", ((const MbPolicyPlugin *) g_ptr_array_index(p->plugins, i))->name);
                printf("\n");
        }
}

static int verb_explain(const Args *a) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autoptr(GPtrArray) all = NULL;
        g_autofree char *ids_path = NULL;
        const char *sysfs_root = a->sysfs_root ? a->sysfs_root : mb_pci_sysfs_default_root();
        MbPolicyLoadOptions opts;
        MbPolicyMatchResult res;
        MbPolicyDeviceIds ids;
        MbBdfPatternError err;
        MbBdf bdf;
        int r, ids_r;

        if (a->n_positional != 2)
                return usage_error("%s", a->n_positional < 2 ? "explain needs a BDF" : "explain takes one BDF");
        if (mb_bdf_parse(a->positional[1], &bdf) < 0) {
                MbBdfPattern pat;
                if (mb_bdf_pattern_parse(a->positional[1], &pat, &err) == 0)
                        (void) g_strlcpy(err.message, "explain takes one device, not a pattern", sizeof(err.message));
                fprintf(stderr, "migbrokerctl policy: malformed BDF \"%s\": %s\n", a->positional[1], err.message);
                return CTL_EXIT_USAGE;
        }

        load_options(a, &opts, NULL);
        r = mb_policy_load(&opts, &p, diags);
        if (r < 0) {
                if (a->json)
                        json_diags(diags);
                else {
                        (void) mb_diag_list_print(diags, stderr);
                        fprintf(stderr, "cannot explain: the policy is invalid (see 'migbrokerctl policy check')\n");
                }
                return CTL_EXIT_FAILED;
        }

        char norm[MB_BDF_STRLEN + 1];
        mb_bdf_format(&bdf, norm);
        ids_path = g_build_filename(sysfs_root, "bus/pci/devices", norm, NULL);
        ids_r = mb_pci_sysfs_read_ids(sysfs_root, norm, &ids.vendor, &ids.device);
        r = mb_policy_match_ids(p, &bdf, ids_r >= 0 ? &ids : NULL, NULL, NULL, &res);
        res.ids_error = ids_r < 0 ? ids_r : 0;
        all = mb_policy_matching_rules(p, &bdf, ids_r >= 0 ? &ids : NULL);

        if (a->json) {
                explain_json(p, &res, r, all, ids_path);
                return r > 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
        }

        printf("device:  %s\n", res.bdf);
        if (res.ids_known)
                printf("ids:     vendor 0x%04x, device 0x%04x\n", res.vendor, res.device);
        else
                printf("ids:     unknown (%s: %s); vendor rules and probes cannot apply\n", ids_path,
                       g_strerror(-ids_r));

        if (r == -MB_EPOLICYINVALID) {
                printf("plugin:  none: two rules of the same rank match; the broker refuses the device\n");
                print_rule("         ", res.rule);
                print_rule("         ", res.conflict);
                printf("         make one of them more specific, or add an exact rule for %s\n", res.bdf);
                return CTL_EXIT_FAILED;
        }
        if (r == 0) {
                explain_none(p, &res);
                return CTL_EXIT_FAILED;
        }

        printf("plugin:  %s (%s)\n", res.plugin->name, res.plugin->resolved_path);
        if (!res.arg)
                printf("arg:     none (init() gets NULL)\n");
        else
                printf("arg:     \"%s\" (%s)\n", res.arg,
                       res.rule->arg ? "from the rule" : "the plugin's default");
        print_rule("rule:    ", res.rule);
        if (all->len > 1) {
                printf("also matching, not used (lower precedence):\n");
                for (guint i = 0; i < all->len; i++)
                        if (g_ptr_array_index(all, i) != res.rule)
                                print_rule("         ", g_ptr_array_index(all, i));
        }
        return CTL_EXIT_OK;
}

/* ---- reload ---------------------------------------------------------------
 * org.migbroker1.Manager.ReloadPolicy() on the broker's bus. A refused policy
 * comes back as PolicyInvalid with the same diagnostics as "check". */
static int verb_reload(const Args *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        if (a->n_positional != 1)
                return usage_error("%s", "reload takes no arguments");
        r = ctl_bus_open(&a->bus, &bus, &e);
        if (r >= 0)
                r = sd_bus_call_method(bus, CTL_BUS_NAME, CTL_MANAGER_PATH, CTL_MANAGER_IFACE, "ReloadPolicy",
                                       &e, NULL, "");
        if (r < 0)
                return ctl_fail(&a->bus, "policy reload", r, &e);
        if (a->json)
                printf("{ \"ok\" : true }\n");
        else
                fprintf(stderr, "policy reloaded\n");
        return CTL_EXIT_OK;
}

typedef struct SubVerb {
        const char *name;
        int (*func)(const Args *a);
} SubVerb;

static const SubVerb subverbs[] = {
        { "check", verb_check },
        { "explain", verb_explain },
        { "reload", verb_reload },
};

int ctl_policy_main(int argc, char *argv[]) {
        enum { ARG_JSON = 0x100, ARG_POLICY, ARG_PLUGIN_DIR, ARG_SYSFS_ROOT, ARG_SKIP_PLUGIN_FILES };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, ARG_JSON },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "plugin-dir", required_argument, NULL, ARG_PLUGIN_DIR },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "skip-plugin-files", no_argument, NULL, ARG_SKIP_PLUGIN_FILES },
                { "bus", required_argument, NULL, CTL_ARG_BUS },
                { "timeout", required_argument, NULL, CTL_ARG_TIMEOUT },
                {},
        };
        Args a = {};
        int c;

        ctl_options_init(&a.bus);
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return CTL_EXIT_OK;
                case ARG_JSON:
                        a.json = true;
                        a.bus.json = true;
                        break;
                case CTL_ARG_BUS:
                case CTL_ARG_TIMEOUT:
                        if (ctl_options_handle(&a.bus, c, optarg) < 0)
                                return CTL_EXIT_USAGE;
                        break;
                case ARG_POLICY:
                        a.policy = optarg;
                        break;
                case ARG_PLUGIN_DIR:
                        a.plugin_dir = optarg;
                        break;
                case ARG_SYSFS_ROOT:
                        a.sysfs_root = optarg;
                        break;
                case ARG_SKIP_PLUGIN_FILES:
                        a.skip_plugin_files = true;
                        break;
                case ':':
                        return usage_error("option %s needs an argument", argv[optind - 1]);
                default:
                        return usage_error("unknown option %s", argv[optind - 1]);
                }

        if (!a.plugin_dir)
                a.plugin_dir = mb_policy_default_plugin_dir();
        a.positional = argv + optind;
        a.n_positional = argc - optind;
        if (a.n_positional == 0)
                return usage_error("%s", "missing command: check, explain or reload");
        for (size_t i = 0; i < ELEMENTSOF(subverbs); i++)
                if (strcmp(subverbs[i].name, a.positional[0]) == 0)
                        return subverbs[i].func(&a);
        return usage_error("unknown command \"%s\" (check, explain or reload)", a.positional[0]);
}
