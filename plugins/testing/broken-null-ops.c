/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BROKEN: vfio_lm_get_plugin_ops() returns NULL. Refused. */
#include "broken-stub.h"

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return NULL;
}
