/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdev.so: the migration plugin of the simulated DPU function. A thin
 * transport: every op is one or more requests to migbroker-simagent, which
 * owns the device state and produces/consumes the state stream (README.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migbroker/plugin.h"
#include "simdev-client.h"
#include "simdev-parse.h"
#include "simdev-proto.h"

#define SIMDEV_PLUGIN_VERSION "1.0"

typedef struct SimdevHandle {
        SimdevClient client;
        char bdf[SIMDEV_BDF_MAX];
        uint64_t state_size;
        /* Bytes that save() may still deliver: the last update_pending()
         * result minus what save() consumed since (the ABI's promise). */
        uint64_t budget;
} SimdevHandle;

static void plugin_log(const char *bdf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void plugin_log(const char *bdf, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        (void) fprintf(stderr, "simdev: %s: %s\n", bdf ? bdf : "?", msg);
}

/* Logs a failed request, with the agent's explanation when it sent one. */
static int request_failed(SimdevHandle *h, const char *what, int r) {
        if (h->client.error[0])
                plugin_log(h->bdf, "%s: %s (%s)", what, strerror(-r), h->client.error);
        else
                plugin_log(h->bdf, "%s: %s%s", what, strerror(-r), h->client.broken ? " (connection lost)" : "");
        return r;
}

/* "HOST:PORT[,timeout=MS][,connect-timeout=MS]" */
static int parse_arg(const char *arg, char *addr, size_t addr_size, int *connect_ms, int *io_ms) {
        const char *comma = arg ? strchr(arg, ',') : NULL;
        size_t n = comma ? (size_t) (comma - arg) : (arg ? strlen(arg) : 0);

        if (!arg || n == 0 || n >= addr_size)
                return -EINVAL;
        memcpy(addr, arg, n);
        addr[n] = '\0';

        while (comma) {
                const char *opt = comma + 1, *eq;
                char key[32], val[32];
                uint64_t v;
                size_t klen, vlen;

                comma = strchr(opt, ',');
                eq = strchr(opt, '=');
                if (!eq || (comma && eq > comma))
                        return -EINVAL;
                klen = (size_t) (eq - opt);
                vlen = comma ? (size_t) (comma - eq - 1) : strlen(eq + 1);
                if (klen >= sizeof(key) || vlen >= sizeof(val))
                        return -EINVAL;
                memcpy(key, opt, klen);
                key[klen] = '\0';
                memcpy(val, eq + 1, vlen);
                val[vlen] = '\0';
                if (simdev_parse_u64(val, &v) < 0 || v == 0 || v > 3600 * 1000)
                        return -EINVAL;
                if (strcmp(key, "timeout") == 0)
                        *io_ms = (int) v;
                else if (strcmp(key, "connect-timeout") == 0)
                        *connect_ms = (int) v;
                else
                        return -EINVAL;
        }
        return 0;
}

static void *simdev_init(char *devid, char *arg) {
        uint8_t req[8 + SIMDEV_BDF_MAX], resp[20];
        int connect_ms = SIMDEV_CONNECT_TIMEOUT_MS, io_ms = SIMDEV_IO_TIMEOUT_MS;
        char addr[SIMDEV_HOST_MAX + 16];
        SimdevHandle *h;
        size_t bdf_len;
        int r;

        if (!devid || (bdf_len = strlen(devid)) == 0 || bdf_len >= SIMDEV_BDF_MAX) {
                plugin_log(devid, "init: invalid device id");
                return NULL;
        }
        if (parse_arg(arg, addr, sizeof(addr), &connect_ms, &io_ms) < 0) {
                plugin_log(devid, "init: invalid argument '%s', expected HOST:PORT[,timeout=MS][,connect-timeout=MS]",
                           arg ? arg : "(null)");
                return NULL;
        }

        h = calloc(1, sizeof(*h));
        if (!h) {
                plugin_log(devid, "init: out of memory");
                return NULL;
        }
        memcpy(h->bdf, devid, bdf_len + 1);

        r = simdev_client_connect(&h->client, addr, connect_ms, io_ms);
        if (r < 0) {
                plugin_log(devid, "init: cannot connect to agent at %s: %s", addr, strerror(-r));
                free(h);
                return NULL;
        }

        simdev_put_be32(req, SIMDEV_PROTO_VERSION);
        simdev_put_be32(req + 4, SIMDEV_OPEN_CONTROL);
        memcpy(req + 8, devid, bdf_len);
        r = simdev_client_call(&h->client, SIMDEV_OP_OPEN, req, 8 + bdf_len, NULL, 0, resp, sizeof(resp), NULL);
        if (r < 0) {
                (void) request_failed(h, "init: agent refused the function", r);
                simdev_client_close(&h->client);
                free(h);
                return NULL;
        }
        h->state_size = simdev_get_be64(resp + 8);
        return h;
}

static int simdev_save(void *handle, uint8_t *state, uint64_t len) {
        SimdevHandle *h = handle;
        uint8_t req[4];

        if (!h || (!state && len > 0))
                return -EINVAL;
        if (len > h->budget) {
                plugin_log(h->bdf, "save: %" PRIu64 " bytes requested, only %" PRIu64 " reported pending", len,
                           h->budget);
                return -EINVAL;
        }
        for (uint64_t done = 0; done < len;) {
                uint32_t n = (uint32_t) (len - done > SIMDEV_IO_MAX ? SIMDEV_IO_MAX : len - done);
                int r;

                simdev_put_be32(req, n);
                r = simdev_client_call(&h->client, SIMDEV_OP_SAVE, req, sizeof(req), NULL, 0, state + done, n, NULL);
                if (r < 0)
                        return request_failed(h, "save", r);
                done += n;
                h->budget -= n;
        }
        return 0;
}

static int simdev_load(void *handle, uint8_t *state, uint64_t len) {
        SimdevHandle *h = handle;

        if (!h || (!state && len > 0))
                return -EINVAL;
        for (uint64_t done = 0; done < len;) {
                uint32_t n = (uint32_t) (len - done > SIMDEV_IO_MAX ? SIMDEV_IO_MAX : len - done);
                int r;

                r = simdev_client_call(&h->client, SIMDEV_OP_LOAD, state + done, n, NULL, 0, NULL, 0, NULL);
                if (r < 0)
                        return request_failed(h, "load", r);
                done += n;
        }
        return 0;
}

static int simdev_update_pending(void *handle, uint64_t *pending_bytes) {
        SimdevHandle *h = handle;
        uint8_t resp[8];
        int r;

        if (!h || !pending_bytes)
                return -EINVAL;
        r = simdev_client_call(&h->client, SIMDEV_OP_PENDING, NULL, 0, NULL, 0, resp, sizeof(resp), NULL);
        if (r < 0)
                return request_failed(h, "update_pending", r);
        *pending_bytes = h->budget = simdev_get_be64(resp);
        return 0;
}

static int simdev_set_state(void *handle, uint32_t value) {
        SimdevHandle *h = handle;
        uint8_t req[4];
        int r;

        if (!h)
                return -EINVAL;
        simdev_put_be32(req, value);
        r = simdev_client_call(&h->client, SIMDEV_OP_SET_STATE, req, sizeof(req), NULL, 0, NULL, 0, NULL);
        if (r < 0)
                return request_failed(h, "set_state", r);
        if (!(value & VFIO_DEVICE_STATE_SAVING))
                h->budget = 0;
        return 0;
}

static int simdev_get_state(void *handle, uint32_t *value) {
        SimdevHandle *h = handle;
        uint8_t resp[4];
        int r;

        if (!h || !value)
                return -EINVAL;
        r = simdev_client_call(&h->client, SIMDEV_OP_GET_STATE, NULL, 0, NULL, 0, resp, sizeof(resp), NULL);
        if (r < 0)
                return request_failed(h, "get_state", r);
        *value = simdev_get_be32(resp);
        return 0;
}

static int simdev_cleanup(void *handle) {
        SimdevHandle *h = handle;

        if (!h)
                return -EINVAL;
        simdev_client_close(&h->client);
        free(h);
        return 0;
}

static VFIOMigrationPluginOps simdev_ops = {
        .init = simdev_init,
        .save = simdev_save,
        .load = simdev_load,
        .update_pending = simdev_update_pending,
        .set_state = simdev_set_state,
        .get_state = simdev_get_state,
        .cleanup = simdev_cleanup,
};

/* The simulated function presents itself as a modern virtio-net function
 * (the kind a DPU typically exposes to a host); see README.md. */
static const MigbrokerPciId simdev_pci_ids[] = {
        { .vendor = 0x1af4, .device = 0x1041 },
};

static const MigbrokerPluginInfo simdev_info = {
        .struct_size = sizeof(MigbrokerPluginInfo),
        .capabilities = MIGBROKER_PLUGIN_CAP_PRECOPY,
        .name = "simdev",
        .version = SIMDEV_PLUGIN_VERSION,
        .pci_ids = simdev_pci_ids,
        .n_pci_ids = 1,
        .probe = NULL,
};

int vfio_lm_get_plugin_version(void);
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void);
const MigbrokerPluginInfo *migbroker_get_plugin_info(void);

int vfio_lm_get_plugin_version(void) {
        return VFIO_LM_PLUGIN_API_VERSION;
}

VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) {
        return &simdev_ops;
}

const MigbrokerPluginInfo *migbroker_get_plugin_info(void) {
        return &simdev_info;
}
