/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shim-ops: loads a seed-ABI plugin (meant for migbroker-qemu-shim.so), calls
 * init(BDF, ARG), then the ops named on the command line one by one, and
 * prints each result with its duration, for the failure tests of
 * tests/integration/qemu-shim.sh. plugin-driver runs whole migrations; this
 * runs single ops, including ones QEMU must never see succeed.
 *
 *   shim-ops PLUGIN.so BDF ARG OP...
 *
 * OP: get_state | update_pending | set_state=N | save=LEN | load=LEN |
 *     ready=FILE (write "ready" to FILE) | wait=FILE (wait up to 60 s until it exists)
 * "-uuid UUID" anywhere among the ops is skipped: it only puts the domain's
 * UUID on the command line, where the broker looks for the owning QEMU's.
 * Prints "OP r=R ms=T [value=V]" per op, "init failed" if init returns NULL,
 * and "fds before=N after=M" (open descriptors before init and after cleanup
 * and dlclose). Exit status: 0 all ops ran (whatever they returned), 1 init
 * failed, 2 usage, 3 the plugin was refused.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "migbroker/plugin.h"

static double now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        (void) closedir(d);
        return n - 1; /* the directory's own fd */
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;

        errno = 0;
        *ret = strtoull(s, &end, 0);
        return errno || end == s || *end ? -EINVAL : 0;
}

static int wait_file(const char *path) {
        for (int i = 0; i < 6000; i++) {
                if (access(path, F_OK) == 0)
                        return 0;
                (void) usleep(10 * 1000);
        }
        return -ETIMEDOUT;
}

static int run_op(VFIOMigrationPluginOps *ops, void *h, const char *op) {
        const char *eq = strchr(op, '=');
        size_t klen = eq ? (size_t) (eq - op) : strlen(op);
        double t0 = now_ms();
        uint64_t v = 0;
        uint32_t st = 0;
        int r;

#define IS(name) (klen == strlen(name) && strncmp(op, name, klen) == 0)
        if (IS("get_state")) {
                r = ops->get_state(h, &st);
                printf("%s r=%d ms=%.1f value=%" PRIu32 "\n", op, r, now_ms() - t0, st);
        } else if (IS("update_pending")) {
                r = ops->update_pending(h, &v);
                printf("%s r=%d ms=%.1f value=%" PRIu64 "\n", op, r, now_ms() - t0, v);
        } else if (IS("set_state") && eq && parse_u64(eq + 1, &v) == 0 && v <= UINT32_MAX) {
                r = ops->set_state(h, (uint32_t) v);
                printf("%s r=%d ms=%.1f\n", op, r, now_ms() - t0);
        } else if ((IS("save") || IS("load")) && eq && parse_u64(eq + 1, &v) == 0 && v <= (1u << 30)) {
                uint8_t *buf = calloc(1, v ? v : 1);

                if (!buf)
                        return -ENOMEM;
                t0 = now_ms();
                r = IS("save") ? ops->save(h, buf, v) : ops->load(h, buf, v);
                printf("%s r=%d ms=%.1f\n", op, r, now_ms() - t0);
                free(buf);
        } else if (IS("ready") && eq) {
                FILE *f = fopen(eq + 1, "we");

                if (!f)
                        return -errno;
                (void) fputs("ready\n", f);
                if (fclose(f) != 0)
                        return -EIO;
        } else if (IS("wait") && eq) {
                if (wait_file(eq + 1) < 0) {
                        fprintf(stderr, "shim-ops: %s never appeared\n", eq + 1);
                        return -ETIMEDOUT;
                }
        } else {
                fprintf(stderr, "shim-ops: unknown op '%s'\n", op);
                return -EINVAL;
        }
#undef IS
        (void) fflush(stdout);
        return 0;
}

int main(int argc, char **argv) {
        VFIOLMPluginGetVersion get_version;
        VFIOLMPluginGetOps get_ops;
        VFIOMigrationPluginOps *ops;
        void *dl, *h;
        int fds_before, ret = 0;

        if (argc < 4) {
                fprintf(stderr, "usage: shim-ops PLUGIN.so BDF ARG OP...\n");
                return 2;
        }
        /* Like QEMU: nothing about SIGPIPE is set up here; it keeps its default (death). */
        fds_before = count_fds();
        dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
                fprintf(stderr, "shim-ops: %s\n", dlerror());
                return 3;
        }
        get_version = (VFIOLMPluginGetVersion) dlsym(dl, MIGBROKER_SYM_GET_VERSION);
        get_ops = (VFIOLMPluginGetOps) dlsym(dl, MIGBROKER_SYM_GET_OPS);
        if (!get_version || !get_ops || get_version() != VFIO_LM_PLUGIN_API_VERSION || !(ops = get_ops())) {
                fprintf(stderr, "shim-ops: %s is not a seed-ABI plugin\n", argv[1]);
                (void) dlclose(dl);
                return 3;
        }

        {
                double t0 = now_ms();

                h = ops->init(argv[2], argv[3]);
                printf("init %s ms=%.1f\n", h ? "ok" : "failed", now_ms() - t0);
        }
        if (!h) {
                ret = 1;
        } else {
                for (int i = 4; i < argc; i++) {
                        if (strcmp(argv[i], "-uuid") == 0) {
                                i++;
                                continue;
                        }
                        if (run_op(ops, h, argv[i]) < 0) {
                                ret = 2;
                                break;
                        }
                }
                printf("cleanup r=%d\n", ops->cleanup ? ops->cleanup(h) : 0);
        }
        (void) dlclose(dl);
        printf("fds before=%d after=%d\n", fds_before, count_fds());
        return ret;
}
