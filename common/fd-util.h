/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd-util.h: blocking-style I/O on file descriptors that may be non-blocking
 * (they come from other processes), with a bound on how long a stall may last,
 * plus pipe sizing and fd hygiene for spawned processes. No framing, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Called while waiting for a slow peer, about every MB_FD_HEARTBEAT_MS; may be NULL. */
typedef void (*MbFdHeartbeat)(void *userdata);
#define MB_FD_HEARTBEAT_MS 100

typedef struct MbFdWaitPolicy {
        int stall_ms;             /* give up with -ETIMEDOUT after this long without progress; <0: never */
        MbFdHeartbeat heartbeat;
        void *userdata;
} MbFdWaitPolicy;

/* Writes all of iov (modified in place). 0, or -errno (-EPIPE when the reader
 * went away, -ETIMEDOUT on a stall, -ENOSPC on a full disk). */
int mb_fd_writev_all(int fd, struct iovec *iov, int iovcnt, const MbFdWaitPolicy *p);
int mb_fd_write_all(int fd, const void *buf, size_t len, const MbFdWaitPolicy *p);
/* Maps buf's pages into the pipe fd (vmsplice, non-blocking, waiting as
 * above). The pipe holds references to buf, not copies: buf must not change
 * until the reader has consumed those bytes. */
int mb_fd_vmsplice_all(int fd, const void *buf, size_t len, const MbFdWaitPolicy *p);

/* Reads up to len bytes, at least 1 unless at EOF. >0 bytes, 0 at EOF, -errno. */
ssize_t mb_fd_read_some(int fd, void *buf, size_t len, const MbFdWaitPolicy *p);
/* Reads exactly len bytes unless EOF comes first: returns the count read. */
ssize_t mb_fd_read_full(int fd, void *buf, size_t len, const MbFdWaitPolicy *p);

/* If fd is a pipe, raise its size towards want (capped by the system's
 * pipe-max-size for unprivileged callers). Returns the new size, 0 if fd is not
 * a pipe, or -errno. */
int mb_fd_grow_pipe(int fd, size_t want);

/* "pipe", "socket", "regular file", "character device", "directory", ... for messages;
 * and a check that fd is usable for a stream: a pipe/FIFO, a socket, a regular
 * file or a character device; -EBADF for a closed fd, -EISDIR, -EINVAL otherwise. */
const char *mb_fd_kind(int fd);
int mb_fd_check_stream(int fd, bool for_writing);

/* Closes every fd >= 3 that is not in keep[]. */
int mb_fd_close_all_except(const int *keep, size_t n_keep);

int mb_fd_set_cloexec(int fd, bool on);
int mb_fd_set_nonblock(int fd, bool on);
