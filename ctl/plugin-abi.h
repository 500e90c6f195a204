/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugin-abi.h: the steps in which the worker's loader (worker/worker-plugin.c)
 * checks a plugin's ABI, as conformance checks, and which step a refusal
 * message names. It loads nothing: the worker does, never the CLI.
 */
#pragma once

typedef enum MbAbiStep {
        MB_ABI_LOAD,     /* dlopen(RTLD_NOW | RTLD_LOCAL) of the file */
        MB_ABI_VERSION,  /* vfio_lm_get_plugin_version exported, returns the SDK's version */
        MB_ABI_OPS,      /* vfio_lm_get_plugin_ops exported, a table, every mandatory op set */
        MB_ABI_INFO,     /* migbroker_get_plugin_info, when exported, well-formed */
        _MB_ABI_STEP_MAX,
} MbAbiStep;

/* "abi.load", "abi.version", "abi.ops", "abi.info" */
const char *mb_abi_step_check_name(MbAbiStep s);
/* What the step verifies, for a passing check's reason. */
const char *mb_abi_step_description(MbAbiStep s);

/* The step the loader's refusal message belongs to; an unrecognised message
 * counts as MB_ABI_LOAD. */
MbAbiStep mb_abi_step_from_refusal(const char *message);
