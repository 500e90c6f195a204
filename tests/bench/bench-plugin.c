/* SPDX-License-Identifier: MIT */
/*
 * bench-plugin.so: a memory-backed plugin for benchmarks, so that what is
 * measured is migbroker, not a device. save() copies from a 1 MiB pattern,
 * load() copies into a 1 MiB sink: one memcpy per byte, as a real plugin
 * reading device memory would do at least. arg: "size=BYTES" (K/M/G).
 * Both buffers are touched only when first used (the pattern at the first
 * save()), so an idle worker's RSS holds none of the plugin's buffers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migbroker/plugin.h"

#define PATTERN (1u << 20)

typedef struct Bench {
        uint32_t state;
        uint64_t size, sent;
        int filled;
        uint8_t pattern[PATTERN];
        uint8_t sink[PATTERN];
} Bench;

static uint64_t parse_size(const char *arg) {
        const char *p = arg ? strstr(arg, "size=") : NULL;
        char *end;
        uint64_t v;

        if (!p)
                return 64u << 20;
        v = strtoull(p + 5, &end, 10);
        switch (*end) {
        case 'K': v <<= 10; break;
        case 'M': v <<= 20; break;
        case 'G': v <<= 30; break;
        default: break;
        }
        return v;
}

static void *bench_init(char *devid, char *arg) {
        Bench *b = calloc(1, sizeof(*b));

        if (!b)
                return NULL;
        b->state = VFIO_DEVICE_STATE_RUNNING;
        b->size = parse_size(arg);
        return b;
}

static int bench_update_pending(void *h, uint64_t *p) {
        Bench *b = h;
        *p = (b->state & VFIO_DEVICE_STATE_SAVING) ? b->size - b->sent : 0;
        return 0;
}

static int bench_save(void *h, uint8_t *buf, uint64_t len) {
        Bench *b = h;

        if (!(b->state & VFIO_DEVICE_STATE_SAVING) || len > b->size - b->sent)
                return -EINVAL;
        if (!b->filled) {
                for (size_t i = 0; i < PATTERN; i++)
                        b->pattern[i] = (uint8_t) (i * 7);
                b->filled = 1;
        }
        for (uint64_t off = 0; off < len; off += PATTERN)
                memcpy(buf + off, b->pattern, len - off < PATTERN ? len - off : PATTERN);
        b->sent += len;
        return 0;
}

static int bench_load(void *h, uint8_t *buf, uint64_t len) {
        Bench *b = h;

        if (b->state != VFIO_DEVICE_STATE_RESUMING)
                return -EINVAL;
        for (uint64_t off = 0; off < len; off += PATTERN)
                memcpy(b->sink, buf + off, len - off < PATTERN ? len - off : PATTERN);
        return 0;
}

static int bench_set_state(void *h, uint32_t v) {
        Bench *b = h;

        if (v > VFIO_DEVICE_STATE_RESUMING)
                return -EINVAL;
        if ((v & VFIO_DEVICE_STATE_SAVING) && !(b->state & VFIO_DEVICE_STATE_SAVING))
                b->sent = 0;
        b->state = v;
        return 0;
}

static int bench_get_state(void *h, uint32_t *v) {
        *v = ((Bench *) h)->state;
        return 0;
}

static int bench_cleanup(void *h) {
        free(h);
        return 0;
}

static VFIOMigrationPluginOps ops = {
        .init = bench_init, .save = bench_save, .load = bench_load, .update_pending = bench_update_pending,
        .set_state = bench_set_state, .get_state = bench_get_state, .cleanup = bench_cleanup,
};

int vfio_lm_get_plugin_version(void);
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void);

int vfio_lm_get_plugin_version(void) { return VFIO_LM_PLUGIN_API_VERSION; }
VFIOMigrationPluginOps *vfio_lm_get_plugin_ops(void) { return &ops; }
