/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Comparing the plugin payload of two framed streams: record boundaries, the
 * header's BDF and record counts do not matter, the bytes do; corrupt or
 * incomplete streams are refused. Streams are built in memfds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "stream-payload.h"
#include "stream.h"

#define PAYLOAD_LEN 100000u

enum { NO_END = 1 << 0, BAD_CRC = 1 << 1 };

static uint8_t payload[PAYLOAD_LEN];

static void write_all(int fd, const void *p, size_t n) {
        assert_int_equal(write(fd, p, n), (ssize_t) n);
}

/* A stream of data[0..len) cut into records of the given sizes (the last
 * record takes the rest). */
static int make_stream(const char *bdf, const uint8_t *data, size_t len, const size_t *cuts, size_t n_cuts,
                       unsigned flags) {
        uint8_t hdr[MB_STREAM_HEADER_MAX], rec[MB_STREAM_RECORD_HDR_LEN], end[MB_STREAM_END_RECORD_LEN];
        int fd = memfd_create("stream", MFD_CLOEXEC);
        size_t off = 0;
        uint32_t idx = 0;
        int n;

        assert_true(fd >= 0);
        n = mb_stream_header_encode(hdr, sizeof(hdr), bdf, "testing");
        assert_true(n > 0);
        write_all(fd, hdr, (size_t) n);
        for (size_t i = 0; off < len; i++) {
                size_t sz = i < n_cuts ? cuts[i] : len - off;

                if (sz > len - off)
                        sz = len - off;
                mb_stream_record_header_encode(rec, idx, 0, data + off, (uint32_t) sz);
                if ((flags & BAD_CRC) && idx == 1)
                        rec[15] ^= 0xff;
                write_all(fd, rec, sizeof(rec));
                write_all(fd, data + off, sz);
                off += sz;
                idx++;
        }
        if (!(flags & NO_END)) {
                mb_stream_end_record_encode(end, idx, len, idx);
                write_all(fd, end, sizeof(end));
        }
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static int setup(void **state) {
        for (size_t i = 0; i < PAYLOAD_LEN; i++)
                payload[i] = (uint8_t) (i * 131 + (i >> 8));
        return 0;
}

static void test_equal_other_boundaries(void **state) {
        static const size_t cuts_a[] = { 4096, 4096, 50000 };
        static const size_t cuts_b[] = { 1, 99998 };
        int a = make_stream("0000:3b:00.1", payload, PAYLOAD_LEN, cuts_a, 3, 0);
        int b = make_stream("0000:00:00.0", payload, PAYLOAD_LEN, cuts_b, 2, 0);
        MbPayloadDiff d;
        char err[256];

        assert_int_equal(mb_stream_payload_compare(a, b, &d, err, sizeof(err)), 0);
        assert_true(d.equal);
        assert_int_equal(d.bytes_a, PAYLOAD_LEN);
        assert_int_equal(d.bytes_b, PAYLOAD_LEN);
        assert_int_equal(d.records_a, 4);
        assert_int_equal(d.records_b, 3);
        assert_int_equal(d.first_diff, PAYLOAD_LEN);
        close(a);
        close(b);
}

static void test_differ(void **state) {
        static uint8_t other[PAYLOAD_LEN];
        static const size_t cuts[] = { 30000, 30000 };
        MbPayloadDiff d;
        char err[256];
        int a, b;

        memcpy(other, payload, sizeof(other));
        other[54321] ^= 1;
        a = make_stream("0000:3b:00.1", payload, PAYLOAD_LEN, cuts, 2, 0);
        b = make_stream("0000:3b:00.1", other, PAYLOAD_LEN, NULL, 0, 0);
        assert_int_equal(mb_stream_payload_compare(a, b, &d, err, sizeof(err)), 0);
        assert_false(d.equal);
        assert_int_equal(d.first_diff, 54321);
        assert_int_equal(d.bytes_a, PAYLOAD_LEN); /* both read to the end */
        assert_int_equal(d.bytes_b, PAYLOAD_LEN);
        close(a);
        close(b);
}

static void test_prefix(void **state) {
        MbPayloadDiff d;
        char err[256];
        int a = make_stream("0000:3b:00.1", payload, PAYLOAD_LEN, NULL, 0, 0);
        int b = make_stream("0000:3b:00.1", payload, 70000, NULL, 0, 0);

        assert_int_equal(mb_stream_payload_compare(a, b, &d, err, sizeof(err)), 0);
        assert_false(d.equal);
        assert_int_equal(d.first_diff, 70000);
        assert_int_equal(d.bytes_a, PAYLOAD_LEN);
        assert_int_equal(d.bytes_b, 70000);
        close(a);
        close(b);

        /* and the other way round */
        a = make_stream("0000:3b:00.1", payload, 70000, NULL, 0, 0);
        b = make_stream("0000:3b:00.1", payload, PAYLOAD_LEN, NULL, 0, 0);
        assert_int_equal(mb_stream_payload_compare(a, b, &d, err, sizeof(err)), 0);
        assert_false(d.equal);
        assert_int_equal(d.first_diff, 70000);
        assert_int_equal(d.bytes_b, PAYLOAD_LEN);
        close(a);
        close(b);
}

static void test_empty(void **state) {
        MbPayloadDiff d;
        char err[256];
        int a = make_stream("0000:3b:00.1", payload, 0, NULL, 0, 0);
        int b = make_stream("0000:3b:00.2", payload, 0, NULL, 0, 0);

        assert_int_equal(mb_stream_payload_compare(a, b, &d, err, sizeof(err)), 0);
        assert_true(d.equal);
        assert_int_equal(d.bytes_a, 0);
        assert_int_equal(d.records_a, 0);
        close(a);
        close(b);
}

static void test_corrupt(void **state) {
        static const size_t cuts[] = { 1000, 1000 };
        MbPayloadDiff d;
        char err[256] = "";
        int a = make_stream("0000:3b:00.1", payload, PAYLOAD_LEN, NULL, 0, 0);
        int b = make_stream("0000:3b:00.1", payload, PAYLOAD_LEN, cuts, 2, BAD_CRC);

        assert_int_equal(mb_stream_payload_compare(a, b, &d, err, sizeof(err)), -EBADMSG);
        print_message("%s\n", err);
        assert_non_null(strstr(err, "stream B"));
        close(a);
        close(b);
}

static void test_incomplete(void **state) {
        MbPayloadDiff d;
        char err[256] = "";
        int a = make_stream("0000:3b:00.1", payload, PAYLOAD_LEN, NULL, 0, NO_END);
        int b = make_stream("0000:3b:00.1", payload, PAYLOAD_LEN, NULL, 0, 0);

        assert_int_equal(mb_stream_payload_compare(a, b, &d, err, sizeof(err)), -EBADMSG);
        print_message("%s\n", err);
        assert_non_null(strstr(err, "stream A"));
        close(a);
        close(b);
}

static void test_not_a_stream(void **state) {
        MbPayloadDiff d;
        char err[256] = "";
        int a = memfd_create("junk", MFD_CLOEXEC);
        int b = make_stream("0000:3b:00.1", payload, 10, NULL, 0, 0);

        write_all(a, "this is not a migration stream at all", 37);
        assert_int_equal(lseek(a, 0, SEEK_SET), 0);
        assert_int_equal(mb_stream_payload_compare(a, b, &d, err, sizeof(err)), -EBADMSG);
        print_message("%s\n", err);
        close(a);
        close(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_equal_other_boundaries),
                cmocka_unit_test(test_differ),
                cmocka_unit_test(test_prefix),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_corrupt),
                cmocka_unit_test(test_incomplete),
                cmocka_unit_test(test_not_a_stream),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
