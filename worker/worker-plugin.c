/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "worker-plugin.h"

static void copy_str(char *dst, size_t size, const char *src) {
        snprintf(dst, size, "%s", src ? src : "");
}

/* A readable C string of reasonable length, or NULL. */
static const char *sane_str(const char *s) {
        if (!s)
                return NULL;
        if (strnlen(s, 256) >= 256)
                return NULL;
        return s;
}

static void default_name(MbPlugin *p, const char *display_path) {
        const char *base = strrchr(display_path, '/');
        size_t n;

        base = base ? base + 1 : display_path;
        copy_str(p->name, sizeof(p->name), base);
        n = strlen(p->name);
        if (n > 3 && strcmp(p->name + n - 3, ".so") == 0)
                p->name[n - 3] = '\0';
}

int mb_plugin_load(MbPlugin *p, const char *open_path, const char *display_path, char *errbuf, size_t errlen) {
        VFIOLMPluginGetVersion get_version;
        VFIOLMPluginGetOps get_ops;
        MigbrokerPluginGetInfo get_info;
        const VFIOMigrationPluginOps *ops;
        int version;

        memset(p, 0, sizeof(*p));
        p->path = strdup(display_path);
        if (!p->path) {
                snprintf(errbuf, errlen, "cannot load plugin %s: out of memory", display_path);
                return -ENOMEM;
        }

        dlerror();
        p->dl = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
        if (!p->dl) {
                const char *e = dlerror();
                snprintf(errbuf, errlen, "cannot load plugin %s: %s", display_path,
                         e ? e : "unknown dlopen error");
                goto fail_noent;
        }

        *(void **) &get_version = dlsym(p->dl, MIGBROKER_SYM_GET_VERSION);
        if (!get_version) {
                snprintf(errbuf, errlen, "plugin %s: missing symbol %s", display_path, MIGBROKER_SYM_GET_VERSION);
                goto fail;
        }
        version = get_version();
        if (version != VFIO_LM_PLUGIN_API_VERSION) {
                snprintf(errbuf, errlen, "plugin %s: plugin API version %d, expected %d", display_path, version,
                         VFIO_LM_PLUGIN_API_VERSION);
                goto fail;
        }

        *(void **) &get_ops = dlsym(p->dl, MIGBROKER_SYM_GET_OPS);
        if (!get_ops) {
                snprintf(errbuf, errlen, "plugin %s: missing symbol %s", display_path, MIGBROKER_SYM_GET_OPS);
                goto fail;
        }
        ops = get_ops();
        if (!ops) {
                snprintf(errbuf, errlen, "plugin %s: %s() returned NULL", display_path, MIGBROKER_SYM_GET_OPS);
                goto fail;
        }

#define MANDATORY(op)                                                                                  \
        if (!ops->op) {                                                                                \
                snprintf(errbuf, errlen, "plugin %s: mandatory op '%s' is NULL in its ops table",      \
                         display_path, #op);                                                           \
                goto fail;                                                                             \
        }
        MANDATORY(init);
        MANDATORY(save);
        MANDATORY(load);
        MANDATORY(update_pending);
        MANDATORY(set_state);
        MANDATORY(get_state);
#undef MANDATORY
        p->ops = ops;

        /* A plugin without info counts as pre-copy capable, as seed-era QEMU assumed. */
        p->capabilities = MIGBROKER_PLUGIN_CAP_PRECOPY;
        default_name(p, display_path);

        *(void **) &get_info = dlsym(p->dl, MIGBROKER_SYM_GET_INFO);
        if (get_info) {
                const MigbrokerPluginInfo *info = get_info();

                if (!info) {
                        snprintf(errbuf, errlen, "plugin %s: %s() returned NULL", display_path,
                                 MIGBROKER_SYM_GET_INFO);
                        goto fail;
                }
                if (info->struct_size < MIGBROKER_PLUGIN_INFO_SIZE_V1) {
                        snprintf(errbuf, errlen,
                                 "plugin %s: %s() returned an info struct of %u bytes, at least %u expected",
                                 display_path, MIGBROKER_SYM_GET_INFO, info->struct_size,
                                 MIGBROKER_PLUGIN_INFO_SIZE_V1);
                        goto fail;
                }
                if (info->n_pci_ids > 0 && !info->pci_ids) {
                        snprintf(errbuf, errlen, "plugin %s: info says %u PCI IDs but pci_ids is NULL",
                                 display_path, info->n_pci_ids);
                        goto fail;
                }
                if (info->n_pci_ids > 4096) {
                        snprintf(errbuf, errlen, "plugin %s: info lists %u PCI IDs (at most 4096)",
                                 display_path, info->n_pci_ids);
                        goto fail;
                }
                if (info->name && !sane_str(info->name)) {
                        snprintf(errbuf, errlen, "plugin %s: info name is not a string of under 256 bytes",
                                 display_path);
                        goto fail;
                }
                p->info = info;
                p->info_size = info->struct_size;
                p->capabilities = info->capabilities;
                if (info->name && info->name[0])
                        copy_str(p->name, sizeof(p->name), info->name);
                copy_str(p->version, sizeof(p->version), sane_str(info->version));
        }
        return 0;

fail:
        dlclose(p->dl);
        p->dl = NULL;
        free(p->path);
        p->path = NULL;
        return -ENOEXEC;
fail_noent:
        free(p->path);
        p->path = NULL;
        return -ENOEXEC;
}

void mb_plugin_unload(MbPlugin *p) {
        if (p->dl)
                dlclose(p->dl);
        free(p->path);
        memset(p, 0, sizeof(*p));
}

bool mb_plugin_has_precopy(const MbPlugin *p) {
        return p->capabilities & MIGBROKER_PLUGIN_CAP_PRECOPY;
}

MigbrokerPluginProbe mb_plugin_probe_fn(const MbPlugin *p) {
        if (!p->info || p->info_size < MIGBROKER_PLUGIN_INFO_SIZE_V1)
                return NULL;
        return p->info->probe;
}
