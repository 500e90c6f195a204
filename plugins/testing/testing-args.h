/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testing-args.h: the init() argument of the fault-injection plugin
 * ("save=segv,load=hang+after:3,state-size=1M", README.md) parsed into a config.
 * Parsing only: injecting the faults is testing-fault.c's job.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef enum TestingOp {
        TESTING_OP_INIT,
        TESTING_OP_SAVE,
        TESTING_OP_LOAD,
        TESTING_OP_UPDATE_PENDING,
        TESTING_OP_SET_STATE,
        TESTING_OP_GET_STATE,
        TESTING_OP_CLEANUP,
        _TESTING_OP_MAX,
} TestingOp;

typedef enum TestingFaultKind {
        TESTING_FAULT_NONE,
        TESTING_FAULT_SEGV,       /* SIGSEGV by a real write through NULL */
        TESTING_FAULT_ABORT,      /* abort() */
        TESTING_FAULT_EXIT,       /* _exit(param), default 1 */
        TESTING_FAULT_HANG,       /* never returns */
        TESTING_FAULT_FAIL,       /* returns -param, default EIO (init: NULL) */
        TESTING_FAULT_GARBAGE,    /* op-specific nonsense, see README.md */
        TESTING_FAULT_SLOW,       /* sleeps param ms, then works */
        TESTING_FAULT_LEAK,       /* leaks param bytes, then works */
} TestingFaultKind;

typedef struct TestingFault {
        TestingFaultKind kind;
        uint64_t param;
        uint64_t after;           /* fault from the after-th call on (1 = every call) */
} TestingFault;

#define TESTING_DEFAULT_STATE_SIZE (1024u * 1024u)

typedef struct TestingConfig {
        TestingFault faults[_TESTING_OP_MAX];
        uint64_t state_size;
        uint64_t seed;
        uint64_t dirty;           /* bytes (whole pages) dirtied before each pre-copy update_pending */
        int empty;                /* start zeroed (a destination) */
        int trace;                /* one line on stderr per op call, with its result */
} TestingConfig;

const char *testing_op_to_string(TestingOp op);
const char *testing_fault_kind_to_string(TestingFaultKind k);

/* Parses arg (NULL or "" = no faults, defaults). On failure returns -EINVAL
 * and writes a one-line reason into err. */
int testing_args_parse(const char *arg, TestingConfig *ret, char *err, size_t err_size);
