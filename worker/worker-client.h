/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * worker-client.h: the broker's (and the tests') side of a worker: spawning
 * migbroker-worker on a socketpair, asynchronous calls with a bound on each
 * (or on each stall), and telling a crash from a plugin error. No policy here.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct MbWorker MbWorker;

typedef struct MbWorkerConfig {
        const char *worker_path;   /* the migbroker-worker binary */
        const char *bdf;
        const char *plugin_path;   /* named in messages; opened by the worker if plugin_fd < 0 */
        int plugin_fd;             /* an opened, checked plugin file, or -1 */
        const char *user;          /* drop to this user (when we are root); NULL keeps our uid */
        int log_level;             /* passed on to the worker; <0: ours */
} MbWorkerConfig;

/* A call finished: r == 0 with reply, or r < 0 with error set:
 *   - an error the worker replied (PluginFailed, StreamCorrupt, ...), its errno;
 *   - -MB_ETIMEOUT: the call (or a stall) exceeded its bound; the worker was killed;
 *   - -MB_EPLUGINCRASHED: the worker died during the call (signal or exit status in the text). */
typedef void (*MbWorkerReplyFn)(MbWorker *w, int r, const sd_bus_error *error, sd_bus_message *reply,
                                void *userdata);
/* The worker process is gone (after a call failed, or unexpectedly while idle);
 * reason describes how. Not called for mb_worker_stop()/unref(). */
typedef void (*MbWorkerExitFn)(MbWorker *w, const char *reason, void *userdata);
typedef void (*MbWorkerProgressFn)(MbWorker *w, uint64_t bytes, void *userdata);

/* Blocks SIGCHLD in the calling thread (sd-event needs it) and forks the worker. */
int mb_worker_spawn(sd_event *event, const MbWorkerConfig *cfg, MbWorker **ret);
/* Drops a reference; the last one kills a live worker (SIGKILL) without
 * blocking: the event loop reaps it. */
MbWorker *mb_worker_unref(MbWorker *w);
/* A worker unreferenced while alive is killed and reaped later by the event
 * loop. For an owner that stops its loop (a shutdown): reap them all now. */
void mb_worker_reap_released(void);
static inline void mb_worker_unrefp(MbWorker **w) {
        if (*w)
                mb_worker_unref(*w);
}

void mb_worker_set_exit_handler(MbWorker *w, MbWorkerExitFn fn, void *userdata);
void mb_worker_set_progress_handler(MbWorker *w, MbWorkerProgressFn fn, void *userdata);

pid_t mb_worker_pid(const MbWorker *w);
bool mb_worker_alive(const MbWorker *w);   /* the process exists (not yet reaped) */
bool mb_worker_usable(const MbWorker *w);  /* alive, not being killed, connection up */
bool mb_worker_busy(const MbWorker *w);
const char *mb_worker_bdf(const MbWorker *w);
/* How the worker ended ("killed by signal SIGSEGV", "exited with status 3"), or NULL. */
const char *mb_worker_death(const MbWorker *w);

/* A new method call message for member on the worker's interface. */
int mb_worker_new_call(MbWorker *w, sd_bus_message **ret, const char *member);

/* Sends m; one call in flight at a time (-EBUSY otherwise), -ESRCH when dead.
 * timeout_usec bounds the call; with stall set it bounds the time between two
 * Progress signals instead. */
int mb_worker_call(MbWorker *w, sd_bus_message *m, uint64_t timeout_usec, bool stall, MbWorkerReplyFn cb,
                   void *userdata);

/* Synchronous convenience for tests and the CLI: runs the worker's event loop
 * until the call completes. Returns the same r as the callback would get;
 * *reply (if given) receives a reference. */
int mb_worker_call_sync(MbWorker *w, sd_bus_message *m, uint64_t timeout_usec, bool stall, sd_bus_error *error,
                        sd_bus_message **reply);

/* Kills the worker with SIGKILL (reason recorded); the exit handler runs when it is reaped. */
void mb_worker_kill(MbWorker *w, const char *reason);

/* Graceful stop: closes the connection (the worker runs cleanup() and exits),
 * waits up to timeout_usec for it, then SIGKILLs. Blocking; for shutdown paths. */
int mb_worker_stop(MbWorker *w, uint64_t timeout_usec);
