/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VALID despite the name: cleanup is NULL, which seed 000 tolerates (it skips
 * the call). The loader must accept it and never call cleanup. */
#include "broken-stub.h"

static VFIOMigrationPluginOps ops = { STUB_OPS_INIT, .cleanup = NULL };

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return &ops;
}
