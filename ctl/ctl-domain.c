/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bdf.h"
#include "ctl-bus.h"
#include "ctl-domain.h"
#include "domain-edit.h"
#include "error.h"
#include "macro.h"
#include "policy-load.h"

/* docs/env.md: read by migbrokerd too */
#define ENV_RUNTIME_DIR "MIGBROKER_RUNTIME_DIR"
#define ENV_LIBVIRT_DEFAULT_URI "LIBVIRT_DEFAULT_URI"
#define DEFAULT_LIBVIRT_URI "qemu:///system"

/* The short names of this command's failures (the broker's own, such as
 * PolicyInvalid, come from error.h). */
#define ERR_LIBVIRT "LibvirtError"
#define ERR_NO_DOMAIN "NoSuchDomain"
#define ERR_TRANSIENT "TransientDomain"
#define ERR_DOMAIN_XML "InvalidDomainXML"
#define ERR_CONFLICT "Conflict"
#define ERR_INVALID_ARGS "InvalidArgs"

typedef struct Args {
        CtlOptions o; /* --bus, --timeout (show asks the broker), --json */
        const char *verb;
        const char *domain;
        const char *connect;
        const char *runtime_dir;
        const char *policy;
        const char *vmstate_id;
        bool no_vmstate;
        bool dry_run;
        GPtrArray *devices; /* of char*: --device as given */
} Args;

static void help(FILE *f) {
        fputs("Usage: migbrokerctl domain enable DOMAIN [--device BDF[=ID]]... [--vmstate-id ID]\n"
              "                                      [--no-vmstate] [--dry-run]\n"
              "       migbrokerctl domain disable DOMAIN [--device BDF]... [--dry-run]\n"
              "       migbrokerctl domain show DOMAIN\n"
              "\n"
              "Prepare a libvirt domain for migbroker: the devices of its metadata\n"
              "(<mb:devices>, which migbroker-hook reads) and the dbus-vmstate object on its\n"
              "QEMU command line that reaches the broker's per-domain bus. enable and disable\n"
              "edit the persistent definition (a running domain sees the change at its next\n"
              "start) and print what they changed; running them twice changes nothing.\n"
              "DOMAIN is a name or a UUID.\n"
              "\n"
              "  enable DOMAIN    declare devices (added, or updated) and make the\n"
              "                   dbus-vmstate object name their vmstate ids; without\n"
              "                   --device, only bring the object in line with the metadata\n"
              "  disable DOMAIN   remove the --device devices, or all, from the metadata; the\n"
              "                   object follows (it goes with the last vmstate id)\n"
              "  show DOMAIN      the devices, the broker's state of each (when it answers),\n"
              "                   and whether the dbus-vmstate object matches\n"
              "\n"
              "Options:\n"
              "  --device BDF[=ID]   a device (repeatable), with its dbus-vmstate id ID; without\n"
              "                      =ID it keeps the id it has, else gets --vmstate-id, else\n"
              "                      \"" DOMAIN_VMSTATE_ID_PREFIX "BDF\"\n"
              "  --vmstate-id ID     the id of the one --device given without =ID\n"
              "  --no-vmstate        declare the devices without an id: QEMU reaches them through\n"
              "                      the shim plugin, not dbus-vmstate\n"
              "  --dry-run           print what would change; define nothing\n"
              "  -c, --connect URI   libvirt connection (default: $" ENV_LIBVIRT_DEFAULT_URI ", else the\n"
              "                      policy's settings.libvirt-uri, else " DEFAULT_LIBVIRT_URI ")\n"
              "  --runtime-dir DIR   the broker's runtime directory, where the per-domain buses\n"
              "                      are (default: $" ENV_RUNTIME_DIR ", else the policy's\n"
              "                      settings.runtime-dir, else " MB_POLICY_DEFAULT_RUNTIME_DIR ")\n"
              "  --policy PATH       the policy those settings are read from (default:\n"
              "                      $" MB_ENV_POLICY " or " MB_POLICY_DEFAULT_PATH ")\n"
              "  --bus ADDRESS       show: the broker's bus (default: the system bus)\n"
              "  --timeout SEC       show: bound on each call to the broker (default 30)\n"
              "  --json              print JSON (errors too)\n"
              "  -h, --help          show this help\n",
              f);
}

/* ---- settings: runtime dir and libvirt URI ---------------------------------------- */

typedef struct Settings {
        char *runtime_dir;
        char *uri;
} Settings;

static void settings_done(Settings *s) {
        g_free(s->runtime_dir);
        g_free(s->uri);
}

static const char *env_nonempty(const char *name) {
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

/* Options, then the environment, then the policy's settings (a policy file
 * that is not there is no error unless it was named), then the defaults.
 * Returns 0, or -errno with *ret_error set when the policy could not be read. */
static int resolve_settings(const Args *a, Settings *s, char **ret_error) {
        const char *runtime_dir = a->runtime_dir ?: env_nonempty(ENV_RUNTIME_DIR);
        const char *uri = a->connect ?: env_nonempty(ENV_LIBVIRT_DEFAULT_URI);
        g_autoptr(MbPolicy) policy = NULL;

        if (!runtime_dir || !uri) {
                const char *path = a->policy ?: mb_policy_default_path();

                /* only the built-in default may be missing */
                if (a->policy || env_nonempty(MB_ENV_POLICY) || access(path, F_OK) == 0 || errno != ENOENT) {
                        g_autoptr(MbDiagList) diags = mb_diag_list_new();
                        MbPolicyLoadOptions opts = {
                                .path = path,
                                .plugin_dir = mb_policy_default_plugin_dir(),
                                .flags = MB_POLICY_LOAD_SKIP_PLUGIN_FILES,
                        };
                        int r = mb_policy_load(&opts, &policy, diags);

                        if (r < 0) {
                                const MbDiag *d = NULL;

                                for (size_t i = 0; i < mb_diag_list_size(diags) && !d; i++)
                                        if (mb_diag_list_get(diags, i)->severity == MB_DIAG_ERROR)
                                                d = mb_diag_list_get(diags, i);
                                if (d && d->line > 0)
                                        *ret_error = g_strdup_printf("cannot read the policy for its settings: "
                                                                     "%s:%u:%u: %s",
                                                                     d->file, d->line, d->column, d->message);
                                else if (d)
                                        *ret_error = g_strdup_printf("cannot read the policy for its settings: "
                                                                     "%s: %s",
                                                                     d->file, d->message);
                                else
                                        *ret_error = g_strdup_printf("cannot read the policy %s: %s", path,
                                                                     g_strerror(-r));
                                return r;
                        }
                }
        }
        if (!runtime_dir)
                runtime_dir = policy ? policy->settings.runtime_dir : MB_POLICY_DEFAULT_RUNTIME_DIR;
        if (!uri)
                uri = policy && policy->settings.libvirt_uri && *policy->settings.libvirt_uri
                              ? policy->settings.libvirt_uri
                              : DEFAULT_LIBVIRT_URI;
        if (!g_path_is_absolute(runtime_dir)) {
                *ret_error = g_strdup_printf("the runtime directory '%s' is not an absolute path", runtime_dir);
                return -EINVAL;
        }
        s->runtime_dir = g_strdup(runtime_dir);
        s->uri = g_strdup(uri);
        return 0;
}

/* ---- libvirt ------------------------------------------------------------------------- */

/* libvirt prints every error on stderr unless told otherwise: we report them. */
static void libvirt_quiet(void *userdata, virErrorPtr error) {
        (void) userdata;
        (void) error;
}

static const char *libvirt_message(void) {
        const char *m = virGetLastErrorMessage();
        return m && *m ? m : "unknown libvirt error";
}

static void conn_closep(virConnectPtr *c) {
        if (*c)
                (void) virConnectClose(*c);
}

static void domain_freep(virDomainPtr *d) {
        if (*d)
                (void) virDomainFree(*d);
}

typedef struct Target {
        virConnectPtr conn;
        virDomainPtr dom;
        char *what; /* "domain enable vm1", for messages */
        char name[256];
        char uuid[VIR_UUID_STRING_BUFLEN];
        bool active;
        bool persistent;
} Target;

static void target_done(Target *t) {
        domain_freep(&t->dom);
        conn_closep(&t->conn);
        g_free(t->what);
}

/* Connects and finds the domain (UUID first, then name, as virsh does).
 * Returns 0 or the exit status of the failure, reported. */
static int open_target(const Args *a, const Settings *s, bool read_only, Target *t) {
        int r;

        t->conn = virConnectOpenAuth(s->uri, virConnectAuthPtrDefault, read_only ? VIR_CONNECT_RO : 0);
        if (!t->conn)
                return ctl_fail_named(&a->o, t->what, ERR_LIBVIRT, "cannot connect to %s: %s", s->uri,
                                      libvirt_message());
        if (hook_uuid_valid(a->domain))
                t->dom = virDomainLookupByUUIDString(t->conn, a->domain);
        if (!t->dom)
                t->dom = virDomainLookupByName(t->conn, a->domain);
        if (!t->dom) {
                if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
                        return ctl_fail_named(&a->o, t->what, ERR_NO_DOMAIN, "no domain named or with UUID '%s' on %s",
                                              a->domain, s->uri);
                return ctl_fail_named(&a->o, t->what, ERR_LIBVIRT, "cannot look up domain '%s': %s", a->domain,
                                      libvirt_message());
        }
        if (virDomainGetUUIDString(t->dom, t->uuid) < 0)
                return ctl_fail_named(&a->o, t->what, ERR_LIBVIRT, "%s", libvirt_message());
        g_strlcpy(t->name, virDomainGetName(t->dom) ?: a->domain, sizeof(t->name));
        r = virDomainIsActive(t->dom);
        if (r < 0)
                return ctl_fail_named(&a->o, t->what, ERR_LIBVIRT, "%s", libvirt_message());
        t->active = r > 0;
        r = virDomainIsPersistent(t->dom);
        if (r < 0)
                return ctl_fail_named(&a->o, t->what, ERR_LIBVIRT, "%s", libvirt_message());
        t->persistent = r > 0;
        return 0;
}

static char *get_xml(const Target *t, unsigned flags) {
        char *xml = virDomainGetXMLDesc(t->dom, flags);
        char *copy;

        if (!xml)
                return NULL;
        /* libvirt's memory is free()d, ours g_free()d */
        copy = g_strdup(xml);
        free(xml);
        return copy;
}

static const char *edit_error_name(int r) {
        return r == -EEXIST ? ERR_CONFLICT : ERR_DOMAIN_XML;
}

/* ---- output --------------------------------------------------------------------------- */

static void json_string_or_null(JsonBuilder *b, const char *name, const char *v) {
        json_builder_set_member_name(b, name);
        if (v)
                json_builder_add_string_value(b, v);
        else
                json_builder_add_null_value(b);
}

static void json_bool(JsonBuilder *b, const char *name, bool v) {
        json_builder_set_member_name(b, name);
        json_builder_add_boolean_value(b, v);
}

static void json_strings(JsonBuilder *b, const char *name, char *const *v, guint n) {
        json_builder_set_member_name(b, name);
        json_builder_begin_array(b);
        for (guint i = 0; i < n; i++)
                json_builder_add_string_value(b, v[i]);
        json_builder_end_array(b);
}

static void print_json(JsonBuilder *b) {
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        ctl_json_print(root);
}

/* ---- enable, disable ----------------------------------------------------------------- */

static int print_edit(const Args *a, const Target *t, const DomainEdit *ed, bool defined) {
        if (a->o.json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_string_or_null(b, "operation", a->verb);
                json_string_or_null(b, "domain", t->name);
                json_string_or_null(b, "uuid", t->uuid);
                json_bool(b, "active", t->active);
                json_bool(b, "changed", ed->changes->len > 0);
                json_bool(b, "defined", defined);
                json_bool(b, "dry_run", a->dry_run);
                json_builder_set_member_name(b, "changes");
                json_builder_begin_array(b);
                for (guint i = 0; i < ed->changes->len; i++) {
                        const DomainChange *c = ed->changes->pdata[i];

                        json_builder_begin_object(b);
                        json_string_or_null(b, "kind", domain_change_kind_to_string(c->kind));
                        json_string_or_null(b, "subject", c->subject);
                        json_string_or_null(b, "message", c->message);
                        json_builder_end_object(b);
                }
                json_builder_end_array(b);
                json_strings(b, "notes", (char *const *) ed->notes->pdata, ed->notes->len);
                json_builder_end_object(b);
                print_json(b);
                return CTL_EXIT_OK;
        }

        for (guint i = 0; i < ed->changes->len; i++)
                printf("%s: %s%s\n", t->name, a->dry_run ? "would have " : "",
                       ((const DomainChange *) ed->changes->pdata[i])->message);
        for (guint i = 0; i < ed->notes->len; i++)
                fprintf(stderr, "%s: note: %s\n", t->name, (const char *) ed->notes->pdata[i]);
        if (ed->changes->len == 0)
                printf("%s: nothing to change\n", t->name);
        else if (!defined)
                printf("%s: dry run: nothing defined\n", t->name);
        else if (t->active)
                printf("%s: defined; the domain is running: the change takes effect at its next start (shut it "
                       "down and start it: a reboot inside the guest keeps the same QEMU)\n",
                       t->name);
        else
                printf("%s: defined; the change takes effect at the domain's next start\n", t->name);
        fflush(stdout);
        return CTL_EXIT_OK;
}

static int run_edit(const Args *a) {
        _cleanup_(target_done) Target t = { .what = g_strdup_printf("domain %s %s", a->verb, a->domain) };
        _cleanup_(settings_done) Settings s = {};
        g_autoptr(DomainEdit) ed = NULL;
        g_autofree char *xml = NULL, *error = NULL;
        bool enable = strcmp(a->verb, "enable") == 0;
        int r;

        r = resolve_settings(a, &s, &error);
        if (r == -EINVAL)
                return ctl_fail_named(&a->o, t.what, ERR_INVALID_ARGS, "%s", error);
        if (r < 0)
                return ctl_fail_named(&a->o, t.what, mb_error_short_name(-MB_EPOLICYINVALID),
                                      "%s (or give --runtime-dir)", error);
        r = open_target(a, &s, false, &t);
        if (r != 0)
                return r;
        if (!t.persistent)
                return ctl_fail_named(&a->o, t.what, ERR_TRANSIENT,
                                      "%s is a transient domain: there is no persistent definition to change (make it "
                                      "persistent with 'virsh dumpxml %s > FILE' and 'virsh define FILE')",
                                      t.name, t.name);
        /* SECURE: the definition goes back whole, passwords included (as virsh edit does) */
        xml = get_xml(&t, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
        if (!xml)
                return ctl_fail_named(&a->o, t.what, ERR_LIBVIRT, "cannot read the definition of %s: %s", t.name,
                                      libvirt_message());

        if (enable) {
                g_autofree DomainEditDevice *devices = g_new0(DomainEditDevice, a->devices->len + 1);
                g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);

                for (guint i = 0; i < a->devices->len; i++) {
                        char **p = g_strsplit(a->devices->pdata[i], "=", 2);

                        g_ptr_array_add(parts, p);
                        devices[i].bdf = p[0];
                        devices[i].vmstate_id = p[1] ?: a->vmstate_id;
                        devices[i].no_vmstate = !p[1] && a->no_vmstate;
                }
                r = domain_edit_enable(xml, strlen(xml), devices, a->devices->len, s.runtime_dir, &ed, &error);
        } else {
                r = domain_edit_disable(xml, strlen(xml), (const char *const *) a->devices->pdata, a->devices->len,
                                        s.runtime_dir, &ed, &error);
        }
        if (r < 0)
                return ctl_fail_named(&a->o, t.what, edit_error_name(r), "%s: %s", t.name, error);

        if (ed->changes->len > 0 && !a->dry_run) {
                virDomainPtr defined = virDomainDefineXML(t.conn, ed->xml);

                if (!defined)
                        return ctl_fail_named(&a->o, t.what, ERR_LIBVIRT,
                                              "libvirt refused the new definition of %s: %s", t.name,
                                              libvirt_message());
                (void) virDomainFree(defined);
                return print_edit(a, &t, ed, true);
        }
        return print_edit(a, &t, ed, false);
}

/* ---- show --------------------------------------------------------------------------------- */

typedef struct BrokerDevice {
        bool asked;          /* the broker answered about it */
        bool managed;        /* GetDevice found it */
        char *error_name;    /* why not */
        char *error_message;
        char *state, *owner, *plugin, *vmstate_id;
        bool is_open;
} BrokerDevice;

static void broker_device_free(BrokerDevice *d) {
        if (!d)
                return;
        g_free(d->error_name);
        g_free(d->error_message);
        g_free(d->state);
        g_free(d->owner);
        g_free(d->plugin);
        g_free(d->vmstate_id);
        g_free(d);
}

/* No answer at all: the broker is not there, or does not reply. */
static bool unreachable(int r, const sd_bus_error *e) {
        static const char *const names[] = {
                SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_NO_REPLY,
                SD_BUS_ERROR_TIMEOUT,         SD_BUS_ERROR_DISCONNECTED,      SD_BUS_ERROR_NO_SERVER,
        };

        if (!e || !sd_bus_error_is_set(e))
                return r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ECONNRESET || r == -ENOTCONN ||
                       r == -ENOENT || r == -EPIPE;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (sd_bus_error_has_name(e, names[i]))
                        return true;
        return false;
}

static const char *short_error_name(int r, const sd_bus_error *e) {
        const MbErrorInfo *info = e ? mb_error_from_name(e->name) : NULL;

        if (info)
                return info->short_name;
        if (e && e->name) {
                const char *dot = strrchr(e->name, '.');
                return dot ? dot + 1 : e->name;
        }
        return mb_error_short_name(r);
}

static int read_properties(sd_bus_message *reply, BrokerDevice *d) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *name, *contents;

                r = sd_bus_message_enter_container(reply, 'e', "sv");
                if (r <= 0)
                        break;
                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(reply, NULL, &contents);
                if (r < 0)
                        return r;
                if (strcmp(contents, "s") == 0) {
                        const char *v;
                        char **field = strcmp(name, "State") == 0       ? &d->state
                                       : strcmp(name, "Owner") == 0     ? &d->owner
                                       : strcmp(name, "Plugin") == 0    ? &d->plugin
                                       : strcmp(name, "VmstateId") == 0 ? &d->vmstate_id
                                                                        : NULL;

                        r = sd_bus_message_read(reply, "v", "s", &v);
                        if (r >= 0 && field) {
                                g_free(*field);
                                *field = g_strdup(v);
                        }
                } else if (strcmp(contents, "b") == 0 && strcmp(name, "IsOpen") == 0) {
                        int v;
                        r = sd_bus_message_read(reply, "v", "b", &v);
                        if (r >= 0)
                                d->is_open = v;
                } else {
                        r = sd_bus_message_skip(reply, "v");
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

typedef struct BrokerView {
        bool reachable;
        char *error; /* why not */
        GPtrArray *devices; /* of BrokerDevice, one per HookDomain device */
} BrokerView;

static void broker_view_done(BrokerView *v) {
        g_free(v->error);
        if (v->devices)
                g_ptr_array_unref(v->devices);
}

/* Properties.GetAll of a device, bounded by --timeout. */
static int get_all(sd_bus *bus, const CtlOptions *o, const char *path, sd_bus_error *e, sd_bus_message **reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, CTL_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", CTL_DEVICE_IFACE);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, o->timeout_usec, e, reply);
}

/* Read-only: GetDevice and the properties of each device. */
static void ask_broker(const Args *a, const HookDomain *d, BrokerView *v) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        v->devices = g_ptr_array_new_with_free_func((GDestroyNotify) broker_device_free);
        for (guint i = 0; i < d->devices->len; i++)
                g_ptr_array_add(v->devices, g_new0(BrokerDevice, 1));
        if (d->devices->len == 0)
                return;
        r = ctl_bus_open(&a->o, &bus, &e);
        if (r < 0) {
                v->error = g_strdup(e.message ?: g_strerror(-r));
                return;
        }
        v->reachable = true;
        for (guint i = 0; i < d->devices->len; i++) {
                const HookDevice *dev = d->devices->pdata[i];
                BrokerDevice *bd = v->devices->pdata[i];
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_free_ char *path = NULL;

                sd_bus_error_free(&e);
                r = ctl_device_path(bus, &a->o, dev->bdf, &path, &e);
                if (r >= 0)
                        r = get_all(bus, &a->o, path, &e, &reply);
                if (r < 0 && unreachable(r, &e)) {
                        const char *name = short_error_name(r, &e);

                        v->reachable = false;
                        v->error = g_strdup_printf("%s: %s", name, e.message ?: g_strerror(-r));
                        return;
                }
                bd->asked = true;
                if (r < 0) {
                        bd->error_name = g_strdup(short_error_name(r, &e));
                        bd->error_message = g_strdup(e.message ?: g_strerror(-r));
                        continue;
                }
                bd->managed = true;
                r = read_properties(reply, bd);
                if (r < 0) {
                        bd->error_name = g_strdup(mb_error_short_name(r));
                        bd->error_message = g_strdup_printf("cannot read its properties: %s", g_strerror(-r));
                }
        }
}

/* What a start hands QEMU and the hook: devices with their ids, and migbroker's object. */
static char *signature(const DomainInfo *info) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < info->domain->devices->len; i++) {
                const HookDevice *d = info->domain->devices->pdata[i];
                g_string_append_printf(s, "%s=%s;", d->bdf, d->vmstate_id ?: "");
        }
        for (guint i = 0; i < info->objects->len; i++) {
                const DomainVmstateObject *o = info->objects->pdata[i];
                if (o->ours)
                        g_string_append_printf(s, "|%s", o->arg);
        }
        return g_string_free(s, FALSE);
}

static const char *device_source(const HookDevice *d) {
        return d->metadata && d->hostdev ? "metadata+hostdev" : d->metadata ? "metadata" : "hostdev";
}

/* Notes on one device, for both outputs. */
static void device_notes(const Target *t, const HookDevice *d, const BrokerDevice *bd, GPtrArray *notes) {
        if (!bd->asked)
                return;
        if (!bd->managed) {
                if (d->metadata)
                        g_ptr_array_add(notes, g_strdup_printf("%s: the broker says %s (%s): the hook will refuse to "
                                                               "start the domain",
                                                               d->bdf, bd->error_name, bd->error_message));
                return;
        }
        if (bd->owner && *bd->owner && g_ascii_strcasecmp(bd->owner, t->uuid) != 0)
                g_ptr_array_add(notes, g_strdup_printf("%s is claimed by another domain (%s)", d->bdf, bd->owner));
        if (bd->is_open && bd->vmstate_id && bd->owner && g_ascii_strcasecmp(bd->owner, t->uuid) == 0 &&
            strcmp(bd->vmstate_id, d->vmstate_id ?: "") != 0)
                g_ptr_array_add(notes, g_strdup_printf("%s is open with vmstate id '%s', the metadata gives '%s': "
                                                       "the domain's next start opens it anew",
                                                       d->bdf, bd->vmstate_id, d->vmstate_id ?: ""));
}

static void show_json(const Target *t, const Settings *s, const DomainInfo *info, const BrokerView *v,
                      bool restart_needed, GPtrArray *notes) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_string_or_null(b, "domain", t->name);
        json_string_or_null(b, "uuid", t->uuid);
        json_bool(b, "persistent", t->persistent);
        json_bool(b, "active", t->active);
        json_string_or_null(b, "runtime_dir", s->runtime_dir);
        json_string_or_null(b, "bus_address", info->bus_address);

        json_builder_set_member_name(b, "devices");
        json_builder_begin_array(b);
        for (guint i = 0; i < info->domain->devices->len; i++) {
                const HookDevice *d = info->domain->devices->pdata[i];
                const BrokerDevice *bd = v->devices->pdata[i];

                json_builder_begin_object(b);
                json_string_or_null(b, "bdf", d->bdf);
                json_bool(b, "metadata", d->metadata);
                json_bool(b, "hostdev", d->hostdev);
                json_string_or_null(b, "vmstate_id", d->vmstate_id);
                json_builder_set_member_name(b, "broker");
                if (!bd->asked) {
                        json_builder_add_null_value(b);
                } else {
                        json_builder_begin_object(b);
                        json_bool(b, "managed", bd->managed);
                        if (bd->error_name) {
                                json_string_or_null(b, "error", bd->error_name);
                                json_string_or_null(b, "message", bd->error_message);
                        }
                        if (bd->managed) {
                                json_string_or_null(b, "state", bd->state);
                                json_string_or_null(b, "owner", bd->owner);
                                json_string_or_null(b, "plugin", bd->plugin);
                                json_string_or_null(b, "vmstate_id", bd->vmstate_id);
                                json_bool(b, "is_open", bd->is_open);
                        }
                        json_builder_end_object(b);
                }
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_strings(b, "excluded", (char *const *) info->excluded->pdata, info->excluded->len);

        json_builder_set_member_name(b, "vmstate_object");
        json_builder_begin_object(b);
        json_string_or_null(b, "state", domain_object_state_to_string(info->object_state));
        json_string_or_null(b, "problem", info->object_problem);
        json_strings(b, "vmstate_ids", info->vmstate_ids, g_strv_length(info->vmstate_ids));
        json_builder_set_member_name(b, "objects");
        json_builder_begin_array(b);
        for (guint i = 0; i < info->objects->len; i++) {
                const DomainVmstateObject *o = info->objects->pdata[i];

                json_builder_begin_object(b);
                json_string_or_null(b, "arg", o->arg);
                json_string_or_null(b, "id", o->id);
                json_string_or_null(b, "bus_path", o->bus_path);
                if (o->id_list)
                        json_strings(b, "id_list", o->id_list, g_strv_length(o->id_list));
                else
                        json_string_or_null(b, "id_list", NULL);
                json_bool(b, "ours", o->ours);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);

        json_builder_set_member_name(b, "broker");
        json_builder_begin_object(b);
        json_bool(b, "asked", info->domain->devices->len > 0);
        json_bool(b, "reachable", v->reachable);
        json_string_or_null(b, "error", v->error);
        json_builder_end_object(b);
        json_bool(b, "restart_needed", restart_needed);
        json_strings(b, "notes", (char *const *) notes->pdata, notes->len);
        json_builder_end_object(b);
        print_json(b);
}

static void show_text(const Target *t, const DomainInfo *info, const BrokerView *v, GPtrArray *notes) {
        const char *state = domain_object_state_to_string(info->object_state);

        printf("Domain:       %s (%s)\n", t->name, t->uuid);
        printf("State:        %s, %s\n", t->active ? "running" : "shut off",
               t->persistent ? "persistent" : "transient");
        printf("Bus:          %s\n", info->bus_address);
        switch (info->object_state) {
        case DOMAIN_OBJECT_NONE:
                printf("dbus-vmstate: none needed (no device has a vmstate id)\n");
                break;
        case DOMAIN_OBJECT_OK:
                for (guint i = 0; i < info->objects->len; i++) {
                        const DomainVmstateObject *o = info->objects->pdata[i];
                        if (o->ours)
                                printf("dbus-vmstate: ok: -object %s\n", o->arg);
                }
                break;
        default:
                printf("dbus-vmstate: %s: %s (run 'migbrokerctl domain enable %s' to fix it)\n", state,
                       info->object_problem, t->name);
                break;
        }
        if (info->domain->devices->len == 0)
                printf("Broker:       not asked (no devices)\n");
        else if (v->reachable)
                printf("Broker:       reachable\n");
        else
                printf("Broker:       unreachable (%s): the devices are listed as the XML declares them\n", v->error);

        if (info->domain->devices->len == 0) {
                printf("\n(no devices: the hook leaves this domain alone)\n");
        } else {
                printf("\n%-13s %-16s %-16s %-10s %-37s %s\n", "BDF", "FROM", "VMSTATE-ID", "STATE", "OWNER", "PLUGIN");
                for (guint i = 0; i < info->domain->devices->len; i++) {
                        const HookDevice *d = info->domain->devices->pdata[i];
                        const BrokerDevice *bd = v->devices->pdata[i];

                        printf("%-13s %-16s %-16s ", d->bdf, device_source(d), d->vmstate_id ?: "-");
                        if (!bd->asked)
                                printf("%-10s %-37s %s\n", "?", "?", "?");
                        else if (!bd->managed && d->metadata)
                                printf("(the broker does not manage it: %s)\n", bd->error_name);
                        else if (!bd->managed)
                                printf("(not managed by the broker: the hook leaves it alone)\n");
                        else
                                printf("%-10s %-37s %s\n", bd->state ?: "?", bd->owner && *bd->owner ? bd->owner : "-",
                                       bd->plugin ?: "?");
                }
        }
        if (info->excluded->len > 0) {
                printf("Excluded (manage=\"no\"):");
                for (guint i = 0; i < info->excluded->len; i++)
                        printf("%s %s", i ? "," : "", (const char *) info->excluded->pdata[i]);
                printf("\n");
        }
        for (guint i = 0; i < notes->len; i++)
                printf("note: %s\n", (const char *) notes->pdata[i]);
        fflush(stdout);
}

static int run_show(const Args *a) {
        _cleanup_(target_done) Target t = { .what = g_strdup_printf("domain show %s", a->domain) };
        _cleanup_(settings_done) Settings s = {};
        _cleanup_(broker_view_done) BrokerView v = {};
        g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(DomainInfo) info = NULL;
        g_autofree char *xml = NULL, *error = NULL;
        bool restart_needed = false;
        int r;

        r = resolve_settings(a, &s, &error);
        if (r == -EINVAL)
                return ctl_fail_named(&a->o, t.what, ERR_INVALID_ARGS, "%s", error);
        if (r < 0) {
                /* reading goes on with the defaults, and says so */
                Args defaults = *a;
                g_autofree char *again = NULL;

                g_ptr_array_add(notes, g_strdup_printf("%s: assuming the defaults", error));
                g_clear_pointer(&error, g_free);
                defaults.runtime_dir = a->runtime_dir ?: env_nonempty(ENV_RUNTIME_DIR) ?: MB_POLICY_DEFAULT_RUNTIME_DIR;
                defaults.connect = a->connect ?: env_nonempty(ENV_LIBVIRT_DEFAULT_URI) ?: DEFAULT_LIBVIRT_URI;
                r = resolve_settings(&defaults, &s, &again);
                if (r < 0)
                        return ctl_fail_named(&a->o, t.what, mb_error_short_name(-MB_EPOLICYINVALID), "%s", again);
        }
        r = open_target(a, &s, true, &t);
        if (r != 0)
                return r;

        /* the definition the next start uses; a transient domain has only its live XML */
        xml = get_xml(&t, t.persistent ? VIR_DOMAIN_XML_INACTIVE : 0);
        if (!xml)
                return ctl_fail_named(&a->o, t.what, ERR_LIBVIRT, "cannot read the definition of %s: %s", t.name,
                                      libvirt_message());
        r = domain_info_read(xml, strlen(xml), s.runtime_dir, &info, &error);
        if (r < 0)
                return ctl_fail_named(&a->o, t.what, edit_error_name(r), "%s: %s", t.name, error);

        if (t.active && t.persistent) {
                g_autofree char *live = get_xml(&t, 0), *live_error = NULL;
                g_autoptr(DomainInfo) live_info = NULL;

                if (live && domain_info_read(live, strlen(live), s.runtime_dir, &live_info, &live_error) >= 0) {
                        g_autofree char *a_sig = signature(info), *b_sig = signature(live_info);
                        restart_needed = strcmp(a_sig, b_sig) != 0;
                }
                if (restart_needed)
                        g_ptr_array_add(notes, g_strdup("the running domain was started with another configuration of "
                                                        "its devices or dbus-vmstate object: the one shown takes "
                                                        "effect at its next start"));
        }

        ask_broker(a, info->domain, &v);
        for (guint i = 0; i < info->domain->devices->len; i++)
                device_notes(&t, info->domain->devices->pdata[i], v.devices->pdata[i], notes);

        if (a->o.json)
                show_json(&t, &s, info, &v, restart_needed, notes);
        else
                show_text(&t, info, &v, notes);
        return CTL_EXIT_OK;
}

/* ---- the command ---------------------------------------------------------------------------- */

int ctl_domain_main(int argc, char *argv[]) {
        enum {
                ARG_DEVICE = 0x100,
                ARG_VMSTATE_ID,
                ARG_NO_VMSTATE,
                ARG_DRY_RUN,
                ARG_RUNTIME_DIR,
                ARG_POLICY,
        };
        static const struct option options[] = {
                CTL_COMMON_OPTIONS,
                { "device", required_argument, NULL, ARG_DEVICE },
                { "vmstate-id", required_argument, NULL, ARG_VMSTATE_ID },
                { "no-vmstate", no_argument, NULL, ARG_NO_VMSTATE },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "connect", required_argument, NULL, 'c' },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "policy", required_argument, NULL, ARG_POLICY },
                {},
        };
        g_autoptr(GPtrArray) devices = g_ptr_array_new();
        g_autoptr(GHashTable) bdfs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        Args a = { .devices = devices };
        unsigned without_id = 0;
        int c, r;

        virSetErrorFunc(NULL, libvirt_quiet);
        ctl_options_init(&a.o);
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hc:", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                case CTL_ARG_HELP:
                        help(stdout);
                        return CTL_EXIT_OK;
                case ARG_DEVICE:
                        g_ptr_array_add(devices, optarg);
                        break;
                case ARG_VMSTATE_ID:
                        a.vmstate_id = optarg;
                        break;
                case ARG_NO_VMSTATE:
                        a.no_vmstate = true;
                        break;
                case ARG_DRY_RUN:
                        a.dry_run = true;
                        break;
                case 'c':
                        a.connect = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                        a.runtime_dir = optarg;
                        break;
                case ARG_POLICY:
                        a.policy = optarg;
                        break;
                case ':':
                        return ctl_usage("domain", "option %s needs an argument", argv[optind - 1]);
                default:
                        r = ctl_options_handle(&a.o, c, optarg);
                        if (r < 0)
                                return CTL_EXIT_USAGE;
                        if (r == 0)
                                return ctl_usage("domain", "unknown option %s", argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return ctl_usage("domain", "missing command: enable, disable or show");
        a.verb = argv[optind];
        if (strcmp(a.verb, "enable") != 0 && strcmp(a.verb, "disable") != 0 && strcmp(a.verb, "show") != 0)
                return ctl_usage("domain", "unknown command \"%s\" (enable, disable or show)", a.verb);
        if (optind + 1 >= argc)
                return ctl_usage("domain", "%s: missing DOMAIN (a name or a UUID)", a.verb);
        if (optind + 2 < argc)
                return ctl_usage("domain", "%s: unexpected argument '%s'", a.verb, argv[optind + 2]);
        a.domain = argv[optind + 1];

        if (strcmp(a.verb, "show") == 0 && (devices->len > 0 || a.vmstate_id || a.no_vmstate || a.dry_run))
                return ctl_usage("domain", "show takes no --device, --vmstate-id, --no-vmstate or --dry-run");
        if (strcmp(a.verb, "disable") == 0 && (a.vmstate_id || a.no_vmstate))
                return ctl_usage("domain", "disable takes no --vmstate-id or --no-vmstate");
        if (a.vmstate_id && a.no_vmstate)
                return ctl_usage("domain", "--vmstate-id and --no-vmstate exclude each other");
        for (guint i = 0; i < devices->len; i++) {
                const char *arg = devices->pdata[i];
                const char *eq = strchr(arg, '=');
                g_autofree char *bdf = eq ? g_strndup(arg, (gsize) (eq - arg)) : g_strdup(arg);
                char normal[MB_BDF_STRLEN + 1];

                if (mb_bdf_normalize(bdf, normal) < 0)
                        return ctl_usage("domain", "--device %s: '%s' is not a PCI address (DDDD:BB:SS.F)", arg, bdf);
                if (!g_hash_table_add(bdfs, g_strdup(normal)))
                        return ctl_usage("domain", "--device %s: device %s is given twice", arg, normal);
                if (eq && strcmp(a.verb, "disable") == 0)
                        return ctl_usage("domain", "--device %s: disable takes a BDF only", arg);
                if (eq && !hook_vmstate_id_valid(eq + 1))
                        return ctl_usage("domain",
                                         "--device %s: a vmstate id is 1 to %d visible ASCII characters other than ','",
                                         arg, HOOK_VMSTATE_ID_MAX);
                if (!eq)
                        without_id++;
        }
        if (a.runtime_dir && !g_path_is_absolute(a.runtime_dir))
                return ctl_usage("domain", "--runtime-dir %s: not an absolute path", a.runtime_dir);
        if (a.vmstate_id && !hook_vmstate_id_valid(a.vmstate_id))
                return ctl_usage("domain",
                                 "--vmstate-id %s: a vmstate id is 1 to %d visible ASCII characters other than ','",
                                 a.vmstate_id, HOOK_VMSTATE_ID_MAX);
        if (a.vmstate_id && without_id != 1)
                return ctl_usage("domain",
                                 "--vmstate-id names the id of one --device given without =ID (%u given); give each "
                                 "device its own as --device BDF=ID",
                                 without_id);

        if (strcmp(a.verb, "show") == 0)
                return run_show(&a);
        return run_edit(&a);
}
