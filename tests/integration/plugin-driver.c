/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugin-driver: loads a migration plugin by path and calls its ops exactly as
 * seed 000's QEMU does (update_pending, then save in <= 1 MiB chunks until
 * those bytes are consumed; load in <= 1 MiB chunks), with no broker around.
 * The stream it writes and reads is seed 000's raw format: rounds of be64 N + N bytes.
 *
 *   plugin-driver check PLUGIN.so
 *   plugin-driver save  PLUGIN.so --arg A --bdf BDF [--rounds N] [--round-delay-ms MS] [-o FILE|-]
 *   plugin-driver load  PLUGIN.so --arg A --bdf BDF [--chunk SIZE] [-i FILE|-]
 *
 * Exit status: 0 ok, 1 an op failed, 2 usage, 3 the plugin was refused.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "migbroker/plugin.h"
#include "simdev-parse.h"

#define EXIT_OP_FAILED 1
#define EXIT_USAGE 2
#define EXIT_REFUSED 3
#define QEMU_CHUNK (1024u * 1024u)

typedef struct Plugin {
        void *dl;
        VFIOMigrationPluginOps *ops;
        const MigbrokerPluginInfo *info;
} Plugin;

static double now_s(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* The checks of seed 000's loader, plus the migbroker info struct. */
static int plugin_open(Plugin *p, const char *path) {
        VFIOLMPluginGetVersion get_version;
        VFIOLMPluginGetOps get_ops;
        MigbrokerPluginGetInfo get_info;

        *p = (Plugin) {};
        p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!p->dl) {
                fprintf(stderr, "plugin-driver: cannot load %s: %s\n", path, dlerror());
                return -ENOENT;
        }
        get_version = (VFIOLMPluginGetVersion) dlsym(p->dl, MIGBROKER_SYM_GET_VERSION);
        if (!get_version) {
                fprintf(stderr, "plugin-driver: %s does not export %s\n", path, MIGBROKER_SYM_GET_VERSION);
                return -ENOENT;
        }
        if (get_version() != VFIO_LM_PLUGIN_API_VERSION) {
                fprintf(stderr, "plugin-driver: %s has API version %d, expected %d\n", path, get_version(),
                        VFIO_LM_PLUGIN_API_VERSION);
                return -EPROTONOSUPPORT;
        }
        get_ops = (VFIOLMPluginGetOps) dlsym(p->dl, MIGBROKER_SYM_GET_OPS);
        if (!get_ops) {
                fprintf(stderr, "plugin-driver: %s does not export %s\n", path, MIGBROKER_SYM_GET_OPS);
                return -ENOENT;
        }
        p->ops = get_ops();
        if (!p->ops) {
                fprintf(stderr, "plugin-driver: %s returned no ops\n", path);
                return -EINVAL;
        }
        if (!p->ops->init || !p->ops->save || !p->ops->load || !p->ops->update_pending || !p->ops->set_state ||
            !p->ops->get_state) {
                fprintf(stderr, "plugin-driver: %s leaves a mandatory op NULL\n", path);
                return -EINVAL;
        }
        get_info = (MigbrokerPluginGetInfo) dlsym(p->dl, MIGBROKER_SYM_GET_INFO);
        if (get_info) {
                p->info = get_info();
                if (!p->info || p->info->struct_size < MIGBROKER_PLUGIN_INFO_SIZE_V1 || !p->info->name) {
                        fprintf(stderr, "plugin-driver: %s exports a malformed %s\n", path, MIGBROKER_SYM_GET_INFO);
                        return -EINVAL;
                }
        }
        return 0;
}

static void plugin_close(Plugin *p) {
        if (p->dl)
                (void) dlclose(p->dl);
        *p = (Plugin) {};
}

/* As QEMU's vfio_migration_set_state_plugin: get_state, then set (state & mask) | value. */
static int set_state(Plugin *p, void *h, uint32_t mask, uint32_t value) {
        uint32_t state = 0;
        int r;

        r = p->ops->get_state(h, &state);
        if (r != 0) {
                fprintf(stderr, "plugin-driver: get_state failed: %d\n", r);
                return r < 0 ? r : -EIO;
        }
        state = (state & mask) | value;
        r = p->ops->set_state(h, state);
        if (r != 0) {
                fprintf(stderr, "plugin-driver: set_state(%" PRIu32 ") failed: %d\n", state, r);
                return r < 0 ? r : -EIO;
        }
        return 0;
}

static int write_all(int fd, const void *buf, size_t len) {
        const uint8_t *b = buf;

        while (len > 0) {
                ssize_t k = write(fd, b, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EIO;
                b += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Reads exactly len bytes; 0 at a clean EOF before the first byte, -EPIPE mid-way. */
static int read_all(int fd, void *buf, size_t len, bool *eof) {
        uint8_t *b = buf;
        size_t got = 0;

        *eof = false;
        while (got < len) {
                ssize_t k = read(fd, b + got, len - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0) {
                        if (got == 0) {
                                *eof = true;
                                return 0;
                        }
                        return -EPIPE;
                }
                got += (size_t) k;
        }
        return 0;
}

typedef struct SaveStats {
        double op_time;           /* seconds inside update_pending + save */
        uint64_t bytes;
        unsigned rounds;
} SaveStats;

/* One QEMU save_buffer round: update_pending(&n), be64 n, save() n bytes in chunks. */
static int save_round(Plugin *p, void *h, int fd, uint8_t *buf, SaveStats *st, uint64_t *ret_n) {
        uint64_t n = 0, left;
        uint8_t be[8];
        double t0 = now_s();
        int r;

        r = p->ops->update_pending(h, &n);
        if (r != 0) {
                fprintf(stderr, "plugin-driver: update_pending failed: %d\n", r);
                return r < 0 ? r : -EIO;
        }
        st->op_time += now_s() - t0;
        *ret_n = n;
        if (n == 0)
                return 0;
        for (int i = 0; i < 8; i++)
                be[i] = (uint8_t) (n >> (56 - 8 * i));
        r = write_all(fd, be, sizeof(be));
        if (r < 0)
                return r;
        for (left = n; left > 0;) {
                uint64_t sz = left <= QEMU_CHUNK ? left : QEMU_CHUNK;

                t0 = now_s();
                r = p->ops->save(h, buf, sz);
                st->op_time += now_s() - t0;
                if (r != 0) {
                        fprintf(stderr, "plugin-driver: save(%" PRIu64 ") failed: %d\n", sz, r);
                        return r < 0 ? r : -EIO;
                }
                r = write_all(fd, buf, sz);
                if (r < 0)
                        return r;
                left -= sz;
        }
        st->bytes += n;
        st->rounds++;
        return 0;
}

typedef struct Args {
        char *arg;
        char *bdf;
        char *output;
        char *input;
        char *chunk;
        int rounds;
        int round_delay_ms;
        int max_stop_copy_rounds;
} Args;

static void args_clear(Args *a) {
        g_free(a->arg);
        g_free(a->bdf);
        g_free(a->output);
        g_free(a->input);
        g_free(a->chunk);
}

static int open_output(const char *path) {
        if (!path || strcmp(path, "-") == 0)
                return STDOUT_FILENO;
        return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static int open_input(const char *path) {
        if (!path || strcmp(path, "-") == 0)
                return STDIN_FILENO;
        return open(path, O_RDONLY | O_CLOEXEC);
}

static int do_save(Plugin *p, const Args *a) {
        g_autofree uint8_t *buf = g_malloc(QEMU_CHUNK);
        SaveStats pre = {}, stop = {};
        void *h;
        int fd, ret = EXIT_OP_FAILED;
        uint64_t n;

        fd = open_output(a->output);
        if (fd < 0) {
                fprintf(stderr, "plugin-driver: cannot open %s: %s\n", a->output, strerror(errno));
                return EXIT_USAGE;
        }

        h = p->ops->init(a->bdf, a->arg);
        if (!h) {
                fprintf(stderr, "plugin-driver: init failed\n");
                goto out;
        }

        if (a->rounds > 0) {
                if (set_state(p, h, ~0u, VFIO_DEVICE_STATE_SAVING) < 0) /* RUNNING -> RUNNING|SAVING */
                        goto cleanup;
                for (int i = 0; i < a->rounds; i++) {
                        if (i > 0 && a->round_delay_ms > 0)
                                g_usleep((gulong) a->round_delay_ms * 1000);
                        if (save_round(p, h, fd, buf, &pre, &n) < 0)
                                goto cleanup;
                        fprintf(stderr, "plugin-driver: pre-copy round %d: %" PRIu64 " bytes\n", i + 1, n);
                }
        }

        /* Stop-copy: clear RUNNING, set SAVING, as QEMU's vfio_save_complete_precopy. */
        if (set_state(p, h, ~VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_SAVING) < 0)
                goto cleanup;
        for (int i = 0;; i++) {
                if (i >= a->max_stop_copy_rounds) {
                        fprintf(stderr, "plugin-driver: pending never reached 0 in stop-copy\n");
                        goto cleanup;
                }
                if (save_round(p, h, fd, buf, &stop, &n) < 0)
                        goto cleanup;
                if (n == 0)
                        break;
                fprintf(stderr, "plugin-driver: stop-copy round %d: %" PRIu64 " bytes\n", i + 1, n);
        }
        if (set_state(p, h, ~VFIO_DEVICE_STATE_SAVING, 0) < 0) /* SAVING -> STOP */
                goto cleanup;

        fprintf(stderr,
                "plugin-driver: saved %" PRIu64 " bytes (pre-copy %" PRIu64 " in %u rounds, stop-copy %" PRIu64
                " in %u), %.3f s in plugin ops, %.1f MB/s\n",
                pre.bytes + stop.bytes, pre.bytes, pre.rounds, stop.bytes, stop.rounds, pre.op_time + stop.op_time,
                (double) (pre.bytes + stop.bytes) / 1e6 / (pre.op_time + stop.op_time + 1e-9));
        ret = EXIT_SUCCESS;
cleanup:
        if (p->ops->cleanup && p->ops->cleanup(h) != 0 && ret == EXIT_SUCCESS) {
                fprintf(stderr, "plugin-driver: cleanup failed\n");
                ret = EXIT_OP_FAILED;
        }
out:
        if (fd != STDOUT_FILENO)
                (void) close(fd);
        return ret;
}

static int do_load(Plugin *p, const Args *a) {
        uint64_t chunk = QEMU_CHUNK, total = 0;
        g_autofree uint8_t *buf = NULL;
        double op_time = 0, t0;
        unsigned rounds = 0;
        void *h;
        int fd, r, ret = EXIT_OP_FAILED;

        if (a->chunk && (simdev_parse_size(a->chunk, &chunk) < 0 || chunk == 0 || chunk > 64u * QEMU_CHUNK)) {
                fprintf(stderr, "plugin-driver: invalid --chunk '%s'\n", a->chunk);
                return EXIT_USAGE;
        }
        buf = g_malloc(chunk);
        fd = open_input(a->input);
        if (fd < 0) {
                fprintf(stderr, "plugin-driver: cannot open %s: %s\n", a->input, strerror(errno));
                return EXIT_USAGE;
        }

        h = p->ops->init(a->bdf, a->arg);
        if (!h) {
                fprintf(stderr, "plugin-driver: init failed\n");
                goto out;
        }
        /* QEMU's vfio_load_setup: clear RUNNING, set RESUMING. */
        if (set_state(p, h, ~VFIO_DEVICE_STATE_MASK, VFIO_DEVICE_STATE_RESUMING) < 0)
                goto cleanup;

        for (;;) {
                uint8_t be[8];
                uint64_t n = 0;
                bool eof;

                r = read_all(fd, be, sizeof(be), &eof);
                if (r < 0) {
                        fprintf(stderr, "plugin-driver: truncated round header: %s\n", strerror(-r));
                        goto cleanup;
                }
                if (eof)
                        break;
                for (int i = 0; i < 8; i++)
                        n = n << 8 | be[i];
                for (uint64_t left = n; left > 0;) {
                        uint64_t sz = left <= chunk ? left : chunk;

                        r = read_all(fd, buf, sz, &eof);
                        if (r < 0 || eof) {
                                fprintf(stderr, "plugin-driver: stream truncated inside a round\n");
                                goto cleanup;
                        }
                        t0 = now_s();
                        r = p->ops->load(h, buf, sz);
                        op_time += now_s() - t0;
                        if (r != 0) {
                                fprintf(stderr, "plugin-driver: load(%" PRIu64 ") failed: %d\n", sz, r);
                                goto cleanup;
                        }
                        left -= sz;
                }
                total += n;
                rounds++;
        }

        /* QEMU's vfio_load_cleanup leaves RESUMING; the VM start sets RUNNING. */
        if (set_state(p, h, ~VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_RUNNING) < 0)
                goto cleanup;
        fprintf(stderr, "plugin-driver: loaded %" PRIu64 " bytes in %u rounds, %.3f s in plugin ops, %.1f MB/s\n",
                total, rounds, op_time, (double) total / 1e6 / (op_time + 1e-9));
        ret = EXIT_SUCCESS;
cleanup:
        if (p->ops->cleanup && p->ops->cleanup(h) != 0 && ret == EXIT_SUCCESS) {
                fprintf(stderr, "plugin-driver: cleanup failed\n");
                ret = EXIT_OP_FAILED;
        }
out:
        if (fd != STDIN_FILENO)
                (void) close(fd);
        return ret;
}

static int do_check(Plugin *p) {
        printf("api-version: %d\n", VFIO_LM_PLUGIN_API_VERSION);
        printf("cleanup: %s\n", p->ops->cleanup ? "yes" : "no");
        if (p->info) {
                printf("name: %s\n", p->info->name);
                printf("version: %s\n", p->info->version ? p->info->version : "");
                printf("precopy: %s\n", p->info->capabilities & MIGBROKER_PLUGIN_CAP_PRECOPY ? "yes" : "no");
                for (uint32_t i = 0; p->info->pci_ids && i < p->info->n_pci_ids; i++)
                        printf("pci-id: %04x:%04x\n", p->info->pci_ids[i].vendor, p->info->pci_ids[i].device);
        } else
                printf("info: none (pre-copy assumed)\n");
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        __attribute__((cleanup(args_clear))) Args a = { .max_stop_copy_rounds = 1000 };
        const GOptionEntry entries[] = {
                { "arg", 'a', 0, G_OPTION_ARG_STRING, &a.arg, "The plugin's init() argument", "ARG" },
                { "bdf", 'b', 0, G_OPTION_ARG_STRING, &a.bdf, "The device (default 0000:3b:00.1)", "BDF" },
                { "rounds", 'n', 0, G_OPTION_ARG_INT, &a.rounds, "save: pre-copy rounds before stop-copy (0: none)",
                  "N" },
                { "round-delay-ms", 0, 0, G_OPTION_ARG_INT, &a.round_delay_ms, "save: pause between pre-copy rounds",
                  "MS" },
                { "max-stop-copy-rounds", 0, 0, G_OPTION_ARG_INT, &a.max_stop_copy_rounds,
                  "save: give up when pending is not 0 after N stop-copy rounds (default 1000)", "N" },
                { "output", 'o', 0, G_OPTION_ARG_FILENAME, &a.output, "save: write the stream here (default -)",
                  "FILE" },
                { "input", 'i', 0, G_OPTION_ARG_FILENAME, &a.input, "load: read the stream here (default -)",
                  "FILE" },
                { "chunk", 'c', 0, G_OPTION_ARG_STRING, &a.chunk, "load: bytes per load() call (default 1M)",
                  "SIZE" },
                {}
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("check|save|load PLUGIN.so - drive a migration plugin");
        g_autoptr(GError) error = NULL;
        Plugin p;
        const char *cmd;
        int ret;

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "%s\n", error->message);
                return EXIT_USAGE;
        }
        if (argc != 3) {
                fprintf(stderr, "usage: plugin-driver check|save|load PLUGIN.so [OPTION...]\n");
                return EXIT_USAGE;
        }
        cmd = argv[1];
        if (!a.bdf)
                a.bdf = g_strdup("0000:3b:00.1");
        if (a.rounds < 0 || a.round_delay_ms < 0 || a.max_stop_copy_rounds <= 0) {
                fprintf(stderr, "plugin-driver: negative counts make no sense\n");
                return EXIT_USAGE;
        }
        if (strcmp(cmd, "check") != 0 && strcmp(cmd, "save") != 0 && strcmp(cmd, "load") != 0) {
                fprintf(stderr, "plugin-driver: unknown command '%s'\n", cmd);
                return EXIT_USAGE;
        }

        if (plugin_open(&p, argv[2]) < 0) {
                plugin_close(&p);
                return EXIT_REFUSED;
        }
        if (strcmp(cmd, "check") == 0)
                ret = do_check(&p);
        else if (strcmp(cmd, "save") == 0)
                ret = do_save(&p, &a);
        else
                ret = do_load(&p, &a);
        plugin_close(&p);
        return ret;
}
