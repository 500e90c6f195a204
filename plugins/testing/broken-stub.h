/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broken-stub.h: the trivial ops the deliberately broken plugins share: a
 * device with no state that accepts every valid v1 state. Each broken-*.c
 * includes it and breaks the loader contract in exactly one way.
 */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "migbroker/plugin.h"

/* One static device: no op allocates, so a NULL cleanup leaks nothing. */
static struct {
        uint32_t state;
} stub_device = { .state = VFIO_DEVICE_STATE_RUNNING };

static __attribute__((unused)) void *stub_init(char *devid, char *arg) {
        stub_device.state = VFIO_DEVICE_STATE_RUNNING;
        return &stub_device;
}

static __attribute__((unused)) int stub_save(void *h, uint8_t *state, uint64_t len) {
        return len == 0 ? 0 : -EINVAL; /* never anything pending */
}

static __attribute__((unused)) int stub_load(void *h, uint8_t *state, uint64_t len) {
        return len == 0 ? 0 : -EINVAL;
}

static __attribute__((unused)) int stub_update_pending(void *h, uint64_t *pending) {
        *pending = 0;
        return 0;
}

static __attribute__((unused)) int stub_set_state(void *h, uint32_t value) {
        if (value > 4)
                return -EINVAL;
        stub_device.state = value;
        return 0;
}

static __attribute__((unused)) int stub_get_state(void *h, uint32_t *value) {
        *value = stub_device.state;
        return 0;
}

static __attribute__((unused)) int stub_cleanup(void *h) {
        return 0;
}

#define STUB_OPS_INIT                                   \
        .init = stub_init, .save = stub_save, .load = stub_load, \
        .update_pending = stub_update_pending, .set_state = stub_set_state, \
        .get_state = stub_get_state

int vfio_lm_get_plugin_version(void);
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void);
const MigbrokerPluginInfo *migbroker_get_plugin_info(void);
