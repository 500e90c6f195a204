/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of policy/policy-load: main file and drop-ins, the checks made on
 * each opened fd (owner, mode, type, size), plugin files, atomic reload. */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "policy-load.h"
#include "policy-match.h"
#include "policy-test-util.h"

typedef struct Fixture {
        char *dir;        /* the tree: DIR/policy.yaml, DIR/policy.d/, DIR/plugins/ */
        char *main;
        char *plugins;
} Fixture;

static int setup(void **state) {
        Fixture *f = g_new0(Fixture, 1);
        g_autofree char *text = NULL, *so = NULL;

        f->dir = g_dir_make_tmp("mb-policy-XXXXXX", NULL);
        assert_non_null(f->dir);
        assert_int_equal(chmod(f->dir, 0755), 0);
        f->plugins = g_build_filename(f->dir, "plugins", NULL);
        so = write_file(f->plugins, "simdev.so", "not really ELF", 0644);
        text = g_strdup_printf("version: 1\n"
                               "settings:\n"
                               "  plugin-dir: %s\n"
                               "plugins:\n"
                               "  simdev:\n"
                               "    path: simdev.so\n"
                               "    arg: \"127.0.0.1:7000\"\n"
                               "devices:\n"
                               "  - match: { bdf: \"0000:3b:00.1\" }\n"
                               "    plugin: simdev\n",
                               f->plugins);
        f->main = write_file(f->dir, "policy.yaml", text, 0644);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        remove_tree(f->dir);
        g_free(f->dir);
        g_free(f->main);
        g_free(f->plugins);
        g_free(f);
        return 0;
}

static int load(Fixture *f, MbPolicy **p, MbDiagList *diags) {
        MbPolicyLoadOptions opts = { .path = f->main };

        return mb_policy_load(&opts, p, diags);
}

static void dropin(Fixture *f, const char *name, const char *text, mode_t mode) {
        g_autofree char *d = g_build_filename(f->dir, "policy.d", NULL);
        g_autofree char *path = NULL;

        assert_int_equal(g_mkdir_with_parents(d, 0755), 0);
        path = write_file(d, name, text, mode);
}

/* The only error of a failed load: its message, file and line. */
static void expect_error(MbDiagList *diags, const char *file, unsigned line, const char *message) {
        const MbDiag *d = first_diag(diags, MB_DIAG_ERROR);

        if (!d || strcmp(d->message, message) != 0) {
                g_autofree char *all = mb_diag_list_format(diags);
                print_error("got:\n%s", all);
        }
        assert_non_null(d);
        assert_string_equal(d->message, message);
        assert_string_equal(d->file, file);
        assert_int_equal(d->line, line);
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_ERROR), 1);
}

static void test_main_only(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *so = g_build_filename(f->plugins, "simdev.so", NULL);

        assert_int_equal(load(f, &p, diags), 0);
        assert_int_equal(mb_diag_list_size(diags), 0);
        assert_int_equal(p->files->len, 1);
        assert_string_equal(p->files->pdata[0], f->main);
        assert_string_equal(mb_policy_find_plugin(p, "simdev")->resolved_path, so);
}

/* Drop-ins: *.yaml only, hidden files skipped, strcmp() order. */
static void test_dropins_order(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *so = NULL;

        so = write_file(f->plugins, "b.so", "x", 0644);
        g_free(so);
        so = write_file(f->plugins, "a.so", "x", 0644);
        dropin(f, "2-a.yaml", "version: 1\nplugins:\n  a: { path: a.so }\n", 0644);
        dropin(f, "10-b.yaml",
               "version: 1\nplugins:\n  b: { path: b.so }\ndevices:\n  - match: { vendor: 0x8086 }\n    plugin: a\n",
               0644);
        dropin(f, ".hidden.yaml", "garbage: [", 0644);
        dropin(f, "old.yaml.dpkg-old", "garbage: [", 0644);
        dropin(f, "README", "garbage: [", 0644);

        assert_int_equal(load(f, &p, diags), 0);
        assert_int_equal(mb_diag_list_size(diags), 0);
        assert_int_equal(p->files->len, 3);
        assert_true(g_str_has_suffix(p->files->pdata[1], "/policy.d/10-b.yaml"));
        assert_true(g_str_has_suffix(p->files->pdata[2], "/policy.d/2-a.yaml"));
        /* declaration order over the files is the probe order */
        assert_string_equal(((MbPolicyPlugin *) p->plugins->pdata[0])->name, "simdev");
        assert_string_equal(((MbPolicyPlugin *) p->plugins->pdata[1])->name, "b");
        assert_string_equal(((MbPolicyPlugin *) p->plugins->pdata[2])->name, "a");
        /* a rule in 10-b uses a plugin of 2-a */
        assert_string_equal(((MbPolicyRule *) p->rules->pdata[1])->plugin->name, "a");
}

static void test_dropin_redefines_plugin(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *file = g_build_filename(f->dir, "policy.d", "50-vendor.yaml", NULL);
        g_autofree char *msg = g_strdup_printf("plugin \"simdev\" is already defined at %s:5; a later file may not "
                                               "redefine a plugin (rename one, or remove one definition)",
                                               f->main);

        dropin(f, "50-vendor.yaml", "version: 1\nplugins:\n  simdev: { path: other.so }\n", 0644);
        assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
        assert_null(p);
        expect_error(diags, file, 3, msg);
}

static void test_dropin_settings(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *file = g_build_filename(f->dir, "policy.d", "x.yaml", NULL);
        g_autofree char *msg = g_strdup_printf("\"settings\" may only be set in the main policy file (%s), not in a "
                                               "drop-in", f->main);

        dropin(f, "x.yaml", "version: 1\nsettings:\n  op-timeout-ms: 500\n", 0644);
        assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
        expect_error(diags, file, 2, msg);
}

/* Errors in several files are all reported, each in its own file. */
static void test_errors_in_every_file(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;

        dropin(f, "a.yaml", "version: 3\n", 0644);
        dropin(f, "b.yaml", "version: 1\nplugins: [\n", 0644);
        dropin(f, "c.yaml", "", 0644);
        assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
        assert_int_equal(mb_diag_list_count(diags, MB_DIAG_ERROR), 3);
        assert_int_equal(mb_diag_list_files_with_errors(diags), 3);
        assert_true(g_str_has_suffix(mb_diag_list_get(diags, 0)->file, "a.yaml"));
        assert_true(g_str_has_suffix(mb_diag_list_get(diags, 1)->file, "b.yaml"));
        assert_true(g_str_has_suffix(mb_diag_list_get(diags, 2)->file, "c.yaml"));
}

static void test_missing_main(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;

        assert_int_equal(unlink(f->main), 0);
        assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
        expect_error(diags, f->main, 0, "cannot open: No such file or directory");
}

static void test_mode(void **state) {
        static const struct {
                mode_t mode;
                const char *what;
        } modes[] = {
                { 0664, "0664 (group-writable)" },
                { 0646, "0646 (other-writable)" },
                { 0666, "0666 (group- and other-writable)" },
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                g_autoptr(MbDiagList) diags = mb_diag_list_new();
                g_autoptr(MbPolicy) p = NULL;
                g_autofree char *msg = g_strdup_printf("refusing a policy file with mode %s: it must not be writable "
                                                       "by group or others (chmod go-w %s)",
                                                       modes[i].what, f->main);

                assert_int_equal(chmod(f->main, modes[i].mode), 0);
                assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
                expect_error(diags, f->main, 0, msg);
        }
        /* read-only for everyone is fine */
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        assert_int_equal(chmod(f->main, 0400), 0);
        assert_int_equal(load(f, &p, diags), geteuid() == 0 || access(f->main, R_OK) == 0 ? 0 : -EACCES);
}

/* Owned by someone else than root or us: refused (needs root to set up). */
static void test_owner(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *msg = NULL;
        struct passwd *pw = getpwuid(65534);

        if (geteuid() != 0)
                skip();
        msg = g_strdup_printf("refusing a policy file owned by uid 65534%s%s%s: it must be owned by root",
                              pw ? " (" : "", pw ? pw->pw_name : "", pw ? ")" : "");
        assert_int_equal(chown(f->main, 65534, 0), 0);
        assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
        expect_error(diags, f->main, 0, msg);

        /* the same for a drop-in directory */
        g_autoptr(MbDiagList) diags2 = mb_diag_list_new();
        g_autofree char *d = g_build_filename(f->dir, "policy.d", NULL);
        g_autofree char *msg2 = g_strdup_printf("refusing a drop-in directory with mode 0777 (group- and other-writable): "
                                                "it must not be writable by group or others (chmod go-w %s)", d);
        assert_int_equal(chown(f->main, 0, 0), 0);
        dropin(f, "a.yaml", "version: 1\n", 0644);
        assert_int_equal(chmod(d, 0777), 0);
        assert_int_equal(load(f, &p, diags2), -MB_EPOLICYINVALID);
        expect_error(diags2, d, 0, msg2);
}

static void test_not_regular(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbDiagList) diags2 = mb_diag_list_new();
        g_autoptr(MbDiagList) diags3 = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *target = g_build_filename(f->dir, "real.yaml", NULL);
        g_autofree char *msg = g_strdup_printf("refusing a symbolic link (to %s): policy files and plugins must be "
                                               "regular files", target);

        /* a symlink, even to a good file */
        assert_int_equal(rename(f->main, target), 0);
        assert_int_equal(symlink(target, f->main), 0);
        assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
        expect_error(diags, f->main, 0, msg);

        /* a FIFO: opened without blocking, refused on fstat */
        assert_int_equal(unlink(f->main), 0);
        assert_int_equal(mkfifo(f->main, 0644), 0);
        assert_int_equal(load(f, &p, diags2), -MB_EPOLICYINVALID);
        expect_error(diags2, f->main, 0, "refusing a policy file that is not a regular file");

        /* a directory */
        assert_int_equal(unlink(f->main), 0);
        assert_int_equal(mkdir(f->main, 0755), 0);
        assert_int_equal(load(f, &p, diags3), -MB_EPOLICYINVALID);
        expect_error(diags3, f->main, 0, "refusing a policy file that is not a regular file");
}

static void test_size_limit(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *big = g_malloc(MB_POLICY_MAX_FILE_SIZE + 2);
        g_autofree char *path = NULL;
        g_autofree char *msg = g_strdup_printf("file too large (%u bytes; the limit is %u)", MB_POLICY_MAX_FILE_SIZE + 1,
                                               MB_POLICY_MAX_FILE_SIZE);

        memset(big, '#', MB_POLICY_MAX_FILE_SIZE + 1);
        memcpy(big, "version: 1\n", 11);
        big[MB_POLICY_MAX_FILE_SIZE + 1] = '\0';
        path = write_file(f->dir, "policy.yaml", big, 0644);
        assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
        expect_error(diags, f->main, 0, msg);

        /* exactly at the limit is fine */
        g_autoptr(MbDiagList) diags2 = mb_diag_list_new();
        big[MB_POLICY_MAX_FILE_SIZE] = '\0';
        g_free(path);
        path = write_file(f->dir, "policy.yaml", big, 0644);
        assert_int_equal(load(f, &p, diags2), 0);
}

static void test_plugin_files(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbDiagList) diags2 = mb_diag_list_new();
        g_autoptr(MbDiagList) diags3 = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *so = g_build_filename(f->plugins, "simdev.so", NULL);
        g_autofree char *msg = g_strdup_printf("plugin \"simdev\": %s: refusing a plugin with mode 0666 (group- and "
                                               "other-writable): it must not be writable by group or others (chmod "
                                               "go-w %s)", so, so);
        g_autofree char *msg2 = g_strdup_printf("plugin \"simdev\": %s: cannot open: No such file or directory", so);
        MbPolicyLoadOptions skip = { .path = f->main, .flags = MB_POLICY_LOAD_SKIP_PLUGIN_FILES };

        /* reported at the plugin's "path" in the policy */
        assert_int_equal(chmod(so, 0666), 0);
        assert_int_equal(load(f, &p, diags), -MB_EPOLICYINVALID);
        expect_error(diags, f->main, 6, msg);
        assert_int_equal(first_diag(diags, MB_DIAG_ERROR)->column, 11);
        assert_string_equal(first_diag(diags, MB_DIAG_ERROR)->source, "    path: simdev.so");

        assert_int_equal(unlink(so), 0);
        assert_int_equal(load(f, &p, diags2), -MB_EPOLICYINVALID);
        expect_error(diags2, f->main, 6, msg2);

        /* not looked at when asked not to */
        assert_int_equal(mb_policy_load(&skip, &p, diags3), 0);
        assert_int_equal(mb_diag_list_size(diags3), 0);
}

/* The checked fd the broker hands to a worker. */
static void test_open_plugin(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        char buf[64] = {};
        int fd;

        assert_int_equal(load(f, &p, diags), 0);
        fd = mb_policy_open_plugin(mb_policy_find_plugin(p, "simdev"), diags);
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_int_equal(read(fd, buf, sizeof(buf) - 1), 14);
        assert_string_equal(buf, "not really ELF");
        assert_int_equal(close(fd), 0);
}

/* Explicit files: the first is the main file, the others drop-ins. */
static void test_explicit_files(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbPolicy) p = NULL;
        g_autofree char *extra = write_file(f->dir, "extra.yaml", "version: 1\nsettings: {}\n", 0644);
        const char *files[] = { f->main, extra, NULL };
        MbPolicyLoadOptions opts = { .files = files };
        g_autofree char *msg = g_strdup_printf("\"settings\" may only be set in the main policy file (%s), not in a "
                                               "drop-in", f->main);

        /* policy.d beside the main file is not read */
        dropin(f, "a.yaml", "garbage: [", 0644);
        assert_int_equal(mb_policy_load(&opts, &p, diags), -MB_EPOLICYINVALID);
        expect_error(diags, extra, 2, msg);
}

/* A refused reload keeps the running policy; sessions keep what they opened with. */
static void test_reload(void **state) {
        Fixture *f = *state;
        g_autoptr(MbDiagList) diags = mb_diag_list_new();
        g_autoptr(MbDiagList) diags2 = mb_diag_list_new();
        g_autoptr(MbDiagList) diags3 = mb_diag_list_new();
        g_autoptr(MbPolicy) current = NULL;
        g_autoptr(MbPolicy) session = NULL;
        MbPolicyLoadOptions opts = { .path = f->main };
        g_autofree char *text = NULL, *path = NULL;
        MbPolicy *before;
        MbPolicyMatchResult res;

        assert_int_equal(mb_policy_load(&opts, &current, diags), 0);
        /* a device session takes a reference on the policy it was opened with */
        assert_int_equal(mb_policy_match(current, "0000:3b:00.1", "/nonexistent", NULL, NULL, &res), 1);
        session = mb_policy_ref(current);
        const MbPolicyPlugin *opened_with = res.plugin;

        /* a broken policy is refused as a whole */
        g_autofree char *broken = write_file(f->dir, "policy.yaml", "version: 1\nplugins: {\n", 0644);
        before = current;
        assert_int_equal(mb_policy_reload(&current, &opts, diags2), -MB_EPOLICYINVALID);
        assert_ptr_equal(current, before);
        assert_true(mb_diag_list_has_errors(diags2));
        mb_diag_list_log(diags2); /* what the broker logs */
        assert_string_equal(mb_policy_find_plugin(current, "simdev")->arg, "127.0.0.1:7000");

        /* a good one replaces it */
        text = g_strdup_printf("version: 1\nsettings:\n  plugin-dir: %s\nplugins:\n  simdev: { path: simdev.so, arg: "
                               "new }\ndevices:\n  - match: { bdf: \"0000:3b:00.*\" }\n    plugin: simdev\n",
                               f->plugins);
        path = write_file(f->dir, "policy.yaml", text, 0644);
        assert_int_equal(mb_policy_reload(&current, &opts, diags3), 0);
        assert_ptr_not_equal(current, session);
        assert_int_equal(mb_policy_match(current, "0000:3b:00.1", "/nonexistent", NULL, NULL, &res), 1);
        assert_string_equal(res.arg, "new");
        assert_int_equal(res.kind, MB_POLICY_MATCH_PATTERN);
        /* the open session still has its plugin, arg and rule */
        assert_string_equal(opened_with->arg, "127.0.0.1:7000");
        assert_ptr_equal(mb_policy_find_plugin(session, "simdev"), opened_with);
}

static void test_default_path(void **state) {
        assert_int_equal(unsetenv(MB_ENV_POLICY), 0);
        assert_string_equal(mb_policy_default_path(), "/etc/migbroker/policy.yaml");
        assert_int_equal(setenv(MB_ENV_POLICY, "/tmp/p.yaml", 1), 0);
        assert_string_equal(mb_policy_default_path(), "/tmp/p.yaml");
        assert_int_equal(unsetenv(MB_ENV_POLICY), 0);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_main_only),        T(test_dropins_order), T(test_dropin_redefines_plugin),
                T(test_dropin_settings),  T(test_errors_in_every_file), T(test_missing_main),
                T(test_mode),             T(test_owner),         T(test_not_regular),
                T(test_size_limit),       T(test_plugin_files),  T(test_open_plugin),
                T(test_explicit_files),   T(test_reload),        cmocka_unit_test(test_default_path),
        };
#undef T
        return cmocka_run_group_tests_name("policy-load", tests, NULL, NULL);
}
