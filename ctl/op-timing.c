/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "op-timing.h"

struct MbOpTimings {
        GHashTable *ops; /* name -> GArray of uint64_t */
};

static void array_free(gpointer p) {
        g_array_unref(p);
}

MbOpTimings *mb_op_timings_new(void) {
        MbOpTimings *t = g_new0(MbOpTimings, 1);

        t->ops = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, array_free);
        return t;
}

void mb_op_timings_free(MbOpTimings *t) {
        if (!t)
                return;
        g_hash_table_unref(t->ops);
        g_free(t);
}

int mb_op_timings_add(MbOpTimings *t, const char *op, uint64_t usec) {
        GArray *a = g_hash_table_lookup(t->ops, op);

        if (!a) {
                a = g_array_new(FALSE, FALSE, sizeof(uint64_t));
                g_hash_table_insert(t->ops, g_strdup(op), a);
        }
        g_array_append_val(a, usec);
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

uint64_t mb_percentile(const uint64_t *sorted, size_t n, unsigned pct) {
        size_t rank;

        if (n == 0)
                return 0;
        if (pct > 100)
                pct = 100;
        /* ceil(pct/100 * n), at least 1 */
        rank = ((size_t) pct * n + 99) / 100;
        if (rank == 0)
                rank = 1;
        return sorted[rank - 1];
}

int mb_op_timings_stats(const MbOpTimings *t, const char *op, MbTimingStats *ret) {
        GArray *a = g_hash_table_lookup(t->ops, op);
        g_autofree uint64_t *s = NULL;

        if (!a || a->len == 0)
                return -ENOENT;
        s = g_new(uint64_t, a->len);
        memcpy(s, a->data, (size_t) a->len * sizeof(uint64_t));
        qsort(s, a->len, sizeof(uint64_t), cmp_u64);
        *ret = (MbTimingStats) {
                .n = a->len,
                .min_usec = s[0],
                .p50_usec = mb_percentile(s, a->len, 50),
                .p90_usec = mb_percentile(s, a->len, 90),
                .max_usec = s[a->len - 1],
        };
        return 0;
}
