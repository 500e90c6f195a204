/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hook-bus.h: the hook's D-Bus client of migbrokerd: HookBrokerOps over
 * sd-bus, every call (connection set-up included) bounded by one timeout.
 * It does not decide what to call or what a failure means (hook-actions.c).
 */
#pragma once

#include <stdint.h>

#include "hook-actions.h"

#define HOOK_BUS_NAME "org.migbroker1"
#define HOOK_MANAGER_PATH "/org/migbroker1"
#define HOOK_MANAGER_IFACE "org.migbroker1.Manager"
#define HOOK_DEVICE_IFACE "org.migbroker1.Device"

typedef struct HookBus HookBus;

/* address NULL: the system bus. Nothing is connected before the first call. */
HookBus *hook_bus_new(const char *address, uint64_t timeout_ms);
void hook_bus_free(HookBus *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HookBus, hook_bus_free)

extern const HookBrokerOps hook_bus_ops;
