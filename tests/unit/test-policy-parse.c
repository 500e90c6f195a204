/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of policy/policy-parse: every diagnostic with its exact line, column
 * and message, and the model a valid file gives. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy-test-util.h"

typedef struct Case {
        const char *name;
        const char *yaml;
        unsigned line, column;      /* of the first error */
        const char *message;
        unsigned errors;            /* expected error count; 0 means 1 */
        MbPolicyFileRole role;
        size_t len;                 /* of yaml, for text with NUL bytes; 0 means strlen() */
} Case;

#define V "version: 1\n"
#define PLUGIN "plugins:\n  simdev:\n    path: simdev.so\n"
#define SHAPE "expected DDDD:BB:SS.F (domain:bus:slot.function in hex, \"*\" for a whole field), e.g. \"0000:3b:00.1\""

/* Most rows leave errors and role at their defaults. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const Case cases[] = {
        /* ---- syntax, as libyaml reports it, at libyaml's position */
        { "syntax-flow", V "plugins: [a\n", 2, 12,
          "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 2, column 10)" },
        { "syntax-indent", V "  bad: indent\n", 2, 6, "invalid YAML: mapping values are not allowed in this context" },
        { "syntax-unterminated", V "plugins: \"abc\n", 2, 14,
          "invalid YAML: found unexpected end of stream (while scanning a quoted scalar at line 2, column 10)" },
        { "syntax-alias-star", V "devices:\n  - match: { bdf: *:3b:00.1 }\n", 3, 20,
          "invalid YAML: did not find expected alphabetic or numeric character (while scanning an alias at line 3, "
          "column 19); quote values that start with \"*\" or \"&\"" },
        { "control-character", "version: 1\x01\n", 1, 11, "invalid YAML: control characters are not allowed" },
        /* ---- tabs */
        { "tab-indent", V "settings:\n\tplugin-dir: /x\n", 3, 1,
          "tab character in indentation: YAML indents with spaces only" },
        { "tab-after-spaces", V "settings:\n  \top-timeout-ms: 5\n", 3, 3,
          "tab character in indentation: YAML indents with spaces only" },
        /* ---- unknown keys */
        { "unknown-key-suggest", V "setings:\n  plugin-dir: /x\n", 2, 1,
          "unknown key \"setings\" in the top level; did you mean \"settings\"?" },
        { "unknown-key-list", V "colour: red\n", 2, 1,
          "unknown key \"colour\" in the top level; known keys: version, settings, plugins, devices" },
        { "unknown-key-settings", V "settings:\n  plugin-dri: /x\n", 3, 3,
          "unknown key \"plugin-dri\" in settings; did you mean \"plugin-dir\"?" },
        { "unknown-key-plugin", V "plugins:\n  simdev:\n    path: simdev.so\n    args: x\n", 5, 5,
          "unknown key \"args\" in plugin \"simdev\"; did you mean \"arg\"?" },
        { "unknown-key-rule", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.1\" }\n    plguin: simdev\n", 7, 5,
          "unknown key \"plguin\" in a device rule; did you mean \"plugin\"?" },
        { "unknown-key-match", V PLUGIN "devices:\n  - match: { vendr: 0x1af4 }\n    plugin: simdev\n", 6, 14,
          "unknown key \"vendr\" in \"match\"; did you mean \"vendor\"?" },
        { "misplaced-bdf", V PLUGIN "devices:\n  - bdf: \"0000:3b:00.1\"\n    plugin: simdev\n", 6, 5,
          "unknown key \"bdf\" in a device rule: \"bdf\" belongs inside \"match\", as in match: { bdf: \"0000:3b:00.1\" }" },
        { "misplaced-plugin-in-match",
          V PLUGIN "devices:\n  - match:\n      bdf: \"0000:3b:00.1\"\n      plugin: simdev\n", 6, 5,
          "a device rule is missing the required key \"plugin\"", 2 },
        { "misplaced-setting", V "plugin-dir: /x\n", 2, 1,
          "unknown key \"plugin-dir\" in the top level: \"plugin-dir\" belongs under \"settings\"" },
        /* ---- wrong types */
        { "type-version-string", "version: \"1\"\n", 1, 10,
          "\"version\" must be the integer 1, got a string (write version: 1, without quotes)" },
        { "type-plugins-list", V "plugins: [a, b]\n", 2, 10,
          "\"plugins\" must be a mapping such as { simdev: { path: simdev.so } }, got a list" },
        { "type-plugin-scalar", V "plugins:\n  simdev: simdev.so\n", 3, 11,
          "plugin \"simdev\" must be a mapping such as { path: simdev.so, arg: \"...\" }, got a string" },
        { "type-devices-mapping", V "devices:\n  match: x\n", 3, 3,
          "\"devices\" must be a list of rules (each line starting with \"- match:\"), got a mapping" },
        { "type-rule-scalar", V "devices:\n  - simdev\n", 3, 5,
          "a device rule must be a mapping such as { match: { bdf: \"0000:3b:00.1\" }, plugin: simdev }, got a string" },
        { "type-match-scalar", V PLUGIN "devices:\n  - match: \"0000:3b:00.1\"\n    plugin: simdev\n", 6, 12,
          "\"match\" must be a mapping such as { bdf: \"0000:3b:00.1\" } or { vendor: 0x1af4, device: 0x1041 }, got a "
          "string" },
        { "type-arg-int", V "plugins:\n  simdev:\n    path: simdev.so\n    arg: 7000\n", 5, 10,
          "\"arg\" must be a string, got an integer (quote it: arg: \"7000\")" },
        { "type-arg-bool", V "plugins:\n  simdev:\n    path: simdev.so\n    arg: yes\n", 5, 10,
          "\"arg\" must be a string, got a boolean (quote it: arg: \"yes\")" },
        { "type-path-null", V "plugins:\n  simdev:\n    path:\n", 4, 10, "\"path\" must be a string, got null" },
        { "type-timeout-string", V "settings:\n  op-timeout-ms: \"10\"\n", 3, 18,
          "\"op-timeout-ms\" must be an integer, got a string" },
        { "type-bdf-number", V PLUGIN "devices:\n  - match: { bdf: 0000:01:00.0 }\n    plugin: simdev\n", 6, 19,
          "\"bdf\" must be a quoted string: unquoted, 0000:01:00.0 is read as a number (write bdf: \"0000:01:00.0\")" },
        { "type-vendor-list", V PLUGIN "devices:\n  - match: { vendor: [1] }\n    plugin: simdev\n", 6, 22,
          "\"vendor\" must be a hex PCI ID such as 0x1af4, got a list" },
        { "type-key-list", V "[a]: b\n", 2, 1, "a key must be a string, got a list" },
        { "type-plugin-name-int", V "plugins:\n  1234: { path: x.so }\n", 3, 3,
          "a plugin name must be a string, got an integer (quote it: \"1234\")" },
        /* ---- missing required keys */
        { "missing-version", "plugins: {}\n", 1, 1, "the top level is missing the required key \"version\"" },
        { "missing-path", V "plugins:\n  simdev:\n    arg: x\n", 4, 5,
          "plugin \"simdev\" is missing the required key \"path\"" },
        { "missing-match", V PLUGIN "devices:\n  - plugin: simdev\n", 6, 5,
          "a device rule is missing the required key \"match\"" },
        { "missing-plugin", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.1\" }\n", 6, 5,
          "a device rule is missing the required key \"plugin\"" },
        { "match-empty", V PLUGIN "devices:\n  - match: {}\n    plugin: simdev\n", 6, 12,
          "\"match\" needs \"bdf\", or \"vendor\" with an optional \"device\"" },
        { "match-device-alone", V PLUGIN "devices:\n  - match: { device: 0x1041 }\n    plugin: simdev\n", 6, 14,
          "\"device\" needs \"vendor\" in the same match" },
        { "match-bdf-and-vendor",
          V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.1\", vendor: 0x1af4 }\n    plugin: simdev\n", 6, 35,
          "\"bdf\" and \"vendor\" cannot be combined in one match: a BDF names one device already (use a separate "
          "rule)" },
        /* ---- duplicate keys */
        { "duplicate-key-top", V "version: 1\n", 2, 1, "duplicate key \"version\" (first at line 1, column 1)" },
        { "duplicate-key-rule",
          V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.1\" }\n    plugin: simdev\n    plugin: simdev\n", 8, 5,
          "duplicate key \"plugin\" (first at line 7, column 5)" },
        { "duplicate-plugin-same-file", V "plugins:\n  simdev: { path: a.so }\n  simdev: { path: b.so }\n", 4, 3,
          "duplicate key \"simdev\" (first at line 3, column 3)" },
        /* ---- plugins named by rules */
        { "unknown-plugin-suggest", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.1\" }\n    plugin: simdve\n", 7,
          13, "unknown plugin \"simdve\"; did you mean \"simdev\"?" },
        { "unknown-plugin-list", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.1\" }\n    plugin: other\n", 7, 13,
          "unknown plugin \"other\"; defined plugins: simdev" },
        { "unknown-plugin-none", V "devices:\n  - match: { bdf: \"0000:3b:00.1\" }\n    plugin: simdev\n", 4, 13,
          "unknown plugin \"simdev\"; no plugin is defined (declare it under \"plugins\")" },
        { "plugin-name-invalid", V "plugins:\n  \"bad name\": { path: x.so }\n", 3, 3,
          "invalid plugin name \"bad name\": use letters, digits, \"-\", \"_\" and \".\", starting with a letter, at "
          "most 64 characters" },
        { "plugin-path-dotdot", V "plugins:\n  simdev: { path: ../evil.so }\n", 3, 19,
          "\"path\" must not contain \"..\": \"../evil.so\"" },
        { "plugin-path-empty", V "plugins:\n  simdev: { path: \"\" }\n", 3, 19, "\"path\" must not be empty" },
        /* ---- BDFs and patterns: the caret lands on the offending field */
        { "bdf-slot-range", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:20.1\" }\n    plugin: simdev\n", 6, 28,
          "malformed BDF \"0000:3b:20.1\": the slot 0x20 is out of range (0x00-0x1f)" },
        { "bdf-function-range", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.8\" }\n    plugin: simdev\n", 6,
          31, "malformed BDF \"0000:3b:00.8\": the function 0x8 is out of range (0x0-0x7)" },
        { "bdf-not-hex", V PLUGIN "devices:\n  - match: { bdf: \"0000:3g:00.1\" }\n    plugin: simdev\n", 6, 26,
          "malformed BDF \"0000:3g:00.1\": the bus \"3g\" is not hexadecimal" },
        { "bdf-width", V PLUGIN "devices:\n  - match: { bdf: \"000:3b:00.1\" }\n    plugin: simdev\n", 6, 20,
          "malformed BDF \"000:3b:00.1\": the domain must have 4 hex digits, got \"000\"" },
        { "bdf-no-domain", V PLUGIN "devices:\n  - match: { bdf: \"3b:00.1\" }\n    plugin: simdev\n", 6, 20,
          "malformed BDF \"3b:00.1\": missing the PCI domain: write \"0000:3b:00.1\"" },
        { "bdf-shape", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00\" }\n    plugin: simdev\n", 6, 20,
          "malformed BDF \"0000:3b:00\": " SHAPE },
        { "bdf-range-syntax", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.0-3\" }\n    plugin: simdev\n", 6, 32,
          "malformed BDF \"0000:3b:00.0-3\": ranges and lists are not supported in the function \"0-3\"; use \"*\" "
          "for the whole field or one rule per value" },
        { "bdf-plain-caret", V PLUGIN "devices:\n  - match:\n      bdf: 0000:3b:1g.0\n    plugin: simdev\n", 7, 21,
          "malformed BDF \"0000:3b:1g.0\": the slot \"1g\" is not hexadecimal" },
        { "pattern-partial", V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:0*.1\" }\n    plugin: simdev\n", 6, 28,
          "malformed BDF pattern \"0000:3b:0*.1\": a wildcard \"*\" must replace the whole slot, got \"0*\"" },
        { "pattern-double-star", V PLUGIN "devices:\n  - match: { bdf: \"0000:**:00.1\" }\n    plugin: simdev\n", 6, 25,
          "malformed BDF pattern \"0000:**:00.1\": a wildcard \"*\" must replace the whole bus, got \"**\"" },
        /* ---- PCI IDs */
        { "vendor-decimal", V PLUGIN "devices:\n  - match: { vendor: 8086 }\n    plugin: simdev\n", 6, 22,
          "\"vendor\" must be written in hex with 0x: 8086 would be read as decimal (write 0x8086)" },
        { "device-out-of-range", V PLUGIN "devices:\n  - match: { vendor: 0x1af4, device: 0x10000 }\n    plugin: simdev\n",
          6, 38, "\"device\" 0x10000 is out of range (0x0000-0xffff)" },
        { "vendor-ffff", V PLUGIN "devices:\n  - match: { vendor: 0xffff }\n    plugin: simdev\n", 6, 22,
          "\"vendor\" 0xffff is not a PCI vendor ID (it is what an absent device reads as)" },
        { "vendor-not-hex", V PLUGIN "devices:\n  - match: { vendor: \"intel\" }\n    plugin: simdev\n", 6, 22,
          "\"vendor\" must be a hex PCI ID such as 0x1af4, got \"intel\"" },
        /* ---- duplicate identical matches (after normalisation) */
        { "duplicate-match-bdf",
          V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:00.1\" }\n    plugin: simdev\n"
                   "  - match: { bdf: \"0000:3B:00.1\" }\n    plugin: simdev\n", 8, 12,
          "duplicate match { bdf: \"0000:3b:00.1\" }: the rule at test.yaml:6 matches the same devices" },
        { "duplicate-match-pattern",
          V PLUGIN "devices:\n  - match: { bdf: \"0000:3b:*.*\" }\n    plugin: simdev\n"
                   "  - match: { bdf: \"0000:3B:*.*\" }\n    plugin: simdev\n", 8, 12,
          "duplicate match { bdf: \"0000:3b:*.*\" }: the rule at test.yaml:6 matches the same devices" },
        { "duplicate-match-ids",
          V PLUGIN "devices:\n  - match: { vendor: 0x1af4, device: 0x1041 }\n    plugin: simdev\n"
                   "  - match: { vendor: \"1AF4\", device: \"0x1041\" }\n    plugin: simdev\n", 8, 12,
          "duplicate match { vendor: 0x1af4, device: 0x1041 }: the rule at test.yaml:6 matches the same devices" },
        /* ---- version */
        { "version-unsupported", "version: 2\n", 1, 10,
          "unsupported policy version 2: this migbroker reads version 1" },
        /* ---- anchors, aliases, tags: refused */
        { "anchor", "version: &v 1\n", 1, 10,
          "anchors (&v) are not supported in a policy file: write the value out" },
        { "alias", V "plugins:\n  a: &p { path: a.so }\n  b: *p\n", 3, 6,
          "anchors (&p) are not supported in a policy file: write the value out", 2 },
        { "tag", "version: !!int 1\n", 1, 10, "tags (tag:yaml.org,2002:int) are not supported in a policy file" },
        /* ---- whole-file shapes */
        { "empty", "", 1, 1, "empty policy file: it needs at least \"version: 1\"" },
        { "comments-only", "# nothing here\n\n", 1, 1, "empty policy file: it needs at least \"version: 1\"" },
        { "document-marker-only", "---\n", 1, 1, "empty policy file: it needs at least \"version: 1\"" },
        { "not-mapping-scalar", "hello\n", 1, 1,
          "a policy file must be a mapping (of \"version\", \"settings\", \"plugins\", \"devices\"), got a string" },
        { "not-mapping-list", "- version: 1\n", 1, 1,
          "a policy file must be a mapping (of \"version\", \"settings\", \"plugins\", \"devices\"), got a list" },
        { "two-documents", V "---\nversion: 1\n", 2, 1, "a policy file holds one YAML document; this starts a second" },
        { "binary-nul", "version: 1\n\x7f" "ELF\x02\x01\x01\x00\x00\x00", 2, 8, "not a text file: NUL byte at offset 18", 1,
          MB_POLICY_FILE_MAIN, 21 },
        { "binary-utf8", V "\xff\xfe\x00", 2, 1, "not UTF-8 text: invalid byte 0xff at offset 11" },
        { "nesting", V "x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", 2, 35,
          "nested deeper than 32 levels" },
        /* ---- settings */
        { "settings-in-dropin", V "settings:\n  op-timeout-ms: 5000\n", 2, 1,
          "\"settings\" may only be set in the main policy file (main.yaml), not in a drop-in", 1,
          MB_POLICY_FILE_DROPIN },
        { "settings-relative-dir", V "settings:\n  plugin-dir: plugins\n", 3, 15,
          "\"plugin-dir\" must be an absolute path, got \"plugins\"" },
        { "settings-timeout-range", V "settings:\n  op-timeout-ms: 50\n", 3, 18,
          "\"op-timeout-ms\" 50 is out of range (100-3600000)" },
        { "settings-worker-root", V "settings:\n  worker-user: root\n", 3, 16,
          "\"worker-user\" must not be root: workers run vendor code unprivileged" },
        { "settings-bad-user", V "settings:\n  vmm-user: \"libvirt qemu\"\n", 3, 13,
          "\"vmm-user\" is not a valid user or group name: \"libvirt qemu\" (letters, digits, \"_\", \"-\", \".\"; at "
          "most 32 characters, starting with a letter or \"_\")" },
        { "settings-empty-uri", V "settings:\n  libvirt-uri: \"\"\n", 3, 16, "\"libvirt-uri\" must not be empty" },
};
#pragma GCC diagnostic pop

static void test_case(void **state) {
        const Case *c = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        const MbDiag *d;
        int r;

        p = parse_yaml_len(c->yaml, c->len ? c->len : strlen(c->yaml), c->role, diags, &r);
        assert_int_equal(r, -MB_EPOLICYINVALID);
        d = first_diag(diags, MB_DIAG_ERROR);
        assert_non_null(d);
        if (strcmp(d->message, c->message) != 0 || d->line != c->line || d->column != c->column) {
                g_autofree char *all = mb_diag_list_format(diags);
                print_error("case %s: got\n%s", c->name, all);
        }
        assert_string_equal(d->message, c->message);
        assert_int_equal(d->line, c->line);
        assert_int_equal(d->column, c->column);
        assert_string_equal(d->file, "test.yaml");
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_ERROR), c->errors ? c->errors : 1);
}

static const char contract_example[] =
        "version: 1\n"
        "settings:\n"
        "  plugin-dir: /usr/lib/migbroker/plugins\n"
        "  worker-user: migbroker-worker   # refused if it is in admin-group\n"
        "  admin-group: migbroker\n"
        "  op-timeout-ms: 10000\n"
        "  runtime-dir: /run/migbroker\n"
        "  vmm-user: libvirt-qemu\n"
        "  libvirt-uri: qemu:///system\n"
        "plugins:\n"
        "  simdev:\n"
        "    path: simdev.so              # relative to plugin-dir, or absolute\n"
        "    arg: \"127.0.0.1:7000\"        # default init() arg\n"
        "devices:\n"
        "  - match: { bdf: \"0000:3b:00.1\" }\n"
        "    plugin: simdev\n"
        "    arg: \"127.0.0.1:7001\"\n"
        "  - match: { bdf: \"0000:3b:00.*\" }\n"
        "    plugin: simdev\n"
        "  - match: { vendor: 0x1af4, device: 0x1041 }\n"
        "    plugin: simdev\n";

static void test_contract_example(void **state) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        const MbPolicyRule *r0, *r1, *r2;
        const MbPolicyPlugin *pl;

        assert_int_equal(mb_policy_parse_string("policy.yaml", contract_example, strlen(contract_example), &p, diags),
                         0);
        assert_int_equal(mb_diag_list_size(diags), 0);
        assert_string_equal(p->settings.plugin_dir, "/usr/lib/migbroker/plugins");
        assert_string_equal(p->settings.worker_user, "migbroker-worker");
        assert_string_equal(p->settings.admin_group, "migbroker");
        assert_int_equal(p->settings.op_timeout_ms, 10000);
        assert_string_equal(p->settings.runtime_dir, "/run/migbroker");
        assert_string_equal(p->settings.vmm_user, "libvirt-qemu");
        assert_string_equal(p->settings.libvirt_uri, "qemu:///system");
        assert_int_equal(p->settings.loc.line, 2);

        assert_int_equal(p->plugins->len, 1);
        pl = mb_policy_find_plugin(p, "simdev");
        assert_non_null(pl);
        assert_string_equal(pl->path, "simdev.so");
        assert_string_equal(pl->resolved_path, "/usr/lib/migbroker/plugins/simdev.so");
        assert_string_equal(pl->arg, "127.0.0.1:7000");
        assert_int_equal(pl->loc.line, 11);
        assert_int_equal(pl->loc.column, 3);
        assert_int_equal(pl->path_loc.line, 12);
        assert_int_equal(pl->path_loc.column, 11);

        assert_int_equal(p->rules->len, 3);
        r0 = g_ptr_array_index(p->rules, 0);
        r1 = g_ptr_array_index(p->rules, 1);
        r2 = g_ptr_array_index(p->rules, 2);
        assert_int_equal(r0->kind, MB_POLICY_MATCH_BDF);
        assert_int_equal(r0->loc.line, 15);
        assert_int_equal(r0->loc.column, 5);
        assert_string_equal(r0->loc.file, "policy.yaml");
        assert_string_equal(mb_policy_rule_arg(r0), "127.0.0.1:7001");
        assert_ptr_equal(r0->plugin, pl);
        assert_int_equal(r1->kind, MB_POLICY_MATCH_PATTERN);
        assert_int_equal(mb_policy_rule_rank(r1), 1);
        assert_string_equal(mb_policy_rule_arg(r1), "127.0.0.1:7000");
        assert_int_equal(r2->kind, MB_POLICY_MATCH_VENDOR_DEVICE);
        assert_int_equal(r2->vendor, 0x1af4);
        assert_int_equal(r2->device, 0x1041);
        g_autofree char *m = mb_policy_rule_match_to_string(r2);
        assert_string_equal(m, "{ vendor: 0x1af4, device: 0x1041 }");
}

static void test_defaults(void **state) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;

        assert_int_equal(mb_policy_parse_string("p.yaml", "version: 1\n", 11, &p, diags), 0);
        assert_string_equal(p->settings.plugin_dir, PLUGINDIR);
        assert_string_equal(p->settings.worker_user, MB_DEFAULT_WORKER_USER);
        assert_string_equal(p->settings.admin_group, MB_DEFAULT_ADMIN_GROUP);
        assert_int_equal(p->settings.op_timeout_ms, 10000);
        assert_string_equal(p->settings.runtime_dir, "/run/migbroker");
        assert_string_equal(p->settings.vmm_user, "libvirt-qemu");
        assert_string_equal(p->settings.libvirt_uri, "qemu:///system");
        assert_null(p->settings.loc.file);
        assert_int_equal(p->plugins->len, 0);
        assert_int_equal(p->rules->len, 0);
}

static void test_accepted_forms(void **state) {
        static const char yaml[] =
                "version: 1\n"
                "settings:\n"
                "plugins:\n"
                "  a.b-c_d:\n"
                "    path: /abs/x.so\n"
                "    description: |\n"
                "      a block scalar\n"
                "  other: { path: vendor/y.so, arg: \"\" }\n"
                "devices:\n"
                "  - match: { vendor: \"1af4\" }\n"
                "    plugin: a.b-c_d\n"
                "  - match: { vendor: 0X8086, device: \"0x10fb\" }\n"
                "    plugin: other\n"
                "    description: an Intel NIC\n"
                "  - match: {bdf: '*:*:*.*'}\n"
                "    plugin: other\n"
                "  - {match: {bdf: 0000:3b:00.1}, plugin: other}\n";
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        const MbPolicyRule *r;

        assert_int_equal(mb_policy_parse_string("p.yaml", yaml, strlen(yaml), &p, diags), 0);
        assert_int_equal(mb_diag_list_size(diags), 0);
        assert_string_equal(mb_policy_find_plugin(p, "a.b-c_d")->resolved_path, "/abs/x.so");
        assert_string_equal(mb_policy_find_plugin(p, "a.b-c_d")->description, "a block scalar\n");
        assert_string_equal(mb_policy_find_plugin(p, "other")->arg, "");
        r = g_ptr_array_index(p->rules, 0);
        assert_int_equal(r->kind, MB_POLICY_MATCH_VENDOR);
        assert_int_equal(r->vendor, 0x1af4);
        r = g_ptr_array_index(p->rules, 1);
        assert_int_equal(r->kind, MB_POLICY_MATCH_VENDOR_DEVICE);
        assert_int_equal(r->device, 0x10fb);
        assert_string_equal(r->description, "an Intel NIC");
        r = g_ptr_array_index(p->rules, 2);
        assert_int_equal(mb_policy_rule_rank(r), 4);
        r = g_ptr_array_index(p->rules, 3);
        assert_int_equal(r->kind, MB_POLICY_MATCH_BDF);
}

/* A later file may not silently redefine a plugin: the error names both places. */
static void test_duplicate_plugin_across_files(void **state) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = mb_policy_new();
        static const char a_text[] = "version: 1\nplugins:\n  simdev: { path: a.so }\n";
        static const char b_text[] = "version: 1\nplugins:\n  x: { path: x.so }\n  simdev: { path: b.so }\n";
        g_autoptr(GBytes) a = g_bytes_new_static(a_text, sizeof(a_text) - 1);
        g_autoptr(GBytes) b = g_bytes_new_static(b_text, sizeof(b_text) - 1);
        const MbDiag *d;

        assert_int_equal(mb_policy_parse_text(p, "policy.yaml", a, MB_POLICY_FILE_MAIN, diags), 0);
        assert_int_equal(mb_policy_parse_text(p, "policy.d/10-b.yaml", b, MB_POLICY_FILE_DROPIN, diags),
                         -MB_EPOLICYINVALID);
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_ERROR), 1);
        d = first_diag(diags, MB_DIAG_ERROR);
        assert_string_equal(d->file, "policy.d/10-b.yaml");
        assert_int_equal(d->line, 4);
        assert_int_equal(d->column, 3);
        assert_string_equal(d->message, "plugin \"simdev\" is already defined at policy.yaml:3; a later file may not "
                                        "redefine a plugin (rename one, or remove one definition)");
        assert_string_equal(d->source, "  simdev: { path: b.so }");
        assert_string_equal(mb_policy_find_plugin(p, "simdev")->path, "a.so");
}

/* Rules in a drop-in may use plugins of the main file and the other way round. */
static void test_plugins_across_files(void **state) {
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = mb_policy_new();
        static const char main_text[] = "version: 1\ndevices:\n  - match: { vendor: 0x8086 }\n    plugin: late\n";
        static const char dropin_text[] = "version: 1\nplugins:\n  late: { path: late.so }\n";
        g_autoptr(GBytes) a = g_bytes_new_static(main_text, sizeof(main_text) - 1);
        g_autoptr(GBytes) b = g_bytes_new_static(dropin_text, sizeof(dropin_text) - 1);

        assert_int_equal(mb_policy_parse_text(p, "policy.yaml", a, MB_POLICY_FILE_MAIN, diags), 0);
        assert_int_equal(mb_policy_parse_text(p, "policy.d/b.yaml", b, MB_POLICY_FILE_DROPIN, diags), 0);
        assert_int_equal(mb_policy_finalize(p, "/override", diags), 0);
        assert_int_equal(mb_diag_list_size(diags), 0);
        assert_string_equal(((MbPolicyRule *) g_ptr_array_index(p->rules, 0))->plugin->resolved_path,
                            "/override/late.so");
}

/* Every error of a file is reported, up to the cap, then one note. */
static void test_error_cap(void **state) {
        g_autoptr(GString) yaml = g_string_new("version: 1\n");
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        const MbDiag *last;
        int r;

        for (int i = 0; i < 80; i++)
                g_string_append_printf(yaml, "unknown%d: x\n", i);
        p = parse_yaml(yaml->str, MB_POLICY_FILE_MAIN, diags, &r);
        assert_int_equal(r, -MB_EPOLICYINVALID);
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_ERROR), MB_DIAG_MAX_PER_FILE);
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_NOTE), 1);
        last = mb_diag_list_get(diags, mb_diag_list_size(diags) - 1);
        assert_int_equal(last->severity, MB_DIAG_NOTE);
        assert_int_equal(last->line, 0);
        assert_string_equal(last->message, "too many errors (50), stopping; fix these and check again");
        /* The 50th is line 51. */
        assert_int_equal(mb_diag_list_get(diags, MB_DIAG_MAX_PER_FILE - 1)->line, 51);
}

/* Several independent errors in one file are all reported, in order. */
static void test_all_errors(void **state) {
        static const char yaml[] = "version: 1\n"
                                   "settings:\n"
                                   "  op-timeout-ms: 5\n"
                                   "plugins:\n"
                                   "  simdev: { path: s.so, arg: 1 }\n"
                                   "devices:\n"
                                   "  - match: { bdf: \"0000:3b:00.9\" }\n"
                                   "    plugin: nope\n";
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        int r;

        p = parse_yaml(yaml, MB_POLICY_FILE_MAIN, diags, &r);
        assert_int_equal(r, -MB_EPOLICYINVALID);
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_ERROR), 4);
        assert_int_equal(mb_diag_list_get(diags, 0)->line, 3);
        assert_int_equal(mb_diag_list_get(diags, 1)->line, 5);
        assert_int_equal(mb_diag_list_get(diags, 1)->column, 30);
        assert_int_equal(mb_diag_list_get(diags, 2)->line, 7);
        assert_int_equal(mb_diag_list_get(diags, 3)->line, 8);
        assert_string_equal(mb_diag_list_get(diags, 3)->message, "unknown plugin \"nope\"; defined plugins: simdev");
}

/* Patterns of the same rank that overlap: a warning, not an error. */
static void test_overlap_warning(void **state) {
        static const char yaml[] = V PLUGIN "devices:\n"
                                   "  - match: { bdf: \"0000:3b:*.0\" }\n"
                                   "    plugin: simdev\n"
                                   "  - match: { bdf: \"0000:3b:01.*\" }\n"
                                   "    plugin: simdev\n";
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        const MbDiag *d;
        int r;

        p = parse_yaml(yaml, MB_POLICY_FILE_MAIN, diags, &r);
        assert_int_equal(r, 0);
        assert_int_equal(mb_diag_list_size(diags), 1);
        d = first_diag(diags, MB_DIAG_WARNING);
        assert_non_null(d);
        assert_int_equal(d->line, 8);
        assert_int_equal(d->column, 12);
        assert_string_equal(d->message, "patterns \"0000:3b:01.*\" and \"0000:3b:*.0\" (test.yaml:6) have the same rank "
                                        "and both match 0000:3b:01.0: such a device is bound by neither");
}

/* Plain scalars are typed as YAML 1.1 (and so PyYAML and the schema test) types them. */
static void test_yaml11_types(void **state) {
        static const struct {
                const char *value;
                const char *type; /* NULL: a string */
        } values[] = {
                { "0", "an integer" },         { "-12", "an integer" },      { "+1_000", "an integer" },
                { "0755", "an integer" },      { "0b1010", "an integer" },   { "0x1aF_4", "an integer" },
                { "1:30", "an integer" },      { "190:20:30", "an integer" }, { "1.5", "a number" },
                { "-1.", "a number" },         { "1.5e+3", "a number" },     { ".5", "a number" },
                { "1:30.5", "a number" },      { "0000:01:00.0", "a number" }, { ".inf", "a number" },
                { "-.Inf", "a number" },       { ".NaN", "a number" },       { "true", "a boolean" },
                { "Off", "a boolean" },        { "~", "null" },              { "Null", "null" },
                { "0x", NULL },                { "08", NULL },               { "0b12", NULL },
                { "1e5", NULL },               { "1.5e3", NULL },            { "-.5", NULL },
                { "1:60", NULL },              { "0000:3b:00.1", NULL },     { "1af4", NULL },
                { "y", NULL },                 { "0X10", NULL },             { "1:2:3x", NULL },
                { ".", NULL },                 { "+", NULL },                { "..5", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                g_autofree char *yaml = g_strdup_printf("version: 1\nplugins:\n  p:\n    path: p.so\n    arg: %s\n",
                                                        values[i].value);
                g_autofree char *want = NULL;
                g_autoptr(MbDiagList) diags = mb_diag_list_new();
                g_autoptr(MbPolicy) p = NULL;
                int r;

                p = parse_yaml(yaml, MB_POLICY_FILE_MAIN, diags, &r);
                if (!values[i].type) {
                        if (r != 0)
                                print_error("%s should be a string\n", values[i].value);
                        assert_int_equal(r, 0);
                        assert_string_equal(mb_policy_find_plugin(p, "p")->arg, values[i].value);
                        continue;
                }
                want = g_strdup_printf("\"arg\" must be a string, got %s (quote it: arg: \"%s\")", values[i].type,
                                       values[i].value);
                assert_int_equal(r, -MB_EPOLICYINVALID);
                assert_string_equal(first_diag(diags, MB_DIAG_ERROR)->message, want);
        }
}

int main(void) {
        struct CMUnitTest tests[ELEMENTSOF(cases) + 9];
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                tests[n++] = (struct CMUnitTest) { cases[i].name, test_case, NULL, NULL, (void *) &cases[i] };
#define T(f) tests[n++] = (struct CMUnitTest) { #f, f, NULL, NULL, NULL }
        T(test_contract_example);
        T(test_defaults);
        T(test_accepted_forms);
        T(test_duplicate_plugin_across_files);
        T(test_plugins_across_files);
        T(test_error_cap);
        T(test_all_errors);
        T(test_overlap_warning);
        T(test_yaml11_types);
#undef T
        return _cmocka_run_group_tests("policy-parse", tests, n, NULL, NULL);
}
