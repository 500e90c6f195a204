/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "bdf.h"
#include "macro.h"
#include "pci-sysfs.h"

const char *mb_pci_sysfs_default_root(void) {
        const char *e = getenv(MB_ENV_SYSFS_ROOT);

        return e && *e ? e : MB_SYSFS_DEFAULT_ROOT;
}

static int read_id(const char *root, const char *bdf, const char *attr, uint16_t *ret) {
        g_autofree char *path = g_build_filename(root ? root : mb_pci_sysfs_default_root(), "bus/pci/devices", bdf, attr,
                                                 NULL);
        char buf[32], *end;
        unsigned long v;
        ssize_t n;
        _cleanup_close_ int fd = -1;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        if (strncmp(buf, "0x", 2) != 0 || !g_ascii_isxdigit(buf[2]))
                return -EBADMSG;
        errno = 0;
        v = strtoul(buf + 2, &end, 16);
        if (errno != 0 || v > 0xffff || (*end != '\0' && *end != '\n') || (*end == '\n' && end[1] != '\0'))
                return -EBADMSG;
        *ret = (uint16_t) v;
        return 0;
}

int mb_pci_sysfs_read_ids(const char *root, const char *bdf, uint16_t *ret_vendor, uint16_t *ret_device) {
        char norm[MB_BDF_STRLEN + 1];
        uint16_t vendor, device;
        int r;

        r = mb_bdf_normalize(bdf, norm);
        if (r < 0)
                return r;
        r = read_id(root, norm, "vendor", &vendor);
        if (r < 0)
                return r;
        r = read_id(root, norm, "device", &device);
        if (r < 0)
                return r;
        *ret_vendor = vendor;
        *ret_device = device;
        return 0;
}

static gint compare_str(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int mb_pci_sysfs_enumerate(const char *root, GPtrArray **ret) {
        g_autofree char *path = g_build_filename(root ? root : mb_pci_sysfs_default_root(), "bus/pci/devices", NULL);
        g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
        struct dirent *de;
        DIR *dir;

        dir = opendir(path);
        if (!dir)
                return -errno;
        while ((de = readdir(dir))) {
                char norm[MB_BDF_STRLEN + 1];
                if (mb_bdf_normalize(de->d_name, norm) == 0)
                        g_ptr_array_add(a, g_strdup(norm));
        }
        (void) closedir(dir);
        g_ptr_array_sort(a, compare_str);
        *ret = MB_TAKE_PTR(a);
        return 0;
}
