/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of plugins/testing/testing-args.c: the fault-injection grammar. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "testing-args.h"

static void test_defaults(void **state) {
        TestingConfig c;
        char err[128];

        assert_int_equal(testing_args_parse(NULL, &c, err, sizeof(err)), 0);
        assert_int_equal(c.state_size, TESTING_DEFAULT_STATE_SIZE);
        assert_int_equal(c.seed, 0);
        assert_int_equal(c.dirty, 0);
        assert_int_equal(c.empty, 0);
        assert_int_equal(c.trace, 0);
        for (int op = 0; op < _TESTING_OP_MAX; op++) {
                assert_int_equal(c.faults[op].kind, TESTING_FAULT_NONE);
                assert_int_equal(c.faults[op].after, 1);
        }
        assert_int_equal(testing_args_parse("", &c, err, sizeof(err)), 0);
}

static void test_full(void **state) {
        TestingConfig c;
        char err[128];

        assert_int_equal(testing_args_parse("save=segv,load=hang,init=fail,update_pending=garbage,get_state=abort,"
                                            "set_state=exit:3,cleanup=slow:500,state-size=1M",
                                            &c, err, sizeof(err)),
                         0);
        assert_int_equal(c.faults[TESTING_OP_SAVE].kind, TESTING_FAULT_SEGV);
        assert_int_equal(c.faults[TESTING_OP_LOAD].kind, TESTING_FAULT_HANG);
        assert_int_equal(c.faults[TESTING_OP_INIT].kind, TESTING_FAULT_FAIL);
        assert_int_equal(c.faults[TESTING_OP_INIT].param, EIO);
        assert_int_equal(c.faults[TESTING_OP_UPDATE_PENDING].kind, TESTING_FAULT_GARBAGE);
        assert_int_equal(c.faults[TESTING_OP_GET_STATE].kind, TESTING_FAULT_ABORT);
        assert_int_equal(c.faults[TESTING_OP_SET_STATE].kind, TESTING_FAULT_EXIT);
        assert_int_equal(c.faults[TESTING_OP_SET_STATE].param, 3);
        assert_int_equal(c.faults[TESTING_OP_CLEANUP].kind, TESTING_FAULT_SLOW);
        assert_int_equal(c.faults[TESTING_OP_CLEANUP].param, 500);
        assert_int_equal(c.state_size, 1024 * 1024);
}

static void test_params_and_modifiers(void **state) {
        TestingConfig c;
        char err[128];

        assert_int_equal(testing_args_parse("save=fail:ENOSPC+after:3,load=fail:5,cleanup=exit,"
                                            "update_pending=leak:4K+after:2,seed=9,dirty=64K,empty",
                                            &c, err, sizeof(err)),
                         0);
        assert_int_equal(c.faults[TESTING_OP_SAVE].kind, TESTING_FAULT_FAIL);
        assert_int_equal(c.faults[TESTING_OP_SAVE].param, ENOSPC);
        assert_int_equal(c.faults[TESTING_OP_SAVE].after, 3);
        assert_int_equal(c.faults[TESTING_OP_LOAD].param, 5);
        assert_int_equal(c.faults[TESTING_OP_CLEANUP].param, 1);
        assert_int_equal(c.faults[TESTING_OP_UPDATE_PENDING].kind, TESTING_FAULT_LEAK);
        assert_int_equal(c.faults[TESTING_OP_UPDATE_PENDING].param, 4096);
        assert_int_equal(c.faults[TESTING_OP_UPDATE_PENDING].after, 2);
        assert_int_equal(c.seed, 9);
        assert_int_equal(c.dirty, 65536);
        assert_int_equal(c.empty, 1);
        assert_int_equal(testing_args_parse("empty=no,save=none", &c, err, sizeof(err)), 0);
        assert_int_equal(c.empty, 0);
        assert_int_equal(c.faults[TESTING_OP_SAVE].kind, TESTING_FAULT_NONE);
}

static void test_trace(void **state) {
        TestingConfig c;
        char err[128];

        assert_int_equal(testing_args_parse("trace", &c, err, sizeof(err)), 0);
        assert_int_equal(c.trace, 1);
        assert_int_equal(c.empty, 0);
        assert_int_equal(testing_args_parse("set_state=fail:EIO,trace=yes,state-size=4K", &c, err, sizeof(err)), 0);
        assert_int_equal(c.trace, 1);
        assert_int_equal(c.faults[TESTING_OP_SET_STATE].kind, TESTING_FAULT_FAIL);
        assert_int_equal(c.state_size, 4096);
        assert_int_equal(testing_args_parse("trace=1,trace=no", &c, err, sizeof(err)), 0);
        assert_int_equal(c.trace, 0);
        assert_int_equal(testing_args_parse("empty,trace=0", &c, err, sizeof(err)), 0);
        assert_int_equal(c.trace, 0);
        assert_int_equal(c.empty, 1);
}

static void test_errors(void **state) {
        static const struct {
                const char *arg, *msg;
        } bad[] = {
                { "bogus=1", "unknown key 'bogus'" },
                { "save", "needs a value" },
                { "save=", "needs a value" },
                { "save=explode", "unknown fault" },
                { "save=segv:1", "takes no parameter" },
                { "save=fail:EWHAT", "not an errno" },
                { "save=fail:0", "not an errno" },
                { "save=exit:256", "not in 0..255" },
                { "save=slow", "slow needs" },
                { "save=leak:0", "leak needs" },
                { "load=garbage", "garbage applies" },
                { "save=segv+after:0", "bad modifier" },
                { "save=segv+before:2", "bad modifier" },
                { "state-size=0", "state-size" },
                { "state-size=65G", "state-size" },
                { "seed=x", "seed" },
                { "empty=maybe", "empty: expected yes/no" },
                { "trace=maybe", "trace: expected yes/no" },
                { "trace=", "trace: expected yes/no" },
        };
        TestingConfig c;
        char err[128];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                if (testing_args_parse(bad[i].arg, &c, err, sizeof(err)) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i].arg);
                if (!strstr(err, bad[i].msg))
                        fail_msg("'%s': message '%s' lacks '%s'", bad[i].arg, err, bad[i].msg);
        }
}

static void test_names(void **state) {
        assert_string_equal(testing_op_to_string(TESTING_OP_UPDATE_PENDING), "update_pending");
        assert_null(testing_op_to_string(_TESTING_OP_MAX));
        assert_string_equal(testing_fault_kind_to_string(TESTING_FAULT_LEAK), "leak");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_params_and_modifiers),
                cmocka_unit_test(test_trace),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
