/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BROKEN: exports no vfio_lm_get_plugin_version. The loader must refuse it. */
#include "broken-stub.h"

static VFIOMigrationPluginOps ops = { STUB_OPS_INIT, .cleanup = stub_cleanup };

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return &ops;
}
