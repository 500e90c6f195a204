/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-diag.h: the list of diagnostics a policy load produces (file, line,
 * column, message, the source line) and their one text format, shared by the
 * CLI and the daemon. It never prints on its own and knows no YAML.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <glib.h>

#include "macro.h"

/* Diagnostics kept per file; the next error adds one note and is dropped. */
#define MB_DIAG_MAX_PER_FILE 50
/* Source lines longer than this are shown as a window around the column. */
#define MB_DIAG_SOURCE_WIDTH 120

typedef enum MbDiagSeverity {
        MB_DIAG_ERROR,
        MB_DIAG_WARNING,
        MB_DIAG_NOTE,
} MbDiagSeverity;

typedef struct MbDiag {
        MbDiagSeverity severity;
        char *file;        /* never NULL */
        unsigned line;     /* 1-based; 0: the diagnostic is about the whole file */
        unsigned column;   /* 1-based, in characters; 0 when line is 0 */
        char *message;     /* no trailing newline, no "error: " prefix */
        char *source;      /* the line as shown (sanitised, maybe windowed), or NULL */
        unsigned caret;    /* 0-based character position of the caret in source */
} MbDiag;

typedef struct MbDiagList MbDiagList;

MbDiagList *mb_diag_list_new(void);
void mb_diag_list_free(MbDiagList *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MbDiagList, mb_diag_list_free)

/* Registers the text of file so later diagnostics about it carry their source
 * line. The bytes are referenced, not copied. Registering again replaces. */
void mb_diag_list_add_source(MbDiagList *l, const char *file, GBytes *text);

/* Adds a diagnostic. line/column are 1-based (0/0 for the whole file).
 * Returns false when the per-file cap was reached (the parser then stops). */
bool mb_diag_add(MbDiagList *l, MbDiagSeverity severity, const char *file, unsigned line, unsigned column,
                 const char *fmt, ...) _printf_(6, 7);
bool mb_diag_addv(MbDiagList *l, MbDiagSeverity severity, const char *file, unsigned line, unsigned column,
                  const char *fmt, va_list ap) _printf_(6, 0);
#define mb_diag_error(l, file, line, col, ...) mb_diag_add((l), MB_DIAG_ERROR, (file), (line), (col), __VA_ARGS__)

/* Orders the list by file (in order of first appearance), then line and
 * column; whole-file diagnostics first, the "too many errors" note last.
 * Stable: equal positions keep their order. */
void mb_diag_list_sort(MbDiagList *l);

/* True once file has MB_DIAG_MAX_PER_FILE errors. */
bool mb_diag_list_full(const MbDiagList *l, const char *file);

size_t mb_diag_list_size(const MbDiagList *l);
const MbDiag *mb_diag_list_get(const MbDiagList *l, size_t i);
size_t mb_diag_list_count(const MbDiagList *l, MbDiagSeverity severity);
static inline bool mb_diag_list_has_errors(const MbDiagList *l) {
        return mb_diag_list_count(l, MB_DIAG_ERROR) > 0;
}
/* Number of distinct files with at least one error. */
size_t mb_diag_list_files_with_errors(const MbDiagList *l);

const char *mb_diag_severity_to_string(MbDiagSeverity s);

/* The candidate nearest to word (edit distance, at most a third of its
 * length, at least 1), for "did you mean" hints; NULL when none is close.
 * candidates is NULL-terminated. */
const char *mb_diag_suggest(const char *word, const char *const *candidates);

/* "FILE:LINE:COL: error: MESSAGE\n" then the source line and a caret line.
 * Appended to out. */
void mb_diag_format(const MbDiag *d, GString *out);
/* Every diagnostic, in order. */
char *mb_diag_list_format(const MbDiagList *l);
int mb_diag_list_print(const MbDiagList *l, FILE *f);
