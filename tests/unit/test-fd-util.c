/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/fd-util.c: stalls bounded, heartbeats, EPIPE, pipe sizing, fd kinds,
 * closing stray fds; with real pipes, files and sockets. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fd-util.h"

static unsigned beats;
static void beat(void *ud) {
        beats++;
}

static void test_stall_bounded(void **state) {
        MbFdWaitPolicy p = { .stall_ms = 250, .heartbeat = beat };
        static uint8_t big[4 << 20];
        char buf[16];
        int fds[2];

        assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        beats = 0;
        /* Nobody reads: the write stalls, heartbeats come, then ETIMEDOUT. */
        assert_int_equal(mb_fd_write_all(fds[1], big, sizeof(big), &p), -ETIMEDOUT);
        assert_true(beats >= 1);
        /* Nobody writes: the read stalls the same way. */
        close(fds[1]);
        assert_int_equal(pipe2(fds + 0, O_NONBLOCK | O_CLOEXEC), 0);
        assert_int_equal(mb_fd_read_some(fds[0], buf, sizeof(buf), &p), -ETIMEDOUT);
        close(fds[0]);
        close(fds[1]);
}

static void test_epipe_and_eof(void **state) {
        int fds[2];
        char buf[8];

        signal(SIGPIPE, SIG_IGN);
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        close(fds[0]);
        assert_int_equal(mb_fd_write_all(fds[1], "abc", 3, NULL), -EPIPE);
        close(fds[1]);

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        assert_int_equal(write(fds[1], "abc", 3), 3);
        close(fds[1]);
        /* read_full stops at EOF and says how much it got. */
        assert_int_equal(mb_fd_read_full(fds[0], buf, sizeof(buf), NULL), 3);
        assert_int_equal(mb_fd_read_some(fds[0], buf, sizeof(buf), NULL), 0);
        close(fds[0]);
}

static void test_writev_partial(void **state) {
        int sv[2];
        uint8_t a[70000], b[70000], got[140000];
        struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
        size_t n = 0;
        pid_t pid;

        memset(a, 'a', sizeof(a));
        memset(b, 'b', sizeof(b));
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(mb_fd_set_nonblock(sv[0], true), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* A slow reader: partial writes and EAGAIN on the other side. */
                close(sv[0]);
                while (n < sizeof(got)) {
                        ssize_t k = read(sv[1], got + n, 1000);
                        if (k <= 0)
                                _exit(2);
                        n += (size_t) k;
                        usleep(100);
                }
                _exit(memcmp(got, a, sizeof(a)) == 0 && memcmp(got + sizeof(a), b, sizeof(b)) == 0 ? 0 : 3);
        }
        close(sv[1]);
        MbFdWaitPolicy p = { .stall_ms = 5000 };
        assert_int_equal(mb_fd_writev_all(sv[0], iov, 2, &p), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        close(sv[0]);
}

static void test_grow_pipe(void **state) {
        int fds[2], r;
        char path[] = "/tmp/test-fd-util.XXXXXX";
        int f = mkstemp(path);

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        r = mb_fd_grow_pipe(fds[1], 1 << 20);
        assert_true(r >= 1 << 20);
        assert_true(fcntl(fds[0], F_GETPIPE_SZ) >= 1 << 20);
        /* Already big enough: unchanged. */
        assert_int_equal(mb_fd_grow_pipe(fds[1], 4096), r);
        /* Not a pipe. */
        assert_int_equal(mb_fd_grow_pipe(f, 1 << 20), 0);
        close(fds[0]);
        close(fds[1]);
        close(f);
        unlink(path);
}

static void test_kinds(void **state) {
        int fds[2], sv[2], dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int ro = open("/dev/null", O_RDONLY | O_CLOEXEC), wo = open("/dev/null", O_WRONLY | O_CLOEXEC);

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_string_equal(mb_fd_kind(fds[0]), "pipe");
        assert_string_equal(mb_fd_kind(sv[0]), "socket");
        assert_string_equal(mb_fd_kind(dfd), "directory");
        assert_string_equal(mb_fd_kind(ro), "character device");
        assert_string_equal(mb_fd_kind(9999), "closed fd");
        assert_int_equal(mb_fd_check_stream(fds[1], true), 0);
        assert_int_equal(mb_fd_check_stream(fds[0], false), 0);
        assert_int_equal(mb_fd_check_stream(sv[0], true), 0);
        assert_int_equal(mb_fd_check_stream(dfd, true), -EISDIR);
        assert_int_equal(mb_fd_check_stream(ro, true), -EBADF);
        assert_int_equal(mb_fd_check_stream(wo, false), -EBADF);
        assert_int_equal(mb_fd_check_stream(9999, true), -EBADF);
        assert_int_equal(mb_fd_check_stream(-1, true), -EBADF);
        /* O_PATH: F_GETFL says O_RDONLY, yet read() fails with EBADF. */
        {
                int po = open("/dev/null", O_PATH | O_CLOEXEC);
                assert_true(po >= 0);
                assert_int_equal(mb_fd_check_stream(po, false), -EBADF);
                assert_int_equal(mb_fd_check_stream(po, true), -EBADF);
                close(po);
        }
        close(fds[0]);
        close(fds[1]);
        close(sv[0]);
        close(sv[1]);
        close(dfd);
        close(ro);
        close(wo);
}

static void test_close_all_except(void **state) {
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0) {
                int keep = open("/dev/null", O_RDONLY);
                int drop1 = open("/dev/null", O_RDONLY), drop2 = dup(drop1);
                mb_fd_close_all_except(&keep, 1);
                _exit(fcntl(keep, F_GETFD) >= 0 && fcntl(drop1, F_GETFD) < 0 && fcntl(drop2, F_GETFD) < 0 &&
                      fcntl(0, F_GETFD) >= 0 ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stall_bounded),
                cmocka_unit_test(test_epipe_and_eof),
                cmocka_unit_test(test_writev_partial),
                cmocka_unit_test(test_grow_pipe),
                cmocka_unit_test(test_kinds),
                cmocka_unit_test(test_close_all_except),
        };
        return cmocka_run_group_tests_name("fd-util", tests, NULL, NULL);
}
