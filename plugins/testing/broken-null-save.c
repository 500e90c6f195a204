/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BROKEN: the mandatory op save is NULL. Refused. */
#include "broken-stub.h"

static VFIOMigrationPluginOps ops = { STUB_OPS_INIT, .cleanup = stub_cleanup };

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        ops.save = NULL;
        return &ops;
}
