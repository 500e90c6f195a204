/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <yaml.h>

#include "error.h"
#include "policy-parse.h"

/* Nesting deeper than this is refused before any handler recurses. */
#define MAX_DEPTH 32

/* ---- the document tree ------------------------------------------------
 * Built from libyaml events (not libyaml's document API) so that anchors,
 * aliases and tags are seen where they are written and refused there. */

typedef enum NodeKind {
        NODE_SCALAR,
        NODE_MAPPING,
        NODE_SEQUENCE,
        NODE_BAD,      /* an alias: already reported, skipped by every handler */
} NodeKind;

typedef struct Node {
        NodeKind kind;
        yaml_mark_t start, end;
        char *value;                /* scalar, NUL-terminated (may contain NUL) */
        size_t len;
        yaml_scalar_style_t style;
        GPtrArray *children;        /* mapping: key, value, key, value...; sequence: items */
} Node;

typedef struct Parser {
        MbPolicy *policy;
        const char *file;           /* interned in policy */
        const char *text;
        size_t len;
        MbPolicyFileRole role;
        MbDiagList *diags;
        GPtrArray *nodes;           /* owns every Node */
        bool stop;                  /* the per-file error cap was reached */
        bool errors;
} Parser;

static void node_free(gpointer p) {
        Node *n = p;

        g_free(n->value);
        if (n->children)
                g_ptr_array_unref(n->children);
        g_free(n);
}

/* ---- diagnostics ------------------------------------------------------- */

static void perr_at(Parser *ps, unsigned line, unsigned column, const char *fmt, ...) _printf_(4, 5);
static void perr_at(Parser *ps, unsigned line, unsigned column, const char *fmt, ...) {
        va_list ap;

        ps->errors = true;
        if (ps->stop)
                return;
        va_start(ap, fmt);
        if (!mb_diag_addv(ps->diags, MB_DIAG_ERROR, ps->file, line, column, fmt, ap))
                ps->stop = true;
        va_end(ap);
}

/* libyaml marks are 0-based. */
#define perr(ps, mark, ...) perr_at((ps), (unsigned) (mark).line + 1, (unsigned) (mark).column + 1, __VA_ARGS__)

/* Line and column (1-based, column in characters) of a byte offset. */
static void offset_to_position(const Parser *ps, size_t offset, unsigned *line, unsigned *column) {
        size_t bol = 0;

        *line = 1;
        for (size_t i = 0; i < offset && i < ps->len; i++)
                if (ps->text[i] == '\n') {
                        (*line)++;
                        bol = i + 1;
                }
        *column = 1;
        for (size_t i = bol; i < offset && i < ps->len; i++)
                if (((unsigned char) ps->text[i] & 0xc0) != 0x80)
                        (*column)++;
}

/* Position of the character at byte offset off inside scalar n, when the
 * scalar is written on one line without escapes; else the scalar's start. */
static void scalar_position(const Parser *ps, const Node *n, size_t off, unsigned *line, unsigned *column) {
        size_t raw = n->end.index - n->start.index, skip;

        *line = (unsigned) n->start.line + 1;
        *column = (unsigned) n->start.column + 1;
        if (n->kind != NODE_SCALAR || n->start.line != n->end.line || n->end.index > ps->len)
                return;
        if (n->style == YAML_PLAIN_SCALAR_STYLE && raw == n->len)
                skip = 0;
        else if ((n->style == YAML_SINGLE_QUOTED_SCALAR_STYLE || n->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) &&
                 raw == n->len + 2)
                skip = 1;
        else
                return;
        if (memcmp(ps->text + n->start.index + skip, n->value, n->len) != 0)
                return;
        *column += (unsigned) (skip + (size_t) g_utf8_strlen(n->value, (gssize) MB_MIN(off, n->len)));
}

static void set_loc(Parser *ps, MbPolicyLoc *loc, const yaml_mark_t *m) {
        loc->file = ps->file;
        loc->line = (unsigned) m->line + 1;
        loc->column = (unsigned) m->column + 1;
}

/* ---- scalar types, as YAML 1.1 (PyYAML, the JSON schema test) sees them - */

typedef enum ValueType {
        TYPE_NULL,
        TYPE_BOOL,
        TYPE_INT,
        TYPE_FLOAT,
        TYPE_STRING,
        TYPE_MAPPING,
        TYPE_SEQUENCE,
        TYPE_BAD,
} ValueType;

static const char *const type_names[] = {
        [TYPE_NULL] = "null",        [TYPE_BOOL] = "a boolean",    [TYPE_INT] = "an integer",
        [TYPE_FLOAT] = "a number",   [TYPE_STRING] = "a string",   [TYPE_MAPPING] = "a mapping",
        [TYPE_SEQUENCE] = "a list",  [TYPE_BAD] = "an alias",
};

/* YAML 1.1's int and float resolvers, as PyYAML implements them:
 *   int:   [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
 *          | [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+
 *   float: [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9_]+([eE][-+][0-9]+)?
 *          | [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN) */
#define DIGITS_ "0123456789_"

static bool only(const char *s, const char *set) {
        return *s && strspn(s, set) == strlen(s);
}

/* Digits then (:[0-5]?[0-9])+; returns the end, or NULL. */
static const char *sexagesimal(const char *p, bool nonzero_first) {
        if (!(nonzero_first ? (*p >= '1' && *p <= '9') : g_ascii_isdigit(*p)))
                return NULL;
        p += 1 + strspn(p + 1, DIGITS_);
        if (*p != ':')
                return NULL;
        while (*p == ':') {
                p++;
                if (*p >= '0' && *p <= '5' && g_ascii_isdigit(p[1]))
                        p += 2;
                else if (g_ascii_isdigit(*p))
                        p++;
                else
                        return NULL;
        }
        return p;
}

static bool yaml11_int(const char *s) {
        const char *p = s + (*s == '+' || *s == '-'), *end;

        if (p[0] == '0' && p[1] == 'b')
                return only(p + 2, "01_");
        if (p[0] == '0' && p[1] == 'x')
                return only(p + 2, "0123456789abcdefABCDEF_");
        if (p[0] == '0')
                return p[1] == '\0' || only(p + 1, "01234567_");
        if (!(p[0] >= '1' && p[0] <= '9'))
                return false;
        if (p[1 + strspn(p + 1, DIGITS_)] == '\0')
                return true;
        end = sexagesimal(p, true);
        return end && *end == '\0';
}

/* Nothing, or [eE][-+][0-9]+. */
static bool yaml11_exponent(const char *p) {
        if (*p == '\0')
                return true;
        return (*p == 'e' || *p == 'E') && (p[1] == '+' || p[1] == '-') && only(p + 2, "0123456789");
}

static bool yaml11_float(const char *s) {
        static const char *const specials[] = { ".inf", ".Inf", ".INF", NULL };
        static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
        const char *p, *q;

        if (s[0] == '.') {
                if (g_strv_contains(nans, s) || g_strv_contains(specials, s))
                        return true;
                q = s + 1 + strspn(s + 1, DIGITS_);
                return q > s + 1 && yaml11_exponent(q);
        }
        p = s + (*s == '+' || *s == '-');
        if (g_strv_contains(specials, p))
                return true;
        if (!g_ascii_isdigit(*p))
                return false;
        q = p + 1 + strspn(p + 1, DIGITS_);
        if (*q == '.')
                return yaml11_exponent(q + 1 + strspn(q + 1, DIGITS_));
        q = sexagesimal(p, false);
        if (!q || *q != '.')
                return false;
        return q[1 + strspn(q + 1, DIGITS_)] == '\0';
}

static ValueType node_type(const Node *n) {
        static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
        static const char *const bools[] = { "yes", "Yes", "YES", "no",  "No",  "NO",  "true", "True",
                                             "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off",
                                             "Off", "OFF", NULL };

        switch (n->kind) {
        case NODE_MAPPING:
                return TYPE_MAPPING;
        case NODE_SEQUENCE:
                return TYPE_SEQUENCE;
        case NODE_BAD:
                return TYPE_BAD;
        case NODE_SCALAR:
                break;
        }
        if (n->style != YAML_PLAIN_SCALAR_STYLE)
                return TYPE_STRING;
        if (g_strv_contains(nulls, n->value))
                return TYPE_NULL;
        if (g_strv_contains(bools, n->value))
                return TYPE_BOOL;
        if (yaml11_int(n->value))
                return TYPE_INT;
        if (yaml11_float(n->value))
                return TYPE_FLOAT;
        return TYPE_STRING;
}

/* " (quote it: "...")" for a plain scalar that YAML reads as another type. */
static char *quote_hint(const Node *n, const char *key) {
        if (n->kind != NODE_SCALAR || n->style != YAML_PLAIN_SCALAR_STYLE || n->len == 0)
                return g_strdup("");
        return g_strdup_printf(" (quote it: %s: \"%s\")", key, n->value);
}

/* A string value: a scalar YAML reads as a string, without NUL. */
static const char *get_string(Parser *ps, const char *key, const Node *v) {
        ValueType t = node_type(v);

        if (t == TYPE_BAD)
                return NULL;
        if (t != TYPE_STRING) {
                g_autofree char *hint = t == TYPE_MAPPING || t == TYPE_SEQUENCE ? g_strdup("") : quote_hint(v, key);
                perr(ps, v->start, "\"%s\" must be a string, got %s%s", key, type_names[t], hint);
                return NULL;
        }
        if (strlen(v->value) != v->len) {
                perr(ps, v->start, "\"%s\" must not contain a NUL character", key);
                return NULL;
        }
        return v->value;
}

/* ---- handler tables ------------------------------------------------------ */

typedef struct KeyHandler KeyHandler;
typedef void (*KeyFunc)(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target);

enum {
        KEY_REQUIRED = 1u << 0,
        KEY_MAIN_ONLY = 1u << 1,  /* refused in drop-ins */
};

struct KeyHandler {
        const char *key;
        KeyFunc func;
        size_t offset;            /* of the field in target, for the generic handlers */
        unsigned flags;
};

typedef struct KeyHint {
        const char *key;
        const char *hint;
        const char *instead_of;   /* the known key it was meant to go under: no "missing" error for it */
} KeyHint;

typedef struct MapSpec {
        const char *what;           /* "settings", "a device rule"... for messages */
        const KeyHandler *keys;     /* terminated by { NULL } */
        const KeyHint *hints;       /* misplaced keys: where they belong; may be NULL */
} MapSpec;

#define FIELD(target, h, type) ((type *) ((char *) (target) + (h)->offset))

static const char *const *spec_key_names(const MapSpec *spec, const char **buf, size_t n) {
        size_t i = 0;

        for (const KeyHandler *h = spec->keys; h->key && i + 1 < n; h++)
                buf[i++] = h->key;
        buf[i] = NULL;
        return buf;
}

/* Reports an unknown key; returns the known key it stands for, if any. */
static const char *unknown_key(Parser *ps, const MapSpec *spec, const Node *key) {
        const char *names[32], *suggestion;
        g_autofree char *list = NULL;

        for (const KeyHint *hint = spec->hints; hint && hint->key; hint++)
                if (strcmp(hint->key, key->value) == 0) {
                        perr(ps, key->start, "unknown key \"%s\" in %s: %s", key->value, spec->what, hint->hint);
                        return hint->instead_of;
                }
        suggestion = mb_diag_suggest(key->value, spec_key_names(spec, names, ELEMENTSOF(names)));
        if (suggestion) {
                perr(ps, key->start, "unknown key \"%s\" in %s; did you mean \"%s\"?", key->value, spec->what,
                     suggestion);
                return suggestion;
        }
        list = g_strjoinv(", ", (char **) names);
        perr(ps, key->start, "unknown key \"%s\" in %s; known keys: %s", key->value, spec->what, list);
        return NULL;
}

/* Checks that n is a mapping; reports "WHAT must be a mapping" otherwise. */
static bool expect_mapping(Parser *ps, const Node *n, const char *what, const char *example) {
        ValueType t = node_type(n);

        if (t == TYPE_MAPPING)
                return true;
        if (t != TYPE_BAD)
                perr(ps, n->start, "%s must be a mapping%s%s, got %s", what, example ? " such as " : "",
                     example ? example : "", type_names[t]);
        return false;
}

static void report_duplicate(Parser *ps, const Node *key, const Node *first) {
        perr(ps, key->start, "duplicate key \"%s\" (first at line %u, column %u)", key->value,
             (unsigned) first->start.line + 1, (unsigned) first->start.column + 1);
}

/* Reports a duplicate key: returns true when key repeats an earlier one.
 * Linear: for the small mappings of the handler tables ("plugins", whose
 * keys are names, has its own hash). */
static bool duplicate_key(Parser *ps, const Node *map, guint i) {
        const Node *key = g_ptr_array_index(map->children, i);

        for (guint j = 0; j < i; j += 2) {
                const Node *other = g_ptr_array_index(map->children, j);
                if (other->kind == NODE_SCALAR && other->len == key->len &&
                    memcmp(other->value, key->value, key->len) == 0) {
                        report_duplicate(ps, key, other);
                        return true;
                }
        }
        return false;
}

/* A key must be a plain or quoted string scalar. */
static bool check_key(Parser *ps, const Node *key) {
        ValueType t = node_type(key);

        if (t == TYPE_BAD)
                return false;
        if (key->kind != NODE_SCALAR) {
                perr(ps, key->start, "a key must be a string, got %s", type_names[t]);
                return false;
        }
        if (strlen(key->value) != key->len) {
                perr(ps, key->start, "a key must not contain a NUL character");
                return false;
        }
        return true;
}

/* The core of the table-driven parser: one row per known key. */
static void process_mapping(Parser *ps, const Node *map, const MapSpec *spec, void *target) {
        unsigned seen = 0;

        for (guint i = 0; i + 1 < map->children->len && !ps->stop; i += 2) {
                const Node *key = g_ptr_array_index(map->children, i);
                const Node *value = g_ptr_array_index(map->children, i + 1);
                const KeyHandler *h;
                unsigned bit = 0;

                if (!check_key(ps, key) || duplicate_key(ps, map, i))
                        continue;
                for (h = spec->keys; h->key; h++, bit++)
                        if (strcmp(h->key, key->value) == 0)
                                break;
                if (!h->key) {
                        /* A misspelt required key is reported once, as misspelt. */
                        const char *suggestion = unknown_key(ps, spec, key);
                        unsigned b = 0;
                        for (const KeyHandler *k = spec->keys; suggestion && k->key; k++, b++)
                                if (strcmp(k->key, suggestion) == 0)
                                        seen |= 1u << b;
                        continue;
                }
                seen |= 1u << bit;
                if ((h->flags & KEY_MAIN_ONLY) && ps->role == MB_POLICY_FILE_DROPIN) {
                        perr(ps, key->start, "\"%s\" may only be set in the main policy file (%s), not in a drop-in",
                             h->key, ps->policy->files->len > 0 ? (const char *) ps->policy->files->pdata[0] : "");
                        continue;
                }
                h->func(ps, h, key, value, target);
        }

        unsigned bit = 0;
        for (const KeyHandler *h = spec->keys; h->key && !ps->stop; h++, bit++)
                if ((h->flags & KEY_REQUIRED) && !(seen & (1u << bit)))
                        perr(ps, map->start, "%s is missing the required key \"%s\"", spec->what, h->key);
}

/* ---- generic value handlers -------------------------------------------- */

static void set_string(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        const char *s = get_string(ps, h->key, value);
        char **field = FIELD(target, h, char *);

        if (!s)
                return;
        if (strlen(s) > MB_POLICY_ARG_MAX) {
                perr(ps, value->start, "\"%s\" is too long (%zu bytes; at most %u)", h->key, strlen(s),
                     MB_POLICY_ARG_MAX);
                return;
        }
        g_free(*field);
        *field = g_strdup(s);
}

static void set_nonempty_string(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        if (node_type(value) == TYPE_STRING && value->len == 0) {
                perr(ps, value->start, "\"%s\" must not be empty", h->key);
                return;
        }
        set_string(ps, h, key, value, target);
}

static void set_absolute_path(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        const char *s = get_string(ps, h->key, value);

        if (!s)
                return;
        if (s[0] != '/') {
                perr(ps, value->start, "\"%s\" must be an absolute path, got \"%s\"", h->key, s);
                return;
        }
        if (strlen(s) >= PATH_MAX) {
                perr(ps, value->start, "\"%s\" is longer than PATH_MAX", h->key);
                return;
        }
        set_string(ps, h, key, value, target);
}

/* User and group names as useradd(8) takes them (plus upper case and dots). */
static bool valid_user_name(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32 || !(g_ascii_isalpha(s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(g_ascii_isalnum(s[i]) || strchr("_.-", s[i]) || (s[i] == '$' && i == n - 1)))
                        return false;
        return true;
}

static void set_user_name(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        const char *s = get_string(ps, h->key, value);

        if (!s)
                return;
        if (!valid_user_name(s)) {
                perr(ps, value->start,
                     "\"%s\" is not a valid user or group name: \"%s\" (letters, digits, \"_\", \"-\", \".\"; "
                     "at most 32 characters, starting with a letter or \"_\")",
                     h->key, s);
                return;
        }
        if (strcmp(h->key, "worker-user") == 0 && strcmp(s, "root") == 0) {
                perr(ps, value->start, "\"worker-user\" must not be root: workers run vendor code unprivileged");
                return;
        }
        set_string(ps, h, key, value, target);
}

/* A decimal integer in [min, max]. */
static bool get_uint(Parser *ps, const char *key, const Node *v, uint64_t min, uint64_t max, uint64_t *ret) {
        ValueType t = node_type(v);
        guint64 n;

        if (t == TYPE_BAD)
                return false;
        if (t != TYPE_INT) {
                perr(ps, v->start, "\"%s\" must be an integer, got %s", key, type_names[t]);
                return false;
        }
        if (!g_ascii_string_to_unsigned(v->value, 10, 0, G_MAXUINT64, &n, NULL)) {
                perr(ps, v->start, "\"%s\" must be a decimal integer, got \"%s\"", key, v->value);
                return false;
        }
        if (n < min || n > max) {
                perr(ps, v->start, "\"%s\" %" G_GUINT64_FORMAT " is out of range (%" G_GUINT64_FORMAT
                     "-%" G_GUINT64_FORMAT ")", key, (guint64) n, (guint64) min, (guint64) max);
                return false;
        }
        *ret = n;
        return true;
}

/* ---- settings ------------------------------------------------------------ */

static void set_timeout(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        uint64_t n;

        if (get_uint(ps, h->key, value, MB_POLICY_OP_TIMEOUT_MS_MIN, MB_POLICY_OP_TIMEOUT_MS_MAX, &n))
                *FIELD(target, h, uint32_t) = (uint32_t) n;
}

#define S(field) offsetof(MbPolicySettings, field)
static const KeyHandler settings_keys[] = {
        { "plugin-dir", set_absolute_path, S(plugin_dir), 0 },
        { "worker-user", set_user_name, S(worker_user), 0 },
        { "admin-group", set_user_name, S(admin_group), 0 },
        { "op-timeout-ms", set_timeout, S(op_timeout_ms), 0 },
        { "runtime-dir", set_absolute_path, S(runtime_dir), 0 },
        { "vmm-user", set_user_name, S(vmm_user), 0 },
        { "libvirt-uri", set_nonempty_string, S(libvirt_uri), 0 },
        {},
};
#undef S

static const MapSpec settings_spec = { "settings", settings_keys, NULL };

static void handle_settings(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        MbPolicySettings *s = &ps->policy->settings;

        if (node_type(value) == TYPE_NULL)
                return; /* "settings:" with nothing under it */
        if (!expect_mapping(ps, value, "\"settings\"", NULL))
                return;
        set_loc(ps, &s->loc, &key->start);
        process_mapping(ps, value, &settings_spec, s);
}

/* ---- plugins -------------------------------------------------------------- */

/* A plugin name, where it is defined (n, a key) or used (n, a value). */
static bool check_plugin_name(Parser *ps, const Node *n) {
        size_t len = strlen(n->value);
        bool ok = len > 0 && len <= MB_POLICY_NAME_MAX && g_ascii_isalpha(n->value[0]);

        for (size_t i = 1; ok && i < len; i++)
                ok = g_ascii_isalnum(n->value[i]) || strchr("_.-", n->value[i]);
        if (!ok)
                perr(ps, n->start, "invalid plugin name \"%s\": use letters, digits, \"-\", \"_\" and \".\", starting "
                     "with a letter, at most %u characters", n->value, MB_POLICY_NAME_MAX);
        return ok;
}

static void set_plugin_path(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        MbPolicyPlugin *plugin = target;
        const char *s = get_string(ps, h->key, value);
        g_auto(GStrv) parts = NULL;

        if (!s)
                return;
        if (s[0] == '\0') {
                perr(ps, value->start, "\"path\" must not be empty");
                return;
        }
        if (strlen(s) >= PATH_MAX) {
                perr(ps, value->start, "\"path\" is longer than PATH_MAX");
                return;
        }
        if (g_str_has_suffix(s, "/")) {
                perr(ps, value->start, "\"path\" must name a file, got the directory \"%s\"", s);
                return;
        }
        parts = g_strsplit(s, "/", -1);
        for (char **c = parts; *c; c++)
                if (strcmp(*c, "..") == 0) {
                        perr(ps, value->start, "\"path\" must not contain \"..\": \"%s\"", s);
                        return;
                }
        set_loc(ps, &plugin->path_loc, &value->start);
        set_string(ps, h, key, value, target);
}

#define P(field) offsetof(MbPolicyPlugin, field)
static const KeyHandler plugin_keys[] = {
        { "path", set_plugin_path, P(path), KEY_REQUIRED },
        { "arg", set_string, P(arg), 0 },
        { "description", set_string, P(description), 0 },
        {},
};
#undef P

static const KeyHint plugin_hints[] = {
        { "plugin", "a plugin definition has \"path\" and \"arg\"; rules that use it go under \"devices\"", NULL },
        { "match", "device rules go under \"devices\", not inside a plugin definition", NULL },
        {},
};

static void handle_plugins(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        if (node_type(value) == TYPE_NULL)
                return;
        if (!expect_mapping(ps, value, "\"plugins\"", "{ simdev: { path: simdev.so } }"))
                return;

        g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
        for (guint i = 0; i + 1 < value->children->len && !ps->stop; i += 2) {
                const Node *k = g_ptr_array_index(value->children, i), *v = g_ptr_array_index(value->children, i + 1);
                g_autoptr(MbPolicyPlugin) plugin = NULL;
                g_autofree char *what = NULL;
                const Node *first;

                if (!check_key(ps, k))
                        continue;
                if ((first = g_hash_table_lookup(names, k->value))) {
                        report_duplicate(ps, k, first);
                        continue;
                }
                g_hash_table_insert(names, k->value, (gpointer) k);
                if (node_type(k) != TYPE_STRING) {
                        perr(ps, k->start, "a plugin name must be a string, got %s (quote it: \"%s\")",
                             type_names[node_type(k)], k->value);
                        continue;
                }
                if (!check_plugin_name(ps, k))
                        continue;
                what = g_strdup_printf("plugin \"%s\"", k->value);
                if (!expect_mapping(ps, v, what, "{ path: simdev.so, arg: \"...\" }"))
                        continue;

                plugin = g_new0(MbPolicyPlugin, 1);
                plugin->name = g_strdup(k->value);
                set_loc(ps, &plugin->loc, &k->start);
                MapSpec spec = { what, plugin_keys, plugin_hints };
                process_mapping(ps, v, &spec, plugin);
                if (!plugin->path)
                        plugin->path = g_strdup(""); /* reported; keeps rules using it from cascading */
                if (mb_policy_add_plugin(ps->policy, MB_TAKE_PTR(plugin), ps->diags) < 0)
                        ps->errors = true;
        }
}

/* ---- device rules ---------------------------------------------------------- */

typedef struct MatchNodes {
        const Node *bdf_key, *bdf;
        const Node *vendor_key, *vendor;
        const Node *device_key, *device;
} MatchNodes;

static void keep_node(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        const Node **field = FIELD(target, h, const Node *);

        field[0] = key;
        field[1] = value;
}

#define M(field) offsetof(MatchNodes, field)
static const KeyHandler match_keys[] = {
        { "bdf", keep_node, M(bdf_key), 0 },
        { "vendor", keep_node, M(vendor_key), 0 },
        { "device", keep_node, M(device_key), 0 },
        {},
};
#undef M

static const KeyHint match_hints[] = {
        { "plugin", "\"plugin\" belongs to the device rule, one level up (indent it like \"match\")", NULL },
        { "arg", "\"arg\" belongs to the device rule, one level up (indent it like \"match\")", NULL },
        { "function", "use a BDF pattern such as { bdf: \"0000:3b:00.*\" }", NULL },
        { "slot", "use a BDF pattern such as { bdf: \"0000:3b:00.*\" }", NULL },
        {},
};

static const MapSpec match_spec = { "\"match\"", match_keys, match_hints };

/* A PCI ID: 0x-prefixed hex when YAML reads it as an integer, or a string
 * of 1-4 hex digits with an optional 0x. Decimal is refused: 8086 is not 0x8086. */
static bool get_pci_id(Parser *ps, const char *key, const Node *v, uint16_t *ret) {
        ValueType t = node_type(v);
        const char *digits;
        guint64 n;

        if (t == TYPE_BAD)
                return false;
        if (t != TYPE_INT && t != TYPE_STRING) {
                perr(ps, v->start, "\"%s\" must be a hex PCI ID such as 0x1af4, got %s", key, type_names[t]);
                return false;
        }
        digits = v->value;
        if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
                digits += 2;
        else if (t == TYPE_INT) {
                perr(ps, v->start, "\"%s\" must be written in hex with 0x: %s would be read as decimal "
                     "(write 0x%s)", key, v->value, v->value);
                return false;
        }
        if (digits[0] == '\0' || strspn(digits, "0123456789abcdefABCDEF") != strlen(digits) ||
            strlen(v->value) != v->len) {
                perr(ps, v->start, "\"%s\" must be a hex PCI ID such as 0x1af4, got \"%s\"", key, v->value);
                return false;
        }
        if (!g_ascii_string_to_unsigned(digits, 16, 0, 0xffff, &n, NULL)) {
                perr(ps, v->start, "\"%s\" %s is out of range (0x0000-0xffff)", key, v->value);
                return false;
        }
        if (strcmp(key, "vendor") == 0 && n == 0xffff) {
                perr(ps, v->start, "\"vendor\" 0xffff is not a PCI vendor ID (it is what an absent device reads as)");
                return false;
        }
        *ret = (uint16_t) n;
        return true;
}

static bool parse_bdf(Parser *ps, const Node *v, MbPolicyRule *rule) {
        ValueType t = node_type(v);
        MbBdfPatternError err;
        unsigned line, column;

        if (t == TYPE_BAD)
                return false;
        if (t != TYPE_STRING) {
                if (v->kind == NODE_SCALAR && v->style == YAML_PLAIN_SCALAR_STYLE)
                        perr(ps, v->start,
                             "\"bdf\" must be a quoted string: unquoted, %s is read as %s (write bdf: \"%s\")",
                             v->value, type_names[t], v->value);
                else
                        perr(ps, v->start, "\"bdf\" must be a string such as \"0000:3b:00.1\", got %s",
                             type_names[t]);
                return false;
        }
        if (strlen(v->value) != v->len || mb_bdf_pattern_parse(v->value, &rule->bdf, &err) < 0) {
                if (strlen(v->value) != v->len) {
                        err.offset = strlen(v->value);
                        (void) g_strlcpy(err.message, "contains a NUL character", sizeof(err.message));
                }
                scalar_position(ps, v, err.offset, &line, &column);
                perr_at(ps, line, column, "malformed %s \"%s\": %s", strchr(v->value, '*') ? "BDF pattern" : "BDF",
                        v->value, err.message);
                return false;
        }
        rule->kind = rule->bdf.wildcards ? MB_POLICY_MATCH_PATTERN : MB_POLICY_MATCH_BDF;
        return true;
}

static void handle_match(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        MbPolicyRule *rule = target;
        MatchNodes m = {};

        if (!expect_mapping(ps, value, "\"match\"",
                            "{ bdf: \"0000:3b:00.1\" } or { vendor: 0x1af4, device: 0x1041 }"))
                return;
        set_loc(ps, &rule->match_loc, &value->start);
        size_t errors = mb_diag_list_count(ps->diags, MB_DIAG_ERROR);
        process_mapping(ps, value, &match_spec, &m);
        if (ps->stop)
                return;

        if (m.bdf && (m.vendor || m.device)) {
                const Node *k = m.vendor_key ? m.vendor_key : m.device_key;
                perr(ps, k->start, "\"bdf\" and \"%s\" cannot be combined in one match: a BDF names one device "
                     "already (use a separate rule)", k->value);
                return;
        }
        if (m.device && !m.vendor) {
                perr(ps, m.device_key->start, "\"device\" needs \"vendor\" in the same match");
                return;
        }
        if (m.bdf) {
                (void) parse_bdf(ps, m.bdf, rule);
                return;
        }
        if (m.vendor) {
                bool ok = get_pci_id(ps, "vendor", m.vendor, &rule->vendor);
                if (m.device) {
                        if (get_pci_id(ps, "device", m.device, &rule->device) && ok)
                                rule->kind = MB_POLICY_MATCH_VENDOR_DEVICE;
                } else if (ok)
                        rule->kind = MB_POLICY_MATCH_VENDOR;
                return;
        }
        /* Not when a misspelt key was just reported. */
        if (mb_diag_list_count(ps->diags, MB_DIAG_ERROR) == errors)
                perr(ps, value->start, "\"match\" needs \"bdf\", or \"vendor\" with an optional \"device\"");
}

static void set_plugin_name(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        MbPolicyRule *rule = target;
        const char *s = get_string(ps, h->key, value);

        if (!s || !check_plugin_name(ps, value))
                return;
        set_loc(ps, &rule->plugin_loc, &value->start);
        g_free(rule->plugin_name);
        rule->plugin_name = g_strdup(s);
}

#define R(field) offsetof(MbPolicyRule, field)
static const KeyHandler rule_keys[] = {
        { "match", handle_match, 0, KEY_REQUIRED },
        { "plugin", set_plugin_name, 0, KEY_REQUIRED },
        { "arg", set_string, R(arg), 0 },
        { "description", set_string, R(description), 0 },
        {},
};
#undef R

static const KeyHint rule_hints[] = {
        { "bdf", "\"bdf\" belongs inside \"match\", as in match: { bdf: \"0000:3b:00.1\" }", "match" },
        { "vendor", "\"vendor\" belongs inside \"match\", as in match: { vendor: 0x1af4 }", "match" },
        { "device", "\"device\" belongs inside \"match\", as in match: { vendor: 0x1af4, device: 0x1041 }", "match" },
        { "path", "a plugin's \"path\" belongs to its definition under \"plugins\"", NULL },
        {},
};

static const MapSpec rule_spec = { "a device rule", rule_keys, rule_hints };

static void handle_devices(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        ValueType t = node_type(value);

        if (t == TYPE_NULL || t == TYPE_BAD)
                return;
        if (t != TYPE_SEQUENCE) {
                perr(ps, value->start, "\"devices\" must be a list of rules (each line starting with \"- match:\"), "
                     "got %s", type_names[t]);
                return;
        }
        for (guint i = 0; i < value->children->len && !ps->stop; i++) {
                const Node *item = g_ptr_array_index(value->children, i);
                g_autoptr(MbPolicyRule) rule = NULL;

                if (!expect_mapping(ps, item, "a device rule",
                                    "{ match: { bdf: \"0000:3b:00.1\" }, plugin: simdev }"))
                        continue;
                rule = g_new0(MbPolicyRule, 1);
                set_loc(ps, &rule->loc, &item->start);
                process_mapping(ps, item, &rule_spec, rule);
                /* Kept even when incomplete: finalize still checks what is there
                 * (a rule whose match is bad still names a plugin). */
                if (rule->kind != MB_POLICY_MATCH_NONE || rule->plugin_name)
                        mb_policy_add_rule(ps->policy, MB_TAKE_PTR(rule));
        }
}

/* ---- top level ---------------------------------------------------------- */

static void handle_version(Parser *ps, const KeyHandler *h, const Node *key, const Node *value, void *target) {
        ValueType t = node_type(value);
        uint64_t v;

        if (t == TYPE_BAD)
                return;
        if (t != TYPE_INT) {
                perr(ps, value->start, "\"version\" must be the integer %d, got %s%s", MB_POLICY_VERSION,
                     type_names[t], t == TYPE_STRING && value->style != YAML_PLAIN_SCALAR_STYLE ?
                     " (write version: 1, without quotes)" : "");
                return;
        }
        if (!g_ascii_string_to_unsigned(value->value, 10, 0, G_MAXUINT64, &v, NULL) || v != MB_POLICY_VERSION)
                perr(ps, value->start, "unsupported policy version %s: this migbroker reads version %d",
                     value->value, MB_POLICY_VERSION);
}

static const KeyHandler top_keys[] = {
        { "version", handle_version, 0, KEY_REQUIRED },
        { "settings", handle_settings, 0, KEY_MAIN_ONLY },
        { "plugins", handle_plugins, 0, 0 },
        { "devices", handle_devices, 0, 0 },
        {},
};

static const KeyHint top_hints[] = {
        { "plugin-dir", "\"plugin-dir\" belongs under \"settings\"", NULL },
        { "worker-user", "\"worker-user\" belongs under \"settings\"", NULL },
        { "admin-group", "\"admin-group\" belongs under \"settings\"", NULL },
        { "op-timeout-ms", "\"op-timeout-ms\" belongs under \"settings\"", NULL },
        { "runtime-dir", "\"runtime-dir\" belongs under \"settings\"", NULL },
        { "vmm-user", "\"vmm-user\" belongs under \"settings\"", NULL },
        { "libvirt-uri", "\"libvirt-uri\" belongs under \"settings\"", NULL },
        { "match", "device rules go in the \"devices\" list: devices: [ { match: ..., plugin: ... } ]", NULL },
        {},
};

static const MapSpec top_spec = { "the top level", top_keys, top_hints };

/* ---- reading the YAML ------------------------------------------------------ */

/* Refuses what is not UTF-8 text. Returns false when the file is unusable. */
static bool check_text(Parser *ps) {
        const char *nul = memchr(ps->text, '\0', ps->len), *bad;
        unsigned line, column;

        if (nul) {
                offset_to_position(ps, (size_t) (nul - ps->text), &line, &column);
                perr_at(ps, line, column, "not a text file: NUL byte at offset %zu", (size_t) (nul - ps->text));
                return false;
        }
        if (!g_utf8_validate(ps->text, (gssize) ps->len, &bad)) {
                offset_to_position(ps, (size_t) (bad - ps->text), &line, &column);
                perr_at(ps, line, column, "not UTF-8 text: invalid byte 0x%02x at offset %zu",
                        (unsigned) (unsigned char) *bad, (size_t) (bad - ps->text));
                return false;
        }
        return true;
}

/* YAML forbids tabs in indentation; say so at each, rather than libyaml's
 * "found character that cannot start any token". Returns the lines seen. */
static GHashTable *check_tabs(Parser *ps) {
        GHashTable *lines = g_hash_table_new(g_direct_hash, g_direct_equal);
        unsigned line = 1;

        for (size_t i = 0; i < ps->len && !ps->stop; line++) {
                size_t bol = i;

                for (; i < ps->len && (ps->text[i] == ' ' || ps->text[i] == '\t'); i++)
                        if (ps->text[i] == '\t') {
                                perr_at(ps, line, (unsigned) (i - bol) + 1,
                                        "tab character in indentation: YAML indents with spaces only");
                                g_hash_table_add(lines, GUINT_TO_POINTER(line));
                                break;
                        }
                const char *nl = memchr(ps->text + i, '\n', ps->len - i);
                i = nl ? (size_t) (nl - ps->text) + 1 : ps->len;
        }
        return lines;
}

static void syntax_error(Parser *ps, const yaml_parser_t *parser, GHashTable *tab_lines) {
        unsigned line, column;
        const char *hint = "";

        if (parser->error == YAML_MEMORY_ERROR) {
                perr_at(ps, 0, 0, "out of memory while parsing");
                return;
        }
        if (parser->error == YAML_READER_ERROR)
                offset_to_position(ps, parser->problem_offset, &line, &column);
        else if (parser->problem_mark.index >= ps->len && ps->len > 0) {
                /* At the end of the stream: point just after the last thing written. */
                size_t end = ps->len;
                while (end > 0 && g_ascii_isspace(ps->text[end - 1]))
                        end--;
                offset_to_position(ps, end, &line, &column);
        } else {
                line = (unsigned) parser->problem_mark.line + 1;
                column = (unsigned) parser->problem_mark.column + 1;
        }
        /* Already explained by check_tabs(). */
        if (g_hash_table_contains(tab_lines, GUINT_TO_POINTER(line)))
                return;
        if (parser->problem_mark.index < ps->len) {
                char c = ps->text[parser->problem_mark.index];
                if (c == '\t')
                        hint = "; tab characters are not allowed here, use spaces";
                else if ((parser->problem && strstr(parser->problem, "alias")) ||
                         (parser->context && strstr(parser->context, "alias")))
                        hint = "; quote values that start with \"*\" or \"&\"";
        }
        if (parser->context)
                perr_at(ps, line, column, "invalid YAML: %s (%s at line %u, column %u)%s", parser->problem,
                        parser->context, (unsigned) parser->context_mark.line + 1,
                        (unsigned) parser->context_mark.column + 1, hint);
        else
                perr_at(ps, line, column, "invalid YAML: %s%s", parser->problem ? parser->problem : "syntax error",
                        hint);
}

/* Anchors, aliases and tags are not part of the policy format: refused where written. */
static void check_properties(Parser *ps, const yaml_event_t *ev, const yaml_char_t *anchor, const yaml_char_t *tag,
                             bool implicit) {
        if (anchor)
                perr(ps, ev->start_mark, "anchors (&%s) are not supported in a policy file: write the value out",
                     (const char *) anchor);
        if (tag && !implicit)
                perr(ps, ev->start_mark, "tags (%s) are not supported in a policy file", (const char *) tag);
}

static Node *new_node(Parser *ps, NodeKind kind, const yaml_event_t *ev) {
        Node *n = g_new0(Node, 1);

        n->kind = kind;
        n->start = ev->start_mark;
        n->end = ev->end_mark;
        if (kind == NODE_MAPPING || kind == NODE_SEQUENCE)
                n->children = g_ptr_array_new();
        g_ptr_array_add(ps->nodes, n);
        return n;
}

/* Builds the tree of the (single) document. Returns the root, or NULL when
 * the file holds no document or a syntax error was found. */
static Node *build_tree(Parser *ps, GHashTable *tab_lines) {
        yaml_parser_t parser;
        g_autoptr(GPtrArray) stack = g_ptr_array_new();
        Node *root = NULL;
        unsigned documents = 0;
        bool done = false, failed = false;

        if (!yaml_parser_initialize(&parser)) {
                perr_at(ps, 0, 0, "out of memory");
                return NULL;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *) ps->text, ps->len);
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

        while (!done && !ps->stop) {
                yaml_event_t ev;
                Node *n = NULL;

                if (!yaml_parser_parse(&parser, &ev)) {
                        syntax_error(ps, &parser, tab_lines);
                        failed = true;
                        break;
                }
                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++documents > 1) {
                                perr(ps, ev.start_mark, "a policy file holds one YAML document; this starts a second");
                                done = true;
                        }
                        break;
                case YAML_ALIAS_EVENT:
                        perr(ps, ev.start_mark, "aliases (*%s) are not supported in a policy file: write the value out",
                             (const char *) ev.data.alias.anchor);
                        n = new_node(ps, NODE_BAD, &ev);
                        break;
                case YAML_SCALAR_EVENT:
                        check_properties(ps, &ev, ev.data.scalar.anchor, ev.data.scalar.tag,
                                         ev.data.scalar.plain_implicit || ev.data.scalar.quoted_implicit);
                        n = new_node(ps, NODE_SCALAR, &ev);
                        n->len = ev.data.scalar.length;
                        n->value = g_malloc(n->len + 1);
                        memcpy(n->value, ev.data.scalar.value, n->len);
                        n->value[n->len] = '\0';
                        n->style = ev.data.scalar.style;
                        break;
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        if (ev.type == YAML_SEQUENCE_START_EVENT)
                                check_properties(ps, &ev, ev.data.sequence_start.anchor, ev.data.sequence_start.tag,
                                                 ev.data.sequence_start.implicit);
                        else
                                check_properties(ps, &ev, ev.data.mapping_start.anchor, ev.data.mapping_start.tag,
                                                 ev.data.mapping_start.implicit);
                        if (stack->len >= MAX_DEPTH) {
                                perr(ps, ev.start_mark, "nested deeper than %d levels", MAX_DEPTH);
                                failed = true;
                                done = true;
                                break;
                        }
                        n = new_node(ps, ev.type == YAML_SEQUENCE_START_EVENT ? NODE_SEQUENCE : NODE_MAPPING, &ev);
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        if (stack->len > 0) {
                                Node *top = g_ptr_array_steal_index(stack, stack->len - 1);
                                top->end = ev.end_mark;
                        }
                        break;
                default:
                        break;
                }
                if (n) {
                        if (stack->len > 0)
                                g_ptr_array_add(((Node *) g_ptr_array_index(stack, stack->len - 1))->children, n);
                        else if (!root)
                                root = n;
                        if (n->kind == NODE_MAPPING || n->kind == NODE_SEQUENCE)
                                g_ptr_array_add(stack, n);
                }
                yaml_event_delete(&ev);
        }
        yaml_parser_delete(&parser);
        return failed ? NULL : root;
}

int mb_policy_parse_text(MbPolicy *p, const char *file, GBytes *text, MbPolicyFileRole role, MbDiagList *diags) {
        g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(node_free);
        g_autoptr(GHashTable) tab_lines = NULL;
        gsize len;
        Parser ps = {
                .policy = p,
                .file = mb_policy_intern_file(p, file),
                .text = g_bytes_get_data(text, &len),
                .role = role,
                .diags = diags,
                .nodes = nodes,
        };
        Node *root;

        ps.len = len;
        if (!ps.text)
                ps.text = "";
        mb_diag_list_add_source(diags, ps.file, text);

        if (!check_text(&ps))
                return -MB_EPOLICYINVALID;
        tab_lines = check_tabs(&ps);
        root = build_tree(&ps, tab_lines);
        if (!root) {
                if (!ps.errors)
                        perr_at(&ps, 1, 1, "empty policy file: it needs at least \"version: %d\"",
                                MB_POLICY_VERSION);
                return -MB_EPOLICYINVALID;
        }
        if (root->kind == NODE_SCALAR && node_type(root) == TYPE_NULL && root->len == 0 && !ps.errors)
                perr_at(&ps, 1, 1, "empty policy file: it needs at least \"version: %d\"", MB_POLICY_VERSION);
        else if (root->kind != NODE_MAPPING) {
                if (root->kind != NODE_BAD)
                        perr(&ps, root->start,
                             "a policy file must be a mapping (of \"version\", \"settings\", \"plugins\", "
                             "\"devices\"), got %s", type_names[node_type(root)]);
        } else if (!ps.stop)
                process_mapping(&ps, root, &top_spec, NULL);

        return ps.errors ? -MB_EPOLICYINVALID : 0;
}

int mb_policy_parse_string(const char *file, const char *text, size_t len, MbPolicy **ret, MbDiagList *diags) {
        g_autoptr(MbPolicy) p = mb_policy_new();
        g_autoptr(GBytes) bytes = g_bytes_new(text, len);
        int r, r2;

        *ret = NULL;
        /* Finalize even after errors: its cross-checks report more of them. */
        r = mb_policy_parse_text(p, file, bytes, MB_POLICY_FILE_MAIN, diags);
        r2 = mb_policy_finalize(p, NULL, diags);
        mb_diag_list_sort(diags);
        if (r < 0)
                return r;
        if (r2 < 0)
                return r2;
        *ret = MB_TAKE_PTR(p);
        return 0;
}
