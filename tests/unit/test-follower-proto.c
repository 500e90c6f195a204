/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of follower/follower-proto (the lines migbroker-libvirt-events writes
 * and the broker parses: connected, started, resumed, running) and common/uuid (the domain UUIDs in them). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "follower-proto.h"
#include "macro.h"
#include "uuid.h"

#define UUID "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41"

static void test_uuid(void **state) {
        char out[MB_UUID_STRLEN + 1];
        static const char *const bad[] = {
                "", "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e4", "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e411",
                "6f1c9a521d1e4c5b9b0e3f6a2d7c8e41", "6f1c9a52-1d1e-4c5b-9b0e_3f6a2d7c8e41",
                "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8eg1", " f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41",
                "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e4 ", "6f1c9a52--1d1e-4c5b-9b0e-3f6a2d7c8e4",
        };

        assert_int_equal(mb_uuid_normalize(UUID, strlen(UUID), out), 0);
        assert_string_equal(out, UUID);
        assert_int_equal(mb_uuid_normalize("6F1C9A52-1D1E-4C5B-9B0E-3F6A2D7C8E41", MB_UUID_STRLEN, out), 0);
        assert_string_equal(out, UUID);
        /* n bytes of a longer string */
        assert_int_equal(mb_uuid_normalize(UUID ",rest", MB_UUID_STRLEN, out), 0);
        assert_string_equal(out, UUID);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(mb_uuid_normalize(bad[i], strlen(bad[i]), out), -EINVAL);
        assert_int_equal(mb_uuid_normalize(NULL, 0, out), -EINVAL);
}

static void test_parse_valid(void **state) {
        MbFollowerLine l;

        assert_int_equal(mb_follower_line_parse("connected", &l), 0);
        assert_int_equal(l.kind, MB_FOLLOWER_CONNECTED);
        assert_string_equal(l.uuid, "");
        assert_int_equal(mb_follower_line_parse("started " UUID, &l), 0);
        assert_int_equal(l.kind, MB_FOLLOWER_STARTED);
        assert_string_equal(l.uuid, UUID);
        assert_int_equal(mb_follower_line_parse("resumed 6F1C9A52-1D1E-4C5B-9B0E-3F6A2D7C8E41", &l), 0);
        assert_int_equal(l.kind, MB_FOLLOWER_RESUMED);
        assert_string_equal(l.uuid, UUID); /* lower case */
        /* a domain that runs when the follower (re)connects */
        assert_int_equal(mb_follower_line_parse("running " UUID, &l), 0);
        assert_int_equal(l.kind, MB_FOLLOWER_RUNNING);
        assert_string_equal(l.uuid, UUID);
}

static void test_parse_invalid(void **state) {
        static const char *const bad[] = {
                "", " ", "connected ", "connected x", "Connected", "connect", "connectedx",
                "resumed", "resumed ", "resumed  " UUID, "resumed " UUID " ", "resumed " UUID " x",
                "resumed not-a-uuid", "resumed\t" UUID, "stopped " UUID, "started" UUID,
                "resumed 6f1c9a521d1e4c5b9b0e3f6a2d7c8e41", "<5>connected",
                "running", "running ", "running x", "running " UUID " ", "Running " UUID, "runs " UUID,
        };
        MbFollowerLine l = { .kind = MB_FOLLOWER_RESUMED, .uuid = "untouched" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(mb_follower_line_parse(bad[i], &l), -EBADMSG);
                assert_string_equal(l.uuid, "untouched");
        }
}

static void test_format(void **state) {
        char buf[MB_FOLLOWER_LINE_MAX];
        MbFollowerLine l = { .kind = MB_FOLLOWER_CONNECTED }, back;

        assert_int_equal(mb_follower_line_format(&l, buf, sizeof(buf)), (int) strlen("connected\n"));
        assert_string_equal(buf, "connected\n");

        l = (MbFollowerLine) { .kind = MB_FOLLOWER_RESUMED, .uuid = "6F1C9A52-1D1E-4C5B-9B0E-3F6A2D7C8E41" };
        assert_int_equal(mb_follower_line_format(&l, buf, sizeof(buf)), (int) strlen("resumed " UUID "\n"));
        assert_string_equal(buf, "resumed " UUID "\n");
        /* what is written parses back */
        buf[strlen(buf) - 1] = '\0';
        assert_int_equal(mb_follower_line_parse(buf, &back), 0);
        assert_int_equal(back.kind, MB_FOLLOWER_RESUMED);
        assert_string_equal(back.uuid, UUID);

        l = (MbFollowerLine) { .kind = MB_FOLLOWER_RUNNING, .uuid = UUID };
        assert_int_equal(mb_follower_line_format(&l, buf, sizeof(buf)), (int) strlen("running " UUID "\n"));
        assert_string_equal(buf, "running " UUID "\n");
        buf[strlen(buf) - 1] = '\0';
        assert_int_equal(mb_follower_line_parse(buf, &back), 0);
        assert_int_equal(back.kind, MB_FOLLOWER_RUNNING);
        l = (MbFollowerLine) { .kind = MB_FOLLOWER_RUNNING, .uuid = "" };
        assert_int_equal(mb_follower_line_format(&l, buf, sizeof(buf)), -EINVAL);

        l = (MbFollowerLine) { .kind = MB_FOLLOWER_STARTED, .uuid = "nope" };
        assert_int_equal(mb_follower_line_format(&l, buf, sizeof(buf)), -EINVAL);
        l = (MbFollowerLine) { .kind = MB_FOLLOWER_STARTED, .uuid = UUID };
        assert_int_equal(mb_follower_line_format(&l, buf, 20), -EINVAL); /* too small */
        l = (MbFollowerLine) { .kind = _MB_FOLLOWER_LINE_KIND_MAX };
        assert_int_equal(mb_follower_line_format(&l, buf, sizeof(buf)), -EINVAL);
        /* the longest line fits */
        assert_true(strlen("resumed " UUID "\n") < MB_FOLLOWER_LINE_MAX);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_uuid),
                cmocka_unit_test(test_parse_valid),
                cmocka_unit_test(test_parse_invalid),
                cmocka_unit_test(test_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
