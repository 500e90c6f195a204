/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of plugins/simdev/simdev-parse.c: sizes, HOST:PORT, BDFs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "simdev-parse.h"

static void test_size(void **state) {
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } cases[] = {
                { "0", 0, 0 },           { "4096", 0, 4096 },         { "4K", 0, 4096 },
                { "4k", 0, 4096 },       { "64M", 0, 64ull << 20 },   { "1G", 0, 1ull << 30 },
                { "2T", 0, 2ull << 40 }, { "64MiB", 0, 64ull << 20 }, { "64MB", 0, 64ull << 20 },
                { "512B", 0, 512 },      { "1Ki", 0, 1024 },          { "", -EINVAL, 0 },
                { "M", -EINVAL, 0 },     { "-1", -EINVAL, 0 },        { " 1", -EINVAL, 0 },
                { "1X", -EINVAL, 0 },    { "1MM", -EINVAL, 0 },       { "1.5M", -EINVAL, 0 },
                { "16777216T", -ERANGE, 0 }, { "99999999999999999999", -ERANGE, 0 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t v = 12345;
                int r = simdev_parse_size(cases[i].s, &v);
                if (r != cases[i].r || (r == 0 && v != cases[i].v))
                        fail_msg("parse_size(\"%s\") = %d, %llu", cases[i].s, r, (unsigned long long) v);
        }
        assert_int_equal(simdev_parse_size(NULL, &(uint64_t) { 0 }), -EINVAL);
}

static void test_u64(void **state) {
        uint64_t v;

        assert_int_equal(simdev_parse_u64("42", &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(simdev_parse_u64("0x10", &v), 0);
        assert_int_equal(v, 16);
        assert_int_equal(simdev_parse_u64("18446744073709551615", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(simdev_parse_u64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(simdev_parse_u64("-1", &v), -EINVAL);
        assert_int_equal(simdev_parse_u64("1a", &v), -EINVAL);
        assert_int_equal(simdev_parse_u64("", &v), -EINVAL);
}

static void test_hostport(void **state) {
        char host[SIMDEV_HOST_MAX];
        uint16_t port;

        assert_int_equal(simdev_parse_hostport("127.0.0.1:7000", host, &port), 0);
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(port, 7000);
        assert_int_equal(simdev_parse_hostport("[::1]:0", host, &port), 0);
        assert_string_equal(host, "::1");
        assert_int_equal(port, 0);
        assert_int_equal(simdev_parse_hostport("[fe80::1%eth0]:65535", host, &port), 0);
        assert_string_equal(host, "fe80::1%eth0");
        assert_int_equal(port, 65535);
        assert_int_equal(simdev_parse_hostport("dpu.example:80", host, &port), 0);
        assert_string_equal(host, "dpu.example");
        assert_int_equal(simdev_parse_hostport(":7000", host, &port), 0);
        assert_string_equal(host, "");

        assert_int_equal(simdev_parse_hostport("::1:7000", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport("host", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport("host:", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport("host:65536", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport("host:07", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport("host:0x50", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport("[::1]7000", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport("[]:7000", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport("a b:1", host, &port), -EINVAL);
        assert_int_equal(simdev_parse_hostport(NULL, host, &port), -EINVAL);
}

static void test_bdf(void **state) {
        char out[13];

        assert_int_equal(simdev_parse_bdf("0000:3b:00.1", out), 0);
        assert_string_equal(out, "0000:3b:00.1");
        assert_int_equal(simdev_parse_bdf("3B:00.1", out), 0);
        assert_string_equal(out, "0000:3b:00.1");
        assert_int_equal(simdev_parse_bdf("FFFF:ff:1f.7", out), 0);
        assert_string_equal(out, "ffff:ff:1f.7");
        assert_int_equal(simdev_parse_bdf("0000:3b:20.1", out), -EINVAL); /* device > 0x1f */
        assert_int_equal(simdev_parse_bdf("0000:3b:00.8", out), -EINVAL); /* function > 7 */
        assert_int_equal(simdev_parse_bdf("0000:3b:00:1", out), -EINVAL);
        assert_int_equal(simdev_parse_bdf("000:3b:00.1", out), -EINVAL);
        assert_int_equal(simdev_parse_bdf("0000:3g:00.1", out), -EINVAL);
        assert_int_equal(simdev_parse_bdf("", out), -EINVAL);
        assert_int_equal(simdev_parse_bdf(NULL, out), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_size),
                cmocka_unit_test(test_u64),
                cmocka_unit_test(test_hostport),
                cmocka_unit_test(test_bdf),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
