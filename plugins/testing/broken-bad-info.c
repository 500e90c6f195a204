/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BROKEN: a correct seed-ABI plugin whose migbroker_get_plugin_info() returns a
 * struct with struct_size (8) below MIGBROKER_PLUGIN_INFO_SIZE_V1. Refused. */
#include "broken-stub.h"

static VFIOMigrationPluginOps ops = { STUB_OPS_INIT, .cleanup = stub_cleanup };

static const MigbrokerPluginInfo info = {
        .struct_size = 8,
        .capabilities = MIGBROKER_PLUGIN_CAP_PRECOPY,
        .name = "broken-bad-info",
        .version = "0",
};

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return &ops;
}

const MigbrokerPluginInfo *migbroker_get_plugin_info(void) {
        return &info;
}
