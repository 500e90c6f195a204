/* SPDX-License-Identifier: MIT */
/*
 * migbroker plugin SDK.
 *
 * The first half is exactly the ABI of QEMU's proposed
 * include/hw/vfio/vfio-migration-plugin.h (API version 0): a plugin built
 * against that header loads in migbroker unchanged, and vice versa.
 *
 * The second half is migbroker's optional, additive extension: a plugin may
 * also export migbroker_get_plugin_info() to describe itself. QEMU ignores
 * that symbol.
 *
 * Build a plugin with:  cc -shared -fPIC $(pkg-config --cflags migbroker-plugin) ...
 * See docs/plugin-guide.md for the semantics of every op.
 */
#ifndef HW_VFIO_PLUGIN_MIGRATION_H
#define HW_VFIO_PLUGIN_MIGRATION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VFIO_LM_PLUGIN_API_VERSION 0

typedef struct VFIOMigrationPluginOps {
    void *(*init)(char *devid, char *arg);
    int (*save)(void *handle, uint8_t *state, uint64_t len);
    int (*load)(void *handle, uint8_t *state, uint64_t len);
    int (*update_pending)(void *handle, uint64_t *pending_bytes);
    int (*set_state)(void *handle, uint32_t value);
    int (*get_state)(void *handle, uint32_t *value);
    int (*cleanup)(void *handle);
} VFIOMigrationPluginOps;

typedef int (*VFIOLMPluginGetVersion)(void);
typedef VFIOMigrationPluginOps* (*VFIOLMPluginGetOps)(void);

#endif /* HW_VFIO_PLUGIN_MIGRATION_H */

/* ------------------------------------------------------------------------ */
/* migbroker additions (optional for plugins; not part of QEMU's header)     */
/* ------------------------------------------------------------------------ */
#ifndef MIGBROKER_PLUGIN_H
#define MIGBROKER_PLUGIN_H

#include <stddef.h>

/* The VFIO v1 device_state bits that set_state()/get_state() use. */
#ifndef VFIO_DEVICE_STATE_STOP
#define VFIO_DEVICE_STATE_STOP      0u
#define VFIO_DEVICE_STATE_RUNNING   (1u << 0)
#define VFIO_DEVICE_STATE_SAVING    (1u << 1)
#define VFIO_DEVICE_STATE_RESUMING  (1u << 2)
#define VFIO_DEVICE_STATE_MASK      (VFIO_DEVICE_STATE_RUNNING | VFIO_DEVICE_STATE_SAVING | \
                                     VFIO_DEVICE_STATE_RESUMING)
#endif
/* v1's error value: SAVING|RESUMING */
#define MIGBROKER_V1_STATE_ERROR    (VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RESUMING)

/* Symbol names the loader looks up. */
#define MIGBROKER_SYM_GET_VERSION   "vfio_lm_get_plugin_version"
#define MIGBROKER_SYM_GET_OPS       "vfio_lm_get_plugin_ops"
#define MIGBROKER_SYM_GET_INFO      "migbroker_get_plugin_info"

/* Capability flags of MigbrokerPluginInfo.capabilities. */
#define MIGBROKER_PLUGIN_CAP_PRECOPY (1u << 0) /* SAVING while RUNNING: iterative pre-copy */

/* A PCI vendor/device pair; 0xffff in device means "any device of vendor". */
#define MIGBROKER_PCI_ANY_ID 0xffffu
typedef struct MigbrokerPciId {
    uint16_t vendor;
    uint16_t device;
} MigbrokerPciId;

/*
 * probe(): called by the broker (in a worker, never in the broker itself)
 * for a device that no policy rule binds. Return 1 to accept it, 0 to decline,
 * a negative errno on failure (treated as decline). Optional.
 */
typedef int (*MigbrokerPluginProbe)(const char *bdf, uint16_t vendor, uint16_t device);

/*
 * Versioned by struct_size: the broker reads only the fields that lie within
 * struct_size, so fields are only ever appended.
 */
typedef struct MigbrokerPluginInfo {
    uint32_t struct_size;           /* sizeof(MigbrokerPluginInfo) as the plugin was built */
    uint32_t capabilities;          /* MIGBROKER_PLUGIN_CAP_* */
    const char *name;               /* short name, e.g. "simdev" */
    const char *version;            /* free-form version string */
    const MigbrokerPciId *pci_ids;  /* may be NULL */
    uint32_t n_pci_ids;
    MigbrokerPluginProbe probe;     /* may be NULL */
} MigbrokerPluginInfo;

typedef const MigbrokerPluginInfo *(*MigbrokerPluginGetInfo)(void);

/* Size of the first published version of MigbrokerPluginInfo. */
#define MIGBROKER_PLUGIN_INFO_SIZE_V1 \
    ((uint32_t)(offsetof(MigbrokerPluginInfo, probe) + sizeof(MigbrokerPluginProbe)))

#endif /* MIGBROKER_PLUGIN_H */

#ifdef __cplusplus
}
#endif
