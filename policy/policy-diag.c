/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "policy-diag.h"

struct MbDiagList {
        GPtrArray *items;        /* MbDiag* */
        GHashTable *sources;     /* file -> GBytes* */
        GHashTable *errors;      /* file -> error count (GUINT_TO_POINTER) */
};

static void diag_free(gpointer p) {
        MbDiag *d = p;

        g_free(d->file);
        g_free(d->message);
        g_free(d->source);
        g_free(d);
}

MbDiagList *mb_diag_list_new(void) {
        MbDiagList *l = g_new0(MbDiagList, 1);

        l->items = g_ptr_array_new_with_free_func(diag_free);
        l->sources = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
        l->errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        return l;
}

void mb_diag_list_free(MbDiagList *l) {
        if (!l)
                return;
        g_ptr_array_unref(l->items);
        g_hash_table_unref(l->sources);
        g_hash_table_unref(l->errors);
        g_free(l);
}

void mb_diag_list_add_source(MbDiagList *l, const char *file, GBytes *text) {
        g_hash_table_replace(l->sources, g_strdup(file), g_bytes_ref(text));
}

/* Number of bytes of the UTF-8 character at s (1 for an invalid byte). */
static size_t char_len(const char *s, const char *end) {
        gunichar c = g_utf8_get_char_validated(s, end - s);

        if (c == (gunichar) -1 || c == (gunichar) -2)
                return 1;
        return (size_t) (g_utf8_next_char(s) - s);
}

/* Builds the line as shown: control characters and invalid UTF-8 as '?' (one
 * column each, so the caret stays aligned), tabs kept; at most
 * MB_DIAG_SOURCE_WIDTH characters around the column. */
static void extract_source(GBytes *text, unsigned line, unsigned column, char **ret, unsigned *ret_caret) {
        gsize size;
        const char *buf = g_bytes_get_data(text, &size), *end, *p, *eol;
        g_autoptr(GString) s = NULL;
        unsigned n_chars = 0, first = 0, caret;

        *ret = NULL;
        *ret_caret = 0;
        if (!buf) /* empty */
                return;
        end = buf + size;
        p = buf;
        for (unsigned i = 1; i < line; i++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl)
                        return;
                p = nl + 1;
        }
        eol = memchr(p, '\n', (size_t) (end - p));
        if (!eol)
                eol = end;
        if (eol > p && eol[-1] == '\r')
                eol--;

        for (const char *q = p; q < eol; q += char_len(q, eol))
                n_chars++;
        caret = column > 0 ? column - 1 : 0;
        if (caret > n_chars)
                caret = n_chars;
        if (n_chars > MB_DIAG_SOURCE_WIDTH && caret > MB_DIAG_SOURCE_WIDTH / 2)
                first = MB_MIN(caret - MB_DIAG_SOURCE_WIDTH / 2, n_chars - MB_DIAG_SOURCE_WIDTH);

        s = g_string_new(NULL);
        if (first > 0)
                g_string_append(s, "...");
        unsigned idx = 0;
        for (const char *q = p; q < eol; idx++) {
                size_t n = char_len(q, eol);
                if (idx >= first && idx < first + MB_DIAG_SOURCE_WIDTH) {
                        unsigned char c = (unsigned char) *q;
                        if (n == 1 && (c >= 0x80 || (c < 0x20 && c != '\t') || c == 0x7f))
                                g_string_append_c(s, '?');
                        else if (n > 1 && g_unichar_iscntrl(g_utf8_get_char(q)))
                                g_string_append_c(s, '?');
                        else
                                g_string_append_len(s, q, (gssize) n);
                }
                q += n;
        }
        if (first + MB_DIAG_SOURCE_WIDTH < n_chars)
                g_string_append(s, "...");

        *ret_caret = caret - first + (first > 0 ? 3 : 0);
        *ret = g_string_free(MB_TAKE_PTR(s), FALSE);
}

bool mb_diag_list_full(const MbDiagList *l, const char *file) {
        return GPOINTER_TO_UINT(g_hash_table_lookup(l->errors, file)) >= MB_DIAG_MAX_PER_FILE;
}

bool mb_diag_addv(MbDiagList *l, MbDiagSeverity severity, const char *file, unsigned line, unsigned column,
                  const char *fmt, va_list ap) {
        unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(l->errors, file));
        MbDiag *d;

        if (severity == MB_DIAG_ERROR) {
                if (n >= MB_DIAG_MAX_PER_FILE)
                        return false;
                g_hash_table_replace(l->errors, g_strdup(file), GUINT_TO_POINTER(n + 1));
        }

        d = g_new0(MbDiag, 1);
        d->severity = severity;
        d->file = g_strdup(file);
        d->line = line;
        d->column = line > 0 ? MB_MAX(column, 1u) : 0;
        d->message = g_strdup_vprintf(fmt, ap);
        if (line > 0) {
                GBytes *text = g_hash_table_lookup(l->sources, file);
                if (text)
                        extract_source(text, line, d->column, &d->source, &d->caret);
        }
        g_ptr_array_add(l->items, d);

        if (severity == MB_DIAG_ERROR && n + 1 == MB_DIAG_MAX_PER_FILE) {
                d = g_new0(MbDiag, 1);
                d->severity = MB_DIAG_NOTE;
                d->file = g_strdup(file);
                d->message = g_strdup_printf("too many errors (%u), stopping; fix these and check again",
                                             MB_DIAG_MAX_PER_FILE);
                g_ptr_array_add(l->items, d);
                return false;
        }
        return true;
}

bool mb_diag_add(MbDiagList *l, MbDiagSeverity severity, const char *file, unsigned line, unsigned column,
                 const char *fmt, ...) {
        va_list ap;
        bool r;

        va_start(ap, fmt);
        r = mb_diag_addv(l, severity, file, line, column, fmt, ap);
        va_end(ap);
        return r;
}

typedef struct SortItem {
        MbDiag *diag;
        guint file_rank;
        guint index;
} SortItem;

static gint compare_items(gconstpointer a, gconstpointer b) {
        const SortItem *x = a, *y = b;
        /* The cap note (a note about the whole file) goes after the file's lines. */
        unsigned lx = x->diag->line == 0 && x->diag->severity == MB_DIAG_NOTE ? UINT_MAX : x->diag->line;
        unsigned ly = y->diag->line == 0 && y->diag->severity == MB_DIAG_NOTE ? UINT_MAX : y->diag->line;

        if (x->file_rank != y->file_rank)
                return x->file_rank < y->file_rank ? -1 : 1;
        if (lx != ly)
                return lx < ly ? -1 : 1;
        if (x->diag->column != y->diag->column)
                return x->diag->column < y->diag->column ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

void mb_diag_list_sort(MbDiagList *l) {
        g_autoptr(GHashTable) ranks = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GArray) items = g_array_sized_new(FALSE, FALSE, sizeof(SortItem), l->items->len);

        for (guint i = 0; i < l->items->len; i++) {
                MbDiag *d = g_ptr_array_index(l->items, i);
                gpointer rank;
                if (!g_hash_table_lookup_extended(ranks, d->file, NULL, &rank)) {
                        rank = GUINT_TO_POINTER(g_hash_table_size(ranks));
                        g_hash_table_insert(ranks, d->file, rank);
                }
                SortItem it = { d, GPOINTER_TO_UINT(rank), i };
                g_array_append_val(items, it);
        }
        g_array_sort(items, compare_items);
        for (guint i = 0; i < items->len; i++)
                l->items->pdata[i] = g_array_index(items, SortItem, i).diag;
}

size_t mb_diag_list_size(const MbDiagList *l) {
        return l->items->len;
}

const MbDiag *mb_diag_list_get(const MbDiagList *l, size_t i) {
        return i < l->items->len ? g_ptr_array_index(l->items, i) : NULL;
}

size_t mb_diag_list_count(const MbDiagList *l, MbDiagSeverity severity) {
        size_t n = 0;

        for (guint i = 0; i < l->items->len; i++)
                if (((MbDiag *) g_ptr_array_index(l->items, i))->severity == severity)
                        n++;
        return n;
}

size_t mb_diag_list_files_with_errors(const MbDiagList *l) {
        return g_hash_table_size(l->errors);
}

const char *mb_diag_severity_to_string(MbDiagSeverity s) {
        switch (s) {
        case MB_DIAG_ERROR:
                return "error";
        case MB_DIAG_WARNING:
                return "warning";
        case MB_DIAG_NOTE:
                return "note";
        }
        return "error";
}

void mb_diag_format(const MbDiag *d, GString *out) {
        if (d->line > 0)
                g_string_append_printf(out, "%s:%u:%u: ", d->file, d->line, d->column);
        else
                g_string_append_printf(out, "%s: ", d->file);
        g_string_append_printf(out, "%s: %s\n", mb_diag_severity_to_string(d->severity), d->message);
        if (!d->source)
                return;
        g_string_append_printf(out, "%s\n", d->source);
        /* Same white space as the source up to the caret, so tabs line up. */
        unsigned idx = 0;
        for (const char *q = d->source; *q && idx < d->caret; q = g_utf8_next_char(q), idx++)
                g_string_append_c(out, *q == '\t' ? '\t' : ' ');
        for (; idx < d->caret; idx++)
                g_string_append_c(out, ' ');
        g_string_append(out, "^\n");
}

char *mb_diag_list_format(const MbDiagList *l) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < l->items->len; i++)
                mb_diag_format(g_ptr_array_index(l->items, i), s);
        return g_string_free(s, FALSE);
}

int mb_diag_list_print(const MbDiagList *l, FILE *f) {
        g_autofree char *s = mb_diag_list_format(l);

        if (fputs(s, f) < 0 || fflush(f) != 0)
                return -errno;
        return 0;
}

/* Optimal string alignment distance (Levenshtein plus adjacent swaps). */
static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        g_autofree size_t *d = NULL;

        if (la > 64 || lb > 64)
                return SIZE_MAX;
#define D(i, j) d[(i) * (lb + 1) + (j)]
        d = g_new(size_t, (la + 1) * (lb + 1));
        for (size_t i = 0; i <= la; i++)
                D(i, 0) = i;
        for (size_t j = 0; j <= lb; j++)
                D(0, j) = j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        size_t cost = g_ascii_tolower(a[i - 1]) == g_ascii_tolower(b[j - 1]) ? 0 : 1;
                        size_t v = MB_MIN(D(i - 1, j) + 1, D(i, j - 1) + 1);
                        v = MB_MIN(v, D(i - 1, j - 1) + cost);
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                                v = MB_MIN(v, D(i - 2, j - 2) + 1);
                        D(i, j) = v;
                }
        size_t r = D(la, lb);
#undef D
        return r;
}

const char *mb_diag_suggest(const char *word, const char *const *candidates) {
        size_t best_d = SIZE_MAX, limit = MB_MAX(strlen(word) / 3, (size_t) 1);
        const char *best = NULL;

        for (const char *const *c = candidates; c && *c; c++) {
                size_t dist = edit_distance(word, *c);
                if (dist <= limit && dist < best_d) {
                        best_d = dist;
                        best = *c;
                }
        }
        return best;
}
