/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of ctl/domain-edit: the XML edits of `migbrokerctl domain enable|
 * disable` and what `domain show` reads, text in and text out: exact
 * documents, changes and messages; running an edit twice changes nothing;
 * other metadata and other qemu:commandline arguments are kept. The real
 * libvirt fixtures ($MB_SHARED/fixtures/libvirt) are used where they fit;
 * without them those tests are skipped (exit 77 after the others ran). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "domain-edit.h"

#define UUID "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41"
#define RUN "/run/migbroker"
#define BUS "unix:path=/run/migbroker/domain/" UUID "/bus"
#define QEMU_NS_ATTR "xmlns:qemu=\"" DOMAIN_QEMU_NS "\""

/* A definition as libvirt gives it (virsh dumpxml --inactive), shortened. */
static const char base[] = "<domain type='qemu'>\n"
                           "  <name>t1</name>\n"
                           "  <uuid>" UUID "</uuid>\n"
                           "  <memory unit='KiB'>65536</memory>\n"
                           "  <devices>\n"
                           "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
                           "  </devices>\n"
                           "</domain>\n";

/* base after `enable --device 0000:3b:00.1=mb-nic0` (libxml2 writes double quotes) */
static const char enabled[] = "<domain " QEMU_NS_ATTR " type=\"qemu\">\n"
                              "  <name>t1</name>\n"
                              "  <uuid>" UUID "</uuid>\n"
                              "  <metadata>\n"
                              "    <mb:devices xmlns:mb=\"" HOOK_METADATA_NS "\">\n"
                              "      <mb:device bdf=\"0000:3b:00.1\" vmstate-id=\"mb-nic0\"/>\n"
                              "    </mb:devices>\n"
                              "  </metadata>\n"
                              "  <memory unit=\"KiB\">65536</memory>\n"
                              "  <devices>\n"
                              "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
                              "  </devices>\n"
                              "  <qemu:commandline>\n"
                              "    <qemu:arg value=\"-object\"/>\n"
                              "    <qemu:arg value=\"dbus-vmstate,id=migbroker,addr=" BUS ",id-list=mb-nic0\"/>\n"
                              "  </qemu:commandline>\n"
                              "</domain>\n";

static char *fixture_dir(void) {
        const char *e = getenv("MB_SHARED");
        g_autofree char *dir = g_build_filename(e && *e ? e : "../shared", "fixtures", "libvirt", NULL);

        return g_file_test(dir, G_FILE_TEST_IS_DIR) ? g_steal_pointer(&dir) : NULL;
}

static char *read_fixture(const char *name) {
        g_autofree char *dir = fixture_dir();
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;
        char *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, &error))
                fail_msg("cannot read %s: %s", path, error->message);
        return text;
}

/* text with the first `from` replaced by `to` (which must be there) */
static char *replace_once(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);

        if (!at)
                fail_msg("'%s' is not in the text", from);
        return g_strdup_printf("%.*s%s%s", (int) (at - text), text, to, at + strlen(from));
}

static void assert_text(const char *actual, const char *expected) {
        if (strcmp(actual, expected) != 0) {
                /* whole, where cmocka's message would cut them */
                fprintf(stderr, "expected:\n%s\ngot:\n%s\n", expected, actual);
                fail();
        }
}

/* The changes, as "kind subject: message" lines, then the notes as "note: ...". */
static void assert_changes(const DomainEdit *e, ...) {
        g_autoptr(GString) got = g_string_new(NULL), want = g_string_new(NULL);
        va_list ap;

        for (guint i = 0; i < e->changes->len; i++) {
                const DomainChange *c = e->changes->pdata[i];
                g_string_append_printf(got, "%s %s: %s\n", domain_change_kind_to_string(c->kind), c->subject,
                                       c->message);
        }
        for (guint i = 0; i < e->notes->len; i++)
                g_string_append_printf(got, "note: %s\n", (const char *) e->notes->pdata[i]);
        va_start(ap, e);
        for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
                g_string_append_printf(want, "%s\n", s);
        va_end(ap);
        assert_text(got->str, want->str);
}

static DomainEdit *enable(const char *xml, const DomainEditDevice *devices, size_t n) {
        g_autofree char *error = NULL;
        DomainEdit *e = NULL;
        int r;

        r = domain_edit_enable(xml, strlen(xml), devices, n, RUN, &e, &error);
        if (r < 0)
                fail_msg("enable failed: %d %s", r, error);
        assert_null(error);
        return e;
}

static DomainEdit *disable(const char *xml, const char *const *bdfs, size_t n) {
        g_autofree char *error = NULL;
        DomainEdit *e = NULL;
        int r;

        r = domain_edit_disable(xml, strlen(xml), bdfs, n, RUN, &e, &error);
        if (r < 0)
                fail_msg("disable failed: %d %s", r, error);
        assert_null(error);
        return e;
}

static void assert_enable_fails(const char *xml, const DomainEditDevice *devices, size_t n, int expect_r,
                                const char *expect_msg) {
        g_autofree char *error = NULL;
        DomainEdit *e = NULL;
        int r;

        r = domain_edit_enable(xml, strlen(xml), devices, n, RUN, &e, &error);
        assert_null(e);
        if (r != expect_r || !error || strcmp(error, expect_msg) != 0)
                fail_msg("expected %d \"%s\", got %d \"%s\"", expect_r, expect_msg, r, error ?: "(null)");
}

/* The second run of an edit changes nothing and returns its input as it is. */
static void assert_enable_idempotent(const char *xml, const DomainEditDevice *devices, size_t n) {
        g_autoptr(DomainEdit) again = enable(xml, devices, n);

        assert_int_equal(again->changes->len, 0);
        assert_text(again->xml, xml);
}

/* ---- enable ----------------------------------------------------------------------------- */

static void test_enable_adds(void **state) {
        const DomainEditDevice dev = { .bdf = "0000:3B:00.1", .vmstate_id = "mb-nic0" };
        g_autoptr(DomainEdit) e = enable(base, &dev, 1);

        assert_text(e->xml, enabled);
        assert_changes(e, "device-added 0000:3b:00.1: added device 0000:3b:00.1 (vmstate id mb-nic0)",
                       "object-added migbroker: added dbus-vmstate object migbroker: -object dbus-vmstate,"
                       "id=migbroker,addr=" BUS ",id-list=mb-nic0",
                       NULL);
        assert_enable_idempotent(e->xml, &dev, 1);
        /* without an id the device keeps its own */
        assert_enable_idempotent(e->xml, &(DomainEditDevice) { .bdf = "0000:3b:00.1" }, 1);
        /* and without devices the object is in line already */
        assert_enable_idempotent(e->xml, NULL, 0);
}

static void test_enable_second_device(void **state) {
        const DomainEditDevice dev = { .bdf = "0000:3b:00.2", .vmstate_id = "mb-nic1" };
        g_autoptr(DomainEdit) e = enable(enabled, &dev, 1);
        g_autofree char *expect = NULL, *step = NULL;

        step = replace_once(enabled, "vmstate-id=\"mb-nic0\"/>\n",
                            "vmstate-id=\"mb-nic0\"/>\n"
                            "      <mb:device bdf=\"0000:3b:00.2\" vmstate-id=\"mb-nic1\"/>\n");
        /* QEMU's keyval: a comma inside a value is written twice */
        expect = replace_once(step, "id-list=mb-nic0\"", "id-list=mb-nic0,,mb-nic1\"");
        assert_text(e->xml, expect);
        assert_changes(e, "device-added 0000:3b:00.2: added device 0000:3b:00.2 (vmstate id mb-nic1)",
                       "object-changed migbroker: changed dbus-vmstate object migbroker: id-list mb-nic0 -> "
                       "mb-nic0,mb-nic1",
                       NULL);
        assert_enable_idempotent(e->xml, &dev, 1);
}

static void test_enable_several_default_ids(void **state) {
        const DomainEditDevice devs[] = { { .bdf = "0000:5e:00.3" }, { .bdf = "0000:3b:00.1" } };
        g_autoptr(DomainEdit) e = enable(base, devs, 2);

        /* devices in the order given, the id-list by BDF */
        assert_non_null(strstr(e->xml, "      <mb:device bdf=\"0000:5e:00.3\" vmstate-id=\"mb-0000:5e:00.3\"/>\n"
                                        "      <mb:device bdf=\"0000:3b:00.1\" vmstate-id=\"mb-0000:3b:00.1\"/>\n"));
        assert_non_null(strstr(e->xml, ",id-list=mb-0000:3b:00.1,,mb-0000:5e:00.3\"/>"));
        assert_int_equal(e->changes->len, 3);
        assert_enable_idempotent(e->xml, devs, 2);
}

static void test_enable_changes_id(void **state) {
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1", .vmstate_id = "nic-a" };
        g_autoptr(DomainEdit) e = enable(enabled, &dev, 1);
        g_autofree char *step = replace_once(enabled, "vmstate-id=\"mb-nic0\"", "vmstate-id=\"nic-a\"");
        g_autofree char *expect = replace_once(step, "id-list=mb-nic0", "id-list=nic-a");

        assert_text(e->xml, expect);
        assert_changes(e, "device-changed 0000:3b:00.1: changed device 0000:3b:00.1: vmstate id mb-nic0 -> nic-a",
                       "object-changed migbroker: changed dbus-vmstate object migbroker: id-list mb-nic0 -> nic-a",
                       NULL);
}

static void test_enable_no_vmstate(void **state) {
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1", .no_vmstate = true };
        g_autoptr(DomainEdit) e = enable(base, &dev, 1);
        g_autoptr(DomainEdit) back = NULL;

        /* the shim path: declared, no id, no object */
        assert_non_null(strstr(e->xml, "<mb:device bdf=\"0000:3b:00.1\"/>"));
        assert_null(strstr(e->xml, "commandline"));
        assert_changes(e, "device-added 0000:3b:00.1: added device 0000:3b:00.1 (no vmstate id)", NULL);
        assert_enable_idempotent(e->xml, &dev, 1);

        /* and from an enabled device: its id and the object go */
        back = enable(enabled, &dev, 1);
        assert_null(strstr(back->xml, "vmstate"));
        assert_null(strstr(back->xml, "<qemu:"));
        assert_changes(back, "device-changed 0000:3b:00.1: changed device 0000:3b:00.1: vmstate id mb-nic0 removed",
                       "object-removed migbroker: removed dbus-vmstate object migbroker (no device has a vmstate "
                       "id): -object dbus-vmstate,id=migbroker,addr=" BUS ",id-list=mb-nic0",
                       NULL);
}

static void test_enable_manage_no(void **state) {
        g_autofree char *xml = replace_once(enabled, "    </mb:devices>",
                                            "      <mb:device bdf=\"0000:3b:00.2\" manage=\"no\"/>\n"
                                            "    </mb:devices>");
        const DomainEditDevice dev = { .bdf = "0000:3b:00.2", .vmstate_id = "mb-nic1" };
        g_autoptr(DomainEdit) e = enable(xml, &dev, 1);

        assert_non_null(strstr(e->xml, "<mb:device bdf=\"0000:3b:00.2\" vmstate-id=\"mb-nic1\"/>"));
        assert_null(strstr(e->xml, "manage"));
        assert_changes(e,
                       "device-changed 0000:3b:00.2: changed device 0000:3b:00.2: managed again (was "
                       "manage=\"no\"); vmstate id mb-nic1 added",
                       "object-changed migbroker: changed dbus-vmstate object migbroker: id-list mb-nic0 -> "
                       "mb-nic0,mb-nic1",
                       NULL);
}

static void test_enable_merges_duplicates(void **state) {
        g_autofree char *xml = replace_once(enabled, "    </mb:devices>",
                                            "      <mb:device bdf=\"0000:3B:00.1\"/>\n"
                                            "    </mb:devices>");
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1" };
        g_autoptr(DomainEdit) e = enable(xml, &dev, 1);

        assert_text(e->xml, enabled);
        assert_changes(e,
                       "device-changed 0000:3b:00.1: changed device 0000:3b:00.1: the entry at line 7 merged into "
                       "the one at line 6",
                       NULL);
}

static void test_enable_conflicts(void **state) {
        const DomainEditDevice taken = { .bdf = "0000:3b:00.2", .vmstate_id = "mb-nic0" };
        const DomainEditDevice twice[] = { { .bdf = "0000:3b:00.2", .vmstate_id = "x" },
                                           { .bdf = "0000:3b:00.3", .vmstate_id = "x" } };
        const DomainEditDevice same[] = { { .bdf = "0000:3b:00.2" }, { .bdf = "0000:3B:00.2" } };
        const DomainEditDevice swap[] = { { .bdf = "0000:3b:00.1", .vmstate_id = "b" },
                                          { .bdf = "0000:3b:00.2", .vmstate_id = "mb-nic0" } };
        g_autoptr(DomainEdit) e = NULL;

        assert_enable_fails(enabled, &taken, 1, -EEXIST,
                            "vmstate id 'mb-nic0' is already given to 0000:3b:00.1 in the domain's metadata");
        assert_enable_fails(base, twice, 2, -EEXIST, "vmstate id 'x' is given to both 0000:3b:00.2 and 0000:3b:00.3");
        assert_enable_fails(base, same, 2, -EINVAL, "device 0000:3b:00.2 is named twice");
        assert_enable_fails(base, &(DomainEditDevice) { .bdf = "3b:00.1" }, 1, -EINVAL,
                            "'3b:00.1' is not a PCI address (DDDD:BB:SS.F)");
        assert_enable_fails(base, &(DomainEditDevice) { .bdf = "0000:3b:00.1", .vmstate_id = "a,b" }, 1, -EINVAL,
                            "vmstate id 'a,b' must be 1 to 255 visible ASCII characters other than ','");
        /* an id moving to another device in the same run is no conflict */
        e = enable(enabled, swap, 2);
        assert_non_null(strstr(e->xml, ",id-list=b,,mb-nic0\"/>"));
}

static void test_enable_refuses_bad_input(void **state) {
        static const char conflicting[] = "<domain type='qemu'><name>t</name><uuid>" UUID "</uuid><metadata>"
                                          "<mb:devices xmlns:mb='" HOOK_METADATA_NS "'>"
                                          "<mb:device bdf='0000:3b:00.1' vmstate-id='a'/>"
                                          "<mb:device bdf='0000:3b:00.2' vmstate-id='a'/>"
                                          "</mb:devices></metadata></domain>";
        static const char no_uuid[] = "<domain type='qemu'><name>t</name></domain>";
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1" };
        g_autofree char *error = NULL;
        DomainEdit *e = NULL;

        assert_enable_fails("<domain type='qemu'><name>t</name>", &dev, 1, -EBADMSG,
                            "malformed domain XML: line 1: Premature end of data in tag domain line 1");
        assert_enable_fails("<network/>", &dev, 1, -EBADMSG, "line 1: the root element is <network>, not <domain>");
        assert_enable_fails(conflicting, &dev, 1, -EINVAL,
                            "line 1: vmstate-id 'a' is given to both 0000:3b:00.1 and 0000:3b:00.2");
        assert_enable_fails(no_uuid, &dev, 1, -EINVAL, "the domain XML has no valid <uuid>");
        assert_int_equal(domain_edit_enable(base, strlen(base), &dev, 1, "run/migbroker", &e, &error), -EINVAL);
        assert_string_equal(error, "the runtime directory 'run/migbroker' is not an absolute path");
        assert_null(e);
}

/* Every other argument, other metadata, other dbus-vmstate objects stay as they are. */
static void test_enable_keeps_the_rest(void **state) {
        static const char xml[] =
                "<domain type='qemu' xmlns:qemu='" DOMAIN_QEMU_NS "'>\n"
                "  <name>t1</name>\n"
                "  <uuid>" UUID "</uuid>\n"
                "  <description>a &amp; b</description>\n"
                "  <metadata>\n"
                "    <app:info xmlns:app='http://example.org/app'><app:owner>ops</app:owner></app:info>\n"
                "  </metadata>\n"
                "  <devices>\n"
                "    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
                "      <source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source>\n"
                "    </hostdev>\n"
                "  </devices>\n"
                "  <qemu:commandline>\n"
                "    <qemu:arg value='-d'/>\n"
                "    <qemu:arg value='guest_errors'/>\n"
                "    <qemu:arg value='-object'/>\n"
                "    <qemu:arg value='dbus-vmstate,id=slirp,addr=unix:path=/run/other/bus'/>\n"
                "    <qemu:env name='G_MESSAGES_DEBUG' value='all'/>\n"
                "  </qemu:commandline>\n"
                "</domain>\n";
        static const char expect[] =
                "<domain " QEMU_NS_ATTR " type=\"qemu\">\n"
                "  <name>t1</name>\n"
                "  <uuid>" UUID "</uuid>\n"
                "  <description>a &amp; b</description>\n"
                "  <metadata>\n"
                "    <app:info xmlns:app=\"http://example.org/app\"><app:owner>ops</app:owner></app:info>\n"
                "    <mb:devices xmlns:mb=\"" HOOK_METADATA_NS "\">\n"
                "      <mb:device bdf=\"0000:3b:00.2\" vmstate-id=\"nic1\"/>\n"
                "    </mb:devices>\n"
                "  </metadata>\n"
                "  <devices>\n"
                "    <hostdev mode=\"subsystem\" type=\"pci\" managed=\"yes\">\n"
                "      <source><address domain=\"0x0000\" bus=\"0x3b\" slot=\"0x00\" function=\"0x1\"/></source>\n"
                "    </hostdev>\n"
                "  </devices>\n"
                "  <qemu:commandline>\n"
                "    <qemu:arg value=\"-d\"/>\n"
                "    <qemu:arg value=\"guest_errors\"/>\n"
                "    <qemu:arg value=\"-object\"/>\n"
                "    <qemu:arg value=\"dbus-vmstate,id=slirp,addr=unix:path=/run/other/bus\"/>\n"
                "    <qemu:env name=\"G_MESSAGES_DEBUG\" value=\"all\"/>\n"
                "    <qemu:arg value=\"-object\"/>\n"
                "    <qemu:arg value=\"dbus-vmstate,id=migbroker,addr=" BUS ",id-list=nic1\"/>\n"
                "  </qemu:commandline>\n"
                "</domain>\n";
        const DomainEditDevice dev = { .bdf = "0000:3b:00.2", .vmstate_id = "nic1" };
        g_autoptr(DomainEdit) e = enable(xml, &dev, 1);
        g_autoptr(DomainEdit) off = NULL;

        assert_text(e->xml, expect);
        assert_changes(e, "device-added 0000:3b:00.2: added device 0000:3b:00.2 (vmstate id nic1)",
                       "object-added migbroker: added dbus-vmstate object migbroker: -object dbus-vmstate,"
                       "id=migbroker,addr=" BUS ",id-list=nic1",
                       "note: the dbus-vmstate object slirp on unix:path=/run/other/bus is not migbroker's: left as it "
                       "is",
                       NULL);
        assert_enable_idempotent(e->xml, &dev, 1);

        /* disable all: ours go, everything else stays (libxml2's quotes aside) */
        off = disable(e->xml, NULL, 0);
        assert_null(strstr(off->xml, "mb:"));
        assert_null(strstr(off->xml, "migbroker"));
        assert_non_null(strstr(off->xml, "<app:info xmlns:app=\"http://example.org/app\"><app:owner>ops"));
        assert_non_null(strstr(off->xml, "    <qemu:arg value=\"-object\"/>\n"
                                         "    <qemu:arg value=\"dbus-vmstate,id=slirp,addr=unix:path=/run/other/bus\"/>\n"
                                         "    <qemu:env name=\"G_MESSAGES_DEBUG\" value=\"all\"/>\n"
                                         "  </qemu:commandline>\n"));
        assert_changes(off, "device-removed 0000:3b:00.2: removed device 0000:3b:00.2 (vmstate id nic1)",
                       "object-removed migbroker: removed dbus-vmstate object migbroker (no device has a vmstate id): "
                       "-object dbus-vmstate,id=migbroker,addr=" BUS ",id-list=nic1",
                       "note: the dbus-vmstate object slirp on unix:path=/run/other/bus is not migbroker's: left as it "
                       "is",
                       NULL);
}

static void test_enable_hostdev_note(void **state) {
        g_autofree char *xml = replace_once(base, "  </devices>",
                                            "    <hostdev mode='subsystem' type='pci'>\n"
                                            "      <source><address bus='0x3b' slot='0' function='1'/></source>\n"
                                            "    </hostdev>\n"
                                            "  </devices>");
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1", .vmstate_id = "v" };
        g_autoptr(DomainEdit) e = enable(xml, &dev, 1);

        assert_int_equal(e->changes->len, 2);
        assert_int_equal(e->notes->len, 1);
        assert_true(g_str_has_prefix(e->notes->pdata[0], "0000:3b:00.1 is also a PCI host device of the domain: "));
}

/* A compact document stays compact. */
static void test_enable_compact(void **state) {
        static const char xml[] = "<domain type='qemu'><name>t</name><uuid>" UUID "</uuid><devices/></domain>";
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1", .vmstate_id = "v" };
        g_autoptr(DomainEdit) e = enable(xml, &dev, 1);

        assert_text(e->xml, "<domain " QEMU_NS_ATTR " type=\"qemu\"><name>t</name><uuid>" UUID "</uuid><metadata>"
                            "<mb:devices xmlns:mb=\"" HOOK_METADATA_NS "\"><mb:device bdf=\"0000:3b:00.1\" "
                            "vmstate-id=\"v\"/></mb:devices></metadata><devices/><qemu:commandline><qemu:arg "
                            "value=\"-object\"/><qemu:arg value=\"dbus-vmstate,id=migbroker,addr=" BUS
                            ",id-list=v\"/></qemu:commandline></domain>\n");
        assert_enable_idempotent(e->xml, &dev, 1);
}

/* An object of ours found by its bus: another runtime dir, another domain's bus (a copy). */
static void test_enable_repairs_object(void **state) {
        g_autofree char *other_dir = replace_once(enabled, "id=migbroker,addr=unix:path=/run/migbroker/",
                                                  "id=mb0,addr=unix:path=/var/run/mb/");
        g_autofree char *other_uuid = replace_once(enabled, "id=migbroker,addr=unix:path=/run/migbroker/domain/" UUID,
                                                   "id=mb0,addr=unix:path=/run/migbroker/domain/"
                                                   "1c9cfba1-8fff-46fc-ba3b-29faa751c687");
        g_autoptr(DomainEdit) a = enable(other_dir, NULL, 0);
        g_autoptr(DomainEdit) b = enable(other_uuid, NULL, 0);
        g_autofree char *expect = replace_once(enabled, "id=migbroker,", "id=mb0,");

        assert_text(a->xml, expect);
        assert_changes(a,
                       "object-changed mb0: changed dbus-vmstate object mb0: addr unix:path=/var/run/mb/domain/" UUID
                       "/bus -> " BUS,
                       NULL);
        assert_text(b->xml, expect);
        assert_changes(b,
                       "object-changed mb0: changed dbus-vmstate object mb0: addr unix:path=/run/migbroker/domain/"
                       "1c9cfba1-8fff-46fc-ba3b-29faa751c687/bus -> " BUS,
                       NULL);
}

static void test_enable_removes_second_object(void **state) {
        g_autofree char *xml = replace_once(enabled, "  </qemu:commandline>",
                                            "    <qemu:arg value='-object'/>\n"
                                            "    <qemu:arg value='dbus-vmstate,id=old,addr=" BUS ",id-list=x'/>\n"
                                            "  </qemu:commandline>");
        g_autoptr(DomainEdit) e = enable(xml, NULL, 0);

        assert_text(e->xml, enabled);
        assert_changes(e,
                       "object-removed old: removed dbus-vmstate object old, a second one of migbroker's: -object "
                       "dbus-vmstate,id=old,addr=" BUS ",id-list=x",
                       NULL);
}

/* ---- disable -------------------------------------------------------------------------- */

static void test_disable_all(void **state) {
        g_autoptr(DomainEdit) e = disable(enabled, NULL, 0);
        g_autoptr(DomainEdit) again = NULL;

        /* base again, in libxml2's quotes, with the qemu namespace declared */
        assert_text(e->xml, "<domain " QEMU_NS_ATTR " type=\"qemu\">\n"
                            "  <name>t1</name>\n"
                            "  <uuid>" UUID "</uuid>\n"
                            "  <memory unit=\"KiB\">65536</memory>\n"
                            "  <devices>\n"
                            "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
                            "  </devices>\n"
                            "</domain>\n");
        assert_changes(e, "device-removed 0000:3b:00.1: removed device 0000:3b:00.1 (vmstate id mb-nic0)",
                       "object-removed migbroker: removed dbus-vmstate object migbroker (no device has a vmstate id): "
                       "-object dbus-vmstate,id=migbroker,addr=" BUS ",id-list=mb-nic0",
                       NULL);
        again = disable(e->xml, NULL, 0);
        assert_int_equal(again->changes->len, 0);
        assert_text(again->xml, e->xml);
        assert_changes(again, "note: the domain's metadata declares no device for migbroker", NULL);
}

static void test_disable_one(void **state) {
        const DomainEditDevice devs[] = { { .bdf = "0000:3b:00.1", .vmstate_id = "mb-nic0" },
                                          { .bdf = "0000:3b:00.2", .vmstate_id = "mb-nic1" } };
        const char *const which[] = { "0000:3B:00.1" };
        g_autoptr(DomainEdit) two = enable(base, devs, 2);
        g_autoptr(DomainEdit) e = disable(two->xml, which, 1);
        g_autoptr(DomainEdit) again = NULL;

        assert_null(strstr(e->xml, "0000:3b:00.1"));
        assert_non_null(strstr(e->xml, "    <mb:devices xmlns:mb=\"" HOOK_METADATA_NS "\">\n"
                                       "      <mb:device bdf=\"0000:3b:00.2\" vmstate-id=\"mb-nic1\"/>\n"
                                       "    </mb:devices>\n"));
        assert_non_null(strstr(e->xml, ",id-list=mb-nic1\"/>"));
        assert_changes(e, "device-removed 0000:3b:00.1: removed device 0000:3b:00.1 (vmstate id mb-nic0)",
                       "object-changed migbroker: changed dbus-vmstate object migbroker: id-list mb-nic0,mb-nic1 -> "
                       "mb-nic1",
                       NULL);
        again = disable(e->xml, which, 1);
        assert_text(again->xml, e->xml);
        assert_changes(again, "note: 0000:3b:00.1 is not in the domain's migbroker metadata", NULL);
}

/* disable never adds the object, even where the metadata would want one */
static void test_disable_does_not_add(void **state) {
        const DomainEditDevice devs[] = { { .bdf = "0000:3b:00.1", .vmstate_id = "a" },
                                          { .bdf = "0000:3b:00.2", .vmstate_id = "b" } };
        const char *const which[] = { "0000:3b:00.2" };
        g_autoptr(DomainEdit) two = enable(base, devs, 2);
        g_autofree char *no_object = NULL;
        g_autoptr(DomainEdit) e = NULL;
        const char *at = strstr(two->xml, "  <qemu:commandline>");

        assert_non_null(at);
        no_object = g_strdup_printf("%.*s</domain>\n", (int) (at - two->xml), two->xml);
        e = disable(no_object, which, 1);
        assert_null(strstr(e->xml, "qemu:arg"));
        assert_changes(e, "device-removed 0000:3b:00.2: removed device 0000:3b:00.2 (vmstate id b)",
                       "note: the metadata gives vmstate ids (a) but no dbus-vmstate object names the broker's bus "
                       "(domain enable adds it)",
                       NULL);
}

static void test_disable_keeps_manage_no(void **state) {
        g_autofree char *xml = replace_once(enabled, "    </mb:devices>",
                                            "      <mb:device bdf=\"0000:3b:00.2\" manage=\"no\"/>\n"
                                            "    </mb:devices>");
        const char *const which[] = { "0000:3b:00.2" };
        g_autoptr(DomainEdit) e = disable(xml, NULL, 0);
        g_autoptr(DomainEdit) f = disable(xml, which, 1);

        assert_non_null(strstr(e->xml, "    <mb:devices xmlns:mb=\"" HOOK_METADATA_NS "\">\n"
                                       "      <mb:device bdf=\"0000:3b:00.2\" manage=\"no\"/>\n"
                                       "    </mb:devices>\n"));
        assert_null(strstr(e->xml, "commandline"));
        assert_int_equal(e->changes->len, 2);
        assert_int_equal(f->changes->len, 0);
        assert_changes(f, "note: 0000:3b:00.2 is excluded already (manage=\"no\"): left as it is", NULL);
}

static void test_disable_hostdev_note(void **state) {
        g_autofree char *xml = replace_once(enabled, "  </devices>",
                                            "    <hostdev mode='subsystem' type='pci'>\n"
                                            "      <source><address bus='0x3b' slot='0' function='1'/></source>\n"
                                            "    </hostdev>\n"
                                            "  </devices>");
        g_autoptr(DomainEdit) e = disable(xml, NULL, 0);

        assert_int_equal(e->changes->len, 2);
        assert_int_equal(e->notes->len, 1);
        assert_true(g_str_has_prefix(e->notes->pdata[0], "0000:3b:00.1 is a PCI host device of the domain: the hook "
                                                         "still hands it to the broker"));
}

static void test_disable_bad_bdf(void **state) {
        const char *const which[] = { "0000:3b:00.9" };
        g_autofree char *error = NULL;
        DomainEdit *e = NULL;

        assert_int_equal(domain_edit_disable(enabled, strlen(enabled), which, 1, RUN, &e, &error), -EINVAL);
        assert_string_equal(error, "'0000:3b:00.9' is not a PCI address (DDDD:BB:SS.F)");
        assert_null(e);
}

/* ---- show -------------------------------------------------------------------------------- */

static DomainInfo *info_of(const char *xml) {
        g_autofree char *error = NULL;
        DomainInfo *i = NULL;
        int r;

        r = domain_info_read(xml, strlen(xml), RUN, &i, &error);
        if (r < 0)
                fail_msg("domain_info_read failed: %d %s", r, error);
        return i;
}

static void test_info_states(void **state) {
        g_autofree char *missing = replace_once(enabled, "    <qemu:arg value=\"-object\"/>\n", "");
        g_autofree char *missing2 = replace_once(missing, "dbus-vmstate,", "x,");
        g_autofree char *mismatch = replace_once(enabled, "id-list=mb-nic0", "id-list=other");
        g_autofree char *unneeded = replace_once(enabled, " vmstate-id=\"mb-nic0\"", "");
        g_autoptr(DomainInfo) none = info_of(base);
        g_autoptr(DomainInfo) ok = info_of(enabled);
        g_autoptr(DomainInfo) m = info_of(missing2);
        g_autoptr(DomainInfo) mm = info_of(mismatch);
        g_autoptr(DomainInfo) u = info_of(unneeded);
        const DomainVmstateObject *o;

        assert_int_equal(none->object_state, DOMAIN_OBJECT_NONE);
        assert_null(none->object_problem);
        assert_int_equal(none->domain->devices->len, 0);
        assert_string_equal(none->bus_address, BUS);

        assert_int_equal(ok->object_state, DOMAIN_OBJECT_OK);
        assert_int_equal(ok->objects->len, 1);
        o = ok->objects->pdata[0];
        assert_true(o->ours);
        assert_string_equal(o->id, "migbroker");
        assert_string_equal(o->bus_path, "/run/migbroker/domain/" UUID "/bus");
        assert_string_equal(o->id_list[0], "mb-nic0");
        assert_null(o->id_list[1]);
        assert_string_equal(ok->vmstate_ids[0], "mb-nic0");
        assert_int_equal(ok->domain->devices->len, 1);
        assert_string_equal(ok->domain->name, "t1");

        assert_int_equal(m->object_state, DOMAIN_OBJECT_MISSING);
        assert_string_equal(m->object_problem, "the metadata gives vmstate ids (mb-nic0) but no dbus-vmstate object "
                                               "names the broker's bus: QEMU will not migrate their state");
        assert_int_equal(mm->object_state, DOMAIN_OBJECT_MISMATCH);
        assert_string_equal(mm->object_problem, "its id-list is other, the metadata gives mb-nic0");
        assert_int_equal(u->object_state, DOMAIN_OBJECT_UNNEEDED);
        assert_string_equal(u->object_problem,
                            "no device has a vmstate id, but the domain has migbroker's dbus-vmstate object migbroker");
        assert_string_equal(domain_object_state_to_string(DOMAIN_OBJECT_MISMATCH), "mismatch");
}

static void test_bus_address(void **state) {
        g_autofree char *a = domain_bus_address("/run/migbroker/", UUID);
        g_autofree char *b = domain_bus_address("/srv/mig broker,x", UUID);
        g_autofree char *p = domain_bus_path("/run/migbroker", UUID);

        assert_string_equal(a, BUS);
        assert_string_equal(b, "unix:path=/srv/mig%20broker%2cx/domain/" UUID "/bus");
        assert_string_equal(p, "/run/migbroker/domain/" UUID "/bus");
}

/* A runtime dir that D-Bus must escape: found again as ours, matching. */
static void test_escaped_runtime_dir(void **state) {
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1", .vmstate_id = "v" };
        g_autofree char *error = NULL;
        g_autoptr(DomainEdit) e = NULL, again = NULL;
        g_autoptr(DomainInfo) i = NULL;

        assert_int_equal(domain_edit_enable(base, strlen(base), &dev, 1, "/srv/a b", &e, &error), 0);
        assert_non_null(strstr(e->xml, "addr=unix:path=/srv/a%20b/domain/" UUID "/bus,id-list=v\""));
        assert_int_equal(domain_edit_enable(e->xml, strlen(e->xml), &dev, 1, "/srv/a b", &again, &error), 0);
        assert_int_equal(again->changes->len, 0);
        assert_int_equal(domain_info_read(e->xml, strlen(e->xml), "/srv/a b", &i, &error), 0);
        assert_int_equal(i->object_state, DOMAIN_OBJECT_OK);
}

/* ---- the libvirt fixtures ------------------------------------------------------------------ */

#define FIXTURE_UUID "1c9cfba1-8fff-46fc-ba3b-29faa751c687"

/* A running domain's XML with a dbus-vmstate object of its own (id lmbroker). */
static void test_fixture_with_object(void **state) {
        g_autofree char *xml = read_fixture("hook-stdin-with-dbus-vmstate.xml");
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1", .vmstate_id = "vfio0" };
        g_autoptr(DomainInfo) before = info_of(xml);
        g_autoptr(DomainEdit) e = enable(xml, &dev, 1);
        g_autoptr(DomainEdit) off = NULL;
        g_autoptr(DomainInfo) after = NULL;

        /* the object is migbroker's (its bus), but names an id no device has */
        assert_int_equal(before->object_state, DOMAIN_OBJECT_UNNEEDED);
        /* declaring the device makes it match: only the metadata changes */
        assert_changes(e, "device-added 0000:3b:00.1: added device 0000:3b:00.1 (vmstate id vfio0)", NULL);
        assert_non_null(strstr(e->xml, "  <uuid>" FIXTURE_UUID "</uuid>\n"
                                       "  <metadata>\n"
                                       "    <mb:devices xmlns:mb=\"" HOOK_METADATA_NS "\">\n"
                                       "      <mb:device bdf=\"0000:3b:00.1\" vmstate-id=\"vfio0\"/>\n"
                                       "    </mb:devices>\n"
                                       "  </metadata>\n"
                                       "  <memory unit=\"KiB\">65536</memory>\n"));
        assert_non_null(strstr(e->xml, "<qemu:arg value=\"dbus-vmstate,id=lmbroker,addr=unix:path=/run/migbroker/"
                                       "domain/" FIXTURE_UUID "/bus,id-list=vfio0\"/>"));
        after = info_of(e->xml);
        assert_int_equal(after->object_state, DOMAIN_OBJECT_OK);
        assert_enable_idempotent(e->xml, &dev, 1);

        off = disable(e->xml, NULL, 0);
        assert_null(strstr(off->xml, "commandline"));
        assert_null(strstr(off->xml, "<metadata>"));
        assert_changes(off, "device-removed 0000:3b:00.1: removed device 0000:3b:00.1 (vmstate id vfio0)",
                       "object-removed lmbroker: removed dbus-vmstate object lmbroker (no device has a vmstate id): "
                       "-object dbus-vmstate,id=lmbroker,addr=unix:path=/run/migbroker/domain/" FIXTURE_UUID
                       "/bus,id-list=vfio0",
                       NULL);
}

/* The minimal definition (libvirt adds the <uuid> when it defines it). */
static void test_fixture_minimal(void **state) {
        g_autofree char *fixture = read_fixture("domain-tcg-minimal.xml");
        g_autofree char *xml = replace_once(fixture, "<name>t1</name>", "<name>t1</name>\n  <uuid>" UUID "</uuid>");
        const DomainEditDevice dev = { .bdf = "0000:3b:00.1", .vmstate_id = "mb-nic0" };
        g_autoptr(DomainEdit) e = enable(xml, &dev, 1);
        g_autoptr(DomainEdit) off = NULL;
        g_autoptr(DomainInfo) i = NULL;

        assert_int_equal(e->changes->len, 2);
        assert_non_null(strstr(e->xml, "    <memballoon model=\"none\"/>\n"
                                       "  </devices>\n"
                                       "  <qemu:commandline>\n"
                                       "    <qemu:arg value=\"-object\"/>\n"
                                       "    <qemu:arg value=\"dbus-vmstate,id=migbroker,addr=" BUS
                                       ",id-list=mb-nic0\"/>\n"
                                       "  </qemu:commandline>\n"
                                       "</domain>\n"));
        i = info_of(e->xml);
        assert_int_equal(i->object_state, DOMAIN_OBJECT_OK);
        assert_enable_idempotent(e->xml, &dev, 1);
        off = disable(e->xml, NULL, 0);
        assert_int_equal(off->changes->len, 2);
        assert_null(strstr(off->xml, "mb:"));
        assert_null(strstr(off->xml, "<qemu:"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_enable_adds),
                cmocka_unit_test(test_enable_second_device),
                cmocka_unit_test(test_enable_several_default_ids),
                cmocka_unit_test(test_enable_changes_id),
                cmocka_unit_test(test_enable_no_vmstate),
                cmocka_unit_test(test_enable_manage_no),
                cmocka_unit_test(test_enable_merges_duplicates),
                cmocka_unit_test(test_enable_conflicts),
                cmocka_unit_test(test_enable_refuses_bad_input),
                cmocka_unit_test(test_enable_keeps_the_rest),
                cmocka_unit_test(test_enable_hostdev_note),
                cmocka_unit_test(test_enable_compact),
                cmocka_unit_test(test_enable_repairs_object),
                cmocka_unit_test(test_enable_removes_second_object),
                cmocka_unit_test(test_disable_all),
                cmocka_unit_test(test_disable_one),
                cmocka_unit_test(test_disable_does_not_add),
                cmocka_unit_test(test_disable_keeps_manage_no),
                cmocka_unit_test(test_disable_hostdev_note),
                cmocka_unit_test(test_disable_bad_bdf),
                cmocka_unit_test(test_info_states),
                cmocka_unit_test(test_bus_address),
                cmocka_unit_test(test_escaped_runtime_dir),
        };
        const struct CMUnitTest fixture_tests[] = {
                cmocka_unit_test(test_fixture_with_object),
                cmocka_unit_test(test_fixture_minimal),
        };
        g_autofree char *dir = fixture_dir();
        int failed;

        failed = cmocka_run_group_tests_name("domain-edit", tests, NULL, NULL);
        if (!dir) {
                printf("# SKIP: the libvirt fixtures are not there ($MB_SHARED/fixtures/libvirt); "
                       "the other tests ran\n");
                return failed ? 1 : 77;
        }
        failed += cmocka_run_group_tests_name("domain-edit-fixtures", fixture_tests, NULL, NULL);
        return failed ? 1 : 0;
}
