/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of policy/policy-diag: the text format (source line, caret), the
 * sanitising of what is shown, the per-file cap, sorting and suggestions. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "policy-diag.h"

static MbDiagList *list_with(const char *file, const char *text) {
        MbDiagList *l = mb_diag_list_new();
        g_autoptr(GBytes) b = g_bytes_new(text, strlen(text));

        mb_diag_list_add_source(l, file, b);
        return l;
}

static void test_format_caret(void **state) {
        g_autoptr(MbDiagList) l = list_with("p.yaml", "version: 1\n  plguin: simdev\n");
        g_autofree char *s = NULL;

        assert_true(mb_diag_error(l, "p.yaml", 2, 3, "unknown key \"%s\"", "plguin"));
        s = mb_diag_list_format(l);
        assert_string_equal(s, "p.yaml:2:3: error: unknown key \"plguin\"\n"
                               "  plguin: simdev\n"
                               "  ^\n");
}

static void test_format_whole_file(void **state) {
        g_autoptr(MbDiagList) l = mb_diag_list_new();
        g_autofree char *s = NULL;

        assert_true(mb_diag_error(l, "/etc/x.yaml", 0, 0, "cannot open: %s", "No such file or directory"));
        assert_true(mb_diag_add(l, MB_DIAG_WARNING, "/etc/x.yaml", 0, 0, "w"));
        s = mb_diag_list_format(l);
        assert_string_equal(s, "/etc/x.yaml: error: cannot open: No such file or directory\n/etc/x.yaml: warning: w\n");
        assert_int_equal(mb_diag_list_count(l, MB_DIAG_ERROR), 1);
        assert_int_equal(mb_diag_list_count(l, MB_DIAG_WARNING), 1);
        assert_int_equal(mb_diag_list_files_with_errors(l), 1);
}

/* Tabs before the column are repeated in the caret line so it lines up. */
static void test_format_tabs(void **state) {
        g_autoptr(MbDiagList) l = list_with("p.yaml", "a:\n\t\tb: c\n");
        g_autofree char *s = NULL;

        assert_true(mb_diag_error(l, "p.yaml", 2, 3, "x"));
        s = mb_diag_list_format(l);
        assert_string_equal(s, "p.yaml:2:3: error: x\n\t\tb: c\n\t\t^\n");
}

/* Control bytes and invalid UTF-8 show as '?', one column each; CRLF is cut. */
static void test_format_sanitised(void **state) {
        g_autoptr(MbDiagList) l = list_with("p.yaml", "k: \x01\xff\xc3\xa9x\r\n");
        const MbDiag *d;

        assert_true(mb_diag_error(l, "p.yaml", 1, 6, "x"));
        d = mb_diag_list_get(l, 0);
        assert_string_equal(d->source, "k: ??\xc3\xa9x");
        assert_int_equal(d->caret, 5);
}

/* A long line is shown as a window around the column. */
static void test_format_long_line(void **state) {
        g_autoptr(GString) line = g_string_new(NULL);
        g_autoptr(MbDiagList) l = NULL;
        const MbDiag *d;

        for (int i = 0; i < 1000; i++)
                g_string_append_c(line, (char) ('a' + i % 26));
        l = list_with("p.yaml", line->str);
        assert_true(mb_diag_error(l, "p.yaml", 1, 500, "x"));
        d = mb_diag_list_get(l, 0);
        assert_int_equal(strlen(d->source), 3 + MB_DIAG_SOURCE_WIDTH + 3);
        assert_true(g_str_has_prefix(d->source, "..."));
        assert_true(g_str_has_suffix(d->source, "..."));
        /* The caret still points at character 500 ('a' + 499 % 26). */
        assert_int_equal(d->source[d->caret], 'a' + 499 % 26);
}

static void test_cap(void **state) {
        g_autoptr(MbDiagList) l = mb_diag_list_new();

        for (unsigned i = 1; i < MB_DIAG_MAX_PER_FILE; i++)
                assert_true(mb_diag_error(l, "a", i, 1, "e%u", i));
        assert_false(mb_diag_list_full(l, "a"));
        assert_false(mb_diag_error(l, "a", 50, 1, "last"));
        assert_true(mb_diag_list_full(l, "a"));
        assert_false(mb_diag_error(l, "a", 51, 1, "dropped"));
        assert_int_equal(mb_diag_list_count(l, MB_DIAG_ERROR), MB_DIAG_MAX_PER_FILE);
        assert_int_equal(mb_diag_list_count(l, MB_DIAG_NOTE), 1);
        /* Other files have their own budget. */
        assert_true(mb_diag_error(l, "b", 1, 1, "e"));
}

static void test_sort(void **state) {
        g_autoptr(MbDiagList) l = mb_diag_list_new();

        assert_true(mb_diag_error(l, "main", 5, 1, "m5"));
        assert_true(mb_diag_error(l, "dropin", 1, 1, "d1"));
        assert_true(mb_diag_error(l, "main", 2, 7, "m2c7"));
        assert_true(mb_diag_error(l, "main", 2, 3, "m2c3"));
        assert_true(mb_diag_error(l, "main", 0, 0, "m-file"));
        mb_diag_list_sort(l);
        assert_string_equal(mb_diag_list_get(l, 0)->message, "m-file");
        assert_string_equal(mb_diag_list_get(l, 1)->message, "m2c3");
        assert_string_equal(mb_diag_list_get(l, 2)->message, "m2c7");
        assert_string_equal(mb_diag_list_get(l, 3)->message, "m5");
        assert_string_equal(mb_diag_list_get(l, 4)->message, "d1");
}

static void test_suggest(void **state) {
        static const char *const keys[] = { "plugin-dir", "worker-user", "admin-group", "op-timeout-ms", NULL };

        assert_string_equal(mb_diag_suggest("plugin-dri", keys), "plugin-dir");
        assert_string_equal(mb_diag_suggest("Worker-User", keys), "worker-user");
        assert_string_equal(mb_diag_suggest("op-timeout", keys), "op-timeout-ms");
        assert_null(mb_diag_suggest("colour", keys));
        assert_null(mb_diag_suggest("x", keys));
        assert_null(mb_diag_suggest("x", NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_caret),      cmocka_unit_test(test_format_whole_file),
                cmocka_unit_test(test_format_tabs),       cmocka_unit_test(test_format_sanitised),
                cmocka_unit_test(test_format_long_line),  cmocka_unit_test(test_cap),
                cmocka_unit_test(test_sort),              cmocka_unit_test(test_suggest),
        };
        return cmocka_run_group_tests_name("policy-diag", tests, NULL, NULL);
}
