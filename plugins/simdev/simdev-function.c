/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "simdev-function.h"

static bool is_saving(uint32_t s) {
        return s == 2 || s == 3;
}

static void fill(uint8_t *mem, uint64_t size, uint64_t seed) {
        SimdevPrng prng;
        uint64_t i = 0;

        simdev_prng_seed(&prng, seed);
        for (; i + 8 <= size; i += 8) {
                uint64_t v = simdev_prng_next(&prng);
                /* little-endian on every host, so a seed means the same bytes everywhere */
                for (int k = 0; k < 8; k++)
                        mem[i + k] = (uint8_t) (v >> (8 * k));
        }
        if (i < size) {
                uint64_t v = simdev_prng_next(&prng);
                for (int k = 0; i < size; i++, k++)
                        mem[i] = (uint8_t) (v >> (8 * k));
        }
}

int simdev_function_new(SimdevFunction **ret, const char *bdf, uint64_t size, bool empty, uint64_t seed) {
        SimdevFunction *f;
        int r;

        if (!bdf || strlen(bdf) >= sizeof(f->bdf) || size == 0 || size > SIMDEV_STATE_SIZE_MAX)
                return -EINVAL;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        strcpy(f->bdf, bdf);
        f->size = size;
        f->page_size = SIMDEV_PAGE_SIZE;
        f->n_pages = (size + f->page_size - 1) / f->page_size;
        f->state = 1;

        /* Populated up front, as a device's memory is always there: page faults
         * would otherwise land in the first load and dominate its timing. */
        f->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (f->mem == MAP_FAILED) {
                r = -errno;
                f->mem = NULL;
                simdev_function_free(f);
                return r;
        }
        r = simdev_bitmap_init(&f->dirty, f->n_pages);
        if (r < 0) {
                simdev_function_free(f);
                return r;
        }
        seed ^= simdev_fnv1a(bdf);
        if (!empty)
                fill(f->mem, size, seed);
        simdev_prng_seed(&f->dirtier, seed ^ 0x6469727479ull /* "dirty" */);

        *ret = f;
        return 0;
}

static void drop_sessions(SimdevFunction *f) {
        if (f->enc_init)
                simdev_encoder_done(&f->enc);
        if (f->dec_init)
                simdev_decoder_done(&f->dec);
        f->enc_init = f->dec_init = f->saving = f->loading = false;
}

void simdev_function_free(SimdevFunction *f) {
        if (!f)
                return;
        drop_sessions(f);
        simdev_bitmap_done(&f->dirty);
        if (f->mem)
                (void) munmap(f->mem, f->size);
        free(f);
}

static int set_error(SimdevFunction *f, int r, const char *what) {
        (void) snprintf(f->error, sizeof(f->error), "%s", what);
        return r;
}

static int start_save(SimdevFunction *f) {
        int r;

        drop_sessions(f);
        r = simdev_encoder_init(&f->enc, f->size, f->page_size);
        if (r < 0)
                return r;
        /* Tracking starts now; the first round already holds every page. */
        simdev_bitmap_clear_all(&f->dirty);
        f->enc_init = f->saving = true;
        return 0;
}

static int start_load(SimdevFunction *f) {
        int r;

        drop_sessions(f);
        r = simdev_decoder_init(&f->dec, f->size, f->page_size);
        if (r < 0)
                return r;
        f->dec_init = f->loading = true;
        return 0;
}

int simdev_function_set_state(SimdevFunction *f, uint32_t to) {
        uint32_t from = f->state;
        int r;

        if (!simdev_state_valid(to))
                return set_error(f, -EINVAL, "invalid v1 state value");
        if (to == from)
                return 0;

        switch (from) {
        case 0:
        case 1:
                if (is_saving(to)) {
                        r = start_save(f);
                        if (r < 0)
                                return set_error(f, r, "cannot start a save session");
                } else if (to == 4) {
                        r = start_load(f);
                        if (r < 0)
                                return set_error(f, r, "cannot start a load session");
                }
                break;
        case 3:
                if (to == 4)
                        return set_error(f, -EINVAL, "pre-copy -> resuming is not a valid arc");
                if (to != 2)
                        f->saving = false; /* migration cancelled: session over */
                break;
        case 2:
                if (to == 3 || to == 4)
                        return set_error(f, -EINVAL, "stop-copy may only go to stop or running");
                f->saving = false;
                break;
        case 4:
                if (is_saving(to))
                        return set_error(f, -EINVAL, "resuming may only go to stop or running");
                if (simdev_decoder_started(&f->dec) && !simdev_decoder_complete(&f->dec)) {
                        f->loading = false;
                        f->state = SIMDEV_STATE_ERROR;
                        return set_error(f, -EBADMSG, "left resuming with an incomplete state stream");
                }
                f->loading = false;
                break;
        case SIMDEV_STATE_ERROR:
                if (to != 0 && to != 1)
                        return set_error(f, -EINVAL, "error state: only stop or running (reset) leave it");
                drop_sessions(f);
                simdev_bitmap_clear_all(&f->dirty);
                break;
        default:
                return set_error(f, -EINVAL, "function in an impossible state");
        }

        f->state = to;
        return 0;
}

uint64_t simdev_function_pending(SimdevFunction *f) {
        if (!is_saving(f->state) || !f->saving)
                return 0;
        return simdev_encoder_pending(&f->enc, &f->dirty, f->state == 2);
}

int simdev_function_save(SimdevFunction *f, uint8_t *buf, uint64_t len) {
        uint64_t pending;
        size_t n;

        if (!is_saving(f->state) || !f->saving)
                return set_error(f, -EINVAL, "save outside a saving state");
        if (len == 0)
                return 0;
        pending = simdev_function_pending(f);
        if (len > pending) {
                (void) snprintf(f->error, sizeof(f->error), "save of %" PRIu64 " bytes, only %" PRIu64 " pending",
                                len, pending);
                return -EINVAL;
        }
        n = simdev_encoder_read(&f->enc, f->mem, &f->dirty, f->state == 2, buf, len);
        if (n != len)
                return set_error(f, -EIO, "encoder produced fewer bytes than pending (bug)");
        return 0;
}

int simdev_function_load(SimdevFunction *f, const uint8_t *buf, uint64_t len) {
        int r;

        if (f->state != 4 || !f->loading)
                return set_error(f, -EINVAL, "load outside resuming");
        r = simdev_decoder_feed(&f->dec, f->mem, buf, len);
        if (r < 0) {
                (void) snprintf(f->error, sizeof(f->error), "corrupt state stream %s", f->dec.error);
                f->loading = false;
                f->state = SIMDEV_STATE_ERROR;
                return r;
        }
        return 0;
}

void simdev_function_mark_dirty(SimdevFunction *f, uint64_t off, uint64_t len) {
        uint64_t first, last;

        if (len == 0 || off >= f->size)
                return;
        if (len > f->size - off)
                len = f->size - off;
        if (!f->saving)
                return; /* tracking is on only during a save session */
        first = off / f->page_size;
        last = (off + len - 1) / f->page_size;
        simdev_bitmap_set_range(&f->dirty, first, last - first + 1);
}

uint64_t simdev_function_dirty_pages(SimdevFunction *f, uint64_t n) {
        if (!(f->state & 1) || f->state == SIMDEV_STATE_ERROR)
                return 0;
        for (uint64_t i = 0; i < n; i++) {
                uint64_t page = simdev_prng_next(&f->dirtier) % f->n_pages;
                uint64_t page_len = page == f->n_pages - 1 ? f->size - page * f->page_size : f->page_size;
                uint64_t off = page * f->page_size + simdev_prng_next(&f->dirtier) % page_len;
                uint64_t v = simdev_prng_next(&f->dirtier);

                for (int k = 0; k < 8 && off + (uint64_t) k < f->size; k++)
                        f->mem[off + (uint64_t) k] = (uint8_t) (v >> (8 * k));
                simdev_function_mark_dirty(f, off, 8);
        }
        f->pages_dirtied += n;
        return n;
}

void simdev_function_save_stats(const SimdevFunction *f, uint64_t *rounds, uint64_t *bytes) {
        bool have = f->enc_init;
        *rounds = have ? f->enc.rounds : 0;
        *bytes = have ? f->enc.bytes : 0;
}

void simdev_function_load_stats(const SimdevFunction *f, uint64_t *bytes, uint64_t *records, bool *complete) {
        bool have = f->dec_init;
        *bytes = have ? f->dec.bytes : 0;
        *records = have ? f->dec.records : 0;
        *complete = have && simdev_decoder_complete(&f->dec);
}
