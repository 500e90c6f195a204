/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker's plugin loader (worker/worker-plugin.c) against real shared
 * objects built by the tree: the sample plugins load, each deliberately broken
 * one is refused with its own specific message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "worker-plugin.h"

static char path[4096];
static char err[512];

static const char *plugin_path(const char *dir, const char *name) {
        const char *b = getenv("MB_BUILDDIR");
        snprintf(path, sizeof(path), "%s/plugins/%s/.libs/%s.so", b ? b : ".", dir, name);
        return path;
}

static void expect_refused(const char *name, const char *needle) {
        MbPlugin p;
        const char *pp = plugin_path("testing", name);

        err[0] = '\0';
        assert_int_equal(mb_plugin_load(&p, pp, pp, err, sizeof(err)), -ENOEXEC);
        print_message("%s: %s\n", name, err);
        assert_non_null(strstr(err, needle));
        assert_non_null(strstr(err, pp)); /* the message names the file */
        assert_null(p.dl);
}

static void test_simdev_loads(void **state) {
        MbPlugin p;
        const char *pp = plugin_path("simdev", "simdev");

        assert_int_equal(mb_plugin_load(&p, pp, pp, err, sizeof(err)), 0);
        assert_string_equal(p.name, "simdev");
        assert_true(mb_plugin_has_precopy(&p));
        assert_non_null(p.info);
        assert_true(p.info->n_pci_ids >= 1);
        assert_non_null(p.ops->init);
        mb_plugin_unload(&p);
}

static void test_null_cleanup_accepted(void **state) {
        MbPlugin p;
        const char *pp = plugin_path("testing", "broken-null-cleanup");

        assert_int_equal(mb_plugin_load(&p, pp, pp, err, sizeof(err)), 0);
        assert_null(p.ops->cleanup);
        /* No info struct: named after the file, pre-copy capable as seed-era QEMU assumed. */
        assert_string_equal(p.name, "broken-null-cleanup");
        assert_true(mb_plugin_has_precopy(&p));
        mb_plugin_unload(&p);
}

static void test_refusals(void **state) {
        expect_refused("broken-no-version", "missing symbol vfio_lm_get_plugin_version");
        expect_refused("broken-bad-version", "plugin API version 1, expected 0");
        expect_refused("broken-null-ops", "vfio_lm_get_plugin_ops() returned NULL");
        expect_refused("broken-null-save", "mandatory op 'save' is NULL");
        expect_refused("broken-bad-info", "info struct of 8 bytes");
}

static void test_not_a_plugin(void **state) {
        MbPlugin p;
        char tmp[] = "/tmp/test-worker-plugin.XXXXXX";
        int fd = mkstemp(tmp);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "not an ELF file\n", 16), 16);
        close(fd);
        assert_int_equal(mb_plugin_load(&p, tmp, tmp, err, sizeof(err)), -ENOEXEC);
        assert_non_null(strstr(err, "cannot load plugin"));
        unlink(tmp);
        assert_int_equal(mb_plugin_load(&p, "/nonexistent/x.so", "/nonexistent/x.so", err, sizeof(err)), -ENOEXEC);
        assert_non_null(strstr(err, "/nonexistent/x.so"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_simdev_loads),
                cmocka_unit_test(test_null_cleanup_accepted),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_not_a_plugin),
        };
        return cmocka_run_group_tests_name("worker-plugin", tests, NULL, NULL);
}
