/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of policy/policy-match and policy/pci-sysfs: the contract's
 * precedence, ambiguity, probing, IDs from a fake sysfs tree, and the index
 * against a brute-force reference. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pci-sysfs.h"
#include "policy-match.h"
#include "policy-test-util.h"

static const char policy_text[] =
        "version: 1\n"
        "plugins:\n"
        "  exact: { path: exact.so, arg: plugin-arg }\n"
        "  pat1: { path: pat1.so }\n"
        "  pat2: { path: pat2.so }\n"
        "  vd: { path: vd.so }\n"
        "  v: { path: v.so }\n"
        "  prober: { path: prober.so, arg: probed }\n"
        "devices:\n"
        "  - match: { vendor: 0x1af4 }\n"                       /* line 10 */
        "    plugin: v\n"
        "  - match: { vendor: 0x1af4, device: 0x1041 }\n"       /* line 12 */
        "    plugin: vd\n"
        "  - match: { bdf: \"0000:3b:*.*\" }\n"                /* line 14 */
        "    plugin: pat2\n"
        "  - match: { bdf: \"0000:3b:00.*\" }\n"               /* line 16 */
        "    plugin: pat1\n"
        "  - match: { bdf: \"0000:3b:00.1\" }\n"               /* line 18 */
        "    plugin: exact\n"
        "    arg: rule-arg\n"
        "  - match: { bdf: \"0000:3b:00.2\" }\n"               /* line 21 */
        "    plugin: exact\n";

typedef struct Fixture {
        MbPolicy *policy;
        char *sysfs;
} Fixture;

static void add_device(const char *root, const char *bdf, const char *vendor, const char *device) {
        g_autofree char *dir = g_build_filename(root, "bus/pci/devices", bdf, NULL);
        g_autofree char *v = NULL, *d = NULL;

        v = write_file(dir, "vendor", vendor, 0644);
        d = write_file(dir, "device", device, 0644);
}

static int setup(void **state) {
        Fixture *f = g_new0(Fixture, 1);
        g_autoptr(MbDiagList) diags = mb_diag_list_new();

        assert_int_equal(mb_policy_parse_string("p.yaml", policy_text, strlen(policy_text), &f->policy, diags), 0);
        f->sysfs = g_dir_make_tmp("mb-sysfs-XXXXXX", NULL);
        assert_non_null(f->sysfs);
        add_device(f->sysfs, "0000:3b:00.1", "0x1af4\n", "0x1041\n");
        add_device(f->sysfs, "0000:3c:00.0", "0x1af4\n", "0x1041\n");
        add_device(f->sysfs, "0000:3c:00.1", "0x1af4\n", "0x1042\n");
        add_device(f->sysfs, "0000:3d:00.0", "0x8086\n", "0x1572\n");
        add_device(f->sysfs, "0000:3e:00.0", "garbage\n", "0x1572\n");
        g_autofree char *junk = g_build_filename(f->sysfs, "bus/pci/devices/not-a-bdf", NULL);
        assert_int_equal(g_mkdir_with_parents(junk, 0755), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        mb_policy_unref(f->policy);
        remove_tree(f->sysfs);
        g_free(f->sysfs);
        g_free(f);
        return 0;
}

static int match(Fixture *f, const char *bdf, MbPolicyMatchResult *res) {
        return mb_policy_match(f->policy, bdf, f->sysfs, NULL, NULL, res);
}

/* Each level of the contract's precedence wins over the ones below it. */
static void test_precedence(void **state) {
        Fixture *f = *state;
        MbPolicyMatchResult res;

        /* exact BDF beats the patterns and the IDs */
        assert_int_equal(match(f, "0000:3b:00.1", &res), 1);
        assert_int_equal(res.kind, MB_POLICY_MATCH_BDF);
        assert_string_equal(res.plugin->name, "exact");
        assert_string_equal(res.arg, "rule-arg");
        assert_int_equal(res.rule->loc.line, 18);
        assert_string_equal(res.rule->loc.file, "p.yaml");
        assert_false(res.ids_known); /* not needed, not read */

        /* the plugin's arg when the rule has none */
        assert_int_equal(match(f, "0000:3b:00.2", &res), 1);
        assert_string_equal(res.arg, "plugin-arg");

        /* fewer wildcards first */
        assert_int_equal(match(f, "0000:3b:00.5", &res), 1);
        assert_int_equal(res.kind, MB_POLICY_MATCH_PATTERN);
        assert_string_equal(res.plugin->name, "pat1");
        assert_int_equal(res.rule->loc.line, 16);
        assert_null(res.arg);
        assert_int_equal(match(f, "0000:3b:1f.7", &res), 1);
        assert_string_equal(res.plugin->name, "pat2");

        /* vendor+device beats vendor */
        assert_int_equal(match(f, "0000:3c:00.0", &res), 1);
        assert_int_equal(res.kind, MB_POLICY_MATCH_VENDOR_DEVICE);
        assert_string_equal(res.plugin->name, "vd");
        assert_true(res.ids_known);
        assert_int_equal(res.vendor, 0x1af4);
        assert_int_equal(res.device, 0x1041);
        assert_int_equal(match(f, "0000:3c:00.1", &res), 1);
        assert_int_equal(res.kind, MB_POLICY_MATCH_VENDOR);
        assert_string_equal(res.plugin->name, "v");
        assert_int_equal(res.rule->loc.line, 10);

        /* nothing, no probe */
        assert_int_equal(match(f, "0000:3d:00.0", &res), 0);
        assert_int_equal(res.kind, MB_POLICY_MATCH_NONE);
        assert_null(res.plugin);
        assert_null(res.rule);
        assert_true(res.ids_known);
        assert_string_equal(res.bdf, "0000:3d:00.0");
}

static void test_input(void **state) {
        Fixture *f = *state;
        MbPolicyMatchResult res;

        /* any case in, normalised out */
        assert_int_equal(match(f, "0000:3B:00.1", &res), 1);
        assert_string_equal(res.bdf, "0000:3b:00.1");
        assert_int_equal(match(f, "3b:00.1", &res), -EINVAL);
        assert_int_equal(match(f, "0000:3b:00.*", &res), -EINVAL);

        /* no such device: IDs unknown, only BDF rules can apply */
        assert_int_equal(match(f, "0000:99:00.0", &res), 0);
        assert_false(res.ids_known);
        assert_int_equal(res.ids_error, -ENOENT);
        /* malformed sysfs content */
        assert_int_equal(match(f, "0000:3e:00.0", &res), 0);
        assert_int_equal(res.ids_error, -EBADMSG);
}

typedef struct ProbeLog {
        GString *asked;
        const char *accept;
} ProbeLog;

static int probe(void *userdata, const MbPolicyPlugin *plugin, const char *bdf, uint16_t vendor, uint16_t device) {
        ProbeLog *log = userdata;

        g_string_append_printf(log->asked, "%s(%s,%04x,%04x) ", plugin->name, bdf, vendor, device);
        if (strcmp(plugin->name, "vd") == 0)
                return -EIO; /* a failing probe counts as a decline */
        return log->accept && strcmp(log->accept, plugin->name) == 0;
}

/* Plugins are probed in declaration order; the first that accepts binds. */
static void test_probe(void **state) {
        Fixture *f = *state;
        g_autoptr(GString) asked = g_string_new(NULL);
        ProbeLog log = { asked, "prober" };
        MbPolicyMatchResult res;

        assert_int_equal(mb_policy_match(f->policy, "0000:3d:00.0", f->sysfs, probe, &log, &res), 1);
        assert_int_equal(res.kind, MB_POLICY_MATCH_PROBE);
        assert_string_equal(res.plugin->name, "prober");
        assert_string_equal(res.arg, "probed");
        assert_null(res.rule);
        assert_string_equal(asked->str, "exact(0000:3d:00.0,8086,1572) pat1(0000:3d:00.0,8086,1572) "
                                        "pat2(0000:3d:00.0,8086,1572) vd(0000:3d:00.0,8086,1572) "
                                        "v(0000:3d:00.0,8086,1572) prober(0000:3d:00.0,8086,1572) ");

        /* everyone declines */
        g_string_truncate(asked, 0);
        log.accept = NULL;
        assert_int_equal(mb_policy_match(f->policy, "0000:3d:00.0", f->sysfs, probe, &log, &res), 0);
        assert_int_equal(res.kind, MB_POLICY_MATCH_NONE);

        /* a rule match never probes; neither does an absent device */
        g_string_truncate(asked, 0);
        assert_int_equal(mb_policy_match(f->policy, "0000:3c:00.1", f->sysfs, probe, &log, &res), 1);
        assert_int_equal(mb_policy_match(f->policy, "0000:99:00.0", f->sysfs, probe, &log, &res), 0);
        assert_string_equal(asked->str, "");
}

/* Two rules of equal rank matching one device: an error naming both. */
static void test_ambiguous(void **state) {
        static const char text[] = "version: 1\n"
                                   "plugins:\n"
                                   "  a: { path: a.so }\n"
                                   "  b: { path: b.so }\n"
                                   "devices:\n"
                                   "  - match: { bdf: \"0000:3b:*.1\" }\n"
                                   "    plugin: a\n"
                                   "  - match: { bdf: \"0000:3b:00.*\" }\n"
                                   "    plugin: b\n"
                                   "  - match: { bdf: \"0000:*:00.1\" }\n"
                                   "    plugin: b\n";
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        MbPolicyMatchResult res;
        MbBdf bdf;

        assert_int_equal(mb_policy_parse_string("amb.yaml", text, strlen(text), &p, diags), 0);
        /* the policy loads; each overlapping pair is a warning */
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_WARNING), 3);

        assert_int_equal(mb_bdf_parse("0000:3b:00.1", &bdf), 0);
        assert_int_equal(mb_policy_match_ids(p, &bdf, NULL, NULL, NULL, &res), -MB_EPOLICYINVALID);
        assert_non_null(res.rule);
        assert_non_null(res.conflict);
        /* the two earliest in file order */
        assert_int_equal(res.rule->loc.line, 6);
        assert_int_equal(res.conflict->loc.line, 8);
        assert_string_equal(res.rule->loc.file, "amb.yaml");

        /* only one of them covers this one */
        assert_int_equal(mb_bdf_parse("0000:3b:05.1", &bdf), 0);
        assert_int_equal(mb_policy_match_ids(p, &bdf, NULL, NULL, NULL, &res), 1);
        assert_string_equal(res.plugin->name, "a");
        assert_null(res.conflict);
}

/* "explain" lists every matching rule, best first. */
static void test_matching_rules(void **state) {
        Fixture *f = *state;
        MbPolicyDeviceIds ids = { 0x1af4, 0x1041 };
        g_autoptr(GPtrArray) all = NULL;
        MbBdf bdf;

        assert_int_equal(mb_bdf_parse("0000:3b:00.1", &bdf), 0);
        all = mb_policy_matching_rules(f->policy, &bdf, &ids);
        assert_int_equal(all->len, 5);
        assert_int_equal(((MbPolicyRule *) all->pdata[0])->loc.line, 18);
        assert_int_equal(((MbPolicyRule *) all->pdata[1])->loc.line, 16);
        assert_int_equal(((MbPolicyRule *) all->pdata[2])->loc.line, 14);
        assert_int_equal(((MbPolicyRule *) all->pdata[3])->loc.line, 12);
        assert_int_equal(((MbPolicyRule *) all->pdata[4])->loc.line, 10);
        g_ptr_array_unref(all);
        all = mb_policy_matching_rules(f->policy, &bdf, NULL);
        assert_int_equal(all->len, 3);
}

static void test_sysfs(void **state) {
        Fixture *f = *state;
        g_autoptr(GPtrArray) bdfs = NULL;
        uint16_t v, d;

        assert_int_equal(mb_pci_sysfs_read_ids(f->sysfs, "0000:3C:00.1", &v, &d), 0);
        assert_int_equal(v, 0x1af4);
        assert_int_equal(d, 0x1042);
        assert_int_equal(mb_pci_sysfs_read_ids(f->sysfs, "0000:3e:00.0", &v, &d), -EBADMSG);
        assert_int_equal(mb_pci_sysfs_read_ids(f->sysfs, "0000:77:00.0", &v, &d), -ENOENT);
        assert_int_equal(mb_pci_sysfs_read_ids(f->sysfs, "bogus", &v, &d), -EINVAL);

        assert_int_equal(mb_pci_sysfs_enumerate(f->sysfs, &bdfs), 0);
        assert_int_equal(bdfs->len, 5);
        assert_string_equal(bdfs->pdata[0], "0000:3b:00.1");
        assert_string_equal(bdfs->pdata[4], "0000:3e:00.0");
        assert_int_equal(mb_pci_sysfs_enumerate("/nonexistent-root", &bdfs), -ENOENT);
}

/* The index gives what a linear scan by the contract's rules gives. */
static const MbPolicyRule *reference(const MbPolicy *p, const MbBdf *bdf, const MbPolicyDeviceIds *ids, bool *ambiguous) {
        const MbPolicyRule *best = NULL;

        *ambiguous = false;
        for (guint i = 0; i < p->rules->len; i++) {
                const MbPolicyRule *r = g_ptr_array_index(p->rules, i);
                if (!mb_policy_rule_matches(r, bdf, ids))
                        continue;
                if (!best || mb_policy_rule_rank(r) < mb_policy_rule_rank(best)) {
                        best = r;
                        *ambiguous = false;
                } else if (mb_policy_rule_rank(r) == mb_policy_rule_rank(best))
                        *ambiguous = true;
        }
        return best;
}

static void test_index_vs_reference(void **state) {
        g_autoptr(GString) yaml = g_string_new("version: 1\nplugins:\n  p: { path: p.so }\ndevices:\n");
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        GRand *rand = g_rand_new_with_seed(42);

        /* Small value ranges so that rules collide and overlap often. */
        for (int i = 0; i < 400; i++) {
                g_autofree char *m = NULL;
                int kind = g_rand_int_range(rand, 0, 3);
                if (kind == 0) {
                        const char *f[4];
                        char d[5], b[3], s[3], fn[2];
                        g_snprintf(d, sizeof(d), "%04x", g_rand_int_range(rand, 0, 2));
                        g_snprintf(b, sizeof(b), "%02x", g_rand_int_range(rand, 0, 3));
                        g_snprintf(s, sizeof(s), "%02x", g_rand_int_range(rand, 0, 3));
                        g_snprintf(fn, sizeof(fn), "%x", g_rand_int_range(rand, 0, 3));
                        f[0] = g_rand_int_range(rand, 0, 4) ? d : "*";
                        f[1] = g_rand_int_range(rand, 0, 3) ? b : "*";
                        f[2] = g_rand_int_range(rand, 0, 3) ? s : "*";
                        f[3] = g_rand_int_range(rand, 0, 3) ? fn : "*";
                        m = g_strdup_printf("{ bdf: \"%s:%s:%s.%s\" }", f[0], f[1], f[2], f[3]);
                } else if (kind == 1)
                        m = g_strdup_printf("{ vendor: 0x%04x, device: 0x%04x }", g_rand_int_range(rand, 1, 4),
                                            g_rand_int_range(rand, 0, 4));
                else
                        m = g_strdup_printf("{ vendor: 0x%04x }", g_rand_int_range(rand, 1, 4));
                if (g_hash_table_contains(seen, m))
                        continue;
                g_string_append_printf(yaml, "  - match: %s\n    plugin: p\n", m);
                g_hash_table_add(seen, MB_TAKE_PTR(m));
        }
        assert_int_equal(mb_policy_parse_string("r.yaml", yaml->str, yaml->len, &p, diags), 0);
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_ERROR), 0);

        for (int i = 0; i < 5000; i++) {
                MbBdf bdf = { (uint16_t) g_rand_int_range(rand, 0, 2), (uint8_t) g_rand_int_range(rand, 0, 3),
                              (uint8_t) g_rand_int_range(rand, 0, 3), (uint8_t) g_rand_int_range(rand, 0, 3) };
                MbPolicyDeviceIds ids = { (uint16_t) g_rand_int_range(rand, 1, 5),
                                          (uint16_t) g_rand_int_range(rand, 0, 5) };
                MbPolicyMatchResult res;
                bool ambiguous;
                const MbPolicyRule *want = reference(p, &bdf, &ids, &ambiguous);
                int r = mb_policy_match_ids(p, &bdf, &ids, NULL, NULL, &res);

                if (!want)
                        assert_int_equal(r, 0);
                else if (ambiguous) {
                        assert_int_equal(r, -MB_EPOLICYINVALID);
                        assert_int_equal(mb_policy_rule_rank(res.rule), mb_policy_rule_rank(want));
                        assert_int_equal(mb_policy_rule_rank(res.conflict), mb_policy_rule_rank(want));
                } else {
                        assert_int_equal(r, 1);
                        assert_ptr_equal(res.rule, want);
                }
        }
        g_rand_free(rand);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
                cmocka_unit_test(test_ambiguous),
                cmocka_unit_test_setup_teardown(test_matching_rules, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysfs, setup, teardown),
                cmocka_unit_test(test_index_vs_reference),
        };
        return cmocka_run_group_tests_name("policy-match", tests, NULL, NULL);
}
