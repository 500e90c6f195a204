/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The shim's pure logic (plugins/qemu-shim): the init() argument grammar, the
 * v1 bits <-> D-Bus state names, D-Bus errors -> the errno QEMU gets, and the
 * raw round header. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "shim-args.h"
#include "shim-map.h"

static char err[256];

static void parse_ok(const char *arg, ShimArgs *a) {
        int r = shim_args_parse(arg, a, err, sizeof(err));

        if (r < 0)
                fail_msg("'%s' refused: %s", arg ? arg : "(null)", err);
}

static void parse_bad(const char *arg, const char *msg) {
        ShimArgs a;

        assert_int_equal(shim_args_parse(arg, &a, err, sizeof(err)), -EINVAL);
        if (!strstr(err, msg))
                fail_msg("'%s': message '%s' lacks '%s'", arg, err, msg);
        /* Nothing is left allocated on failure. */
        assert_null(a.bus_address);
        assert_false(a.has_owner);
}

static void test_args_defaults(void **state) {
        ShimArgs a;

        parse_ok(NULL, &a);
        assert_null(a.bus_address);
        assert_int_equal(a.timeout_ms, SHIM_TIMEOUT_MS_DEFAULT);
        assert_false(a.has_owner);
        shim_args_done(&a);

        parse_ok("", &a);
        assert_null(a.bus_address);
        assert_int_equal(a.timeout_ms, SHIM_TIMEOUT_MS_DEFAULT);
        shim_args_done(&a);

        /* bus=system is the default said out loud (QEMU needs a non-empty x-plugin-arg). */
        parse_ok("bus=system", &a);
        assert_null(a.bus_address);
        shim_args_done(&a);
        shim_args_done(&a); /* idempotent */
}

static void test_args_all(void **state) {
        ShimArgs a;

        parse_ok("timeout-ms=5000,owner=6F1C9A52-1D1E-4C5B-9B0E-3F6A2D7C8E41,bus=unix:path=/run/x/bus", &a);
        assert_int_equal(a.timeout_ms, 5000);
        assert_true(a.has_owner);
        assert_string_equal(a.owner, "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41");
        assert_string_equal(a.bus_address, "unix:path=/run/x/bus");
        shim_args_done(&a);
        assert_null(a.bus_address);

        /* Any order; bus= takes the rest, commas of the address included. */
        parse_ok("owner=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41,timeout-ms=100", &a);
        assert_int_equal(a.timeout_ms, 100);
        shim_args_done(&a);
        parse_ok("bus=unix:path=/tmp/s,guid=0123456789abcdef0123456789abcdef", &a);
        assert_string_equal(a.bus_address, "unix:path=/tmp/s,guid=0123456789abcdef0123456789abcdef");
        shim_args_done(&a);
        parse_ok("timeout-ms=3600000,bus=unix:abstract=x,timeout-ms=1", &a);
        assert_int_equal(a.timeout_ms, 3600000);
        assert_string_equal(a.bus_address, "unix:abstract=x,timeout-ms=1");
        shim_args_done(&a);
}

static void test_args_errors(void **state) {
        parse_bad("colour=blue", "unknown option 'colour'");
        parse_bad("timeout-ms", "'timeout-ms' is not KEY=VALUE");
        parse_bad("timeout-ms=", "timeout-ms=: expected 100..3600000");
        parse_bad("timeout-ms=99", "expected 100..3600000");
        parse_bad("timeout-ms=3600001", "expected 100..3600000");
        parse_bad("timeout-ms=-5", "expected");
        parse_bad("timeout-ms=1e3", "expected");
        parse_bad("timeout-ms= 500", "expected");
        parse_bad("timeout-ms=99999999999999999999", "expected");
        parse_bad("timeout-ms=500,timeout-ms=600", "given twice");
        parse_bad("owner=6f1c9a52", "is not a UUID");
        parse_bad("owner=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e4g", "is not a UUID");
        parse_bad("owner=6f1c9a521d1e-4c5b-9b0e-3f6a2d7c8e41-", "is not a UUID");
        parse_bad("owner=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41,owner=6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41",
                  "given twice");
        parse_bad("timeout-ms=500,", "trailing ','");
        parse_bad(",timeout-ms=500", "is not KEY=VALUE");
        parse_bad("timeout-ms=500,,owner=x", "is not KEY=VALUE");
        parse_bad("bus=", "needs a D-Bus address");
        parse_bad("bus=/run/dbus/system_bus_socket", "neither 'system' nor a D-Bus address");
        parse_bad("bus=sys", "neither 'system' nor a D-Bus address");
        parse_bad("=5", "unknown option ''");
        parse_bad("BUS=system", "unknown option 'BUS'");
}

static void test_args_null_err(void **state) {
        ShimArgs a;

        /* No room for a message is fine. */
        assert_int_equal(shim_args_parse("x=y", &a, NULL, 0), -EINVAL);
        assert_int_equal(shim_args_parse("timeout-ms=1000", &a, NULL, 0), 0);
        assert_int_equal(a.timeout_ms, 1000);
        shim_args_done(&a);
}

static void test_v1_to_state(void **state) {
        assert_string_equal(shim_v1_to_state(0), "stop");
        assert_string_equal(shim_v1_to_state(1), "running");
        assert_string_equal(shim_v1_to_state(2), "stop-copy");
        assert_string_equal(shim_v1_to_state(3), "pre-copy");
        assert_string_equal(shim_v1_to_state(4), "resuming");
        for (uint32_t v = 5; v < 64; v++)
                assert_null(shim_v1_to_state(v));
        assert_null(shim_v1_to_state(UINT32_MAX));
        assert_null(shim_v1_to_state(1u << 31));
}

static void test_state_to_v1(void **state) {
        static const struct {
                const char *name;
                uint32_t v1;
        } table[] = {
                { "stop", 0 }, { "running", 1 }, { "stop-copy", 2 },
                { "pre-copy", 3 }, { "resuming", 4 }, { "error", 6 },
        };
        uint32_t v = 99;

        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
                assert_int_equal(shim_state_to_v1(table[i].name, &v), 0);
                assert_int_equal(v, table[i].v1);
                /* Both ways agree for everything QEMU may set. */
                if (table[i].v1 <= 4)
                        assert_string_equal(shim_v1_to_state(v), table[i].name);
        }
        v = 99;
        assert_int_equal(shim_state_to_v1("Running", &v), -EINVAL);
        assert_int_equal(shim_state_to_v1("", &v), -EINVAL);
        assert_int_equal(shim_state_to_v1(NULL, &v), -EINVAL);
        assert_int_equal(v, 99);
}

static int errno_of(const char *name) {
        sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(name, "message");

        return shim_errno_from_bus_error(&e);
}

static void test_errors(void **state) {
        assert_int_equal(errno_of("org.migbroker1.Error.Timeout"), -ETIMEDOUT);
        assert_int_equal(errno_of("org.migbroker1.Error.PluginCrashed"), -EIO);
        assert_int_equal(errno_of("org.migbroker1.Error.PluginFailed"), -EIO);
        assert_int_equal(errno_of("org.migbroker1.Error.AccessDenied"), -EACCES);
        assert_int_equal(errno_of("org.migbroker1.Error.NotOpen"), -ENODEV);
        assert_int_equal(errno_of("org.migbroker1.Error.NoSuchDevice"), -ENODEV);
        assert_int_equal(errno_of("org.migbroker1.Error.NotManaged"), -ENODEV);
        assert_int_equal(errno_of("org.migbroker1.Error.Busy"), -EBUSY);
        assert_int_equal(errno_of("org.migbroker1.Error.NotClaimed"), -EPERM);
        assert_int_equal(errno_of("org.migbroker1.Error.InvalidTransition"), -EINVAL);
        assert_int_equal(errno_of("org.migbroker1.Error.StreamCorrupt"), -EBADMSG);
        assert_int_equal(errno_of("org.migbroker1.Error.TooLarge"), -EFBIG);
        assert_int_equal(errno_of("org.migbroker1.Error.PolicyInvalid"), -EINVAL);
        /* Not ours: sd-bus's mapping, or -EIO. */
        assert_int_equal(errno_of(SD_BUS_ERROR_INVALID_ARGS), -EINVAL);
        assert_int_equal(errno_of(SD_BUS_ERROR_ACCESS_DENIED), -EACCES);
        assert_int_equal(errno_of(SD_BUS_ERROR_SERVICE_UNKNOWN), -EHOSTUNREACH);
        assert_int_equal(errno_of("System.Error.EPIPE"), -EPIPE);
        assert_int_equal(errno_of("com.example.Whatever"), -EIO);
        assert_int_equal(shim_errno_from_bus_error(NULL), -EIO);
}

static void test_error_names(void **state) {
        sd_bus_error ours = SD_BUS_ERROR_MAKE_CONST("org.migbroker1.Error.NotOpen", "x");
        sd_bus_error theirs = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_NO_REPLY, "x");

        assert_string_equal(shim_error_short_name(&ours), "NotOpen");
        assert_string_equal(shim_error_short_name(&theirs), SD_BUS_ERROR_NO_REPLY);
        assert_string_equal(shim_error_short_name(NULL), "unknown error");
}

static void test_raw_header(void **state) {
        /* docs/stream-format.md §8: a round of 5 bytes starts 00 00 00 00 00 00 00 05. */
        static const uint8_t five[SHIM_RAW_HDR_LEN] = { 0, 0, 0, 0, 0, 0, 0, 5 };
        static const uint64_t values[] = { 0, 1, 1048576, 0x0102030405060708ull, UINT64_MAX };
        uint8_t h[SHIM_RAW_HDR_LEN];

        shim_raw_hdr_encode(h, 5);
        assert_memory_equal(h, five, sizeof(five));
        shim_raw_hdr_encode(h, 0x0102030405060708ull);
        for (int i = 0; i < SHIM_RAW_HDR_LEN; i++)
                assert_int_equal(h[i], i + 1);
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                shim_raw_hdr_encode(h, values[i]);
                assert_true(shim_raw_hdr_decode(h) == values[i]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_args_defaults),
                cmocka_unit_test(test_args_all),
                cmocka_unit_test(test_args_errors),
                cmocka_unit_test(test_args_null_err),
                cmocka_unit_test(test_v1_to_state),
                cmocka_unit_test(test_state_to_v1),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_error_names),
                cmocka_unit_test(test_raw_header),
        };
        return cmocka_run_group_tests_name("qemu-shim", tests, NULL, NULL);
}
