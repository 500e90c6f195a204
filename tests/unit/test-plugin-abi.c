/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which abi.* check a loader refusal belongs to: the message formats of
 * worker/worker-plugin.c, and the real messages the loader gives the broken
 * plugins the tree builds (so a reworded message cannot silently move a
 * failure to the wrong check). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "plugin-abi.h"
#include "worker-plugin.h"

static void test_names(void **state) {
        assert_string_equal(mb_abi_step_check_name(MB_ABI_LOAD), "abi.load");
        assert_string_equal(mb_abi_step_check_name(MB_ABI_VERSION), "abi.version");
        assert_string_equal(mb_abi_step_check_name(MB_ABI_OPS), "abi.ops");
        assert_string_equal(mb_abi_step_check_name(MB_ABI_INFO), "abi.info");
        assert_null(mb_abi_step_check_name(_MB_ABI_STEP_MAX));
        for (int s = 0; s < _MB_ABI_STEP_MAX; s++)
                assert_non_null(mb_abi_step_description((MbAbiStep) s));
        assert_non_null(strstr(mb_abi_step_description(MB_ABI_VERSION), "returns 0"));
}

static void test_messages(void **state) {
        static const struct {
                const char *message;
                MbAbiStep step;
        } cases[] = {
                { "cannot load plugin /x/a.so: /x/a.so: cannot open shared object file: No such file or directory",
                  MB_ABI_LOAD },
                { "cannot load plugin /x/a.so: /x/a.so: undefined symbol: vfio_lm_get_plugin_ops", MB_ABI_LOAD },
                { "plugin /x/a.so: missing symbol vfio_lm_get_plugin_version", MB_ABI_VERSION },
                { "plugin /x/a.so: plugin API version 1, expected 0", MB_ABI_VERSION },
                { "plugin /x/a.so: missing symbol vfio_lm_get_plugin_ops", MB_ABI_OPS },
                { "plugin /x/a.so: vfio_lm_get_plugin_ops() returned NULL", MB_ABI_OPS },
                { "plugin /x/a.so: mandatory op 'set_state' is NULL in its ops table", MB_ABI_OPS },
                { "plugin /x/a.so: migbroker_get_plugin_info() returned NULL", MB_ABI_INFO },
                { "plugin /x/a.so: migbroker_get_plugin_info() returned an info struct of 8 bytes, at least 48 "
                  "expected", MB_ABI_INFO },
                { "plugin /x/a.so: info says 3 PCI IDs but pci_ids is NULL", MB_ABI_INFO },
                { "plugin /x/a.so: info lists 5000 PCI IDs (at most 4096)", MB_ABI_INFO },
                { "plugin /x/a.so: info name is not a string of under 256 bytes", MB_ABI_INFO },
                { "something else entirely", MB_ABI_LOAD },
                { NULL, MB_ABI_LOAD },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                print_message("%s\n", cases[i].message ? cases[i].message : "(null)");
                assert_int_equal(mb_abi_step_from_refusal(cases[i].message), cases[i].step);
        }
}

static void expect_real(const char *name, MbAbiStep step) {
        const char *b = getenv("MB_BUILDDIR");
        char path[4096], err[512] = "";
        MbPlugin p;

        snprintf(path, sizeof(path), "%s/plugins/testing/.libs/%s.so", b ? b : ".", name);
        assert_int_equal(mb_plugin_load(&p, path, path, err, sizeof(err)), -ENOEXEC);
        print_message("%s: %s\n", name, err);
        assert_int_equal(mb_abi_step_from_refusal(err), step);
}

static void test_real_refusals(void **state) {
        expect_real("broken-no-version", MB_ABI_VERSION);
        expect_real("broken-bad-version", MB_ABI_VERSION);
        expect_real("broken-null-ops", MB_ABI_OPS);
        expect_real("broken-null-save", MB_ABI_OPS);
        expect_real("broken-bad-info", MB_ABI_INFO);
        expect_real("does-not-exist", MB_ABI_LOAD);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_messages),
                cmocka_unit_test(test_real_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
