/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of hooks/hook-actions: the table of interface contract §8 (which
 * op/subop calls what on each device, and what a failure does), driven
 * through HookBrokerOps with a recording fake of the broker: the one
 * boundary faked, everything above it is the real code. The real broker over
 * D-Bus is tests/integration/hook.sh. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "hook-actions.h"

#define UUID "1c9cfba1-8fff-46fc-ba3b-29faa751c687"
#define OTHER "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41"

/* Three candidates: two hostdevs (00.1 managed, 00.3 not) and a metadata device (00.2). */
static const char domain_xml[] =
        "<domain type='qemu'>\n"
        "  <name>t2</name>\n"
        "  <uuid>" UUID "</uuid>\n"
        "  <metadata><mb:devices xmlns:mb='" HOOK_METADATA_NS "'>\n"
        "    <mb:device bdf='0000:3b:00.2' vmstate-id='vfio0'/>\n"
        "  </mb:devices></metadata>\n"
        "  <devices>\n"
        "    <hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x3b' slot='0x00' "
        "function='0x3'/></source></hostdev>\n"
        "    <hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x3b' slot='0x00' "
        "function='0x1'/></source></hostdev>\n"
        "  </devices>\n"
        "</domain>\n";

typedef struct FakeError {
        char *name, *message;
} FakeError;

/* The fake broker: records every call as "Method BDF" and answers with the
 * error programmed for that key, if any. "connect" is a key too. */
typedef struct Fake {
        GPtrArray *calls;
        GHashTable *errors;
        HookDomain *domain;
} Fake;

static void fake_error_free(FakeError *e) {
        g_free(e->name);
        g_free(e->message);
        g_free(e);
}

static void fake_fail(Fake *f, const char *key, const char *name, const char *message) {
        FakeError *e = g_new0(FakeError, 1);

        e->name = g_strdup(name);
        e->message = g_strdup(message);
        g_hash_table_replace(f->errors, g_strdup(key), e);
}

/* org.migbroker1.Error.<short> */
static void fake_fail_mb(Fake *f, const char *key, int errnum, const char *message) {
        const MbErrorInfo *info = mb_error_from_errno(errnum);

        assert_non_null(info);
        fake_fail(f, key, info->bus_name, message);
}

static int fake_answer(Fake *f, const char *key, sd_bus_error *error) {
        FakeError *e;

        g_ptr_array_add(f->calls, g_strdup(key));
        e = g_hash_table_lookup(f->errors, key);
        if (!e)
                return 0;
        return sd_bus_error_set(error, e->name, e->message);
}

static int fake_connect(void *userdata, sd_bus_error *error) {
        return fake_answer(userdata, "connect", error);
}

static int fake_get_device(void *userdata, const char *bdf, char **ret_path, sd_bus_error *error) {
        g_autofree char *key = g_strdup_printf("GetDevice %s", bdf);
        int r;

        r = fake_answer(userdata, key, error);
        if (r < 0)
                return r;
        *ret_path = g_strdup_printf("/fake/%s", bdf);
        return 0;
}

static int fake_call(void *userdata, const char *bdf, const char *path, HookMethod method, const char *owner,
                     const char *vmstate_id,
                     sd_bus_error *error) {
        g_autofree char *key = g_strdup_printf("%s %s", hook_method_name(method), bdf);
        g_autofree char *expect_path = g_strdup_printf("/fake/%s", bdf);

        /* the path GetDevice gave, the domain's UUID as owner; only Open has options */
        if (method != HOOK_METHOD_OPEN)
                assert_null(vmstate_id);
        assert_string_equal(path, expect_path);
        assert_string_equal(owner, UUID);
        return fake_answer(userdata, key, error);
}

static const HookBrokerOps fake_ops = {
        .connect = fake_connect,
        .get_device = fake_get_device,
        .call = fake_call,
};

static int setup(void **state) {
        Fake *f = g_new0(Fake, 1);
        g_autofree char *error = NULL;

        assert_int_equal(mb_error_register(), 0);
        f->calls = g_ptr_array_new_with_free_func(g_free);
        f->errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) fake_error_free);
        assert_int_equal(hook_domain_parse(domain_xml, strlen(domain_xml), &f->domain, &error), 0);
        assert_int_equal(f->domain->devices->len, 3);
        /* 00.3 is not managed by the broker (a hostdev: skipped) */
        fake_fail_mb(f, "GetDevice 0000:3b:00.3", MB_ENOTMANAGED, "0000:3b:00.3 exists but no policy rule binds it");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fake *f = *state;

        g_ptr_array_unref(f->calls);
        g_hash_table_unref(f->errors);
        hook_domain_free(f->domain);
        g_free(f);
        return 0;
}

/* Runs op/subop; checks the exit status, the failure line and the calls (NULL-terminated). */
static void run(Fake *f, const char *op, const char *subop, int expect_rc, const char *expect_message, ...) {
        const HookAction *a = hook_action_lookup(op, subop);
        g_autofree char *message = NULL;
        va_list ap;
        guint i = 0;
        int rc;

        assert_non_null(a);
        rc = hook_action_run(a, f->domain, "t2", &fake_ops, f, &message);
        assert_int_equal(rc, expect_rc);
        if (expect_message)
                assert_string_equal(message, expect_message);
        else
                assert_null(message);

        va_start(ap, expect_message);
        for (const char *c = va_arg(ap, const char *); c; c = va_arg(ap, const char *), i++) {
                if (i >= f->calls->len)
                        fail_msg("call %u: expected \"%s\", no more calls", i, c);
                if (strcmp(f->calls->pdata[i], c) != 0)
                        fail_msg("call %u: expected \"%s\", got \"%s\"", i, c, (const char *) f->calls->pdata[i]);
        }
        va_end(ap);
        if (i != f->calls->len)
                fail_msg("%u calls expected, %u made (next: \"%s\")", i, f->calls->len,
                         (const char *) f->calls->pdata[i]);
}

/* ---- the table ------------------------------------------------------------- */

static void test_table(void **state) {
        static const struct {
                const char *op, *subop;
                HookMethod m0;
                int m1; /* -1: none */
                HookOnFailure on_failure;
                int failure_exit;
        } rows[] = {
                { "migrate", "begin", HOOK_METHOD_PREFLIGHT, -1, HOOK_FAIL_ROLLBACK_EXIT, 1 },
                { "restore", "begin", HOOK_METHOD_PREFLIGHT, -1, HOOK_FAIL_ROLLBACK_EXIT, 1 },
                { "prepare", "begin", HOOK_METHOD_CLAIM, -1, HOOK_FAIL_ROLLBACK_EXIT, 1 },
                { "start", "begin", HOOK_METHOD_OPEN, -1, HOOK_FAIL_EXIT, 1 },
                { "stopped", "end", HOOK_METHOD_CLOSE, HOOK_METHOD_RELEASE, HOOK_FAIL_LOG, 0 },
                { "release", "end", HOOK_METHOD_CLOSE, HOOK_METHOD_RELEASE, HOOK_FAIL_LOG, 0 },
                { "reconnect", "begin", HOOK_METHOD_CLAIM, -1, HOOK_FAIL_LOG, 0 },
        };
        /* what libvirt 9.0 also calls, and what it never calls: none of ours */
        static const char *const ignored[][2] = {
                { "started", "begin" }, { "stopped", "begin" }, { "migrate", "end" }, { "prepare", "end" },
                { "start", "end" },     { "release", "begin" }, { "start", "-" },     { "shutdown", "-" },
                { "attach", "begin" },  { "MIGRATE", "BEGIN" }, { "", "" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
                const HookAction *a = hook_action_lookup(rows[i].op, rows[i].subop);

                assert_non_null(a);
                assert_int_equal(a->methods[0], rows[i].m0);
                assert_int_equal(a->n_methods, rows[i].m1 < 0 ? 1 : 2);
                if (rows[i].m1 >= 0)
                        assert_int_equal(a->methods[1], rows[i].m1);
                assert_int_equal(a->on_failure, rows[i].on_failure);
                assert_int_equal(hook_action_failure_exit(a), rows[i].failure_exit);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(ignored); i++)
                assert_null(hook_action_lookup(ignored[i][0], ignored[i][1]));
        assert_null(hook_action_lookup(NULL, "begin"));

        assert_string_equal(hook_method_name(HOOK_METHOD_PREFLIGHT), "Preflight");
        assert_string_equal(hook_method_name(HOOK_METHOD_CLAIM), "Claim");
        assert_string_equal(hook_method_name(HOOK_METHOD_OPEN), "Open");
        assert_string_equal(hook_method_name(HOOK_METHOD_CLOSE), "Close");
        assert_string_equal(hook_method_name(HOOK_METHOD_RELEASE), "Release");
}

/* ---- each row, successful ---------------------------------------------------- */

static void test_migrate_begin(void **state) {
        run(*state, "migrate", "begin", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Preflight 0000:3b:00.1",
            "GetDevice 0000:3b:00.2", "Preflight 0000:3b:00.2", "GetDevice 0000:3b:00.3", NULL);
}

static void test_restore_begin(void **state) {
        run(*state, "restore", "begin", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Preflight 0000:3b:00.1",
            "GetDevice 0000:3b:00.2", "Preflight 0000:3b:00.2", "GetDevice 0000:3b:00.3", NULL);
}

static void test_prepare_begin(void **state) {
        run(*state, "prepare", "begin", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Claim 0000:3b:00.1",
            "GetDevice 0000:3b:00.2", "Claim 0000:3b:00.2", "GetDevice 0000:3b:00.3", NULL);
}

static void test_start_begin(void **state) {
        run(*state, "start", "begin", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Open 0000:3b:00.1",
            "GetDevice 0000:3b:00.2", "Open 0000:3b:00.2", "GetDevice 0000:3b:00.3", NULL);
}

static void test_stopped_release_end(void **state) {
        Fake *f = *state;

        run(f, "stopped", "end", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Close 0000:3b:00.1",
            "Release 0000:3b:00.1", "GetDevice 0000:3b:00.2", "Close 0000:3b:00.2", "Release 0000:3b:00.2",
            "GetDevice 0000:3b:00.3", NULL);
        g_ptr_array_set_size(f->calls, 0);

        /* release end after stopped end: nothing is claimed any more, which is fine */
        fake_fail_mb(f, "Close 0000:3b:00.1", MB_ENOTCLAIMED, "0000:3b:00.1 is not claimed by " UUID);
        fake_fail_mb(f, "Release 0000:3b:00.1", MB_ENOTCLAIMED, "0000:3b:00.1 is not claimed by " UUID);
        fake_fail_mb(f, "Close 0000:3b:00.2", MB_ENOTCLAIMED, "0000:3b:00.2 is not claimed by " UUID);
        fake_fail_mb(f, "Release 0000:3b:00.2", MB_ENOTCLAIMED, "0000:3b:00.2 is not claimed by " UUID);
        run(f, "release", "end", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Close 0000:3b:00.1",
            "Release 0000:3b:00.1", "GetDevice 0000:3b:00.2", "Close 0000:3b:00.2", "Release 0000:3b:00.2",
            "GetDevice 0000:3b:00.3", NULL);
}

static void test_reconnect_begin(void **state) {
        run(*state, "reconnect", "begin", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Claim 0000:3b:00.1",
            "GetDevice 0000:3b:00.2", "Claim 0000:3b:00.2", "GetDevice 0000:3b:00.3", NULL);
}

/* No candidate device: no call at all, not even the connection. */
static void test_no_devices(void **state) {
        static const char xml[] = "<domain><name>t1</name></domain>";
        const HookAction *a = hook_action_lookup("prepare", "begin");
        g_autoptr(HookDomain) d = NULL;
        g_autofree char *error = NULL, *message = NULL;
        Fake *f = *state;

        fake_fail(f, "connect", SD_BUS_ERROR_FILE_NOT_FOUND, "cannot connect to unix:path=/nowhere");
        assert_int_equal(hook_domain_parse(xml, strlen(xml), &d, &error), 0);
        assert_int_equal(hook_action_run(a, d, "t1", &fake_ops, f, &message), 0);
        assert_null(message);
        assert_int_equal(f->calls->len, 0);
}

/* ---- failures ------------------------------------------------------------------ */

static void test_migrate_begin_fails(void **state) {
        Fake *f = *state;

        fake_fail_mb(f, "Preflight 0000:3b:00.1", MB_EPLUGINFAILED,
                     "0000:3b:00.1: plugin /usr/lib/migbroker/plugins/acme.so: missing symbol vfio_lm_get_plugin_ops");
        run(f, "migrate", "begin", 1,
            "0000:3b:00.1: PluginFailed: plugin /usr/lib/migbroker/plugins/acme.so: missing symbol "
            "vfio_lm_get_plugin_ops",
            "connect", "GetDevice 0000:3b:00.1", "Preflight 0000:3b:00.1", NULL);
}

/* A metadata device is expected to be managed: NotManaged is a failure. */
static void test_metadata_device_not_managed(void **state) {
        Fake *f = *state;

        fake_fail_mb(f, "GetDevice 0000:3b:00.2", MB_ENOTMANAGED, "0000:3b:00.2 exists but no policy rule binds it");
        run(f, "migrate", "begin", 1,
            "0000:3b:00.2: NotManaged: exists but no policy rule binds it (declared in the domain's metadata)",
            "connect", "GetDevice 0000:3b:00.1", "Preflight 0000:3b:00.1", "GetDevice 0000:3b:00.2",
            /* the mark the first preflight left is dropped again */
            "Release 0000:3b:00.1", NULL);
}

/* A hostdev the broker does not know at all is skipped like an unmanaged one. */
static void test_hostdev_no_such_device(void **state) {
        Fake *f = *state;

        fake_fail_mb(f, "GetDevice 0000:3b:00.1", MB_ENOSUCHDEVICE, "no PCI function 0000:3b:00.1");
        run(f, "prepare", "begin", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "GetDevice 0000:3b:00.2",
            "Claim 0000:3b:00.2", "GetDevice 0000:3b:00.3", NULL);
}

/* prepare: what this run claimed is released again, and only that. */
static void test_prepare_busy_rolls_back(void **state) {
        Fake *f = *state;

        fake_fail_mb(f, "Claim 0000:3b:00.2", MB_EBUSY, "0000:3b:00.2 is claimed by " OTHER);
        run(f, "prepare", "begin", 1, "0000:3b:00.2: Busy: claimed by " OTHER, "connect", "GetDevice 0000:3b:00.1",
            "Claim 0000:3b:00.1", "GetDevice 0000:3b:00.2", "Claim 0000:3b:00.2", "Release 0000:3b:00.1", NULL);
}

static void test_prepare_first_fails_nothing_to_undo(void **state) {
        Fake *f = *state;

        fake_fail(f, "GetDevice 0000:3b:00.1", SD_BUS_ERROR_ACCESS_DENIED, "uid 1000 may not call GetDevice");
        run(f, "prepare", "begin", 1, "0000:3b:00.1: AccessDenied: uid 1000 may not call GetDevice", "connect",
            "GetDevice 0000:3b:00.1", NULL);
}

/* A failed rollback is logged; the failure line stays the first failure. */
static void test_prepare_rollback_fails(void **state) {
        Fake *f = *state;

        fake_fail_mb(f, "Claim 0000:3b:00.2", MB_EBUSY, "0000:3b:00.2 is claimed by " OTHER);
        fake_fail_mb(f, "Release 0000:3b:00.1", MB_ETIMEOUT, "0000:3b:00.1: cleanup() timed out");
        run(f, "prepare", "begin", 1, "0000:3b:00.2: Busy: claimed by " OTHER, "connect", "GetDevice 0000:3b:00.1",
            "Claim 0000:3b:00.1", "GetDevice 0000:3b:00.2", "Claim 0000:3b:00.2", "Release 0000:3b:00.1", NULL);
}

/* The broker stopped answering: do not wait once more for each release. */
static void test_prepare_no_reply_no_rollback(void **state) {
        Fake *f = *state;

        fake_fail(f, "Claim 0000:3b:00.2", SD_BUS_ERROR_NO_REPLY, "no reply from migbrokerd to Claim within 10000 ms");
        run(f, "prepare", "begin", 1, "0000:3b:00.2: NoReply: no reply from migbrokerd to Claim within 10000 ms",
            "connect", "GetDevice 0000:3b:00.1", "Claim 0000:3b:00.1", "GetDevice 0000:3b:00.2", "Claim 0000:3b:00.2",
            NULL);
}

static void test_prepare_cannot_connect(void **state) {
        Fake *f = *state;

        fake_fail(f, "connect", SD_BUS_ERROR_FILE_NOT_FOUND,
                  "cannot connect to unix:path=/nowhere: No such file or directory");
        run(f, "prepare", "begin", 1, "cannot connect to unix:path=/nowhere: No such file or directory", "connect",
            NULL);
}

static void test_start_begin_fails(void **state) {
        Fake *f = *state;

        fake_fail_mb(f, "Open 0000:3b:00.1", MB_EPLUGINFAILED, "0000:3b:00.1: the plugin's init failed");
        run(f, "start", "begin", 1, "0000:3b:00.1: PluginFailed: the plugin's init failed", "connect",
            "GetDevice 0000:3b:00.1", "Open 0000:3b:00.1", NULL);
}

/* stopped/release end: every failure is logged, every device is tried, exit 0. */
static void test_release_end_failures_logged(void **state) {
        Fake *f = *state;

        fake_fail_mb(f, "Close 0000:3b:00.1", MB_EPLUGINCRASHED, "0000:3b:00.1: killed by signal SIGSEGV");
        fake_fail_mb(f, "GetDevice 0000:3b:00.2", MB_ENOTMANAGED, "0000:3b:00.2 exists but no policy rule binds it");
        run(f, "stopped", "end", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Close 0000:3b:00.1",
            "Release 0000:3b:00.1", "GetDevice 0000:3b:00.2", "GetDevice 0000:3b:00.3", NULL);
}

static void test_release_end_broker_gone(void **state) {
        Fake *f = *state;

        fake_fail(f, "GetDevice 0000:3b:00.1", SD_BUS_ERROR_SERVICE_UNKNOWN, "migbrokerd is not running");
        run(f, "release", "end", 0, NULL, "connect", "GetDevice 0000:3b:00.1", NULL);
}

/* reconnect: a failing hook would make libvirt kill the VM. */
static void test_reconnect_failures(void **state) {
        Fake *f = *state;

        fake_fail_mb(f, "Claim 0000:3b:00.1", MB_EBUSY, "0000:3b:00.1 is claimed by " OTHER);
        run(f, "reconnect", "begin", 0, NULL, "connect", "GetDevice 0000:3b:00.1", "Claim 0000:3b:00.1",
            "GetDevice 0000:3b:00.2", "Claim 0000:3b:00.2", "GetDevice 0000:3b:00.3", NULL);
        g_ptr_array_set_size(f->calls, 0);

        fake_fail(f, "connect", SD_BUS_ERROR_FILE_NOT_FOUND, "cannot connect to the system bus");
        run(f, "reconnect", "begin", 0, NULL, "connect", NULL);
}

/* Every row: the first call fails with PluginFailed; the exit status is the row's. */
static void test_failure_exit_per_row(void **state) {
        static const char *const rows[][2] = {
                { "migrate", "begin" }, { "restore", "begin" }, { "prepare", "begin" }, { "start", "begin" },
                { "stopped", "end" },   { "release", "end" },   { "reconnect", "begin" },
        };
        Fake *f = *state;

        for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
                const HookAction *a = hook_action_lookup(rows[i][0], rows[i][1]);
                g_autofree char *key = g_strdup_printf("%s 0000:3b:00.1", hook_method_name(a->methods[0]));
                g_autofree char *message = NULL;
                int rc;

                g_hash_table_remove_all(f->errors);
                fake_fail_mb(f, key, MB_EPLUGINFAILED, "0000:3b:00.1: it failed");
                rc = hook_action_run(a, f->domain, "t2", &fake_ops, f, &message);
                assert_int_equal(rc, hook_action_failure_exit(a));
                if (rc)
                        assert_string_equal(message, "0000:3b:00.1: PluginFailed: it failed");
                else
                        assert_null(message);
        }
}

static void test_unreachable(void **state) {
        sd_bus_error e = SD_BUS_ERROR_NULL;

        assert_true(hook_error_unreachable(-ECONNREFUSED, NULL));
        assert_true(hook_error_unreachable(-ENOENT, NULL));
        assert_false(hook_error_unreachable(-EBUSY, NULL));
        (void) sd_bus_error_set(&e, SD_BUS_ERROR_NO_REPLY, "timed out");
        assert_true(hook_error_unreachable(-ETIMEDOUT, &e));
        sd_bus_error_free(&e);
        (void) sd_bus_error_set(&e, SD_BUS_ERROR_NAME_HAS_NO_OWNER, "no owner");
        assert_true(hook_error_unreachable(-ENXIO, &e));
        sd_bus_error_free(&e);
        /* the broker's own Timeout is an answer (a plugin op overran), not silence */
        (void) sd_bus_error_set(&e, MB_ERROR_PREFIX "Timeout", "init() timed out");
        assert_false(hook_error_unreachable(-ETIMEDOUT, &e));
        sd_bus_error_free(&e);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                T(test_migrate_begin),
                T(test_restore_begin),
                T(test_prepare_begin),
                T(test_start_begin),
                T(test_stopped_release_end),
                T(test_reconnect_begin),
                T(test_no_devices),
                T(test_migrate_begin_fails),
                T(test_metadata_device_not_managed),
                T(test_hostdev_no_such_device),
                T(test_prepare_busy_rolls_back),
                T(test_prepare_first_fails_nothing_to_undo),
                T(test_prepare_rollback_fails),
                T(test_prepare_no_reply_no_rollback),
                T(test_prepare_cannot_connect),
                T(test_start_begin_fails),
                T(test_release_end_failures_logged),
                T(test_release_end_broker_gone),
                T(test_reconnect_failures),
                T(test_failure_exit_per_row),
                cmocka_unit_test(test_unreachable),
        };
#undef T
        return cmocka_run_group_tests_name("hook-actions", tests, NULL, NULL);
}
