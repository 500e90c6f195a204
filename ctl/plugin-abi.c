/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "migbroker/plugin.h"
#include "plugin-abi.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static const struct {
        const char *name;
        const char *description;
} steps[_MB_ABI_STEP_MAX] = {
        [MB_ABI_LOAD] = { "abi.load", "dlopen(RTLD_NOW | RTLD_LOCAL) resolves every symbol" },
        [MB_ABI_VERSION] = { "abi.version",
                             MIGBROKER_SYM_GET_VERSION "() exported, returns " STR(VFIO_LM_PLUGIN_API_VERSION) },
        [MB_ABI_OPS] = { "abi.ops", MIGBROKER_SYM_GET_OPS "() exported, every mandatory op set" },
        [MB_ABI_INFO] = { "abi.info", MIGBROKER_SYM_GET_INFO "() absent or well-formed" },
};

const char *mb_abi_step_check_name(MbAbiStep s) {
        return s >= 0 && s < _MB_ABI_STEP_MAX ? steps[s].name : NULL;
}

const char *mb_abi_step_description(MbAbiStep s) {
        return s >= 0 && s < _MB_ABI_STEP_MAX ? steps[s].description : NULL;
}

/* The loader's messages, in the order it checks (worker/worker-plugin.c). */
static const struct {
        const char *needle;
        MbAbiStep step;
} refusals[] = {
        { "cannot load plugin", MB_ABI_LOAD },
        { "missing symbol " MIGBROKER_SYM_GET_VERSION, MB_ABI_VERSION },
        { "plugin API version", MB_ABI_VERSION },
        { "missing symbol " MIGBROKER_SYM_GET_OPS, MB_ABI_OPS },
        { MIGBROKER_SYM_GET_OPS "() returned NULL", MB_ABI_OPS },
        { "mandatory op", MB_ABI_OPS },
        { MIGBROKER_SYM_GET_INFO, MB_ABI_INFO },
        { ": info ", MB_ABI_INFO },
};

MbAbiStep mb_abi_step_from_refusal(const char *message) {
        if (!message)
                return MB_ABI_LOAD;
        for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
                if (strstr(message, refusals[i].needle))
                        return refusals[i].step;
        return MB_ABI_LOAD;
}
