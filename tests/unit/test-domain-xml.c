/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of hooks/domain-xml: the domain XML that libvirt hands the hook,
 * from the real fixtures captured from libvirt 9.0 ($MB_SHARED/fixtures/
 * libvirt) and from the variants in tests/data/domain/. Exact results and
 * exact error messages. Exits 77 (skipped) after the other tests when the
 * shared fixtures are absent. */
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

#include "domain-xml.h"

static const char *srcdir(void) {
        const char *e = getenv("MB_SRCDIR");
        return e && *e ? e : ".";
}

static char *fixture_dir(void) {
        const char *e = getenv("MB_SHARED");
        g_autofree char *dir = g_build_filename(e && *e ? e : "../shared", "fixtures", "libvirt", NULL);

        return g_file_test(dir, G_FILE_TEST_IS_DIR) ? g_steal_pointer(&dir) : NULL;
}

static char *read_text(const char *path) {
        g_autoptr(GError) error = NULL;
        char *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, &error))
                fail_msg("cannot read %s: %s", path, error->message);
        return text;
}

static HookDomain *parse_text(const char *text) {
        g_autofree char *error = NULL;
        HookDomain *d = NULL;
        int r;

        r = hook_domain_parse(text, strlen(text), &d, &error);
        if (r < 0)
                fail_msg("parse failed: %d %s", r, error);
        assert_null(error);
        assert_non_null(d);
        return d;
}

static HookDomain *parse_data(const char *name) {
        g_autofree char *path = g_build_filename(srcdir(), "tests", "data", "domain", name, NULL);
        g_autofree char *text = read_text(path);

        return parse_text(text);
}

static void assert_parse_error(const char *text, size_t len, int expect_r, const char *expect_msg) {
        g_autofree char *error = NULL;
        HookDomain *d = NULL;
        int r;

        r = hook_domain_parse(text, len, &d, &error);
        assert_null(d);
        assert_non_null(error);
        if (r != expect_r || strcmp(error, expect_msg) != 0)
                fail_msg("expected %d \"%s\", got %d \"%s\"", expect_r, expect_msg, r, error);
}

static void assert_data_error(const char *name, int expect_r, const char *expect_msg) {
        g_autofree char *path = g_build_filename(srcdir(), "tests", "data", "domain", name, NULL);
        g_autofree char *text = read_text(path);

        assert_parse_error(text, strlen(text), expect_r, expect_msg);
}

static void assert_device(const HookDomain *d, guint i, const char *bdf, const char *vmstate_id, bool hostdev,
                          bool metadata, int line) {
        const HookDevice *dev;

        assert_true(i < d->devices->len);
        dev = d->devices->pdata[i];
        assert_string_equal(dev->bdf, bdf);
        if (vmstate_id)
                assert_string_equal(dev->vmstate_id, vmstate_id);
        else
                assert_null(dev->vmstate_id);
        assert_int_equal(dev->hostdev, hostdev);
        assert_int_equal(dev->metadata, metadata);
        assert_int_equal(dev->line, line);
        assert_ptr_equal(hook_domain_find(d, bdf), dev);
}

static void assert_notes(const HookDomain *d, ...) {
        va_list ap;
        guint i = 0;

        va_start(ap, d);
        for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *), i++) {
                if (i >= d->notes->len)
                        fail_msg("missing note \"%s\"", n);
                assert_string_equal(d->notes->pdata[i], n);
        }
        va_end(ap);
        assert_int_equal(d->notes->len, i);
}

#define UUID "6f1c9a52-1d1e-4c5b-9b0e-3f6a2d7c8e41"

/* ---- variants ------------------------------------------------------------ */

static void test_hostdev_source(void **state) {
        g_autoptr(HookDomain) d = parse_data("hostdev-source.xml");

        assert_string_equal(d->name, "vm1");
        assert_string_equal(d->uuid, UUID); /* lower case */
        assert_int_equal(d->devices->len, 4);
        /* sorted by BDF, the host (source) address, never the guest one */
        assert_device(d, 0, "0000:3b:00.1", NULL, true, false, 14); /* no mode: libvirt's default subsystem */
        assert_device(d, 1, "0000:3b:00.2", NULL, true, false, 6);  /* 0x3B */
        assert_device(d, 2, "0000:5e:10.7", NULL, true, false, 19); /* <interface type='hostdev'> */
        assert_device(d, 3, "0001:02:03.4", NULL, true, false, 29); /* decimal, as libvirt reads it */
        assert_null(hook_domain_find(d, "0000:00:05.0"));
        assert_notes(d, NULL);
}

static void test_hostdev_guest_address_only(void **state) {
        g_autoptr(HookDomain) d = parse_data("hostdev-guest-address.xml");

        assert_int_equal(d->devices->len, 0);
        assert_string_equal(d->uuid, UUID);
        assert_notes(d, "line 5: <hostdev> has no <source> (only a guest address): not a host PCI device, ignored",
                     NULL);
}

static void test_metadata(void **state) {
        g_autoptr(HookDomain) d = parse_data("metadata.xml");

        assert_int_equal(d->devices->len, 3);
        assert_device(d, 0, "0000:3b:00.1", "mb-nic0", false, true, 9);
        assert_device(d, 1, "0000:3b:00.3", "mb-nic1", false, true, 12);
        assert_device(d, 2, "0000:3b:00.4", NULL, false, true, 11);
        /* another application's metadata (other:device bdf=...) is not ours */
        assert_null(hook_domain_find(d, "0000:aa:00.0"));
        assert_notes(d, NULL);
}

static void test_manage_no(void **state) {
        g_autoptr(HookDomain) d = parse_data("manage-no.xml");

        /* a hostdev, but manage="no" in the metadata (any prefix of our namespace) */
        assert_int_equal(d->devices->len, 1);
        assert_device(d, 0, "0000:3b:00.1", NULL, true, false, 11);
        assert_notes(d, "line 16: hostdev 0000:3b:00.2 has manage=\"no\" in the metadata (line 6): ignored", NULL);
}

static void test_duplicates_merged(void **state) {
        g_autoptr(HookDomain) d = parse_data("duplicates.xml");

        /* 00.1: two hostdevs (0x3b and 59) and two equal metadata entries: one device */
        assert_int_equal(d->devices->len, 2);
        assert_device(d, 0, "0000:3b:00.1", "mb-nic0", true, true, 7);
        /* 00.2: first without, then with a vmstate-id */
        assert_device(d, 1, "0000:3b:00.2", "mb-nic2", false, true, 6);
        assert_notes(d, NULL);
}

static void test_conflicting_vmstate_ids(void **state) {
        assert_data_error("conflicting-vmstate-ids.xml", -EINVAL,
                          "line 7: 0000:3b:00.1 is declared twice with different vmstate-ids ('mb-nic0' at line 6, "
                          "'mb-nic1' at line 7)");
}

static void test_shared_vmstate_id(void **state) {
        assert_data_error("metadata-shared-vmstate-id.xml", -EINVAL,
                          "line 7: vmstate-id 'nic' is given to both 0000:3b:00.1 and 0000:3b:00.2");
}

static void test_manage_conflict(void **state) {
        assert_data_error("metadata-manage-conflict.xml", -EINVAL,
                          "line 7: 0000:3b:00.1 is declared managed (line 6) and manage=\"no\" (line 7)");
}

static void test_malformed(void **state) {
        assert_data_error("malformed.xml", -EBADMSG,
                          "malformed domain XML: line 8: Opening and ending tag mismatch: source line 6 and hostdev");
}

static void test_missing_uuid(void **state) {
        assert_data_error("missing-uuid.xml", -EINVAL,
                          "the domain has no <uuid>, which migbroker needs as the owner of 0000:3b:00.1 (line 4)");
}

static void test_no_devices(void **state) {
        g_autoptr(HookDomain) d = parse_data("no-devices.xml");

        assert_int_equal(d->devices->len, 0);
        assert_string_equal(d->uuid, UUID);
        assert_notes(d, NULL);
}

static void test_non_pci_hostdevs(void **state) {
        g_autoptr(HookDomain) d = parse_data("usb-hostdev.xml");

        assert_int_equal(d->devices->len, 0);
        assert_notes(d, "line 5: <hostdev mode='subsystem' type='usb'>: not a PCI host device, ignored",
                     "line 12: <hostdev mode='capabilities' type='storage'>: not a PCI host device, ignored", NULL);
}

static void test_address_fields(void **state) {
        assert_data_error("hostdev-slot-out-of-range.xml", -EINVAL,
                          "line 7: <hostdev> source address: slot='0x20' is out of range (at most 0x1f)");
        assert_data_error("hostdev-function-out-of-range.xml", -EINVAL,
                          "line 7: <hostdev> source address: function='8' is out of range (at most 0x7)");
        assert_data_error("hostdev-bus-out-of-range.xml", -EINVAL,
                          "line 7: <hostdev> source address: bus='0x100' is out of range (at most 0xff)");
        assert_data_error("hostdev-domain-out-of-range.xml", -EINVAL,
                          "line 7: <hostdev> source address: domain='0x10000' is out of range (at most 0xffff)");
        assert_data_error("hostdev-bus-not-a-number.xml", -EINVAL,
                          "line 7: <hostdev> source address: bus='0x3g' is not a number");
}

static void test_metadata_errors(void **state) {
        assert_data_error("metadata-bad-bdf.xml", -EINVAL,
                          "line 6: <mb:device> bdf '0000:3b:20.1' is not a PCI address (DDDD:BB:SS.F)");
        assert_data_error("metadata-bdf-no-domain.xml", -EINVAL,
                          "line 6: <mb:device> bdf '3b:00.1' is not a PCI address (DDDD:BB:SS.F)");
        assert_data_error("metadata-no-bdf.xml", -EINVAL, "line 6: <mb:device> has no bdf attribute");
        assert_data_error("metadata-unknown-attribute.xml", -EINVAL,
                          "line 6: <mb:device> has an unknown attribute 'vmstate_id' (known: bdf, vmstate-id, "
                          "manage)");
        assert_data_error("metadata-bad-manage.xml", -EINVAL, "line 6: <mb:device> manage='false': expected 'yes' or 'no'");
        assert_data_error("metadata-bad-vmstate-id.xml", -EINVAL,
                          "line 6: vmstate-id 'a,b' may only hold visible ASCII characters other than ','");
        assert_data_error("metadata-unknown-element.xml", -EINVAL,
                          "line 6: unknown element <mb:devcie> (expected device)");
}

/* ---- small documents written here ----------------------------------------- */

static void test_documents(void **state) {
        static const char truncated[] = "<domain>\n  <name>x</name>\n";
        static const char doctype[] = "<?xml version='1.0'?>\n<!DOCTYPE domain [ <!ENTITY a 'b'> ]>\n<domain/>\n";
        static const char bad_uuid[] =
                "<domain>\n<uuid>not-a-uuid</uuid>\n<metadata><d:devices xmlns:d='" HOOK_METADATA_NS "'>"
                "<d:device bdf='0000:3b:00.1'/></d:devices></metadata>\n</domain>\n";
        static const char bad_uuid_no_devices[] = "<domain>\n<uuid>not-a-uuid</uuid>\n</domain>\n";
        static const char default_ns[] =
                "<domain>\n<uuid>" UUID "</uuid>\n<metadata>\n<devices xmlns='" HOOK_METADATA_NS "'>\n"
                "<device bdf='0000:3b:00.1' vmstate-id='v'/>\n</devices>\n</metadata>\n</domain>\n";
        static const char unknown_top[] = "<domain>\n<metadata>\n<mb:device xmlns:mb='" HOOK_METADATA_NS
                                          "' bdf='0000:3b:00.1'/>\n</metadata>\n</domain>\n";
        static const char long_id_fmt[] = "<domain><uuid>" UUID "</uuid><metadata><d:devices xmlns:d='" HOOK_METADATA_NS
                                          "'><d:device bdf='0000:3b:00.1' vmstate-id='%s'/></d:devices></metadata>"
                                          "</domain>";
        static const char newline_bdf[] = "<domain><metadata><d:devices xmlns:d='" HOOK_METADATA_NS "'>"
                                          "<d:device bdf='0000:3b&#10;:00.1'/></d:devices></metadata></domain>";
        static const char not_utf8[] = "<domain>\n<name>\xe0\xc3\x9a\x92</name>\n</domain>\n";
        g_autofree char *id = g_strnfill(HOOK_VMSTATE_ID_MAX + 1, 'x');
        g_autofree char *long_id = g_strdup_printf(long_id_fmt, id);

        assert_parse_error("", 0, -EINVAL, "no domain XML on standard input");
        assert_parse_error(truncated, strlen(truncated), -EBADMSG,
                           "malformed domain XML: line 3: Premature end of data in tag domain line 1");
        assert_parse_error(doctype, strlen(doctype), -EBADMSG, "malformed domain XML: a DOCTYPE, which libvirt never writes");
        assert_parse_error("<network/>", 10, -EBADMSG, "line 1: the root element is <network>, not <domain>");
        assert_parse_error(bad_uuid, strlen(bad_uuid), -EINVAL, "the domain's <uuid> 'not-a-uuid' is not a UUID");
        assert_parse_error(unknown_top, strlen(unknown_top), -EINVAL,
                           "line 3: unknown element <mb:device> in namespace " HOOK_METADATA_NS " (expected devices)");
        assert_parse_error(long_id, strlen(long_id), -EINVAL, "line 1: vmstate-id is longer than 255 characters");
        /* every error is one line: it becomes the hook's line on standard error */
        assert_parse_error(newline_bdf, strlen(newline_bdf), -EINVAL,
                           "line 1: <d:device> bdf '0000:3b :00.1' is not a PCI address (DDDD:BB:SS.F)");
        assert_parse_error(not_utf8, strlen(not_utf8), -EBADMSG,
                           "malformed domain XML: line 2: Input is not proper UTF-8, indicate encoding ! "
                           "Bytes: 0xE0 0xC3 0x9A 0x92");

        {
                /* a domain without devices needs no valid UUID: nothing is asked of the broker */
                g_autoptr(HookDomain) d = parse_text(bad_uuid_no_devices);
                assert_null(d->uuid);
                assert_int_equal(d->devices->len, 0);
                assert_notes(d, "line 2: <uuid> 'not-a-uuid' is not a UUID", NULL);
        }
        {
                /* the namespace counts, not the prefix */
                g_autoptr(HookDomain) d = parse_text(default_ns);
                assert_int_equal(d->devices->len, 1);
                assert_device(d, 0, "0000:3b:00.1", "v", false, true, 5);
        }
        {
                /* an unprefixed <device> in our <mb:devices> is ours; one of another namespace is not */
                static const char mixed[] =
                        "<domain>\n<uuid>" UUID "</uuid>\n<metadata>\n<mb:devices xmlns:mb='" HOOK_METADATA_NS "'>\n"
                        "<device bdf='0000:3b:00.1'/>\n<x:device xmlns:x='urn:x' bdf='0000:3b:00.2'/>\n"
                        "</mb:devices>\n</metadata>\n</domain>\n";
                g_autoptr(HookDomain) d = parse_text(mixed);
                assert_int_equal(d->devices->len, 1);
                assert_device(d, 0, "0000:3b:00.1", NULL, false, true, 5);
                assert_notes(d, "line 6: <x:device> in the migbroker metadata is in another namespace: ignored", NULL);
        }
        {
                /* the buffer is taken by length, not up to a NUL */
                g_autoptr(HookDomain) d = NULL;
                g_autofree char *error = NULL;
                static const char two[] = "<domain><name>a</name></domain>GARBAGE";
                assert_int_equal(hook_domain_parse(two, strlen(two) - strlen("GARBAGE"), &d, &error), 0);
                assert_string_equal(d->name, "a");
        }
}

/* ---- the fixtures libvirt 9.0 wrote on a hook's standard input -------------- */

/* text with the first find replaced by with (g_string_replace needs GLib 2.68) */
static char *replace_once(const char *text, const char *find, const char *with) {
        const char *at = strstr(text, find);

        assert_non_null(at);
        return g_strdup_printf("%.*s%s%s", (int) (at - text), text, with, at + strlen(find));
}

static char *fixture(const char *name) {
        g_autofree char *dir = fixture_dir();
        g_autofree char *path = NULL;

        if (!dir)
                skip();
        path = g_build_filename(dir, name, NULL);
        return read_text(path);
}

static void test_fixture_minimal(void **state) {
        g_autofree char *text = fixture("domain-tcg-minimal.xml");
        g_autoptr(HookDomain) d = parse_text(text);

        assert_string_equal(d->name, "t1");
        assert_null(d->uuid); /* virsh define's input has none; no devices, so no error */
        assert_int_equal(d->devices->len, 0);
        assert_notes(d, NULL);
}

static void test_fixture_live(void **state) {
        static const char *const names[] = { "hook-stdin-live.xml", "hook-stdin-with-dbus-vmstate.xml" };

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                g_autofree char *text = fixture(names[i]);
                g_autoptr(HookDomain) d = parse_text(text);

                assert_string_equal(d->name, "t2");
                assert_string_equal(d->uuid, "1c9cfba1-8fff-46fc-ba3b-29faa751c687");
                /* the USB controller's PCI address and the qemu:commandline are not devices of ours */
                assert_int_equal(d->devices->len, 0);
                assert_notes(d, NULL);
        }
}

/* The live fixture with what a site adds: a hostdev and the metadata naming
 * the dbus-vmstate id that the fixture's qemu:commandline already lists. */
static void test_fixture_live_with_devices(void **state) {
        g_autofree char *text = fixture("hook-stdin-live.xml");
        g_autofree char *with_metadata = NULL, *with_both = NULL;
        g_autoptr(HookDomain) d = NULL;

        with_metadata = replace_once(text, "  <memory unit=",
                                     "  <metadata>\n"
                                     "    <mb:devices xmlns:mb=\"" HOOK_METADATA_NS "\">\n"
                                     "      <mb:device bdf=\"0000:3b:00.2\" vmstate-id=\"vfio0\"/>\n"
                                     "    </mb:devices>\n"
                                     "  </metadata>\n"
                                     "  <memory unit=");
        with_both = replace_once(with_metadata, "  </devices>",
                                     "    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
                                     "      <source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source>\n"
                                     "      <alias name='hostdev0'/>\n"
                                     "      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>\n"
                                     "    </hostdev>\n"
                                     "  </devices>");
        d = parse_text(with_both);
        assert_string_equal(d->uuid, "1c9cfba1-8fff-46fc-ba3b-29faa751c687");
        assert_int_equal(d->devices->len, 2);
        assert_device(d, 0, "0000:3b:00.1", NULL, true, false, 45);
        assert_device(d, 1, "0000:3b:00.2", "vfio0", false, true, 6);
        assert_notes(d, NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hostdev_source),
                cmocka_unit_test(test_hostdev_guest_address_only),
                cmocka_unit_test(test_metadata),
                cmocka_unit_test(test_manage_no),
                cmocka_unit_test(test_duplicates_merged),
                cmocka_unit_test(test_conflicting_vmstate_ids),
                cmocka_unit_test(test_shared_vmstate_id),
                cmocka_unit_test(test_manage_conflict),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_missing_uuid),
                cmocka_unit_test(test_no_devices),
                cmocka_unit_test(test_non_pci_hostdevs),
                cmocka_unit_test(test_address_fields),
                cmocka_unit_test(test_metadata_errors),
                cmocka_unit_test(test_documents),
        };
        const struct CMUnitTest fixture_tests[] = {
                cmocka_unit_test(test_fixture_minimal),
                cmocka_unit_test(test_fixture_live),
                cmocka_unit_test(test_fixture_live_with_devices),
        };
        g_autofree char *dir = fixture_dir();
        int failed;

        failed = cmocka_run_group_tests_name("domain-xml", tests, NULL, NULL);
        if (!dir) {
                printf("# SKIP: the libvirt fixtures are not there ($MB_SHARED/fixtures/libvirt); "
                       "the other tests ran\n");
                return failed ? 1 : 77;
        }
        failed += cmocka_run_group_tests_name("domain-xml-fixtures", fixture_tests, NULL, NULL);
        return failed ? 1 : 0;
}
