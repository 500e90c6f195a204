/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BROKEN: vfio_lm_get_plugin_version() returns 1, not VFIO_LM_PLUGIN_API_VERSION (0). Refused. */
#include "broken-stub.h"

static VFIOMigrationPluginOps ops = { STUB_OPS_INIT, .cleanup = stub_cleanup };

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION + 1;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return &ops;
}
