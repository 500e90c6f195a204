/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of common/bdf (strict BDFs) and policy/bdf-pattern (policy patterns). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bdf-pattern.h"
#include "bdf.h"

static void test_parse_valid(void **state) {
        MbBdf b;
        char buf[MB_BDF_STRLEN + 1];

        assert_int_equal(mb_bdf_parse("0000:3b:00.1", &b), 0);
        assert_int_equal(b.domain, 0);
        assert_int_equal(b.bus, 0x3b);
        assert_int_equal(b.slot, 0);
        assert_int_equal(b.function, 1);
        assert_int_equal(mb_bdf_parse("FFFF:FF:1F.7", &b), 0);
        assert_string_equal(mb_bdf_format(&b, buf), "ffff:ff:1f.7");
        assert_int_equal(mb_bdf_normalize("0000:3B:0a.2", buf), 0);
        assert_string_equal(buf, "0000:3b:0a.2");
        assert_true(mb_bdf_valid("abcd:01:02.3"));
        assert_int_equal(mb_bdf_pack(&b), 0xffffffffu);
}

static void test_parse_invalid(void **state) {
        static const char *const bad[] = {
                "", "3b:00.1", "0000:3b:00", "0000:3b:00.", "0000:3b:00.8", "0000:3b:20.0", "000:3b:00.1",
                "0000:3b:00.1 ", " 0000:3b:00.1", "0000:3g:00.1", "0000-3b-00.1", "0000:3b:00.10", "00000:3b:00.1",
                "0000:3b:00:1", "0000:3b:00.*",
        };
        char buf[MB_BDF_STRLEN + 1];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(mb_bdf_parse(bad[i], NULL), -EINVAL);
                assert_false(mb_bdf_valid(bad[i]));
                assert_int_equal(mb_bdf_normalize(bad[i], buf), -EINVAL);
        }
        assert_int_equal(mb_bdf_parse(NULL, NULL), -EINVAL);
}

static void test_pattern_valid(void **state) {
        MbBdfPattern p;
        MbBdf b;
        char buf[MB_BDF_PATTERN_STRLEN + 1];

        assert_int_equal(mb_bdf_pattern_parse("0000:3B:00.*", &p, NULL), 0);
        assert_int_equal(p.wildcards, MB_BDF_FIELD_FUNCTION);
        assert_int_equal(mb_bdf_pattern_rank(&p), 1);
        assert_string_equal(mb_bdf_pattern_format(&p, buf), "0000:3b:00.*");
        assert_int_equal(mb_bdf_parse("0000:3b:00.5", &b), 0);
        assert_true(mb_bdf_pattern_matches(&p, &b));
        assert_int_equal(mb_bdf_parse("0000:3b:01.5", &b), 0);
        assert_false(mb_bdf_pattern_matches(&p, &b));

        assert_int_equal(mb_bdf_pattern_parse("*:*:*.*", &p, NULL), 0);
        assert_int_equal(mb_bdf_pattern_rank(&p), 4);
        assert_true(mb_bdf_pattern_matches(&p, &b));
        assert_string_equal(mb_bdf_pattern_format(&p, buf), "*:*:*.*");

        assert_int_equal(mb_bdf_pattern_parse("0000:3b:*.1", &p, NULL), 0);
        assert_int_equal(p.wildcards, MB_BDF_FIELD_SLOT);
        assert_int_equal(mb_bdf_pattern_parse("0000:3b:00.1", &p, NULL), 0);
        assert_int_equal(mb_bdf_pattern_rank(&p), 0);
}

typedef struct PatternError {
        const char *input;
        size_t offset;
        const char *message;
} PatternError;

static void test_pattern_errors(void **state) {
        static const PatternError cases[] = {
                { "", 0, "empty BDF; expected DDDD:BB:SS.F (domain:bus:slot.function in hex, \"*\" for a whole field), e.g. \"0000:3b:00.1\"" },
                { "3b:00.1", 0, "missing the PCI domain: write \"0000:3b:00.1\"" },
                { "0000:3b:00", 0, "expected DDDD:BB:SS.F (domain:bus:slot.function in hex, \"*\" for a whole field), e.g. \"0000:3b:00.1\"" },
                { "0000:3b:00.8", 11, "the function 0x8 is out of range (0x0-0x7)" },
                { "0000:3b:20.1", 8, "the slot 0x20 is out of range (0x00-0x1f)" },
                { "0000:3g:00.1", 6, "the bus \"3g\" is not hexadecimal" },
                { "000:3b:00.1", 0, "the domain must have 4 hex digits, got \"000\"" },
                { "0000:3b:0*.1", 8, "a wildcard \"*\" must replace the whole slot, got \"0*\"" },
                { "0000:3b:00.0-3", 12, "ranges and lists are not supported in the function \"0-3\"; use \"*\" for the whole field or one rule per value" },
                { "0000::00.1", 5, "the bus is empty; expected DDDD:BB:SS.F (domain:bus:slot.function in hex, \"*\" for a whole field), e.g. \"0000:3b:00.1\"" },
                { "0000:3b:00.1 ", 12, "unexpected white space; expected DDDD:BB:SS.F (domain:bus:slot.function in hex, \"*\" for a whole field), e.g. \"0000:3b:00.1\"" },
                { "0000.3b:00:1", 4, "expected DDDD:BB:SS.F (domain:bus:slot.function in hex, \"*\" for a whole field), e.g. \"0000:3b:00.1\"" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                MbBdfPatternError err = {};
                assert_int_equal(mb_bdf_pattern_parse(cases[i].input, NULL, &err), -EINVAL);
                assert_string_equal(err.message, cases[i].message);
                assert_int_equal(err.offset, cases[i].offset);
        }
}

static void test_pattern_key(void **state) {
        MbBdf b = { 0x1234, 0x56, 0x1f, 7 };

        assert_int_equal(mb_bdf_pattern_key(&b, 0), mb_bdf_pack(&b));
        assert_int_equal(mb_bdf_pattern_key(&b, MB_BDF_FIELD_ALL), 0);
        assert_int_equal(mb_bdf_pattern_key(&b, MB_BDF_FIELD_FUNCTION), mb_bdf_pack(&b) & ~7u);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_valid),   cmocka_unit_test(test_parse_invalid),
                cmocka_unit_test(test_pattern_valid), cmocka_unit_test(test_pattern_errors),
                cmocka_unit_test(test_pattern_key),
        };
        return cmocka_run_group_tests_name("bdf", tests, NULL, NULL);
}
