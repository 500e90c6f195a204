/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testing-fault.h"

/* Sanitizer builds (configure --enable-sanitizers): the leak fault tells
 * LeakSanitizer that its blocks are lost on purpose (see leak()). */
#if defined(__SANITIZE_ADDRESS__)
#define TESTING_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TESTING_ASAN 1
#endif
#endif
#ifdef TESTING_ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* Read through a volatile pointer so the compiler cannot see it is NULL and
 * turn the write into a trap instruction (SIGILL): this must be a real SIGSEGV. */
static int *volatile null_target = NULL;

/* The write itself, out of UBSan's reach: in a sanitizer build its null check
 * would report and exit instead of letting the SIGSEGV happen. */
__attribute__((noinline, no_sanitize("undefined"))) static void write_through_null(void) {
        *null_target = 1;
}

/* Only the newest leaked block stays reachable (through this volatile, which
 * also keeps the compiler from dropping the allocation); the others are lost. */
static void *volatile last_leak;

static void leak(uint64_t bytes) {
        void *p = malloc(bytes);

        if (p) {
                memset(p, 0x4c, bytes); /* touch it, so it counts in RSS */
#ifdef TESTING_ASAN
                /* Not a leak for LeakSanitizer to report at exit: the fault is
                 * the leak (the RSS still grows). No suppression file could say
                 * so: the plugin is dlclose()d before the exit-time check, so
                 * its frames no longer have names. */
                __lsan_ignore_object(p);
#endif
        }
        last_leak = p;
}

static void sleep_ms(uint64_t ms) {
        struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

TestingVerdict testing_fault_enter(const TestingFault *f, uint64_t *calls) {
        ++*calls;
        if (f->kind == TESTING_FAULT_NONE || *calls < f->after)
                return TESTING_PROCEED;

        switch (f->kind) {
        case TESTING_FAULT_SEGV:
                write_through_null();
                abort(); /* not reached */
        case TESTING_FAULT_ABORT:
                abort();
        case TESTING_FAULT_EXIT:
                _exit((int) f->param);
        case TESTING_FAULT_HANG:
                for (;;)
                        (void) pause();
        case TESTING_FAULT_FAIL:
                return TESTING_FAIL;
        case TESTING_FAULT_GARBAGE:
                return TESTING_GARBAGE;
        case TESTING_FAULT_SLOW:
                sleep_ms(f->param);
                return TESTING_PROCEED;
        case TESTING_FAULT_LEAK:
                leak(f->param);
                return TESTING_PROCEED;
        case TESTING_FAULT_NONE:
        default:
                return TESTING_PROCEED;
        }
}
