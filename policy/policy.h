/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.h: the policy model (migbroker-policy(5)): settings with the
 * contract's defaults, the plugins and the device rules, each with the place
 * it was written. It neither reads files (policy-load.h) nor matches devices.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "bdf-pattern.h"
#include "policy-diag.h"

#define MB_POLICY_VERSION 1
#define MB_POLICY_DEFAULT_PATH "/etc/migbroker/policy.yaml"
#define MB_POLICY_DROPIN_DIR_NAME "policy.d"
#define MB_POLICY_DEFAULT_OP_TIMEOUT_MS 10000u
#define MB_POLICY_OP_TIMEOUT_MS_MIN 100u
#define MB_POLICY_OP_TIMEOUT_MS_MAX 3600000u
#define MB_POLICY_DEFAULT_RUNTIME_DIR "/run/migbroker"
#define MB_POLICY_DEFAULT_VMM_USER "libvirt-qemu"
#define MB_POLICY_DEFAULT_LIBVIRT_URI "qemu:///system"
#define MB_POLICY_ARG_MAX 4096u
#define MB_POLICY_NAME_MAX 64u

/* Where something was written: file points into MbPolicy.files. */
typedef struct MbPolicyLoc {
        const char *file;
        unsigned line;     /* 1-based */
        unsigned column;   /* 1-based */
} MbPolicyLoc;

typedef struct MbPolicySettings {
        char *plugin_dir;
        char *worker_user;
        char *admin_group;
        uint32_t op_timeout_ms;
        char *runtime_dir;
        char *vmm_user;
        char *libvirt_uri;
        MbPolicyLoc loc;   /* of the "settings" key; file NULL when absent */
} MbPolicySettings;

typedef struct MbPolicyPlugin {
        char *name;
        char *path;          /* as written */
        char *resolved_path; /* absolute, after plugin-dir (set by mb_policy_finalize) */
        char *arg;           /* default init() arg, or NULL */
        char *description;   /* or NULL */
        MbPolicyLoc loc;     /* of the name */
        MbPolicyLoc path_loc;
        unsigned order;      /* declaration order over all files: the probe order */
} MbPolicyPlugin;

/* Precedence, best first. */
typedef enum MbPolicyMatchKind {
        MB_POLICY_MATCH_NONE,
        MB_POLICY_MATCH_BDF,           /* exact BDF */
        MB_POLICY_MATCH_PATTERN,       /* BDF pattern, fewer wildcards first */
        MB_POLICY_MATCH_VENDOR_DEVICE,
        MB_POLICY_MATCH_VENDOR,
        MB_POLICY_MATCH_PROBE,         /* a plugin's probe() accepted the device */
} MbPolicyMatchKind;

typedef struct MbPolicyRule {
        MbPolicyMatchKind kind;   /* BDF, PATTERN, VENDOR_DEVICE or VENDOR */
        MbBdfPattern bdf;         /* BDF (no wildcards) and PATTERN */
        uint16_t vendor;          /* VENDOR_DEVICE and VENDOR */
        uint16_t device;          /* VENDOR_DEVICE */
        char *plugin_name;
        const MbPolicyPlugin *plugin; /* set by mb_policy_finalize */
        char *arg;                /* overrides the plugin's arg, or NULL */
        char *description;        /* or NULL */
        MbPolicyLoc loc;          /* of the rule (its first key) */
        MbPolicyLoc match_loc;    /* of the "match" value */
        MbPolicyLoc plugin_loc;   /* of the "plugin" value */
        unsigned order;           /* position over all files */
} MbPolicyRule;

typedef struct MbPolicyIndex MbPolicyIndex;

typedef struct MbPolicy {
        gint n_ref;
        MbPolicySettings settings;
        GPtrArray *files;             /* char*, in load order: main file first */
        GPtrArray *plugins;           /* MbPolicyPlugin*, in declaration order */
        GHashTable *plugins_by_name;  /* name -> MbPolicyPlugin* */
        GPtrArray *rules;             /* MbPolicyRule*, in file order */
        MbPolicyIndex *index;         /* built by mb_policy_finalize */
} MbPolicy;

MbPolicy *mb_policy_new(void);
MbPolicy *mb_policy_ref(MbPolicy *p);
void mb_policy_unref(MbPolicy *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MbPolicy, mb_policy_unref)

/* Interns a file name; the result lives as long as the policy. */
const char *mb_policy_intern_file(MbPolicy *p, const char *file);

/* Adds a plugin (taking ownership) unless its name is taken: then an error
 * naming both places goes to diags, the plugin is freed, returns -EEXIST. */
int mb_policy_add_plugin(MbPolicy *p, MbPolicyPlugin *plugin, MbDiagList *diags);
void mb_policy_plugin_free(MbPolicyPlugin *plugin);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MbPolicyPlugin, mb_policy_plugin_free)

/* Adds a rule (taking ownership). Cross-file checks happen at finalize. */
void mb_policy_add_rule(MbPolicy *p, MbPolicyRule *rule);
void mb_policy_rule_free(MbPolicyRule *rule);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MbPolicyRule, mb_policy_rule_free)

/* After every file is parsed: fills in defaults, resolves plugin paths
 * (plugin_dir_override, else settings.plugin-dir, else PLUGINDIR) and rule
 * plugins, refuses duplicate identical matches and unknown plugins, warns
 * about patterns of equal rank that overlap, and builds the match index.
 * Returns 0, or -MB_EPOLICYINVALID when it added errors. */
int mb_policy_finalize(MbPolicy *p, const char *plugin_dir_override, MbDiagList *diags);

const MbPolicyPlugin *mb_policy_find_plugin(const MbPolicy *p, const char *name);

/* The arg a device bound by rule gets: the rule's, else its plugin's, else NULL. */
const char *mb_policy_rule_arg(const MbPolicyRule *rule);

/* "exact BDF", "BDF pattern", "vendor+device", "vendor", "plugin probe". */
const char *mb_policy_match_kind_to_string(MbPolicyMatchKind k);
/* A rule's match as written in YAML flow style, normalised:
 * `{ bdf: "0000:3b:00.*" }` or `{ vendor: 0x1af4, device: 0x1041 }`. */
char *mb_policy_rule_match_to_string(const MbPolicyRule *rule);
/* Precedence of a rule: 0 exact BDF, 1..4 patterns by wildcard count,
 * 5 vendor+device, 6 vendor. Lower wins. */
unsigned mb_policy_rule_rank(const MbPolicyRule *rule);
