/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testing-fault.h: carries out one configured fault at the start of an op:
 * crash, hang, exit, sleep, leak, or tell the op to fail or return garbage.
 * It does not know what the op does; testing-plugin.c decides what garbage means.
 */
#pragma once

#include <stdint.h>

#include "testing-args.h"

/* What the op must do after testing_fault_enter() returned. */
typedef enum TestingVerdict {
        TESTING_PROCEED,          /* behave correctly (also after slow/leak) */
        TESTING_FAIL,             /* return -fault->param */
        TESTING_GARBAGE,          /* return op-specific nonsense */
} TestingVerdict;

/* Counts the call in *calls and applies f when this call is at or after
 * f->after. segv, abort, exit and hang do not return. */
TestingVerdict testing_fault_enter(const TestingFault *f, uint64_t *calls);
