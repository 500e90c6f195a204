/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker's data path (worker/worker-stream.c) against an in-process
 * memory plugin: framed and raw saves, sessions, caps, the checks on what the
 * plugin reports, and loads of every format, through real pipes and files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "error.h"
#include "stream.h"
#include "worker-proto.h"
#include "worker-stream.h"

/* ---- a memory plugin ---------------------------------------------------- */

typedef struct Mem {
        uint8_t *state;
        uint64_t size;
        uint64_t sent;          /* bytes saved so far */
        uint64_t extra;         /* bytes "dirtied" that update_pending adds once */
        uint8_t *loaded;
        uint64_t loaded_len;
        uint32_t n_save_calls;
        uint32_t max_save_len;
        uint32_t n_load_calls;
        uint32_t load_lens[64];
        int grow_in_stopcopy;   /* update_pending grows each call */
        int stuck;              /* update_pending reports the whole size, always */
        int implausible;        /* update_pending reports 2^50 */
        int save_fail_at;       /* save() fails on this call number (1-based), 0 never */
} Mem;

static Mem M;

static int mem_update_pending(void *h, uint64_t *p) {
        if (M.implausible) {
                *p = UINT64_C(1) << 50;
                return 0;
        }
        if (M.stuck) {
                *p = M.size;
                return 0;
        }
        if (M.grow_in_stopcopy) {
                M.extra += 4096;
                *p = M.size - M.sent + M.extra;
                return 0;
        }
        *p = M.size - M.sent;
        return 0;
}

static int mem_save(void *h, uint8_t *buf, uint64_t len) {
        M.n_save_calls++;
        if (M.save_fail_at && M.n_save_calls == (uint32_t) M.save_fail_at)
                return -EIO;
        if (M.stuck)
                M.sent = 0;
        if (len > M.size - M.sent + M.extra)
                return -EINVAL;
        for (uint64_t i = 0; i < len; i++)
                buf[i] = M.sent + i < M.size ? M.state[M.sent + i] : 0xee;
        M.sent += len;
        if (M.sent > M.size) {
                M.extra -= M.sent - M.size;
                M.sent = M.size;
        }
        if (len > M.max_save_len)
                M.max_save_len = (uint32_t) len;
        return 0;
}

static int mem_load(void *h, uint8_t *buf, uint64_t len) {
        M.loaded = realloc(M.loaded, M.loaded_len + len);
        memcpy(M.loaded + M.loaded_len, buf, len);
        M.loaded_len += len;
        if (M.n_load_calls < 64)
                M.load_lens[M.n_load_calls] = (uint32_t) len;
        M.n_load_calls++;
        return 0;
}

static void *mem_init(char *d, char *a) { return &M; }
static int mem_set_state(void *h, uint32_t v) { return 0; }
static int mem_get_state(void *h, uint32_t *v) { *v = 1; return 0; }

static const VFIOMigrationPluginOps mem_ops = {
        .init = mem_init, .save = mem_save, .load = mem_load, .update_pending = mem_update_pending,
        .set_state = mem_set_state, .get_state = mem_get_state,
};

static MbPlugin plugin = { .ops = &mem_ops, .name = "memtest", .capabilities = MIGBROKER_PLUGIN_CAP_PRECOPY };
static char errbuf[512];
static unsigned progress_calls;

static void on_progress(void *ud, uint64_t bytes) {
        progress_calls++;
}

static MbWorkerStreamCtx ctx(void) {
        errbuf[0] = '\0';
        return (MbWorkerStreamCtx) { .plugin = &plugin, .handle = &M, .bdf = "0000:3b:00.1",
                                     .progress = on_progress, .errbuf = errbuf, .errlen = sizeof(errbuf) };
}

static void mem_reset(uint64_t size) {
        free(M.state);
        free(M.loaded);
        memset(&M, 0, sizeof(M));
        M.size = size;
        M.state = malloc(size ? size : 1);
        for (uint64_t i = 0; i < size; i++)
                M.state[i] = (uint8_t) (i * 31 + (i >> 9));
}

static int tmpfile_fd(void) {
        char path[] = "/tmp/test-worker-stream.XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        return fd;
}

static uint8_t *slurp(int fd, size_t *len) {
        off_t end = lseek(fd, 0, SEEK_END);
        uint8_t *b = malloc((size_t) end + 1);
        assert_true(pread(fd, b, (size_t) end, 0) == end);
        *len = (size_t) end;
        return b;
}

static int teardown(void **state) {
        free(M.state);
        free(M.loaded);
        memset(&M, 0, sizeof(M));
        return 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_framed_save_and_load(void **state) {
        MbSaveSession s = {};
        MbLoadSession l = {};
        MbSaveResult res;
        MbLoadResult lres;
        MbWorkerStreamCtx c = ctx();
        int fd = tmpfile_fd(), rfd;
        uint64_t size = 3 * MB_WORKER_FRAMED_CHUNK + 12345;
        uint8_t *orig;

        mem_reset(size);
        orig = malloc(size);
        memcpy(orig, M.state, size);

        /* A pre-copy round of everything, then stop-copy with nothing left. */
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0, MB_WORKER_SAVE_BEGIN, 1000, &res), 0);
        assert_int_equal(res.records, 4);
        assert_int_equal(res.pending_after, 0);
        assert_false(res.ended);
        /* Framed records fill MB_WORKER_CHUNK with their headers. */
        assert_int_equal(M.max_save_len, MB_WORKER_FRAMED_CHUNK);
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0,
                                        MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000, &res), 0);
        assert_true(res.ended);
        assert_int_equal(res.bytes, MB_STREAM_END_RECORD_LEN);
        /* The session ended: another call is refused. */
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0, 0, 1000, &res), -EINVAL);
        assert_non_null(strstr(errbuf, "already ended"));
        assert_true(progress_calls > 0);

        /* Load it back: one load() per record, same bytes. */
        rfd = open("/dev/null", O_RDONLY);
        close(rfd);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        c = ctx();
        assert_int_equal(mb_worker_load(&c, &l, fd, MB_STREAM_FORMAT_FRAMED, MB_WORKER_LOAD_BEGIN, 1000, &lres), 0);
        assert_true(lres.ended);
        assert_int_equal(lres.records, 4);
        assert_int_equal(M.loaded_len, size);
        assert_memory_equal(M.loaded, orig, size);
        assert_int_equal(M.load_lens[0], MB_WORKER_FRAMED_CHUNK);
        assert_int_equal(M.load_lens[3], 12345);
        assert_int_equal(mb_worker_load_finish(&c, &l, &lres), 0);

        mb_save_session_reset(&s);
        mb_load_session_reset(&l);
        free(orig);
        close(fd);
}

static void test_raw_rounds_and_max_bytes(void **state) {
        MbSaveSession s = {};
        MbSaveResult res;
        MbWorkerStreamCtx c = ctx();
        int fd = tmpfile_fd();
        size_t len;
        uint8_t *b;

        mem_reset(10000);
        /* max-bytes caps one call: a round header says what follows. */
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_RAW, 4096, MB_WORKER_SAVE_BEGIN, 1000, &res), 0);
        assert_int_equal(res.bytes, 8 + 4096);
        assert_int_equal(res.pending_after, 10000 - 4096);
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_RAW, 0,
                                        MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000, &res), 0);
        assert_int_equal(res.bytes, 8 + 10000 - 4096);
        assert_true(res.ended);

        b = slurp(fd, &len);
        assert_int_equal(len, 8 + 4096 + 8 + 5904);
        /* be64 4096, then the bytes; be64 5904, then the rest: seed 000's save_buffer. */
        assert_int_equal(b[6], 0x10);
        assert_int_equal(b[7], 0x00);
        assert_memory_equal(b + 8, M.state, 4096);
        assert_int_equal((b[8 + 4096 + 6] << 8) | b[8 + 4096 + 7], 5904);
        assert_memory_equal(b + 8 + 4096 + 8, M.state + 4096, 5904);
        free(b);
        mb_save_session_reset(&s);
        close(fd);
}

static void test_format_cannot_change(void **state) {
        MbSaveSession s = {};
        MbSaveResult res;
        MbWorkerStreamCtx c = ctx();
        int fd = tmpfile_fd();

        mem_reset(100);
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 10, MB_WORKER_SAVE_BEGIN, 1000, &res), 0);
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_RAW, 10, 0, 1000, &res), -EINVAL);
        assert_non_null(strstr(errbuf, "cannot change its format"));
        mb_save_session_reset(&s);
        /* No session at all. */
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0, 0, 1000, &res), -EINVAL);
        assert_non_null(strstr(errbuf, "no save session"));
        close(fd);
}

static void test_pending_checks(void **state) {
        MbSaveSession s = {};
        MbSaveResult res;
        MbWorkerStreamCtx c = ctx();
        int fd = tmpfile_fd();

        mem_reset(1000);
        M.implausible = 1;
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0, MB_WORKER_SAVE_BEGIN, 1000, &res),
                         -MB_EPLUGINFAILED);
        assert_non_null(strstr(errbuf, "implausible"));
        mb_save_session_reset(&s);

        mem_reset(1000);
        M.grow_in_stopcopy = 1;
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0,
                                        MB_WORKER_SAVE_BEGIN | MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000,
                                        &res),
                         -MB_EPLUGINFAILED);
        assert_non_null(strstr(errbuf, "grew in stop-copy"));
        mb_save_session_reset(&s);

        /* Stop-copy capped by max-bytes is many calls: what is pending may
         * not grow from one to the next either (it would never end). */
        mem_reset(1000);
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 300,
                                        MB_WORKER_SAVE_BEGIN | MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000,
                                        &res),
                         0);
        assert_int_equal(res.pending_after, 700);
        M.stuck = 1;
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 300,
                                        MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000, &res),
                         -MB_EPLUGINFAILED);
        assert_non_null(strstr(errbuf, "grew in stop-copy: 1000 reported after 300 of the 1000"));
        /* A session that failed part-way takes no more calls. */
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 300,
                                        MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000, &res),
                         -EINVAL);
        assert_non_null(strstr(errbuf, "failed part-way"));
        mb_save_session_reset(&s);

        /* ... and a plugin that keeps its pending while saving fails at once. */
        mem_reset(1000);
        M.stuck = 1;
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 300,
                                        MB_WORKER_SAVE_BEGIN | MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000,
                                        &res),
                         -MB_EPLUGINFAILED);
        assert_non_null(strstr(errbuf, "grew in stop-copy: 1000 reported after 300 of the 1000"));
        mb_save_session_reset(&s);

        /* A well-behaved plugin saved 300 bytes a call ends in the fourth. */
        mem_reset(1000);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 300,
                                                (i == 0 ? MB_WORKER_SAVE_BEGIN : 0) | MB_WORKER_SAVE_UNTIL_EMPTY |
                                                        MB_WORKER_SAVE_END,
                                                1000, &res),
                                 0);
                assert_int_equal(res.ended, i == 3);
        }
        mb_save_session_reset(&s);

        mem_reset(3 * MB_WORKER_CHUNK);
        M.save_fail_at = 2;
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0, MB_WORKER_SAVE_BEGIN, 1000, &res),
                         -MB_EPLUGINFAILED);
        assert_non_null(strstr(errbuf, "save(1048560 bytes) failed"));
        mb_save_session_reset(&s);
        close(fd);
}

static void test_reader_gone_and_stall(void **state) {
        MbSaveSession s = {};
        MbSaveResult res;
        MbWorkerStreamCtx c = ctx();
        int p[2];

        /* The reader closed its end: EPIPE, named. */
        mem_reset(8 * MB_WORKER_CHUNK);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        assert_int_equal(mb_worker_save(&c, &s, p[1], MB_STREAM_FORMAT_FRAMED, 0, MB_WORKER_SAVE_BEGIN, 1000, &res),
                         -EPIPE);
        assert_non_null(strstr(errbuf, "reader of the stream went away"));
        close(p[1]);
        mb_save_session_reset(&s);

        /* Nobody reads a non-blocking pipe: a stall after stall_ms, with heartbeats meanwhile. */
        mem_reset(8 * MB_WORKER_CHUNK);
        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        progress_calls = 0;
        assert_int_equal(mb_worker_save(&c, &s, p[1], MB_STREAM_FORMAT_FRAMED, 0, MB_WORKER_SAVE_BEGIN, 300, &res),
                         -ETIMEDOUT);
        assert_non_null(strstr(errbuf, "stalled"));
        assert_true(progress_calls >= 2);
        close(p[0]);
        close(p[1]);
        mb_save_session_reset(&s);
}

static void test_wrong_fds(void **state) {
        MbSaveSession s = {};
        MbLoadSession l = {};
        MbSaveResult res;
        MbLoadResult lres;
        MbWorkerStreamCtx c = ctx();
        int dfd = open("/tmp", O_RDONLY | O_DIRECTORY), rofd = open("/dev/null", O_RDONLY);

        mem_reset(10);
        assert_int_equal(mb_worker_save(&c, &s, dfd, MB_STREAM_FORMAT_FRAMED, 0, MB_WORKER_SAVE_BEGIN, 100, &res),
                         -EISDIR);
        assert_int_equal(mb_worker_save(&c, &s, rofd, MB_STREAM_FORMAT_FRAMED, 0, MB_WORKER_SAVE_BEGIN, 100, &res),
                         -EBADF);
        assert_non_null(strstr(errbuf, "not open for writing"));
        assert_int_equal(mb_worker_save(&c, &s, 987, MB_STREAM_FORMAT_FRAMED, 0, MB_WORKER_SAVE_BEGIN, 100, &res),
                         -EBADF);
        assert_int_equal(mb_worker_load(&c, &l, dfd, MB_STREAM_FORMAT_FRAMED, MB_WORKER_LOAD_BEGIN, 100, &lres),
                         -EISDIR);
        close(dfd);
        close(rofd);
}

static void test_load_corrupt_and_incomplete(void **state) {
        MbSaveSession s = {};
        MbLoadSession l = {};
        MbSaveResult res;
        MbLoadResult lres;
        MbWorkerStreamCtx c = ctx();
        int fd = tmpfile_fd(), fd2;
        size_t len;
        uint8_t *b;

        mem_reset(5000);
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0,
                                        MB_WORKER_SAVE_BEGIN | MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000,
                                        &res),
                         0);
        b = slurp(fd, &len);

        /* Flip a payload bit: StreamCorrupt with the reader's reason. */
        fd2 = tmpfile_fd();
        b[len - MB_STREAM_END_RECORD_LEN - 10] ^= 0x04;
        assert_int_equal(write(fd2, b, len), (ssize_t) len);
        assert_int_equal(lseek(fd2, 0, SEEK_SET), 0);
        assert_int_equal(mb_worker_load(&c, &l, fd2, MB_STREAM_FORMAT_FRAMED, MB_WORKER_LOAD_BEGIN, 1000, &lres),
                         -MB_ESTREAMCORRUPT);
        assert_non_null(strstr(errbuf, "CRC"));
        close(fd2);
        b[len - MB_STREAM_END_RECORD_LEN - 10] ^= 0x04;

        /* Without the end record: loads fine, but finish refuses. */
        fd2 = tmpfile_fd();
        assert_int_equal(write(fd2, b, len - MB_STREAM_END_RECORD_LEN), (ssize_t) (len - MB_STREAM_END_RECORD_LEN));
        assert_int_equal(lseek(fd2, 0, SEEK_SET), 0);
        assert_int_equal(mb_worker_load(&c, &l, fd2, MB_STREAM_FORMAT_FRAMED, MB_WORKER_LOAD_BEGIN, 1000, &lres), 0);
        assert_false(lres.ended);
        assert_int_equal(mb_worker_load_finish(&c, &l, &lres), -MB_ESTREAMCORRUPT);
        assert_non_null(strstr(errbuf, "incomplete"));
        close(fd2);

        /* Data after the end record. */
        fd2 = tmpfile_fd();
        assert_int_equal(write(fd2, b, len), (ssize_t) len);
        assert_int_equal(write(fd2, "x", 1), 1);
        assert_int_equal(lseek(fd2, 0, SEEK_SET), 0);
        assert_int_equal(mb_worker_load(&c, &l, fd2, MB_STREAM_FORMAT_FRAMED, MB_WORKER_LOAD_BEGIN, 1000, &lres),
                         -MB_ESTREAMCORRUPT);
        assert_non_null(strstr(errbuf, "after the end record"));
        /* ... and the session stays failed: finish does not call it complete. */
        assert_int_equal(mb_worker_load_finish(&c, &l, &lres), -MB_ESTREAMCORRUPT);
        assert_false(lres.ended);
        close(fd2);

        /* Two calls may feed one session: split the stream in two files. */
        for (size_t cut = 1; cut < len; cut += len / 7) {
                int a = tmpfile_fd(), z = tmpfile_fd();
                free(M.loaded);
                M.loaded = NULL;
                M.loaded_len = 0;
                assert_int_equal(write(a, b, cut), (ssize_t) cut);
                assert_int_equal(write(z, b + cut, len - cut), (ssize_t) (len - cut));
                lseek(a, 0, SEEK_SET);
                lseek(z, 0, SEEK_SET);
                assert_int_equal(mb_worker_load(&c, &l, a, MB_STREAM_FORMAT_FRAMED, MB_WORKER_LOAD_BEGIN, 1000, &lres), 0);
                assert_int_equal(mb_worker_load(&c, &l, z, MB_STREAM_FORMAT_FRAMED, 0, 1000, &lres), 0);
                assert_true(lres.ended);
                assert_int_equal(mb_worker_load_finish(&c, &l, &lres), 0);
                assert_int_equal(M.loaded_len, 5000);
                close(a);
                close(z);
        }
        free(b);
        mb_save_session_reset(&s);
        mb_load_session_reset(&l);
        close(fd);
}

static void test_other_plugin_refused(void **state) {
        MbSaveSession s = {};
        MbLoadSession l = {};
        MbSaveResult res;
        MbLoadResult lres;
        MbWorkerStreamCtx c = ctx();
        int fd = tmpfile_fd();

        mem_reset(100);
        assert_int_equal(mb_worker_save(&c, &s, fd, MB_STREAM_FORMAT_FRAMED, 0,
                                        MB_WORKER_SAVE_BEGIN | MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END, 1000,
                                        &res),
                         0);
        lseek(fd, 0, SEEK_SET);
        snprintf(plugin.name, sizeof(plugin.name), "%s", "otherplugin");
        assert_int_equal(mb_worker_load(&c, &l, fd, MB_STREAM_FORMAT_FRAMED, MB_WORKER_LOAD_BEGIN, 1000, &lres),
                         -MB_ESTREAMCORRUPT);
        assert_non_null(strstr(errbuf, "memtest"));
        snprintf(plugin.name, sizeof(plugin.name), "%s", "memtest");
        mb_save_session_reset(&s);
        mb_load_session_reset(&l);
        close(fd);
}

/* The reader of a zero-copy save: reads slowly in odd sizes, or splices the
 * pipe's pages onward into a chain of pipes and reads them only after the
 * save ended. Splicing moves the references to the worker's pages: had the
 * worker written into a page again once it went to the pipe, the chain would
 * show it. Writes what it got to out. */
static void zero_copy_reader(int in, int out, bool splicing) {
        enum { CHAIN = 32 };
        int chain[CHAIN][2], used = 0;
        uint8_t buf[5003];
        unsigned n_reads = 0;
        ssize_t n;

        if (!splicing) {
                while ((n = read(in, buf, sizeof(buf))) > 0) {
                        if (write(out, buf, (size_t) n) != n)
                                _exit(2);
                        if (++n_reads % 64 == 0)
                                usleep(200);
                }
                _exit(n == 0 ? 0 : 3);
        }
        for (int i = 0; i < CHAIN; i++) {
                if (pipe2(chain[i], O_CLOEXEC | O_NONBLOCK) < 0)
                        _exit(4);
                (void) fcntl(chain[i][1], F_SETPIPE_SZ, 1024 * 1024);
        }
        for (;;) {
                struct pollfd pfd;

                n = splice(in, NULL, chain[used][1], NULL, 1 << 20, SPLICE_F_NONBLOCK);
                if (n > 0)
                        continue;
                if (n == 0)
                        break; /* EOF: the save ended */
                if (errno != EAGAIN)
                        _exit(7);
                /* This pipe of the chain is full: on to the next one. */
                pfd = (struct pollfd) { .fd = chain[used][1], .events = POLLOUT };
                if (poll(&pfd, 1, 0) == 0) {
                        if (++used == CHAIN)
                                _exit(6);
                        continue;
                }
                /* Or nothing to move yet. */
                pfd = (struct pollfd) { .fd = in, .events = POLLIN };
                if (poll(&pfd, 1, 5000) <= 0)
                        _exit(5);
        }
        for (int i = 0; i <= used && i < CHAIN; i++) {
                close(chain[i][1]);
                while ((n = read(chain[i][0], buf, sizeof(buf))) > 0)
                        if (write(out, buf, (size_t) n) != n)
                                _exit(2);
        }
        _exit(0);
}

/* Zero-copy: records vmspliced into a pipe arrive exactly as a plain save
 * writes them, framed and raw, whatever the reader does with the pages
 * (gift-pages.h). Into a file the flag changes nothing. */
static void zero_copy_one(MbStreamFormat format, uint64_t size, bool splicing) {
        MbSaveSession s = {};
        MbSaveResult res;
        MbWorkerStreamCtx c = ctx();
        uint32_t all = MB_WORKER_SAVE_BEGIN | MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END;
        int plain = tmpfile_fd(), spliced = tmpfile_fd(), filed = tmpfile_fd(), p[2], status;
        size_t plain_len, spliced_len, filed_len;
        uint8_t *a, *b, *f;
        pid_t pid;

        mem_reset(size);
        assert_int_equal(mb_worker_save(&c, &s, plain, format, 0, all, 1000, &res), 0);
        mb_save_session_reset(&s);

        mem_reset(size);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[1]);
                zero_copy_reader(p[0], spliced, splicing);
        }
        close(p[0]);
        assert_int_equal(mb_worker_save(&c, &s, p[1], format, 0, all | MB_WORKER_SAVE_ZERO_COPY, 5000, &res), 0);
        assert_true(res.ended);
        mb_save_session_reset(&s);
        close(p[1]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        mem_reset(size);
        assert_int_equal(mb_worker_save(&c, &s, filed, format, 0, all | MB_WORKER_SAVE_ZERO_COPY, 1000, &res), 0);
        mb_save_session_reset(&s);

        a = slurp(plain, &plain_len);
        b = slurp(spliced, &spliced_len);
        f = slurp(filed, &filed_len);
        assert_int_equal(spliced_len, plain_len);
        assert_memory_equal(b, a, plain_len);
        assert_int_equal(filed_len, plain_len);
        assert_memory_equal(f, a, plain_len);
        free(a);
        free(b);
        free(f);
        close(plain);
        close(spliced);
        close(filed);
}

static void test_zero_copy(void **state) {
        zero_copy_one(MB_STREAM_FORMAT_FRAMED, 9 * MB_WORKER_CHUNK + 777, false);
        zero_copy_one(MB_STREAM_FORMAT_RAW, 9 * MB_WORKER_CHUNK + 777, false);
        zero_copy_one(MB_STREAM_FORMAT_FRAMED, 9 * MB_WORKER_CHUNK + 777, true);
        zero_copy_one(MB_STREAM_FORMAT_RAW, 9 * MB_WORKER_CHUNK + 777, true);
}

/* Without huge pages for this process the records are copied, and the
 * stream is the same. */
static void test_zero_copy_without_huge_pages(void **state) {
        assert_int_equal(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
        zero_copy_one(MB_STREAM_FORMAT_FRAMED, 5 * MB_WORKER_CHUNK + 3, true);
        zero_copy_one(MB_STREAM_FORMAT_RAW, 5 * MB_WORKER_CHUNK + 3, false);
        assert_int_equal(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0), 0);
}

/* A plugin that mlockall(MCL_FUTURE)s its worker: the gift pages are
 * mapped locked (or not at all under RLIMIT_MEMLOCK), yet a zero-copy save
 * still delivers the whole stream, spliced or copied. In a child, so that
 * the lock stays there. */
static void test_zero_copy_locked_worker(void **state) {
        MbSaveSession s = {};
        MbSaveResult res;
        MbWorkerStreamCtx c = ctx();
        uint64_t size = 9 * MB_WORKER_CHUNK + 5, got = 0;
        int p[2], status;
        uint8_t buf[65536];
        ssize_t n;
        pid_t pid;

        if (getenv("MB_SANITIZERS") && strcmp(getenv("MB_SANITIZERS"), "yes") == 0)
                skip(); /* a locked ASan shadow is not what this tests */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                mem_reset(size);
                if (mlockall(MCL_FUTURE) < 0)
                        _exit(77);
                _exit(mb_worker_save(&c, &s, p[1], MB_STREAM_FORMAT_FRAMED, 0,
                                     MB_WORKER_SAVE_BEGIN | MB_WORKER_SAVE_UNTIL_EMPTY | MB_WORKER_SAVE_END |
                                             MB_WORKER_SAVE_ZERO_COPY,
                                     5000, &res) == 0 && res.ended
                              ? 0
                              : 1);
        }
        close(p[1]);
        while ((n = read(p[0], buf, sizeof(buf))) > 0)
                got += (uint64_t) n;
        close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip();
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_true(got > size);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_framed_save_and_load, teardown),
                cmocka_unit_test_teardown(test_zero_copy, teardown),
                cmocka_unit_test_teardown(test_zero_copy_without_huge_pages, teardown),
                cmocka_unit_test_teardown(test_zero_copy_locked_worker, teardown),
                cmocka_unit_test_teardown(test_raw_rounds_and_max_bytes, teardown),
                cmocka_unit_test_teardown(test_format_cannot_change, teardown),
                cmocka_unit_test_teardown(test_pending_checks, teardown),
                cmocka_unit_test_teardown(test_reader_gone_and_stall, teardown),
                cmocka_unit_test_teardown(test_wrong_fds, teardown),
                cmocka_unit_test_teardown(test_load_corrupt_and_incomplete, teardown),
                cmocka_unit_test_teardown(test_other_plugin_refused, teardown),
        };
        return cmocka_run_group_tests_name("worker-stream", tests, NULL, NULL);
}
