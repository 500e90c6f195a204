/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * worker-plugin.h: loading one vendor plugin inside the worker: dlopen() with
 * RTLD_NOW|RTLD_LOCAL, the seed ABI checks (version, ops table, mandatory ops)
 * and the optional migbroker info. It does not call any op.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "migbroker/plugin.h"

typedef struct MbPlugin {
        void *dl;
        const VFIOMigrationPluginOps *ops;
        const MigbrokerPluginInfo *info;   /* NULL when the plugin does not export it */
        uint32_t info_size;                /* how much of *info is valid */
        char *path;                        /* for messages */
        char name[256];                    /* info name, else file name without ".so" */
        char version[128];
        uint32_t capabilities;
} MbPlugin;

/* Loads the plugin from open_path (e.g. "/proc/self/fd/4"); display_path is
 * what messages name. On failure returns -errno and a specific message in
 * errbuf ("missing symbol vfio_lm_get_plugin_version", "plugin API version 1,
 * expected 0", "mandatory op 'save' is NULL in its ops table" ...). */
int mb_plugin_load(MbPlugin *p, const char *open_path, const char *display_path, char *errbuf, size_t errlen);
void mb_plugin_unload(MbPlugin *p);

bool mb_plugin_has_precopy(const MbPlugin *p);
MigbrokerPluginProbe mb_plugin_probe_fn(const MbPlugin *p);
