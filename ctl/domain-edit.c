/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include "bdf.h"
#include "domain-edit.h"
#include "macro.h"

MB_DEFINE_CLEANUP(xmlDocPtr, xmlFreeDoc)
MB_DEFINE_CLEANUP(xmlBufferPtr, xmlBufferFree)

static inline void xml_freep(xmlChar **p) {
        if (*p)
                xmlFree(*p);
}
#define _cleanup_xml_free_ _cleanup_(xml_freep)

#define INDENT_STEP "  "

/* ---- results ---------------------------------------------------------------- */

static const char *const change_kinds[_DOMAIN_CHANGE_KIND_MAX] = {
        [DOMAIN_CHANGE_DEVICE_ADDED] = "device-added",     [DOMAIN_CHANGE_DEVICE_CHANGED] = "device-changed",
        [DOMAIN_CHANGE_DEVICE_REMOVED] = "device-removed", [DOMAIN_CHANGE_OBJECT_ADDED] = "object-added",
        [DOMAIN_CHANGE_OBJECT_CHANGED] = "object-changed", [DOMAIN_CHANGE_OBJECT_REMOVED] = "object-removed",
};

const char *domain_change_kind_to_string(DomainChangeKind k) {
        return k >= 0 && k < _DOMAIN_CHANGE_KIND_MAX ? change_kinds[k] : "?";
}

const char *domain_object_state_to_string(DomainObjectState s) {
        switch (s) {
        case DOMAIN_OBJECT_NONE:
                return "none";
        case DOMAIN_OBJECT_OK:
                return "ok";
        case DOMAIN_OBJECT_MISSING:
                return "missing";
        case DOMAIN_OBJECT_MISMATCH:
                return "mismatch";
        case DOMAIN_OBJECT_UNNEEDED:
                return "unneeded";
        }
        return "?";
}

static void change_free(DomainChange *c) {
        if (!c)
                return;
        g_free(c->subject);
        g_free(c->message);
        g_free(c);
}

void domain_edit_free(DomainEdit *e) {
        if (!e)
                return;
        g_free(e->xml);
        if (e->changes)
                g_ptr_array_unref(e->changes);
        if (e->notes)
                g_ptr_array_unref(e->notes);
        g_free(e);
}

static void object_free(DomainVmstateObject *o) {
        if (!o)
                return;
        g_free(o->arg);
        g_free(o->id);
        g_free(o->bus_path);
        g_strfreev(o->id_list);
        g_free(o);
}

void domain_info_free(DomainInfo *i) {
        if (!i)
                return;
        hook_domain_free(i->domain);
        if (i->excluded)
                g_ptr_array_unref(i->excluded);
        if (i->objects)
                g_ptr_array_unref(i->objects);
        g_free(i->bus_address);
        g_strfreev(i->vmstate_ids);
        g_free(i->object_problem);
        g_free(i);
}

static int fail(char **ret_error, int r, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        *ret_error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        return r;
}

/* ---- the bus ----------------------------------------------------------------- */

char *domain_bus_path(const char *runtime_dir, const char *uuid) {
        return g_build_filename(runtime_dir, "domain", uuid, "bus", NULL);
}

/* D-Bus address values: [-0-9A-Za-z_/.\*] as they are, every other byte %XX. */
static char *dbus_address_escape(const char *s) {
        GString *out = g_string_new(NULL);

        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (g_ascii_isalnum(*p) || strchr("-_/.\\*", *p))
                        g_string_append_c(out, (char) *p);
                else
                        g_string_append_printf(out, "%%%02x", *p);
        return g_string_free(out, FALSE);
}

/* NULL when s has a bad %XX. */
static char *dbus_address_unescape(const char *s) {
        g_autoptr(GString) out = g_string_new(NULL);

        for (const char *p = s; *p; p++) {
                if (*p != '%') {
                        g_string_append_c(out, *p);
                        continue;
                }
                if (!g_ascii_isxdigit(p[1]) || !g_ascii_isxdigit(p[2]))
                        return NULL;
                g_string_append_c(out, (char) (g_ascii_xdigit_value(p[1]) * 16 + g_ascii_xdigit_value(p[2])));
                p += 2;
        }
        return g_string_free(MB_TAKE_PTR(out), FALSE);
}

char *domain_bus_address(const char *runtime_dir, const char *uuid) {
        g_autofree char *path = domain_bus_path(runtime_dir, uuid);
        g_autofree char *escaped = dbus_address_escape(path);

        return g_strconcat("unix:path=", escaped, NULL);
}

/* The path of a "unix:path=P[,key=value...]" address, or NULL. */
static char *address_unix_path(const char *addr) {
        g_auto(GStrv) kv = NULL;

        if (!g_str_has_prefix(addr, "unix:"))
                return NULL;
        kv = g_strsplit(addr + strlen("unix:"), ",", -1);
        for (char **p = kv; *p; p++)
                if (g_str_has_prefix(*p, "path="))
                        return dbus_address_unescape(*p + strlen("path="));
        return NULL;
}

/* ---- QEMU's -object KEY=VALUE,... (keyval: ",," is a comma in a value) ------------ */

typedef struct QemuOpt {
        char *key;   /* NULL: the first, implied key (qom-type) */
        char *value; /* NULL: a key without '=' */
} QemuOpt;

static void qemu_opt_free(QemuOpt *o) {
        if (!o)
                return;
        g_free(o->key);
        g_free(o->value);
        g_free(o);
}

static GPtrArray *qemu_opts_parse(const char *s) {
        GPtrArray *opts = g_ptr_array_new_with_free_func((GDestroyNotify) qemu_opt_free);
        g_autoptr(GString) item = g_string_new(NULL);
        bool first = true;

        for (const char *p = s;; p++) {
                if (*p == ',' && p[1] == ',') {
                        g_string_append_c(item, ',');
                        p++;
                        continue;
                }
                if (*p && *p != ',') {
                        g_string_append_c(item, *p);
                        continue;
                }
                if (item->len > 0 || *p) {
                        QemuOpt *o = g_new0(QemuOpt, 1);
                        const char *eq = strchr(item->str, '=');

                        if (eq) {
                                o->key = g_strndup(item->str, (gsize) (eq - item->str));
                                o->value = g_strdup(eq + 1);
                        } else if (first) {
                                o->value = g_strdup(item->str);
                        } else {
                                o->key = g_strdup(item->str);
                        }
                        g_ptr_array_add(opts, o);
                        first = false;
                        g_string_truncate(item, 0);
                }
                if (!*p)
                        break;
        }
        return opts;
}

static void append_escaped(GString *s, const char *v) {
        for (; *v; v++) {
                if (*v == ',')
                        g_string_append_c(s, ',');
                g_string_append_c(s, *v);
        }
}

static char *qemu_opts_format(const GPtrArray *opts) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < opts->len; i++) {
                const QemuOpt *o = opts->pdata[i];

                if (i > 0)
                        g_string_append_c(s, ',');
                if (o->key) {
                        g_string_append(s, o->key);
                        if (o->value)
                                g_string_append_c(s, '=');
                }
                if (o->value)
                        append_escaped(s, o->value);
        }
        return g_string_free(s, FALSE);
}

static QemuOpt *qemu_opts_find(const GPtrArray *opts, const char *key) {
        QemuOpt *found = NULL;

        /* the last one wins, as in QEMU */
        for (guint i = 0; i < opts->len; i++) {
                QemuOpt *o = opts->pdata[i];
                if (o->key && strcmp(o->key, key) == 0)
                        found = o;
        }
        return found;
}

static const char *qemu_opts_get(const GPtrArray *opts, const char *key) {
        const QemuOpt *o = qemu_opts_find(opts, key);
        return o ? o->value : NULL;
}

static void qemu_opts_set(GPtrArray *opts, const char *key, const char *value) {
        QemuOpt *o = qemu_opts_find(opts, key);

        if (!o) {
                o = g_new0(QemuOpt, 1);
                o->key = g_strdup(key);
                g_ptr_array_add(opts, o);
        }
        g_free(o->value);
        o->value = g_strdup(value);
}

static bool qemu_opts_is_dbus_vmstate(const GPtrArray *opts) {
        const QemuOpt *first = opts->len > 0 ? opts->pdata[0] : NULL;
        const char *type = qemu_opts_get(opts, "qom-type");

        if (!type && first && !first->key)
                type = first->value;
        return type && strcmp(type, "dbus-vmstate") == 0;
}

/* ---- the document -------------------------------------------------------------------- */

static bool is_element(const xmlNode *n, const char *name) {
        return n->type == XML_ELEMENT_NODE && !n->ns && xmlStrEqual(n->name, BAD_CAST name);
}

static bool is_ns_element(const xmlNode *n, const char *href, const char *name) {
        return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href && xmlStrEqual(n->ns->href, BAD_CAST href) &&
               xmlStrEqual(n->name, BAD_CAST name);
}

static char *prop(const xmlNode *n, const char *name) {
        _cleanup_xml_free_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
        return v ? g_strdup((const char *) v) : NULL;
}

static int line_of(const xmlNode *n) {
        long l = xmlGetLineNo(n);
        return l > 0 && l < G_MAXINT ? (int) l : 0;
}

static bool is_blank_text(const xmlNode *n) {
        return n && n->type == XML_TEXT_NODE && xmlIsBlankNode(n);
}

static bool has_element_children(const xmlNode *n) {
        for (const xmlNode *c = n->children; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE)
                        return true;
        return false;
}

/* The indentation of n: what follows the last newline of the blank text
 * before it ("" for the root or a node on the line of its predecessor). */
static char *indent_of(const xmlNode *n) {
        _cleanup_xml_free_ xmlChar *text = NULL;
        const char *nl;

        if (!is_blank_text(n->prev))
                return g_strdup("");
        text = xmlNodeGetContent(n->prev);
        nl = text ? strrchr((const char *) text, '\n') : NULL;
        return g_strdup(nl ? nl + 1 : "");
}

/* libxml2's constructors return NULL only when out of memory: like
 * g_malloc(), these abort then, so that no edit is ever half done. */
static void *xml_checked(void *p) {
        if (!p)
                g_error("out of memory editing the domain XML");
        return p;
}

static xmlNode *new_element(xmlDoc *doc, xmlNs *ns, const char *name) {
        return xml_checked(xmlNewDocNode(doc, ns, BAD_CAST name, NULL));
}

static void set_prop(xmlNode *n, const char *name, const char *value) {
        (void) xml_checked(xmlSetProp(n, BAD_CAST name, BAD_CAST value));
}

static xmlNode *new_text(xmlDoc *doc, const char *a, const char *b) {
        g_autofree char *s = g_strconcat(a, b, NULL);
        return xml_checked(xmlNewDocText(doc, BAD_CAST s));
}

/* Whether n starts a line of its own (the blank text before it has a newline). */
static bool on_own_line(const xmlNode *n) {
        _cleanup_xml_free_ xmlChar *text = NULL;

        if (!is_blank_text(n->prev))
                return false;
        text = xmlNodeGetContent(n->prev);
        return text && strchr((const char *) text, '\n');
}

/* Makes child the last element of parent, indented one step more than
 * parent when the document is laid out so, else without any blank. */
static void append_indented(xmlNode *parent, xmlNode *child) {
        g_autofree char *outer = indent_of(parent);
        g_autofree char *inner = g_strconcat(outer, INDENT_STEP, NULL);
        g_autofree char *nl_inner = g_strconcat("\n", inner, NULL);
        xmlNode *last = parent->last;

        if (last ? is_blank_text(last) : on_own_line(parent)) {
                /* (re)write the blank before the closing tag as the child's indent */
                if (last)
                        xmlNodeSetContent(last, BAD_CAST nl_inner);
                else
                        xmlAddChild(parent, new_text(parent->doc, "\n", inner));
                xmlAddChild(parent, child);
                xmlAddChild(parent, new_text(parent->doc, "\n", outer));
        } else {
                xmlAddChild(parent, child);
        }
}

/* Puts node right after sibling, on a line of its own when sibling has one. */
static void insert_after(xmlNode *sibling, xmlNode *node) {
        xmlNode *blank = is_blank_text(sibling->next) ? sibling->next : NULL;
        _cleanup_xml_free_ xmlChar *text = blank ? xmlNodeGetContent(blank) : NULL;

        xmlAddNextSibling(sibling, node);
        if (text)
                xmlAddPrevSibling(node, new_text(sibling->doc, (const char *) text, ""));
}

/* Unlinks and frees node and the blank before it. */
static void remove_indented(xmlNode *node) {
        if (is_blank_text(node->prev)) {
                xmlNode *blank = node->prev;
                xmlUnlinkNode(blank);
                xmlFreeNode(blank);
        }
        xmlUnlinkNode(node);
        xmlFreeNode(node);
}

/* Without a declaration: libvirt writes none. */
static int serialize(xmlDoc *doc, char **ret) {
        _cleanup_(xmlBufferFreep) xmlBufferPtr buf = xmlBufferCreate();
        xmlSaveCtxtPtr save;

        if (!buf)
                return -ENOMEM;
        save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL);
        if (!save)
                return -ENOMEM;
        if (xmlSaveDoc(save, doc) < 0) {
                (void) xmlSaveClose(save);
                return -ENOMEM;
        }
        if (xmlSaveClose(save) < 0)
                return -ENOMEM;
        *ret = g_strndup((const char *) xmlBufferContent(buf), (gsize) xmlBufferLength(buf));
        return 0;
}

/* ---- the editor ------------------------------------------------------------------------ */

/* A <device> of the migbroker metadata, in document order. */
typedef struct MetaEntry {
        xmlNode *node;
        char bdf[MB_BDF_STRLEN + 1];
        char *vmstate_id;
        bool manage;
} MetaEntry;

static void meta_entry_free(MetaEntry *e) {
        if (!e)
                return;
        g_free(e->vmstate_id);
        g_free(e);
}

/* A dbus-vmstate object of a <qemu:commandline>: its two <qemu:arg>s. */
typedef struct Object {
        xmlNode *option; /* value="-object" */
        xmlNode *value;  /* value="dbus-vmstate,..." */
        GPtrArray *opts; /* of QemuOpt */
        char *arg;
        char *bus_path;
        bool ours;
} Object;

static void object_entry_free(Object *o) {
        if (!o)
                return;
        if (o->opts)
                g_ptr_array_unref(o->opts);
        g_free(o->arg);
        g_free(o->bus_path);
        g_free(o);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Object, object_entry_free)

typedef struct Editor {
        xmlDoc *doc;
        xmlNode *root;
        HookDomain *domain; /* of the input */
        const char *runtime_dir;
        char *bus_path;
        char *bus_address;
        GPtrArray *changes;
        GPtrArray *notes;
} Editor;

static void editor_done(Editor *e) {
        if (e->doc)
                xmlFreeDoc(e->doc);
        hook_domain_free(e->domain);
        g_free(e->bus_path);
        g_free(e->bus_address);
        if (e->changes)
                g_ptr_array_unref(e->changes);
        if (e->notes)
                g_ptr_array_unref(e->notes);
}

static void add_change(Editor *e, DomainChangeKind kind, const char *subject, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static void add_change(Editor *e, DomainChangeKind kind, const char *subject, const char *fmt, ...) {
        DomainChange *c = g_new0(DomainChange, 1);
        va_list ap;

        c->kind = kind;
        c->subject = g_strdup(subject);
        va_start(ap, fmt);
        c->message = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_ptr_array_add(e->changes, c);
}

static void add_note(Editor *e, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void add_note(Editor *e, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        g_ptr_array_add(e->notes, g_strdup_vprintf(fmt, ap));
        va_end(ap);
}

static int editor_open(Editor *e, const char *xml, size_t len, const char *runtime_dir, char **ret_error) {
        int r;

        *e = (Editor) {
                .runtime_dir = runtime_dir,
                .changes = g_ptr_array_new_with_free_func((GDestroyNotify) change_free),
                .notes = g_ptr_array_new_with_free_func(g_free),
        };
        if (!runtime_dir || !g_path_is_absolute(runtime_dir))
                return fail(ret_error, -EINVAL, "the runtime directory '%s' is not an absolute path",
                            runtime_dir ?: "");
        /* first what the hook will make of it: every check of the metadata */
        r = hook_domain_parse(xml, len, &e->domain, ret_error);
        if (r < 0)
                return r;
        if (!e->domain->uuid)
                return fail(ret_error, -EINVAL, "the domain XML has no valid <uuid>");
        r = hook_domain_read(xml, len, &e->doc, ret_error);
        if (r < 0)
                return r;
        e->root = xmlDocGetRootElement(e->doc);
        e->bus_path = domain_bus_path(runtime_dir, e->domain->uuid);
        e->bus_address = domain_bus_address(runtime_dir, e->domain->uuid);
        return 0;
}

static bool is_our_devices(const xmlNode *n) {
        return is_ns_element(n, HOOK_METADATA_NS, "devices");
}

/* As the hook reads them: a <device> of our namespace, or without one, inside ours. */
static bool is_our_device(const xmlNode *n) {
        return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST "device") &&
               (!n->ns || (n->ns->href && xmlStrEqual(n->ns->href, BAD_CAST HOOK_METADATA_NS)));
}

/* Every metadata entry, in document order (the hook checked them already). */
static GPtrArray *meta_entries(const Editor *e) {
        GPtrArray *entries = g_ptr_array_new_with_free_func((GDestroyNotify) meta_entry_free);

        for (xmlNode *m = e->root->children; m; m = m->next) {
                if (!is_element(m, "metadata"))
                        continue;
                for (xmlNode *ds = m->children; ds; ds = ds->next) {
                        if (!is_our_devices(ds))
                                continue;
                        for (xmlNode *d = ds->children; d; d = d->next) {
                                g_autofree char *bdf = NULL, *manage = NULL;
                                MetaEntry *entry;

                                if (!is_our_device(d))
                                        continue;
                                bdf = prop(d, "bdf");
                                entry = g_new0(MetaEntry, 1);
                                if (!bdf || mb_bdf_normalize(bdf, entry->bdf) < 0) {
                                        meta_entry_free(entry);
                                        continue;
                                }
                                manage = prop(d, "manage");
                                entry->node = d;
                                entry->manage = !manage || strcmp(manage, "no") != 0;
                                entry->vmstate_id = prop(d, "vmstate-id");
                                g_ptr_array_add(entries, entry);
                        }
                }
        }
        return entries;
}

/* Where a new <metadata> goes: after the elements libvirt writes before it. */
static xmlNode *metadata_anchor(const Editor *e) {
        static const char *const before[] = { "name", "uuid", "genid", "title", "description" };
        xmlNode *anchor = NULL;

        for (xmlNode *c = e->root->children; c; c = c->next)
                for (size_t i = 0; i < ELEMENTSOF(before); i++)
                        if (is_element(c, before[i]))
                                anchor = c;
        return anchor;
}

/* The first <mb:devices>, created (with a <metadata>) when there is none. */
static xmlNode *ensure_our_devices(Editor *e) {
        xmlNode *metadata = NULL, *devices, *anchor;
        xmlNs *ns;

        for (xmlNode *m = e->root->children; m; m = m->next) {
                if (!is_element(m, "metadata"))
                        continue;
                if (!metadata)
                        metadata = m;
                for (xmlNode *ds = m->children; ds; ds = ds->next)
                        if (is_our_devices(ds))
                                return ds;
        }
        if (!metadata) {
                metadata = new_element(e->doc, NULL, "metadata");
                anchor = metadata_anchor(e);
                if (anchor)
                        insert_after(anchor, metadata);
                else
                        append_indented(e->root, metadata);
        }
        devices = new_element(e->doc, NULL, "devices");
        ns = xml_checked(xmlNewNs(devices, BAD_CAST HOOK_METADATA_NS, BAD_CAST "mb"));
        xmlSetNs(devices, ns);
        append_indented(metadata, devices);
        return devices;
}

/* Removes <mb:devices> and <metadata> elements that hold no element any more. */
static void prune_metadata(Editor *e) {
        xmlNode *next_m;

        for (xmlNode *m = e->root->children; m; m = next_m) {
                xmlNode *next_ds;

                next_m = m->next;
                if (!is_element(m, "metadata"))
                        continue;
                for (xmlNode *ds = m->children; ds; ds = next_ds) {
                        next_ds = ds->next;
                        if (is_our_devices(ds) && !has_element_children(ds))
                                remove_indented(ds);
                }
                if (!has_element_children(m))
                        remove_indented(m);
        }
}

static gint compare_entries(gconstpointer a, gconstpointer b) {
        const MetaEntry *x = *(const MetaEntry *const *) a, *y = *(const MetaEntry *const *) b;
        return strcmp(x->bdf, y->bdf);
}

/* The vmstate ids of the managed metadata devices, by BDF, once each. */
static char **expected_ids(const Editor *e) {
        g_autoptr(GPtrArray) entries = meta_entries(e);
        g_autoptr(GPtrArray) managed = g_ptr_array_new();
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        GPtrArray *ids = g_ptr_array_new();

        for (guint i = 0; i < entries->len; i++) {
                MetaEntry *m = entries->pdata[i];
                if (m->manage && m->vmstate_id)
                        g_ptr_array_add(managed, m);
        }
        g_ptr_array_sort(managed, compare_entries);
        for (guint i = 0; i < managed->len; i++) {
                MetaEntry *m = managed->pdata[i];
                if (g_hash_table_add(seen, m->vmstate_id))
                        g_ptr_array_add(ids, g_strdup(m->vmstate_id));
        }
        g_ptr_array_add(ids, NULL);
        return (char **) g_ptr_array_free(ids, FALSE);
}

/* ---- the dbus-vmstate object ------------------------------------------------------------ */

static bool is_commandline(const xmlNode *n) {
        return is_ns_element(n, DOMAIN_QEMU_NS, "commandline");
}

static bool is_arg(const xmlNode *n) {
        return is_ns_element(n, DOMAIN_QEMU_NS, "arg");
}

static bool object_is_ours(const Editor *e, const Object *o) {
        const char *id = qemu_opts_get(o->opts, "id");
        g_autofree char *this_domain = NULL, *dir = NULL, *domains = NULL;

        if (id && strcmp(id, DOMAIN_VMSTATE_OBJECT_ID) == 0)
                return true;
        if (!o->bus_path)
                return false;
        if (strcmp(o->bus_path, e->bus_path) == 0)
                return true;
        /* this domain's bus under another runtime dir (the setting changed) */
        this_domain = g_strdup_printf("/domain/%s/bus", e->domain->uuid);
        if (g_str_has_suffix(o->bus_path, this_domain))
                return true;
        /* another domain's bus under ours (a copied definition) */
        dir = g_build_filename(e->runtime_dir, "domain", NULL);
        domains = g_strconcat(dir, "/", NULL);
        if (g_str_has_prefix(o->bus_path, domains) && g_str_has_suffix(o->bus_path, "/bus")) {
                const char *rest = o->bus_path + strlen(domains);
                const char *slash = strchr(rest, '/');
                return slash && slash > rest && strcmp(slash, "/bus") == 0;
        }
        return false;
}

/* Every dbus-vmstate object of the <qemu:commandline>s, in document order. */
static GPtrArray *find_objects(const Editor *e) {
        GPtrArray *objects = g_ptr_array_new_with_free_func((GDestroyNotify) object_entry_free);

        for (xmlNode *c = e->root->children; c; c = c->next) {
                xmlNode *option = NULL;

                if (!is_commandline(c))
                        continue;
                for (xmlNode *a = c->children; a; a = a->next) {
                        g_autofree char *value = NULL;

                        if (!is_arg(a))
                                continue;
                        value = prop(a, "value");
                        if (option) {
                                g_autoptr(Object) o = g_new0(Object, 1);
                                const char *addr;

                                o->option = MB_TAKE_PTR(option);
                                if (!value)
                                        continue;
                                o->opts = qemu_opts_parse(value);
                                if (!qemu_opts_is_dbus_vmstate(o->opts))
                                        continue;
                                o->value = a;
                                o->arg = g_steal_pointer(&value);
                                addr = qemu_opts_get(o->opts, "addr");
                                o->bus_path = addr ? address_unix_path(addr) : NULL;
                                o->ours = object_is_ours(e, o);
                                g_ptr_array_add(objects, g_steal_pointer(&o));
                                continue;
                        }
                        if (value && (strcmp(value, "-object") == 0 || strcmp(value, "--object") == 0))
                                option = a;
                }
        }
        return objects;
}

static char **split_id_list(const char *list) {
        return list && *list ? g_strsplit(list, ",", -1) : g_new0(char *, 1);
}

static gint compare_strings(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The same ids, whatever their order. */
static bool same_ids(const char *list, char **ids) {
        g_auto(GStrv) have = split_id_list(list);
        g_auto(GStrv) want = g_strdupv(ids);
        guint n_have = g_strv_length(have), n_want = g_strv_length(want);

        qsort(have, n_have, sizeof(char *), (int (*)(const void *, const void *)) compare_strings);
        qsort(want, n_want, sizeof(char *), (int (*)(const void *, const void *)) compare_strings);
        if (n_have != n_want)
                return false;
        for (guint i = 0; i < n_have; i++)
                if (strcmp(have[i], want[i]) != 0)
                        return false;
        return true;
}

/* Whether migbroker's object o names the broker's bus and the ids; if not, why
 * (appended to why, when given). */
static bool object_matches(const Editor *e, const Object *o, char **ids, GString *why) {
        const char *list = qemu_opts_get(o->opts, "id-list");
        bool ok = true;

        if (!o->bus_path || strcmp(o->bus_path, e->bus_path) != 0) {
                ok = false;
                if (why)
                        g_string_append_printf(why, "%sits addr is %s, the broker serves the domain at %s",
                                               why->len ? "; " : "", qemu_opts_get(o->opts, "addr") ?: "missing",
                                               e->bus_address);
        }
        if (!list || !same_ids(list, ids)) {
                g_autofree char *want = g_strjoinv(",", ids);
                ok = false;
                if (why)
                        g_string_append_printf(why, "%sits id-list is %s, the metadata gives %s", why->len ? "; " : "",
                                               list ?: "missing", want);
        }
        if (!qemu_opts_get(o->opts, "id")) {
                ok = false;
                if (why)
                        g_string_append_printf(why, "%sit has no id", why->len ? "; " : "");
        }
        return ok;
}

static void update_object(Editor *e, Object *o, char **ids) {
        g_autofree char *want = g_strjoinv(",", ids);
        g_autoptr(GString) what = g_string_new(NULL);
        const char *list = qemu_opts_get(o->opts, "id-list");
        g_autofree char *old_addr = g_strdup(qemu_opts_get(o->opts, "addr"));
        g_autofree char *old_list = g_strdup(list);
        g_autofree char *arg = NULL;
        const char *id;

        if (object_matches(e, o, ids, NULL))
                return;
        if (!qemu_opts_get(o->opts, "id")) {
                qemu_opts_set(o->opts, "id", DOMAIN_VMSTATE_OBJECT_ID);
                g_string_append_printf(what, "id %s added", DOMAIN_VMSTATE_OBJECT_ID);
        }
        if (!o->bus_path || strcmp(o->bus_path, e->bus_path) != 0) {
                qemu_opts_set(o->opts, "addr", e->bus_address);
                g_string_append_printf(what, "%saddr %s -> %s", what->len ? "; " : "", old_addr ?: "(none)",
                                       e->bus_address);
        }
        if (!list || !same_ids(list, ids)) {
                qemu_opts_set(o->opts, "id-list", want);
                g_string_append_printf(what, "%sid-list %s -> %s", what->len ? "; " : "", old_list ?: "(none)", want);
        }
        arg = qemu_opts_format(o->opts);
        set_prop(o->value, "value", arg);
        id = qemu_opts_get(o->opts, "id");
        add_change(e, DOMAIN_CHANGE_OBJECT_CHANGED, id, "changed dbus-vmstate object %s: %s", id, what->str);
}

static xmlNs *qemu_ns(Editor *e) {
        static const char *const prefixes[] = { "qemu", "qemucmd", "mbqemu" };
        xmlNs *ns = xmlSearchNsByHref(e->doc, e->root, BAD_CAST DOMAIN_QEMU_NS);

        /* NULL only when every prefix is bound to another namespace */
        for (size_t i = 0; !ns && i < ELEMENTSOF(prefixes); i++)
                if (!xmlSearchNs(e->doc, e->root, BAD_CAST prefixes[i]))
                        ns = xml_checked(xmlNewNs(e->root, BAD_CAST DOMAIN_QEMU_NS, BAD_CAST prefixes[i]));
        return ns;
}

static int add_object(Editor *e, char **ids, char **ret_error) {
        g_autoptr(GPtrArray) opts = g_ptr_array_new_with_free_func((GDestroyNotify) qemu_opt_free);
        g_autofree char *want = g_strjoinv(",", ids);
        g_autofree char *arg = NULL;
        xmlNode *cmdline = NULL, *option, *value;
        QemuOpt *type = g_new0(QemuOpt, 1);

        type->value = g_strdup("dbus-vmstate");
        g_ptr_array_add(opts, type);
        qemu_opts_set(opts, "id", DOMAIN_VMSTATE_OBJECT_ID);
        qemu_opts_set(opts, "addr", e->bus_address);
        qemu_opts_set(opts, "id-list", want);
        arg = qemu_opts_format(opts);

        for (xmlNode *c = e->root->children; c && !cmdline; c = c->next)
                if (is_commandline(c))
                        cmdline = c;
        if (!cmdline) {
                xmlNs *ns = qemu_ns(e);
                if (!ns)
                        return fail(ret_error, -EEXIST,
                                    "cannot add the dbus-vmstate object: the prefixes qemu, qemucmd and mbqemu "
                                    "of the root element are all bound to other namespaces");
                cmdline = new_element(e->doc, ns, "commandline");
                append_indented(e->root, cmdline);
        }
        option = new_element(e->doc, cmdline->ns, "arg");
        set_prop(option, "value", "-object");
        append_indented(cmdline, option);
        value = new_element(e->doc, cmdline->ns, "arg");
        set_prop(value, "value", arg);
        append_indented(cmdline, value);
        add_change(e, DOMAIN_CHANGE_OBJECT_ADDED, DOMAIN_VMSTATE_OBJECT_ID, "added dbus-vmstate object %s: -object %s",
                   DOMAIN_VMSTATE_OBJECT_ID, arg);
        return 0;
}

/* Makes migbroker's dbus-vmstate object match the metadata: updated, or
 * removed (with an emptied <qemu:commandline>), and added when may_add. */
static int sync_object(Editor *e, bool may_add, char **ret_error) {
        g_auto(GStrv) ids = expected_ids(e);
        g_autoptr(GPtrArray) objects = find_objects(e);
        Object *mine = NULL;
        bool removed = false;

        for (guint i = 0; i < objects->len; i++) {
                Object *o = objects->pdata[i];
                const char *id = qemu_opts_get(o->opts, "id") ?: "(without id)";

                if (!o->ours) {
                        add_note(e, "the dbus-vmstate object %s on %s is not migbroker's: left as it is", id,
                                 qemu_opts_get(o->opts, "addr") ?: "no bus");
                        continue;
                }
                if (!mine && ids[0]) {
                        mine = o;
                        continue;
                }
                if (ids[0])
                        add_change(e, DOMAIN_CHANGE_OBJECT_REMOVED, id,
                                   "removed dbus-vmstate object %s, a second one of migbroker's: -object %s", id,
                                   o->arg);
                else
                        add_change(e, DOMAIN_CHANGE_OBJECT_REMOVED, id,
                                   "removed dbus-vmstate object %s (no device has a vmstate id): -object %s", id,
                                   o->arg);
                if (o->option)
                        remove_indented(o->option);
                remove_indented(o->value);
                removed = true;
        }
        if (removed) {
                xmlNode *next;
                for (xmlNode *c = e->root->children; c; c = next) {
                        next = c->next;
                        if (is_commandline(c) && !has_element_children(c))
                                remove_indented(c);
                }
        }
        if (!ids[0])
                return 0;
        if (mine) {
                update_object(e, mine, ids);
                return 0;
        }
        if (!may_add) {
                g_autofree char *list = g_strjoinv(",", ids);
                add_note(e, "the metadata gives vmstate ids (%s) but no dbus-vmstate object names the broker's bus "
                            "(domain enable adds it)", list);
                return 0;
        }
        return add_object(e, ids, ret_error);
}

/* ---- enable, disable, show ------------------------------------------------------------ */

static int editor_finish(Editor *e, const char *xml, size_t len, DomainEdit **ret, char **ret_error) {
        g_autoptr(DomainEdit) out = g_new0(DomainEdit, 1);
        int r;

        if (e->changes->len == 0) {
                out->xml = g_strndup(xml, len);
        } else {
                g_autoptr(HookDomain) check = NULL;
                g_autofree char *error = NULL;

                r = serialize(e->doc, &out->xml);
                if (r < 0)
                        return fail(ret_error, r, "cannot write the domain XML: %s", g_strerror(-r));
                /* what the hook will read at the next start */
                r = hook_domain_parse(out->xml, strlen(out->xml), &check, &error);
                if (r < 0)
                        return fail(ret_error, -EINVAL, "the edited domain XML would not be valid: %s", error);
        }
        out->changes = MB_TAKE_PTR(e->changes);
        out->notes = MB_TAKE_PTR(e->notes);
        *ret = MB_TAKE_PTR(out);
        return 0;
}

typedef struct Wanted {
        char bdf[MB_BDF_STRLEN + 1];
        char *vmstate_id; /* NULL: none */
} Wanted;

static void wanted_free(Wanted *w) {
        if (!w)
                return;
        g_free(w->vmstate_id);
        g_free(w);
}

static void note_hostdev(Editor *e, const char *bdf, bool with_id) {
        const HookDevice *d = hook_domain_find(e->domain, bdf);

        if (!d || !d->hostdev)
                return;
        if (with_id)
                add_note(e,
                         "%s is also a PCI host device of the domain: QEMU holds it as vfio-pci, and QEMU 7.2 "
                         "blocks the migration of a vfio-pci device without kernel migration support; "
                         "dbus-vmstate serves devices QEMU does not hold (the shim plugin serves host devices)",
                         bdf);
}

/* The requested devices, checked, each with the vmstate id it will have. */
static int resolve_wanted(GPtrArray *entries, const DomainEditDevice *devices, size_t n_devices,
                          GPtrArray *wanted, char **ret_error) {
        g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal); /* id -> bdf */
        g_autoptr(GHashTable) named = g_hash_table_new(g_str_hash, g_str_equal); /* bdf */

        for (size_t i = 0; i < n_devices; i++) {
                const DomainEditDevice *d = &devices[i];
                Wanted *w = g_new0(Wanted, 1);

                g_ptr_array_add(wanted, w);
                if (!d->bdf || mb_bdf_normalize(d->bdf, w->bdf) < 0)
                        return fail(ret_error, -EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F)", d->bdf ?: "");
                if (!g_hash_table_add(named, w->bdf))
                        return fail(ret_error, -EINVAL, "device %s is named twice", w->bdf);
                if (d->vmstate_id && d->no_vmstate)
                        return fail(ret_error, -EINVAL, "device %s: a vmstate id and none at all", w->bdf);
                if (d->vmstate_id) {
                        if (!hook_vmstate_id_valid(d->vmstate_id))
                                return fail(ret_error, -EINVAL,
                                            "vmstate id '%s' must be 1 to %d visible ASCII characters other than ','",
                                            d->vmstate_id, HOOK_VMSTATE_ID_MAX);
                        w->vmstate_id = g_strdup(d->vmstate_id);
                } else if (!d->no_vmstate) {
                        const MetaEntry *m = NULL;

                        for (guint k = 0; k < entries->len && !m; k++) {
                                const MetaEntry *c = entries->pdata[k];
                                if (c->manage && c->vmstate_id && strcmp(c->bdf, w->bdf) == 0)
                                        m = c;
                        }
                        w->vmstate_id = m ? g_strdup(m->vmstate_id)
                                          : g_strconcat(DOMAIN_VMSTATE_ID_PREFIX, w->bdf, NULL);
                }
                if (!w->vmstate_id)
                        continue;
                if (g_hash_table_contains(by_id, w->vmstate_id))
                        return fail(ret_error, -EEXIST, "vmstate id '%s' is given to both %s and %s", w->vmstate_id,
                                    (const char *) g_hash_table_lookup(by_id, w->vmstate_id), w->bdf);
                g_hash_table_insert(by_id, w->vmstate_id, w->bdf);
        }
        /* the devices that stay as they are keep their ids */
        for (guint k = 0; k < entries->len; k++) {
                const MetaEntry *m = entries->pdata[k];
                const char *other;

                if (!m->manage || !m->vmstate_id || g_hash_table_contains(named, m->bdf))
                        continue;
                other = g_hash_table_lookup(by_id, m->vmstate_id);
                if (other)
                        return fail(ret_error, -EEXIST,
                                    "vmstate id '%s' is already given to %s in the domain's metadata", m->vmstate_id,
                                    m->bdf);
        }
        return 0;
}

static void enable_one(Editor *e, GPtrArray *entries, const Wanted *w, bool *removed) {
        g_autoptr(GString) what = g_string_new(NULL);
        MetaEntry *first = NULL;
        guint at;

        for (at = 0; at < entries->len; at++)
                if (strcmp(((MetaEntry *) entries->pdata[at])->bdf, w->bdf) == 0) {
                        first = entries->pdata[at];
                        break;
                }

        note_hostdev(e, w->bdf, w->vmstate_id != NULL);
        if (!first) {
                xmlNode *devices = ensure_our_devices(e);
                xmlNode *node = new_element(e->doc, devices->ns, "device");

                set_prop(node, "bdf", w->bdf);
                if (w->vmstate_id)
                        set_prop(node, "vmstate-id", w->vmstate_id);
                append_indented(devices, node);
                if (w->vmstate_id)
                        add_change(e, DOMAIN_CHANGE_DEVICE_ADDED, w->bdf, "added device %s (vmstate id %s)", w->bdf,
                                   w->vmstate_id);
                else
                        add_change(e, DOMAIN_CHANGE_DEVICE_ADDED, w->bdf, "added device %s (no vmstate id)", w->bdf);
                return;
        }

        if (!first->manage) {
                (void) xmlUnsetProp(first->node, BAD_CAST "manage");
                g_string_append(what, "managed again (was manage=\"no\")");
        }
        if (g_strcmp0(first->vmstate_id, w->vmstate_id) != 0) {
                if (w->vmstate_id)
                        set_prop(first->node, "vmstate-id", w->vmstate_id);
                else
                        (void) xmlUnsetProp(first->node, BAD_CAST "vmstate-id");
                if (first->vmstate_id && w->vmstate_id)
                        g_string_append_printf(what, "%svmstate id %s -> %s", what->len ? "; " : "",
                                               first->vmstate_id, w->vmstate_id);
                else if (w->vmstate_id)
                        g_string_append_printf(what, "%svmstate id %s added", what->len ? "; " : "", w->vmstate_id);
                else
                        g_string_append_printf(what, "%svmstate id %s removed", what->len ? "; " : "",
                                               first->vmstate_id);
        }
        /* one entry per device: later ones of the same BDF go */
        for (guint i = at + 1; i < entries->len;) {
                MetaEntry *dup = entries->pdata[i];

                if (strcmp(dup->bdf, w->bdf) != 0) {
                        i++;
                        continue;
                }
                g_string_append_printf(what, "%sthe entry at line %d merged into the one at line %d",
                                       what->len ? "; " : "", line_of(dup->node), line_of(first->node));
                remove_indented(dup->node);
                g_ptr_array_remove_index(entries, i);
                *removed = true;
        }
        if (what->len > 0)
                add_change(e, DOMAIN_CHANGE_DEVICE_CHANGED, w->bdf, "changed device %s: %s", w->bdf, what->str);
}

int domain_edit_enable(const char *xml, size_t len, const DomainEditDevice *devices, size_t n_devices,
                       const char *runtime_dir, DomainEdit **ret, char **ret_error) {
        _cleanup_(editor_done) Editor e = {};
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(GPtrArray) wanted = g_ptr_array_new_with_free_func((GDestroyNotify) wanted_free);
        bool removed = false;
        int r;

        g_assert(ret);
        g_assert(ret_error);
        *ret_error = NULL;

        r = editor_open(&e, xml, len, runtime_dir, ret_error);
        if (r < 0)
                return r;
        entries = meta_entries(&e);
        r = resolve_wanted(entries, devices, n_devices, wanted, ret_error);
        if (r < 0)
                return r;
        if (n_devices == 0) {
                bool any = false;
                for (guint i = 0; i < entries->len && !any; i++)
                        any = ((const MetaEntry *) entries->pdata[i])->manage;
                if (!any)
                        add_note(&e, "no device given, and the domain's metadata declares none");
        }
        for (guint i = 0; i < wanted->len; i++)
                enable_one(&e, entries, wanted->pdata[i], &removed);
        if (removed)
                prune_metadata(&e);
        r = sync_object(&e, true, ret_error);
        if (r < 0)
                return r;
        return editor_finish(&e, xml, len, ret, ret_error);
}

int domain_edit_disable(const char *xml, size_t len, const char *const *bdfs, size_t n_bdfs,
                        const char *runtime_dir, DomainEdit **ret, char **ret_error) {
        _cleanup_(editor_done) Editor e = {};
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func(g_free);
        bool removed = false;
        int r;

        g_assert(ret);
        g_assert(ret_error);
        *ret_error = NULL;

        r = editor_open(&e, xml, len, runtime_dir, ret_error);
        if (r < 0)
                return r;
        entries = meta_entries(&e);

        if (n_bdfs == 0) {
                for (guint i = 0; i < entries->len; i++) {
                        const MetaEntry *m = entries->pdata[i];
                        if (m->manage && !g_ptr_array_find_with_equal_func(targets, m->bdf, g_str_equal, NULL))
                                g_ptr_array_add(targets, g_strdup(m->bdf));
                }
                if (targets->len == 0)
                        add_note(&e, "the domain's metadata declares no device for migbroker");
        }
        for (size_t i = 0; i < n_bdfs; i++) {
                char bdf[MB_BDF_STRLEN + 1];

                if (!bdfs[i] || mb_bdf_normalize(bdfs[i], bdf) < 0)
                        return fail(ret_error, -EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F)", bdfs[i] ?: "");
                if (!g_ptr_array_find_with_equal_func(targets, bdf, g_str_equal, NULL))
                        g_ptr_array_add(targets, g_strdup(bdf));
        }

        for (guint t = 0; t < targets->len; t++) {
                const char *bdf = targets->pdata[t];
                const HookDevice *d = hook_domain_find(e.domain, bdf);
                g_autofree char *old_id = NULL;
                bool found = false, excluded = false;

                for (guint i = 0; i < entries->len; i++) {
                        MetaEntry *m = entries->pdata[i];

                        if (strcmp(m->bdf, bdf) != 0)
                                continue;
                        if (!m->manage) {
                                excluded = true;
                                continue;
                        }
                        found = true;
                        if (!old_id)
                                old_id = g_strdup(m->vmstate_id);
                        remove_indented(m->node);
                        m->node = NULL;
                        removed = true;
                }
                if (found && old_id)
                        add_change(&e, DOMAIN_CHANGE_DEVICE_REMOVED, bdf, "removed device %s (vmstate id %s)", bdf,
                                   old_id);
                else if (found)
                        add_change(&e, DOMAIN_CHANGE_DEVICE_REMOVED, bdf, "removed device %s (no vmstate id)", bdf);
                else if (excluded)
                        add_note(&e, "%s is excluded already (manage=\"no\"): left as it is", bdf);
                else
                        add_note(&e, "%s is not in the domain's migbroker metadata", bdf);
                if (d && d->hostdev)
                        add_note(&e,
                                 "%s is a PCI host device of the domain: the hook still hands it to the broker when "
                                 "the broker's policy manages it (<mb:device bdf=\"%s\" manage=\"no\"/> in the "
                                 "metadata prevents that)",
                                 bdf, bdf);
        }
        if (removed)
                prune_metadata(&e);
        r = sync_object(&e, false, ret_error);
        if (r < 0)
                return r;
        return editor_finish(&e, xml, len, ret, ret_error);
}

int domain_info_read(const char *xml, size_t len, const char *runtime_dir, DomainInfo **ret, char **ret_error) {
        _cleanup_(editor_done) Editor e = {};
        g_autoptr(DomainInfo) info = g_new0(DomainInfo, 1);
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(GPtrArray) objects = NULL;
        g_autoptr(GString) why = g_string_new(NULL);
        const Object *mine = NULL;
        unsigned n_mine = 0;
        int r;

        g_assert(ret);
        g_assert(ret_error);
        *ret_error = NULL;

        r = editor_open(&e, xml, len, runtime_dir, ret_error);
        if (r < 0)
                return r;
        entries = meta_entries(&e);
        objects = find_objects(&e);

        info->excluded = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < entries->len; i++) {
                const MetaEntry *m = entries->pdata[i];
                if (!m->manage && !g_ptr_array_find_with_equal_func(info->excluded, m->bdf, g_str_equal, NULL))
                        g_ptr_array_add(info->excluded, g_strdup(m->bdf));
        }
        info->objects = g_ptr_array_new_with_free_func((GDestroyNotify) object_free);
        for (guint i = 0; i < objects->len; i++) {
                const Object *o = objects->pdata[i];
                DomainVmstateObject *v = g_new0(DomainVmstateObject, 1);
                const char *list = qemu_opts_get(o->opts, "id-list");

                v->arg = g_strdup(o->arg);
                v->id = g_strdup(qemu_opts_get(o->opts, "id"));
                v->bus_path = g_strdup(o->bus_path);
                v->id_list = list ? split_id_list(list) : NULL;
                v->ours = o->ours;
                g_ptr_array_add(info->objects, v);
                if (o->ours && n_mine++ == 0)
                        mine = o;
        }
        info->bus_address = g_strdup(e.bus_address);
        info->vmstate_ids = expected_ids(&e);

        if (!info->vmstate_ids[0]) {
                info->object_state = n_mine > 0 ? DOMAIN_OBJECT_UNNEEDED : DOMAIN_OBJECT_NONE;
                if (n_mine > 0)
                        info->object_problem = g_strdup_printf(
                                "no device has a vmstate id, but the domain has migbroker's dbus-vmstate object %s",
                                qemu_opts_get(mine->opts, "id") ?: "(without id)");
        } else if (n_mine == 0) {
                g_autofree char *ids = g_strjoinv(",", info->vmstate_ids);
                info->object_state = DOMAIN_OBJECT_MISSING;
                info->object_problem = g_strdup_printf("the metadata gives vmstate ids (%s) but no dbus-vmstate object "
                                                       "names the broker's bus: QEMU will not migrate their state",
                                                       ids);
        } else if (n_mine > 1) {
                info->object_state = DOMAIN_OBJECT_MISMATCH;
                info->object_problem = g_strdup_printf("%u dbus-vmstate objects of migbroker's, where one is needed",
                                                       n_mine);
        } else if (!object_matches(&e, mine, info->vmstate_ids, why)) {
                info->object_state = DOMAIN_OBJECT_MISMATCH;
                info->object_problem = g_strdup(why->str);
        } else {
                info->object_state = DOMAIN_OBJECT_OK;
        }
        info->domain = MB_TAKE_PTR(e.domain);
        *ret = MB_TAKE_PTR(info);
        return 0;
}
