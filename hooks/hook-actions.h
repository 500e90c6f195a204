/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hook-actions.h: the libvirt hook's table (interface contract §8): which
 * libvirt op/subop calls which broker methods on each managed device, and what
 * a failure does (exit 1, undo the claims, or log and exit 0). The broker is
 * reached through HookBrokerOps only (hook-bus.c over D-Bus, a fake in tests).
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "domain-xml.h"

typedef enum HookMethod {
        HOOK_METHOD_PREFLIGHT,
        HOOK_METHOD_CLAIM,
        HOOK_METHOD_OPEN,
        HOOK_METHOD_CLOSE,
        HOOK_METHOD_RELEASE,
        _HOOK_METHOD_MAX,
} HookMethod;

/* "Preflight", "Claim", ...: the org.migbroker1.Device method names. */
const char *hook_method_name(HookMethod m);

typedef enum HookOnFailure {
        HOOK_FAIL_EXIT,          /* stop at the first failure, exit 1 */
        HOOK_FAIL_ROLLBACK_EXIT, /* stop, Release what this run claimed, exit 1 */
        HOOK_FAIL_LOG,           /* log it, go on with the next device, exit 0 */
} HookOnFailure;

typedef struct HookAction {
        const char *op, *subop;    /* libvirt's argv[2], argv[3] */
        const char *what;          /* for messages: "preflight" */
        HookMethod methods[2];     /* called on each device, in order */
        unsigned n_methods;
        HookOnFailure on_failure;
} HookAction;

/* The row for op/subop, or NULL: libvirt calls the hook for more than we
 * handle (started, stopped begin, migrate end, ...); those exit 0 at once. */
const HookAction *hook_action_lookup(const char *op, const char *subop);

/* The exit status of a failure of a (1, or 0 for HOOK_FAIL_LOG): also for
 * failures before any call (unreadable XML, a bad hook.conf, no bus). */
int hook_action_failure_exit(const HookAction *a);

/* The broker, as the hook needs it. Each function returns 0 or a negative
 * errno with error set (an org.migbroker1.Error.* name where the broker gave
 * one). Every call is bounded by the implementation. */
typedef struct HookBrokerOps {
        /* Makes sure the connection is up; error->message says to what. */
        int (*connect)(void *userdata, sd_bus_error *error);
        /* Manager.GetDevice(bdf): the device's object path (caller frees). */
        int (*get_device)(void *userdata, const char *bdf, char **ret_path, sd_bus_error *error);
        /* Device.<method>(owner) on path; Open gets the options
         * { "vmstate-id": vmstate_id } (empty when vmstate_id is NULL). */
        int (*call)(void *userdata, const char *bdf, const char *path, HookMethod method, const char *owner,
                    const char *vmstate_id, sd_bus_error *error);
} HookBrokerOps;

/* True when error means the broker cannot be reached at all (no bus, no
 * owner of org.migbroker1, no reply, connection lost), so that calling it for
 * the next devices would only add to the wait. */
bool hook_error_unreachable(int r, const sd_bus_error *error);

/*
 * Runs action a for domain d (its devices and UUID; guest is libvirt's
 * argv[1], for messages). Returns the exit status (0 or 1); on failure
 * *ret_message is the one line for standard error, without the program
 * prefix ("0000:3b:00.1: Busy: claimed by 6f1c..."). What it did and what it
 * skipped goes to the log (log.h).
 */
int hook_action_run(const HookAction *a, const HookDomain *d, const char *guest, const HookBrokerOps *ops,
                    void *userdata, char **ret_message);
