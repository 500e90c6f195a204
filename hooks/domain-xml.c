/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlversion.h>

#include "domain-xml.h"
#include "macro.h"

/* No network, no entity substitution, no DTD loading; errors come back in the
 * context instead of being printed. */
#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

MB_DEFINE_CLEANUP(xmlDocPtr, xmlFreeDoc)
MB_DEFINE_CLEANUP(xmlParserCtxtPtr, xmlFreeParserCtxt)

static inline void xml_freep(xmlChar **p) {
        if (*p)
                xmlFree(*p);
}
#define _cleanup_xml_free_ _cleanup_(xml_freep)

/* A metadata entry before merging. */
typedef struct Entry {
        char bdf[MB_BDF_STRLEN + 1];
        char *vmstate_id;
        bool manage;
        int line;
} Entry;

static void entry_free(Entry *e) {
        if (!e)
                return;
        g_free(e->vmstate_id);
        g_free(e);
}

static void device_free(HookDevice *d) {
        if (!d)
                return;
        g_free(d->vmstate_id);
        g_free(d);
}

void hook_domain_free(HookDomain *d) {
        if (!d)
                return;
        g_free(d->name);
        g_free(d->uuid);
        if (d->devices)
                g_ptr_array_unref(d->devices);
        if (d->notes)
                g_ptr_array_unref(d->notes);
        g_free(d);
}

const HookDevice *hook_domain_find(const HookDomain *d, const char *bdf) {
        for (guint i = 0; i < d->devices->len; i++) {
                const HookDevice *dev = d->devices->pdata[i];
                if (strcmp(dev->bdf, bdf) == 0)
                        return dev;
        }
        return NULL;
}

/* Errors become the hook's one line on standard error: no control
 * characters (libxml2's messages span lines; &#10; puts a newline into an
 * attribute value). */
static char *one_line(char *s) {
        for (char *p = s; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        *p = ' ';
        return g_strstrip(s);
}

static int fail(char **ret_error, int r, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        *ret_error = one_line(g_strdup_vprintf(fmt, ap));
        va_end(ap);
        return r;
}

static int line_of(const xmlNode *n) {
        long l = xmlGetLineNo(n);
        return l > 0 && l < INT_MAX ? (int) l : 0;
}

static bool is_element(const xmlNode *n, const char *name) {
        return n->type == XML_ELEMENT_NODE && !n->ns && xmlStrEqual(n->name, BAD_CAST name);
}

static bool in_our_ns(const xmlNode *n) {
        return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
               xmlStrEqual(n->ns->href, BAD_CAST HOOK_METADATA_NS);
}

/* "<mb:device>" with whatever prefix the document uses. */
static char *display_name(const xmlNode *n) {
        if (n->ns && n->ns->prefix)
                return g_strdup_printf("<%s:%s>", (const char *) n->ns->prefix, (const char *) n->name);
        return g_strdup_printf("<%s>", (const char *) n->name);
}

/* The value of an attribute without namespace, or NULL. */
static char *prop(const xmlNode *n, const char *name) {
        _cleanup_xml_free_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
        return v ? g_strdup((const char *) v) : NULL;
}

static char *text_of(const xmlNode *n) {
        _cleanup_xml_free_ xmlChar *v = xmlNodeGetContent(n);
        return v ? g_strstrip(g_strdup((const char *) v)) : g_strdup("");
}

/* One field of a PCI address as libvirt reads it (strtoul base 0: 0x hex,
 * decimal); a missing attribute is 0, as in libvirt. */
static int address_field(const xmlNode *addr, const char *what, const char *name, unsigned max, unsigned *ret,
                         char **ret_error) {
        g_autofree char *v = prop(addr, name);
        unsigned long n;
        char *end;

        if (!v) {
                *ret = 0;
                return 0;
        }
        errno = 0;
        n = strtoul(v, &end, 0);
        if (!*v || !g_ascii_isxdigit(v[0]) || *end || errno)
                return fail(ret_error, -EINVAL, "line %d: %s source address: %s='%s' is not a number", line_of(addr),
                            what, name, v);
        if (n > max)
                return fail(ret_error, -EINVAL, "line %d: %s source address: %s='%s' is out of range (at most 0x%x)",
                            line_of(addr), what, name, v, max);
        *ret = (unsigned) n;
        return 0;
}

/* The host address of a <hostdev> or <interface type='hostdev'>: 1 and the BDF,
 * 0 when it has no <source> (a guest-side description only), or an error. */
static int source_bdf(const xmlNode *dev, const char *what, char bdf[static MB_BDF_STRLEN + 1], char **ret_error) {
        const xmlNode *source = NULL, *addr = NULL;
        unsigned domain, bus, slot, function;
        int r;

        for (const xmlNode *c = dev->children; c; c = c->next)
                if (is_element(c, "source")) {
                        source = c;
                        break;
                }
        if (!source)
                return 0;
        for (const xmlNode *c = source->children; c; c = c->next)
                if (is_element(c, "address")) {
                        addr = c;
                        break;
                }
        if (!addr)
                return fail(ret_error, -EINVAL, "line %d: %s <source> has no PCI <address>", line_of(source), what);

        g_autofree char *type = prop(addr, "type");
        if (type && strcmp(type, "pci") != 0)
                return fail(ret_error, -EINVAL, "line %d: %s source address has type '%s', not 'pci'", line_of(addr),
                            what, type);

        if ((r = address_field(addr, what, "domain", 0xffff, &domain, ret_error)) < 0 ||
            (r = address_field(addr, what, "bus", 0xff, &bus, ret_error)) < 0 ||
            (r = address_field(addr, what, "slot", MB_BDF_SLOT_MAX, &slot, ret_error)) < 0 ||
            (r = address_field(addr, what, "function", MB_BDF_FUNCTION_MAX, &function, ret_error)) < 0)
                return r;
        mb_bdf_format(&(MbBdf) { .domain = (uint16_t) domain, .bus = (uint8_t) bus, .slot = (uint8_t) slot,
                                 .function = (uint8_t) function },
                      bdf);
        return 1;
}

typedef struct Parse {
        GPtrArray *hostdevs; /* of HookDevice: hostdev = true */
        GPtrArray *entries;  /* of Entry */
        GPtrArray *notes;
} Parse;

static int add_hostdev(Parse *p, const xmlNode *dev, const char *what, char **ret_error) {
        char bdf[MB_BDF_STRLEN + 1];
        HookDevice *d;
        int r;

        r = source_bdf(dev, what, bdf, ret_error);
        if (r < 0)
                return r;
        if (r == 0) {
                g_ptr_array_add(p->notes, g_strdup_printf("line %d: %s has no <source> (only a guest address): "
                                                          "not a host PCI device, ignored",
                                                          line_of(dev), what));
                return 0;
        }
        d = g_new0(HookDevice, 1);
        memcpy(d->bdf, bdf, sizeof(bdf));
        d->hostdev = true;
        d->line = line_of(dev);
        g_ptr_array_add(p->hostdevs, d);
        return 0;
}

static int parse_devices(Parse *p, const xmlNode *devices, char **ret_error) {
        int r;

        for (const xmlNode *c = devices->children; c; c = c->next) {
                if (is_element(c, "hostdev")) {
                        g_autofree char *mode = prop(c, "mode"), *type = prop(c, "type");

                        /* libvirt's default mode is 'subsystem' */
                        if ((mode && strcmp(mode, "subsystem") != 0) || !type || strcmp(type, "pci") != 0) {
                                g_ptr_array_add(p->notes,
                                                g_strdup_printf("line %d: <hostdev mode='%s' type='%s'>: not a "
                                                                "PCI host device, ignored",
                                                                line_of(c), mode ?: "subsystem", type ?: ""));
                                continue;
                        }
                        r = add_hostdev(p, c, "<hostdev>", ret_error);
                        if (r < 0)
                                return r;
                } else if (is_element(c, "interface")) {
                        g_autofree char *type = prop(c, "type");

                        if (!type || strcmp(type, "hostdev") != 0)
                                continue;
                        r = add_hostdev(p, c, "<interface type='hostdev'>", ret_error);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

bool hook_vmstate_id_valid(const char *id) {
        size_t len = strlen(id);

        if (len == 0 || len > HOOK_VMSTATE_ID_MAX)
                return false;
        for (const char *s = id; *s; s++)
                /* QEMU's id-list is comma-separated; keep to visible ASCII */
                if (*s == ',' || (unsigned char) *s <= ' ' || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

static int check_vmstate_id(const xmlNode *n, const char *id, char **ret_error) {
        size_t len = strlen(id);

        if (hook_vmstate_id_valid(id))
                return 0;
        if (len == 0)
                return fail(ret_error, -EINVAL, "line %d: vmstate-id is empty", line_of(n));
        if (len > HOOK_VMSTATE_ID_MAX)
                return fail(ret_error, -EINVAL, "line %d: vmstate-id is longer than %d characters", line_of(n),
                            HOOK_VMSTATE_ID_MAX);
        return fail(ret_error, -EINVAL,
                    "line %d: vmstate-id '%s' may only hold visible ASCII characters other than ','", line_of(n), id);
}

static int parse_metadata_device(Parse *p, const xmlNode *n, char **ret_error) {
        g_autofree char *what = display_name(n);
        g_autofree char *bdf = NULL, *manage = NULL, *vmstate_id = NULL;
        Entry *e;
        int r;

        for (const xmlAttr *a = n->properties; a; a = a->next) {
                if (a->ns)
                        continue; /* xml:lang and the like */
                if (!xmlStrEqual(a->name, BAD_CAST "bdf") && !xmlStrEqual(a->name, BAD_CAST "vmstate-id") &&
                    !xmlStrEqual(a->name, BAD_CAST "manage"))
                        return fail(ret_error, -EINVAL,
                                    "line %d: %s has an unknown attribute '%s' (known: bdf, vmstate-id, manage)",
                                    line_of(n), what, (const char *) a->name);
        }

        bdf = prop(n, "bdf");
        if (!bdf)
                return fail(ret_error, -EINVAL, "line %d: %s has no bdf attribute", line_of(n), what);
        e = g_new0(Entry, 1);
        g_ptr_array_add(p->entries, e);
        e->line = line_of(n);
        if (mb_bdf_normalize(bdf, e->bdf) < 0)
                return fail(ret_error, -EINVAL, "line %d: %s bdf '%s' is not a PCI address (DDDD:BB:SS.F)", line_of(n),
                            what, bdf);

        manage = prop(n, "manage");
        if (!manage || strcmp(manage, "yes") == 0)
                e->manage = true;
        else if (strcmp(manage, "no") == 0)
                e->manage = false;
        else
                return fail(ret_error, -EINVAL, "line %d: %s manage='%s': expected 'yes' or 'no'", line_of(n), what,
                            manage);

        vmstate_id = prop(n, "vmstate-id");
        if (vmstate_id) {
                r = check_vmstate_id(n, vmstate_id, ret_error);
                if (r < 0)
                        return r;
                e->vmstate_id = g_steal_pointer(&vmstate_id);
        }
        return 0;
}

static int parse_metadata(Parse *p, const xmlNode *metadata, char **ret_error) {
        int r;

        for (const xmlNode *c = metadata->children; c; c = c->next) {
                if (!in_our_ns(c))
                        continue; /* other applications' metadata */
                if (!xmlStrEqual(c->name, BAD_CAST "devices")) {
                        g_autofree char *what = display_name(c);
                        return fail(ret_error, -EINVAL, "line %d: unknown element %s in namespace %s (expected devices)",
                                    line_of(c), what, HOOK_METADATA_NS);
                }
                for (const xmlNode *d = c->children; d; d = d->next) {
                        if (d->type != XML_ELEMENT_NODE)
                                continue;
                        /* virsh metadata --set puts every element in our namespace; an unprefixed
                         * <device> written by hand inside ours is meant as ours too */
                        if (!in_our_ns(d) && d->ns) {
                                g_autofree char *what = display_name(d);
                                g_ptr_array_add(p->notes,
                                                g_strdup_printf("line %d: %s in the migbroker metadata is in another "
                                                                "namespace: ignored",
                                                                line_of(d), what));
                                continue;
                        }
                        if (!xmlStrEqual(d->name, BAD_CAST "device")) {
                                g_autofree char *what = display_name(d);
                                return fail(ret_error, -EINVAL, "line %d: unknown element %s (expected device)",
                                            line_of(d), what);
                        }
                        r = parse_metadata_device(p, d, ret_error);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static gint compare_devices(gconstpointer a, gconstpointer b) {
        const HookDevice *x = *(HookDevice *const *) a, *y = *(HookDevice *const *) b;
        return strcmp(x->bdf, y->bdf);
}

/* Merges the metadata entries and the hostdevs into d->devices. */
static int merge(Parse *p, HookDomain *d, char **ret_error) {
        g_autoptr(GHashTable) by_bdf = g_hash_table_new(g_str_hash, g_str_equal);    /* bdf -> HookDevice */
        g_autoptr(GHashTable) excluded = g_hash_table_new(g_str_hash, g_str_equal);  /* bdf -> Entry */
        g_autoptr(GHashTable) by_vmstate = g_hash_table_new(g_str_hash, g_str_equal); /* id -> HookDevice */

        for (guint i = 0; i < p->entries->len; i++) {
                Entry *e = p->entries->pdata[i];
                HookDevice *dev = g_hash_table_lookup(by_bdf, e->bdf);
                Entry *ex = g_hash_table_lookup(excluded, e->bdf);

                if (!e->manage) {
                        if (dev)
                                return fail(ret_error, -EINVAL,
                                            "line %d: %s is declared managed (line %d) and manage=\"no\" (line %d)",
                                            e->line, e->bdf, dev->line, e->line);
                        if (!ex)
                                g_hash_table_insert(excluded, e->bdf, e);
                        continue;
                }
                if (ex)
                        return fail(ret_error, -EINVAL,
                                    "line %d: %s is declared managed (line %d) and manage=\"no\" (line %d)", e->line,
                                    e->bdf, e->line, ex->line);
                if (!dev) {
                        dev = g_new0(HookDevice, 1);
                        memcpy(dev->bdf, e->bdf, sizeof(dev->bdf));
                        dev->metadata = true;
                        dev->line = e->line;
                        g_ptr_array_add(d->devices, dev);
                        g_hash_table_insert(by_bdf, dev->bdf, dev);
                }
                if (e->vmstate_id) {
                        if (dev->vmstate_id && strcmp(dev->vmstate_id, e->vmstate_id) != 0)
                                return fail(ret_error, -EINVAL,
                                            "line %d: %s is declared twice with different vmstate-ids ('%s' at line "
                                            "%d, '%s' at line %d)",
                                            e->line, e->bdf, dev->vmstate_id, dev->line, e->vmstate_id, e->line);
                        if (!dev->vmstate_id)
                                dev->vmstate_id = g_strdup(e->vmstate_id);
                }
        }

        for (guint i = 0; i < p->hostdevs->len; i++) {
                HookDevice *h = p->hostdevs->pdata[i];
                HookDevice *dev = g_hash_table_lookup(by_bdf, h->bdf);
                Entry *ex = g_hash_table_lookup(excluded, h->bdf);

                if (ex) {
                        g_ptr_array_add(d->notes, g_strdup_printf("line %d: hostdev %s has manage=\"no\" in the "
                                                                  "metadata (line %d): ignored",
                                                                  h->line, h->bdf, ex->line));
                        continue;
                }
                if (dev) {
                        dev->hostdev = true;
                        dev->line = MB_MIN(dev->line, h->line);
                        continue;
                }
                dev = g_new0(HookDevice, 1);
                *dev = *h;
                g_ptr_array_add(d->devices, dev);
                g_hash_table_insert(by_bdf, dev->bdf, dev);
        }

        /* QEMU's id-list names each helper once. */
        for (guint i = 0; i < d->devices->len; i++) {
                HookDevice *dev = d->devices->pdata[i];
                HookDevice *other;

                if (!dev->vmstate_id)
                        continue;
                other = g_hash_table_lookup(by_vmstate, dev->vmstate_id);
                if (other)
                        return fail(ret_error, -EINVAL, "line %d: vmstate-id '%s' is given to both %s and %s",
                                    MB_MAX(dev->line, other->line), dev->vmstate_id, other->bdf, dev->bdf);
                g_hash_table_insert(by_vmstate, dev->vmstate_id, dev);
        }

        g_ptr_array_sort(d->devices, compare_devices);
        return 0;
}

bool hook_uuid_valid(const char *s) {
        static const int dash[] = { 8, 13, 18, 23 };
        size_t i, k = 0;

        if (strlen(s) != 36)
                return false;
        for (i = 0; i < 36; i++) {
                if (k < ELEMENTSOF(dash) && (int) i == dash[k]) {
                        if (s[i] != '-')
                                return false;
                        k++;
                } else if (!g_ascii_isxdigit(s[i]))
                        return false;
        }
        return true;
}

/* libxml2 goes on after the first error and xmlCtxtGetLastError() has the
 * last one ("Premature end of data" for most mistakes): keep the first. */
typedef struct FirstError {
        char *message;
        int line;
} FirstError;

#if LIBXML_VERSION >= 21200
static void on_xml_error(void *userdata, const xmlError *e) {
#else
static void on_xml_error(void *userdata, xmlErrorPtr e) {
#endif
        FirstError *first = userdata;

        if (first->message || !e || e->level < XML_ERR_ERROR)
                return;
        first->message = one_line(g_strdup(e->message ?: "unknown libxml2 error"));
        first->line = e->line;
}

static char *xml_error_text(const FirstError *first, const xmlError *last) {
        if (first->message)
                return g_strdup_printf("malformed domain XML: line %d: %s", first->line, first->message);
        if (last && last->message) {
                g_autofree char *msg = one_line(g_strdup(last->message));
                return g_strdup_printf("malformed domain XML: line %d: %s", last->line, msg);
        }
        return g_strdup("malformed domain XML: unknown libxml2 error");
}

int hook_domain_read(const char *buf, size_t len, xmlDocPtr *ret, char **ret_error) {
        _cleanup_(xmlFreeParserCtxtp) xmlParserCtxtPtr ctxt = NULL;
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        FirstError first_error = {};
        const xmlNode *root;

        g_assert(ret);
        g_assert(ret_error);
        *ret_error = NULL;

        if (len == 0)
                return fail(ret_error, -EINVAL, "no domain XML on standard input");
        if (len > HOOK_DOMAIN_XML_MAX)
                return fail(ret_error, -EFBIG, "the domain XML is larger than %u bytes", HOOK_DOMAIN_XML_MAX);

        ctxt = xmlNewParserCtxt();
        if (!ctxt)
                return fail(ret_error, -ENOMEM, "cannot allocate an XML parser");
        xmlSetStructuredErrorFunc(&first_error, on_xml_error);
        doc = xmlCtxtReadMemory(ctxt, buf, (int) len, "domain.xml", NULL, XML_OPTIONS);
        xmlSetStructuredErrorFunc(NULL, NULL);
        if (!doc || !ctxt->wellFormed) {
                *ret_error = xml_error_text(&first_error, xmlCtxtGetLastError(ctxt));
                g_free(first_error.message);
                return -EBADMSG;
        }
        g_free(first_error.message);
        if (doc->intSubset)
                return fail(ret_error, -EBADMSG, "malformed domain XML: a DOCTYPE, which libvirt never writes");

        root = xmlDocGetRootElement(doc);
        if (!root || !is_element(root, "domain"))
                return fail(ret_error, -EBADMSG, "line %d: the root element is <%s>, not <domain>",
                            root ? line_of(root) : 1, root ? (const char *) root->name : "");

        *ret = g_steal_pointer(&doc);
        return 0;
}

int hook_domain_parse(const char *buf, size_t len, HookDomain **ret, char **ret_error) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        g_autoptr(HookDomain) d = NULL;
        g_autoptr(GPtrArray) hostdevs = g_ptr_array_new_with_free_func((GDestroyNotify) device_free);
        g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func((GDestroyNotify) entry_free);
        g_autofree char *uuid = NULL;
        const xmlNode *root;
        Parse p;
        int r;

        g_assert(ret);
        g_assert(ret_error);
        *ret_error = NULL;

        r = hook_domain_read(buf, len, &doc, ret_error);
        if (r < 0)
                return r;
        root = xmlDocGetRootElement(doc);

        d = g_new0(HookDomain, 1);
        d->devices = g_ptr_array_new_with_free_func((GDestroyNotify) device_free);
        d->notes = g_ptr_array_new_with_free_func(g_free);
        p = (Parse) { .hostdevs = hostdevs, .entries = entries, .notes = d->notes };

        for (const xmlNode *c = root->children; c; c = c->next) {
                if (is_element(c, "name") && !d->name)
                        d->name = text_of(c);
                else if (is_element(c, "uuid") && !uuid) {
                        uuid = text_of(c);
                        r = line_of(c);
                        if (!hook_uuid_valid(uuid))
                                /* only an error if there are devices: checked below */
                                g_ptr_array_add(d->notes, g_strdup_printf("line %d: <uuid> '%s' is not a UUID", r,
                                                                          uuid));
                } else if (is_element(c, "devices")) {
                        r = parse_devices(&p, c, ret_error);
                        if (r < 0)
                                return r;
                } else if (is_element(c, "metadata")) {
                        r = parse_metadata(&p, c, ret_error);
                        if (r < 0)
                                return r;
                }
        }

        r = merge(&p, d, ret_error);
        if (r < 0)
                return r;

        if (d->devices->len > 0) {
                const HookDevice *first = d->devices->pdata[0];

                if (!uuid)
                        return fail(ret_error, -EINVAL,
                                    "the domain has no <uuid>, which migbroker needs as the owner of %s (line %d)",
                                    first->bdf, first->line);
                if (!hook_uuid_valid(uuid))
                        return fail(ret_error, -EINVAL, "the domain's <uuid> '%s' is not a UUID", uuid);
        }
        if (uuid && hook_uuid_valid(uuid))
                d->uuid = g_ascii_strdown(uuid, -1);

        *ret = g_steal_pointer(&d);
        return 0;
}
