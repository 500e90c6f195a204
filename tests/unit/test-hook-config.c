/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of hooks/hook-config: hook.conf's "key = value" lines, its errors
 * with line numbers, and the checks made on the file itself. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <cmocka.h>

#include "hook-config.h"

static void assert_parses(const char *text, const char *bus, uint64_t timeout_ms, int level) {
        g_autofree char *error = NULL;
        HookConfig c;

        hook_config_init(&c);
        if (hook_config_parse(&c, "hook.conf", text, strlen(text), &error) < 0)
                fail_msg("unexpected error: %s", error);
        assert_null(error);
        if (bus)
                assert_string_equal(c.bus, bus);
        else
                assert_null(c.bus);
        assert_int_equal(c.timeout_ms, timeout_ms);
        assert_int_equal(c.log_level, level);
        hook_config_done(&c);
        assert_null(c.bus);
}

static void assert_refused(const char *text, size_t len, const char *expect) {
        g_autofree char *error = NULL;
        HookConfig c;
        int r;

        hook_config_init(&c);
        r = hook_config_parse(&c, "hook.conf", text, len, &error);
        hook_config_done(&c);
        assert_int_equal(r, -EINVAL);
        assert_non_null(error);
        assert_string_equal(error, expect);
}

static void test_defaults(void **state) {
        assert_parses("", NULL, 10000, -1);
        assert_parses("# nothing but comments\n\n   \n\t# indented\n", NULL, 10000, -1);
}

static void test_keys(void **state) {
        assert_parses("# hook.conf\n"
                      "bus = unix:path=/run/migbroker-test/bus\n"
                      "  timeout-ms=2500  \r\n"
                      "log-level = debug\n",
                      "unix:path=/run/migbroker-test/bus", 2500, LOG_DEBUG);
        assert_parses("timeout-ms = 1\nlog-level = 4", NULL, 1, LOG_WARNING);
        assert_parses("timeout-ms = 600000\nlog-level = error\n", NULL, 600000, LOG_ERR);
}

static void test_errors(void **state) {
        assert_refused("bsu = unix:path=/x\n", 19, "hook.conf:1: unknown key 'bsu' (known: bus, timeout-ms, log-level)");
        assert_refused("\n# c\nbus\n", 9, "hook.conf:3: expected KEY = VALUE, not 'bus'");
        assert_refused("bus =\n", 6, "hook.conf:1: 'bus' has no value");
        assert_refused("bus = unix:path=/a\nbus = unix:path=/b\n", 38, "hook.conf:2: 'bus' is set twice (first at line 1)");
        assert_refused("bus = /run/dbus/system_bus_socket\n", 34,
                       "hook.conf:1: bus '/run/dbus/system_bus_socket' is not a D-Bus address "
                       "(e.g. unix:path=/run/dbus/system_bus_socket)");
        assert_refused("timeout-ms = 0\n", 15,
                       "hook.conf:1: timeout-ms '0' is not a number of milliseconds from 1 to 600000");
        assert_refused("timeout-ms = 600001\n", 20,
                       "hook.conf:1: timeout-ms '600001' is not a number of milliseconds from 1 to 600000");
        assert_refused("timeout-ms = 10s\n", 17,
                       "hook.conf:1: timeout-ms '10s' is not a number of milliseconds from 1 to 600000");
        assert_refused("timeout-ms = -5\n", 16,
                       "hook.conf:1: timeout-ms '-5' is not a number of milliseconds from 1 to 600000");
        assert_refused("log-level = loud\n", 17,
                       "hook.conf:1: log-level 'loud' is not one of err, warning, notice, info, debug");
        assert_refused("bus = unix:path=/x\0\n", 20, "hook.conf: not a text file (it holds a NUL byte)");
}

typedef struct Fixture {
        char *dir;
} Fixture;

static int setup(void **state) {
        Fixture *f = g_new0(Fixture, 1);

        f->dir = g_dir_make_tmp("mb-hook-config-XXXXXX", NULL);
        assert_non_null(f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        g_autofree char *conf = g_build_filename(f->dir, "hook.conf", NULL);
        g_autofree char *sub = g_build_filename(f->dir, "sub", NULL);

        (void) unlink(conf);
        (void) rmdir(sub);
        (void) rmdir(f->dir);
        g_free(f->dir);
        g_free(f);
        return 0;
}

static char *write_conf(const Fixture *f, const char *text, mode_t mode) {
        char *path = g_build_filename(f->dir, "hook.conf", NULL);

        assert_true(g_file_set_contents(path, text, -1, NULL));
        assert_int_equal(chmod(path, mode), 0);
        return path;
}

static void test_load(void **state) {
        Fixture *f = *state;
        g_autofree char *missing = g_build_filename(f->dir, "absent.conf", NULL);
        g_autofree char *sub = g_build_filename(f->dir, "sub", NULL);
        g_autofree char *path = NULL, *error = NULL, *expect = NULL;
        HookConfig c;

        /* a missing file: the defaults */
        hook_config_init(&c);
        assert_int_equal(hook_config_load(&c, missing, &error), 0);
        assert_null(error);
        assert_null(c.bus);
        assert_int_equal(c.timeout_ms, HOOK_DEFAULT_TIMEOUT_MS);

        path = write_conf(f, "bus = unix:path=/tmp/x\ntimeout-ms = 300\n", 0644);
        assert_int_equal(hook_config_load(&c, path, &error), 0);
        assert_string_equal(c.bus, "unix:path=/tmp/x");
        assert_int_equal(c.timeout_ms, 300);
        hook_config_done(&c);

        /* it decides where root's calls go: not writable by others */
        hook_config_init(&c);
        assert_int_equal(chmod(path, 0664), 0);
        assert_int_equal(hook_config_load(&c, path, &error), -EPERM);
        expect = g_strdup_printf("%s: refusing a file writable by group or others (mode 0664): chmod go-w %s", path,
                                 path);
        assert_string_equal(error, expect);
        g_clear_pointer(&error, g_free);
        assert_null(c.bus);

        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(hook_config_load(&c, sub, &error), -EINVAL);
        g_free(expect);
        expect = g_strdup_printf("%s: not a regular file", sub);
        assert_string_equal(error, expect);
        g_clear_pointer(&error, g_free);

        /* an error names the file */
        assert_int_equal(chmod(path, 0644), 0);
        assert_true(g_file_set_contents(path, "\nfrobnicate = 1\n", -1, NULL));
        assert_int_equal(hook_config_load(&c, path, &error), -EINVAL);
        g_free(expect);
        expect = g_strdup_printf("%s:2: unknown key 'frobnicate' (known: bus, timeout-ms, log-level)", path);
        assert_string_equal(error, expect);
        hook_config_done(&c);
}

static void test_path(void **state) {
        assert_int_equal(unsetenv(HOOK_ENV_CONFIG), 0);
        assert_string_equal(hook_config_path(), "/etc/migbroker/hook.conf");
        assert_int_equal(setenv(HOOK_ENV_CONFIG, "", 1), 0);
        assert_string_equal(hook_config_path(), "/etc/migbroker/hook.conf");
        assert_int_equal(setenv(HOOK_ENV_CONFIG, "/tmp/x.conf", 1), 0);
        assert_string_equal(hook_config_path(), "/tmp/x.conf");
        assert_int_equal(unsetenv(HOOK_ENV_CONFIG), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_errors),
                cmocka_unit_test_setup_teardown(test_load, setup, teardown),
                cmocka_unit_test(test_path),
        };

        return cmocka_run_group_tests_name("hook-config", tests, NULL, NULL);
}
