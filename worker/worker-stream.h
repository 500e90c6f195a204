/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * worker-stream.h: the worker's data path: save rounds from the plugin
 * straight to the caller's fd, and the caller's fd straight into the plugin's
 * load(), in the framed or raw format. No D-Bus here; the caller reports.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "stream.h"
#include "worker-plugin.h"

typedef struct MbWorkerStreamCtx {
        const MbPlugin *plugin;
        void *handle;                      /* from init() */
        const char *bdf;
        void (*progress)(void *userdata, uint64_t bytes);
        void *userdata;
        char *errbuf;                      /* specific message on failure */
        size_t errlen;
} MbWorkerStreamCtx;

typedef struct MbSaveSession {
        bool active;
        bool ended;
        MbStreamFormat format;
        uint32_t next_idx;
        uint64_t total_bytes;              /* payload bytes of the session */
        uint8_t *buf;                      /* MB_WORKER_CHUNK bytes */
        /* Stop-copy (calls with MB_WORKER_SAVE_UNTIL_EMPTY): what was pending
         * at its first round, and what may still be; pending never grows. */
        bool stop_copy;
        uint64_t stop_first, stop_budget;
        /* A call failed after it may have moved state (the plugin's save()
         * ran, or bytes went out): the stream has a hole, nothing may follow. */
        bool broken;
} MbSaveSession;

typedef struct MbLoadSession {
        bool active;
        MbStreamFormat format;
        MbStreamReader *reader;
} MbLoadSession;

typedef struct MbSaveResult {
        uint64_t bytes;                    /* bytes written to the fd by this call */
        uint64_t records;                  /* plugin save() calls made by this call */
        uint64_t pending_after;
        bool ended;
} MbSaveResult;

typedef struct MbLoadResult {
        uint64_t bytes;                    /* bytes read from the fd by this call (finish: payload total) */
        uint64_t records;
        bool ended;
} MbLoadResult;

/* Errors: -MB_EPLUGINFAILED (a plugin op failed or misbehaved), -EPIPE (reader
 * gone), -ETIMEDOUT (stall), -ENOSPC, -EBADF, -EINVAL (no session), ... */
int mb_worker_save(const MbWorkerStreamCtx *ctx, MbSaveSession *s, int fd, MbStreamFormat format,
                   uint64_t max_bytes, uint32_t flags, int stall_ms, MbSaveResult *ret);
void mb_save_session_reset(MbSaveSession *s);

/* Errors: -MB_ESTREAMCORRUPT, -MB_EPLUGINFAILED, -ETIMEDOUT, ... */
int mb_worker_load(const MbWorkerStreamCtx *ctx, MbLoadSession *s, int fd, MbStreamFormat format, uint32_t flags,
                   int stall_ms, MbLoadResult *ret);
int mb_worker_load_finish(const MbWorkerStreamCtx *ctx, MbLoadSession *s, MbLoadResult *ret);
void mb_load_session_reset(MbLoadSession *s);
