/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events, beating the heartbeat, up to stall_ms. */
static int wait_ready(int fd, short events, const MbFdWaitPolicy *p) {
        int stall = p ? p->stall_ms : -1;
        uint64_t start = now_ms();

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = events };
                int slice = MB_FD_HEARTBEAT_MS, r;

                if (stall >= 0) {
                        uint64_t elapsed = now_ms() - start;
                        if (elapsed >= (uint64_t) stall)
                                return -ETIMEDOUT;
                        slice = (int) MB_MIN((uint64_t) slice, (uint64_t) stall - elapsed);
                }
                r = poll(&pfd, 1, slice);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r > 0) {
                        if (pfd.revents & POLLNVAL)
                                return -EBADF;
                        return 0; /* ready, or POLLERR/POLLHUP: the syscall reports it */
                }
                if (p && p->heartbeat)
                        p->heartbeat(p->userdata);
        }
}

/* After a failed I/O call (errno set): 0 to try again (interrupted, or fd
 * became ready for events), else the negative errno or the wait's error. */
static int retry_after(int fd, short events, const MbFdWaitPolicy *p) {
        if (errno == EINTR)
                return 0;
        if (errno == EAGAIN)
                return wait_ready(fd, events, p);
        return -errno;
}

int mb_fd_writev_all(int fd, struct iovec *iov, int iovcnt, const MbFdWaitPolicy *p) {
        while (iovcnt > 0) {
                ssize_t n;

                if (iov->iov_len == 0) {
                        iov++;
                        iovcnt--;
                        continue;
                }
                n = writev(fd, iov, MB_MIN(iovcnt, IOV_MAX));
                if (n < 0) {
                        int r = retry_after(fd, POLLOUT, p);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n == 0)
                        return -EIO;
                while (n > 0) {
                        size_t take = MB_MIN((size_t) n, iov->iov_len);
                        iov->iov_base = (uint8_t *) iov->iov_base + take;
                        iov->iov_len -= take;
                        n -= (ssize_t) take;
                        if (iov->iov_len == 0) {
                                iov++;
                                iovcnt--;
                        }
                }
        }
        return 0;
}

int mb_fd_vmsplice_all(int fd, const void *buf, size_t len, const MbFdWaitPolicy *p) {
        const uint8_t *b = buf;

        while (len > 0) {
                struct iovec iov = { (void *) b, len };
                ssize_t n = vmsplice(fd, &iov, 1, SPLICE_F_NONBLOCK);

                if (n < 0) {
                        int r = retry_after(fd, POLLOUT, p);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n == 0)
                        return -EIO;
                b += n;
                len -= (size_t) n;
        }
        return 0;
}

int mb_fd_write_all(int fd, const void *buf, size_t len, const MbFdWaitPolicy *p) {
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        return mb_fd_writev_all(fd, &iov, 1, p);
}

ssize_t mb_fd_read_some(int fd, void *buf, size_t len, const MbFdWaitPolicy *p) {
        for (;;) {
                ssize_t n = read(fd, buf, len);
                int r;

                if (n >= 0)
                        return n;
                r = retry_after(fd, POLLIN, p);
                if (r < 0)
                        return r;
        }
}

ssize_t mb_fd_read_full(int fd, void *buf, size_t len, const MbFdWaitPolicy *p) {
        size_t got = 0;

        while (got < len) {
                ssize_t n = mb_fd_read_some(fd, (uint8_t *) buf + got, len - got, p);
                if (n < 0)
                        return n;
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        return (ssize_t) got;
}

int mb_fd_grow_pipe(int fd, size_t want) {
        struct stat st;
        int cur, r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISFIFO(st.st_mode))
                return 0;
        cur = fcntl(fd, F_GETPIPE_SZ);
        if (cur < 0)
                return -errno;
        if ((size_t) cur >= want)
                return cur;
        if (want > INT_MAX)
                want = INT_MAX;
        r = fcntl(fd, F_SETPIPE_SZ, (int) want);
        if (r >= 0)
                return r;
        /* EPERM above pipe-max-size for unprivileged callers: try that limit. */
        {
                FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
                unsigned long max = 0;
                if (f) {
                        if (fscanf(f, "%lu", &max) != 1)
                                max = 0;
                        fclose(f);
                }
                if (max > (unsigned long) cur && max < want) {
                        r = fcntl(fd, F_SETPIPE_SZ, (int) max);
                        if (r >= 0)
                                return r;
                }
        }
        return cur;
}

const char *mb_fd_kind(int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return "closed fd";
        switch (st.st_mode & S_IFMT) {
        case S_IFIFO: return "pipe";
        case S_IFSOCK: return "socket";
        case S_IFREG: return "regular file";
        case S_IFCHR: return "character device";
        case S_IFBLK: return "block device";
        case S_IFDIR: return "directory";
        case S_IFLNK: return "symlink";
        default: return "unknown file type";
        }
}

int mb_fd_check_stream(int fd, bool for_writing) {
        struct stat st;
        int fl;

        if (fd < 0 || fstat(fd, &st) < 0)
                return -EBADF;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
                return -EINVAL;
        fl = fcntl(fd, F_GETFL);
        if (fl < 0)
                return -errno;
        /* O_PATH shows O_RDONLY, but neither reads nor writes. */
        if (fl & O_PATH)
                return -EBADF;
        if (for_writing && (fl & O_ACCMODE) == O_RDONLY)
                return -EBADF;
        if (!for_writing && (fl & O_ACCMODE) == O_WRONLY)
                return -EBADF;
        return 0;
}

static bool in_list(int fd, const int *keep, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (keep[i] == fd)
                        return true;
        return false;
}

int mb_fd_close_all_except(const int *keep, size_t n_keep) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int dfd;

        if (!d) {
                /* No /proc: close a generous range one by one. */
                long max = sysconf(_SC_OPEN_MAX);
                if (max < 0)
                        max = 65536;
                for (int fd = 3; fd < max; fd++)
                        if (!in_list(fd, keep, n_keep))
                                (void) close(fd);
                return 0;
        }
        dfd = dirfd(d);
        while ((de = readdir(d))) {
                char *end;
                long fd;

                if (de->d_name[0] == '.')
                        continue;
                errno = 0;
                fd = strtol(de->d_name, &end, 10);
                if (errno || *end || fd < 3 || fd == dfd || in_list((int) fd, keep, n_keep))
                        continue;
                (void) close((int) fd);
        }
        closedir(d);
        return 0;
}

int mb_fd_set_cloexec(int fd, bool on) {
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0)
                return -errno;
        fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
        if (fcntl(fd, F_SETFD, fl) < 0)
                return -errno;
        return 0;
}

int mb_fd_set_nonblock(int fd, bool on) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
                return -errno;
        fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
        if (fcntl(fd, F_SETFL, fl) < 0)
                return -errno;
        return 0;
}
