/* SPDX-License-Identifier: MIT */
/*
 * probe-plugin.so: a test plugin whose optional probe() accepts the functions
 * of vendor 0x1d0f with an even device ID, and declines every other; for
 * device 0xdead it hangs (a broker stopped while it probes). Its ops model a
 * device without state. For tests/integration/broker-probe.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "migbroker/plugin.h"

typedef struct H {
        uint32_t state;
} H;

static void *p_init(char *devid, char *arg) {
        H *h = calloc(1, sizeof(H));
        if (h)
                h->state = VFIO_DEVICE_STATE_RUNNING;
        return h;
}
static int p_save(void *h, uint8_t *buf, uint64_t len) { return len ? -EINVAL : 0; }
static int p_load(void *h, uint8_t *buf, uint64_t len) { return len ? -EINVAL : 0; }
static int p_pending(void *h, uint64_t *p) { *p = 0; return 0; }
static int p_set_state(void *h, uint32_t v) {
        if (v > VFIO_DEVICE_STATE_RESUMING)
                return -EINVAL;
        ((H *) h)->state = v;
        return 0;
}
static int p_get_state(void *h, uint32_t *v) { *v = ((H *) h)->state; return 0; }
static int p_cleanup(void *h) { free(h); return 0; }

static int p_probe(const char *bdf, uint16_t vendor, uint16_t device) {
        if (vendor == 0x1d0f && device == 0xdead)
                for (;;)
                        pause();
        return vendor == 0x1d0f && device % 2 == 0;
}

static VFIOMigrationPluginOps ops = {
        .init = p_init, .save = p_save, .load = p_load, .update_pending = p_pending,
        .set_state = p_set_state, .get_state = p_get_state, .cleanup = p_cleanup,
};
static const MigbrokerPluginInfo info = {
        .struct_size = sizeof(MigbrokerPluginInfo),
        .capabilities = 0,
        .name = "prober",
        .version = "1",
        .probe = p_probe,
};

int vfio_lm_get_plugin_version(void);
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void);
const MigbrokerPluginInfo *migbroker_get_plugin_info(void);

int vfio_lm_get_plugin_version(void) { return VFIO_LM_PLUGIN_API_VERSION; }
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) { return &ops; }
const MigbrokerPluginInfo *migbroker_get_plugin_info(void) { return &info; }
