/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "spawn.h"
#include "worker-client.h"
#include "worker-proto.h"

/* How long a worker may linger after closing its connection before we kill it. */
#define LINGER_USEC (2u * 1000 * 1000)

typedef struct WorkerCall {
        bool active;
        bool awaiting_death;       /* the connection dropped; waiting for SIGCHLD */
        sd_bus_slot *slot;
        uint64_t timeout_usec;
        uint64_t deadline;         /* CLOCK_MONOTONIC; UINT64_MAX: none */
        bool stall;
        MbWorkerReplyFn cb;
        void *userdata;
        char member[32];
} WorkerCall;

struct MbWorker {
        unsigned n_ref;
        sd_event *event;
        sd_bus *bus;
        pid_t pid;
        bool alive;
        bool stopping;
        bool released;             /* the owner let go; only reaping is left */
        MbWorker *released_prev, *released_next; /* in the list of released workers */
        bool killed;               /* SIGKILL sent */
        sd_event_source *child_source;
        /* The call's timer, kept between calls. It never fires after the
         * call's deadline, but may fire before it: a call whose deadline is
         * later than the time the timer is set to leaves it alone, and
         * on_timer() moves it to the deadline when it fires early. So calls
         * in a row move the event loop's timerfd once per timeout instead of
         * once per call; once nothing is in flight its expiry is ignored. */
        sd_event_source *timer;
        sd_bus_slot *progress_slot;
        char *bdf;
        char death[128];
        char kill_reason[256];
        WorkerCall call;
        MbWorkerExitFn exit_fn;
        void *exit_ud;
        MbWorkerProgressFn progress_fn;
        void *progress_ud;
};

/* Workers let go of while alive (killed, waiting to be reaped by the event
 * loop): mb_worker_reap_released() finishes them when no loop will run. */
static MbWorker *released_head;

static void released_link(MbWorker *w) {
        w->released_prev = NULL;
        w->released_next = released_head;
        if (released_head)
                released_head->released_prev = w;
        released_head = w;
}

static void released_unlink(MbWorker *w) {
        if (w->released_prev)
                w->released_prev->released_next = w->released_next;
        else if (released_head == w)
                released_head = w->released_next;
        if (w->released_next)
                w->released_next->released_prev = w->released_prev;
        w->released_prev = w->released_next = NULL;
}

static MbWorker *worker_ref(MbWorker *w) {
        w->n_ref++;
        return w;
}

static void call_clear(WorkerCall *c) {
        c->slot = sd_bus_slot_unref(c->slot);
        *c = (WorkerCall) {};
}

static void drop_bus(MbWorker *w) {
        w->call.slot = sd_bus_slot_unref(w->call.slot);
        w->progress_slot = sd_bus_slot_unref(w->progress_slot);
        if (w->bus)
                w->bus = sd_bus_close_unref(w->bus);
}

static void worker_free(MbWorker *w) {
        call_clear(&w->call);
        w->timer = sd_event_source_disable_unref(w->timer);
        w->progress_slot = sd_bus_slot_unref(w->progress_slot);
        if (w->bus)
                w->bus = sd_bus_close_unref(w->bus);
        w->child_source = sd_event_source_disable_unref(w->child_source);
        sd_event_unref(w->event);
        free(w->bdf);
        free(w);
}

MbWorker *mb_worker_unref(MbWorker *w) {
        if (!w)
                return NULL;
        assert(w->n_ref > 0);
        if (--w->n_ref > 0)
                return NULL;
        if (w->alive && w->child_source && !w->released) {
                /* Let go without blocking: kill it and keep only what reaps it. */
                w->released = true;
                w->n_ref = 1;
                w->exit_fn = NULL;
                w->progress_fn = NULL;
                call_clear(&w->call);
                (void) kill(w->pid, SIGKILL);
                drop_bus(w);
                released_link(w);
                return NULL;
        }
        worker_free(w);
        return NULL;
}

void mb_worker_reap_released(void) {
        while (released_head) {
                MbWorker *w = released_head;

                released_unlink(w);
                /* SIGKILLed when it was let go: it is gone in a moment. */
                w->child_source = sd_event_source_disable_unref(w->child_source);
                while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                w->alive = false;
                worker_free(w);
        }
}

/* Finishes the call in flight: the callback may drop the last reference. */
static void call_complete(MbWorker *w, int r, const sd_bus_error *error, sd_bus_message *reply) {
        MbWorkerReplyFn cb = w->call.cb;
        void *ud = w->call.userdata;

        if (!w->call.active)
                return;
        call_clear(&w->call);
        if (cb)
                cb(w, r, error, reply, ud);
}

static void call_complete_errorf(MbWorker *w, int r, const char *fmt, ...) _printf_(3, 4);
static void call_complete_errorf(MbWorker *w, int r, const char *fmt, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;

        va_start(ap, fmt);
        r = mb_bus_error_setfv(&e, r, fmt, ap);
        va_end(ap);
        call_complete(w, r, &e, NULL);
}

void mb_worker_kill(MbWorker *w, const char *reason) {
        if (!w->alive)
                return;
        if (reason && !w->kill_reason[0])
                snprintf(w->kill_reason, sizeof(w->kill_reason), "%s", reason);
        w->killed = true;
        (void) kill(w->pid, SIGKILL);
        drop_bus(w);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        MbWorker *w = userdata;
        MbWorkerExitFn exit_fn;
        const char *reason;

        if (w->released) {
                w->alive = false;
                w->child_source = sd_event_source_disable_unref(w->child_source);
                released_unlink(w);
                worker_free(w);
                return 0;
        }
        worker_ref(w);

        if (si->si_code == CLD_EXITED)
                snprintf(w->death, sizeof(w->death), "exited with status %d", si->si_status);
        else
                snprintf(w->death, sizeof(w->death), "killed by signal SIG%s%s", sigabbrev_np(si->si_status) ?: "?",
                         si->si_code == CLD_DUMPED ? " (core dumped)" : "");
        w->alive = false;
        w->child_source = sd_event_source_disable_unref(w->child_source);
        drop_bus(w);

        reason = w->kill_reason[0] ? w->kill_reason : w->death;
        if (w->call.active) {
                if (w->kill_reason[0])
                        call_complete_errorf(w, -MB_ETIMEOUT, "%s", w->kill_reason);
                else
                        call_complete_errorf(w, -MB_EPLUGINCRASHED, "the plugin's worker for %s crashed during %s: %s",
                                             w->bdf, w->call.member, w->death);
        }
        exit_fn = w->exit_fn;
        if (exit_fn && !w->stopping)
                exit_fn(w, reason, w->exit_ud);
        mb_worker_unref(w);
        return 0;
}

static int set_timer(MbWorker *w, uint64_t deadline);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        MbWorker *w = userdata;
        char reason[256];
        uint64_t now;

        /* Set for a call that has completed, or for an earlier call than
         * this one, which has no bound or time left. */
        if (!w->call.active || w->call.deadline == UINT64_MAX)
                return 0;
        if (sd_event_now(w->event, CLOCK_MONOTONIC, &now) >= 0 && now < w->call.deadline) {
                if (set_timer(w, w->call.deadline) < 0) {
                        snprintf(reason, sizeof(reason), "%s of %s: cannot arm its timer: the plugin's worker was killed",
                                 w->call.member, w->bdf);
                        log_dev_error(w->bdf, "%s", reason);
                        mb_worker_kill(w, reason); /* on_child completes the call */
                }
                return 0;
        }
        w = worker_ref(w);

        if (w->call.awaiting_death) {
                snprintf(reason, sizeof(reason), "the worker for %s closed its connection during %s but did not exit",
                         w->bdf, w->call.member);
                log_dev_warning(w->bdf, "%s: killing it", reason);
                mb_worker_kill(w, NULL);
                /* on_child completes the call as a crash */
        } else {
                snprintf(reason, sizeof(reason), "%s of %s made no progress for %llu ms: the plugin's worker was killed",
                         w->call.member, w->bdf, (unsigned long long) (w->call.timeout_usec / 1000));
                if (!w->call.stall)
                        snprintf(reason, sizeof(reason), "%s of %s did not complete within %llu ms: the plugin's worker was killed",
                                 w->call.member, w->bdf, (unsigned long long) (w->call.timeout_usec / 1000));
                log_dev_error(w->bdf, "%s", reason);
                mb_worker_kill(w, reason);
                call_complete_errorf(w, -MB_ETIMEOUT, "%s", reason);
        }
        mb_worker_unref(w);
        return 0;
}

/* Makes the timer fire at deadline at the latest: a timer already set to
 * fire before it is left as it is. */
static int set_timer(MbWorker *w, uint64_t deadline) {
        uint64_t t;
        int enabled, r;

        if (!w->timer)
                return sd_event_add_time(w->event, &w->timer, CLOCK_MONOTONIC, deadline, 1000, on_timer, w);
        r = sd_event_source_get_enabled(w->timer, &enabled);
        if (r >= 0 && enabled != SD_EVENT_OFF && sd_event_source_get_time(w->timer, &t) >= 0 && t <= deadline)
                return 0;
        r = sd_event_source_set_time(w->timer, deadline);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
        return r < 0 ? -EIO : 0;
}

/* The call in flight may take usec from now (from the last progress of a
 * stall-bounded call). */
static int arm_timer(MbWorker *w, uint64_t usec) {
        uint64_t now;
        int r;

        r = sd_event_now(w->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        w->call.deadline = usec > UINT64_MAX - now ? UINT64_MAX - 1 : now + usec;
        return set_timer(w, w->call.deadline);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        MbWorker *w = worker_ref(userdata);
        const sd_bus_error *e = sd_bus_message_get_error(m);

        w->call.slot = sd_bus_slot_unref(w->call.slot);
        if (!w->call.active)
                goto out;

        if (e && sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY)) {
                /* The connection dropped: find out how the worker ended before answering. */
                if (!w->alive) {
                        call_complete_errorf(w, -MB_EPLUGINCRASHED, "the plugin's worker for %s crashed during %s: %s",
                                             w->bdf, w->call.member, w->death);
                } else {
                        w->call.awaiting_death = true;
                        if (arm_timer(w, LINGER_USEC) < 0)
                                mb_worker_kill(w, NULL);
                }
        } else if (e) {
                int r = sd_bus_error_get_errno(e);
                call_complete(w, r > 0 ? -r : -EIO, e, NULL);
        } else {
                call_complete(w, 0, NULL, m);
        }
out:
        mb_worker_unref(w);
        return 0;
}

static int on_progress(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        MbWorker *w = userdata;
        uint64_t bytes = 0;

        if (sd_bus_message_read(m, "t", &bytes) < 0)
                return 0;
        if (w->call.active && w->call.stall && !w->call.awaiting_death)
                (void) arm_timer(w, w->call.timeout_usec);
        if (w->progress_fn)
                w->progress_fn(w, bytes, w->progress_ud);
        return 0;
}

int mb_worker_spawn(sd_event *event, const MbWorkerConfig *cfg, MbWorker **ret) {
        _cleanup_(mb_worker_unrefp) MbWorker *w = NULL;
        _cleanup_close_ int s0 = -1, s1 = -1;
        char parent[32], level[16], plugin_fd_str[16];
        char *argv[16];
        int sv[2], n = 0, r;
        pid_t pid;

        if (!cfg->worker_path || !cfg->bdf || !cfg->plugin_path)
                return -EINVAL;
        r = mb_error_register();
        if (r < 0)
                return r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->n_ref = 1;
        w->event = sd_event_ref(event);
        w->bdf = strdup(cfg->bdf);
        if (!w->bdf)
                return -ENOMEM;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        s0 = sv[0];
        s1 = sv[1];

        snprintf(parent, sizeof(parent), "%d", (int) getpid());
        snprintf(level, sizeof(level), "%d", cfg->log_level >= 0 ? cfg->log_level : mb_log_get_level());
        snprintf(plugin_fd_str, sizeof(plugin_fd_str), "%d", MB_WORKER_PLUGIN_FD);
        argv[n++] = (char *) cfg->worker_path;
        argv[n++] = (char *) "--bdf";
        argv[n++] = (char *) cfg->bdf;
        argv[n++] = (char *) "--plugin-path";
        argv[n++] = (char *) cfg->plugin_path;
        if (cfg->plugin_fd >= 0) {
                argv[n++] = (char *) "--plugin-fd";
                argv[n++] = plugin_fd_str;
        }
        if (cfg->user) {
                argv[n++] = (char *) "--user";
                argv[n++] = (char *) cfg->user;
        }
        argv[n++] = (char *) "--parent";
        argv[n++] = parent;
        argv[n++] = (char *) "--log-level";
        argv[n++] = level;
        argv[n] = NULL;

        /* stdin on /dev/null, our stdout and stderr (the journal's, when it
         * is: the worker then logs natively, with the MIGBROKER_BDF field),
         * the socket at fd 3 and the plugin at fd 4. */
        {
                const int fds[] = { -1, -1, -1, s1, cfg->plugin_fd };
                _Static_assert(MB_WORKER_SOCKET_FD == 3 && MB_WORKER_PLUGIN_FD == 4, "fds[] puts them there");
                r = mb_spawn(argv, fds, ELEMENTSOF(fds), &pid);
                if (r < 0)
                        return r;
        }
        w->pid = pid;
        w->alive = true;
        s1 = mb_safe_close(s1);

        r = sd_event_add_child(event, &w->child_source, pid, WEXITED, on_child, w);
        if (r < 0)
                return r;

        r = sd_bus_new(&w->bus);
        if (r < 0)
                return r;
        r = sd_bus_set_fd(w->bus, s0, s0);
        if (r < 0)
                return r;
        s0 = -1; /* owned by the bus now */
        if ((r = sd_bus_negotiate_fds(w->bus, 1)) < 0 ||
            (r = sd_bus_set_description(w->bus, cfg->bdf)) < 0 ||
            (r = sd_bus_match_signal(w->bus, &w->progress_slot, NULL, MB_WORKER_PATH, MB_WORKER_INTERFACE,
                                     "Progress", on_progress, w)) < 0 ||
            (r = sd_bus_start(w->bus)) < 0 ||
            (r = sd_bus_attach_event(w->bus, event, SD_EVENT_PRIORITY_NORMAL)) < 0)
                return r;

        *ret = MB_TAKE_PTR(w);
        return 0;
}

void mb_worker_set_exit_handler(MbWorker *w, MbWorkerExitFn fn, void *userdata) {
        w->exit_fn = fn;
        w->exit_ud = userdata;
}

void mb_worker_set_progress_handler(MbWorker *w, MbWorkerProgressFn fn, void *userdata) {
        w->progress_fn = fn;
        w->progress_ud = userdata;
}

pid_t mb_worker_pid(const MbWorker *w) {
        return w->pid;
}

bool mb_worker_alive(const MbWorker *w) {
        return w->alive;
}

bool mb_worker_usable(const MbWorker *w) {
        return w->alive && !w->killed && w->bus;
}

bool mb_worker_busy(const MbWorker *w) {
        return w->call.active;
}

const char *mb_worker_bdf(const MbWorker *w) {
        return w->bdf;
}

const char *mb_worker_death(const MbWorker *w) {
        return w->alive ? NULL : w->death;
}

int mb_worker_new_call(MbWorker *w, sd_bus_message **ret, const char *member) {
        if (!w->alive || !w->bus)
                return -ESRCH;
        return sd_bus_message_new_method_call(w->bus, ret, NULL, MB_WORKER_PATH, MB_WORKER_INTERFACE, member);
}

int mb_worker_call(MbWorker *w, sd_bus_message *m, uint64_t timeout_usec, bool stall, MbWorkerReplyFn cb,
                   void *userdata) {
        int r;

        if (!w->alive || !w->bus)
                return -ESRCH;
        if (w->call.active)
                return -EBUSY;

        w->call = (WorkerCall) {
                .active = true,
                .timeout_usec = timeout_usec,
                .deadline = UINT64_MAX,
                .stall = stall,
                .cb = cb,
                .userdata = userdata,
        };
        snprintf(w->call.member, sizeof(w->call.member), "%s", sd_bus_message_get_member(m) ?: "?");

        /* sd-bus's own timeout is off: ours restarts on progress. */
        r = sd_bus_call_async(w->bus, &w->call.slot, m, on_reply, w, UINT64_MAX);
        if (r < 0) {
                call_clear(&w->call);
                return r;
        }
        if (timeout_usec > 0 && timeout_usec != UINT64_MAX) {
                r = arm_timer(w, timeout_usec);
                if (r < 0) {
                        call_clear(&w->call);
                        return r;
                }
        }
        return 0;
}

typedef struct SyncResult {
        bool done;
        int r;
        sd_bus_error error;
        sd_bus_message *reply;
} SyncResult;

static void sync_done(MbWorker *w, int r, const sd_bus_error *error, sd_bus_message *reply, void *userdata) {
        SyncResult *s = userdata;

        s->done = true;
        s->r = r;
        if (error)
                (void) sd_bus_error_copy(&s->error, error);
        if (reply)
                s->reply = sd_bus_message_ref(reply);
}

int mb_worker_call_sync(MbWorker *w, sd_bus_message *m, uint64_t timeout_usec, bool stall, sd_bus_error *error,
                        sd_bus_message **reply) {
        SyncResult s = { .error = SD_BUS_ERROR_NULL };
        int r;

        r = mb_worker_call(w, m, timeout_usec, stall, sync_done, &s);
        if (r < 0)
                return r;
        worker_ref(w);
        while (!s.done) {
                r = sd_event_run(w->event, UINT64_MAX);
                if (r < 0) {
                        mb_worker_kill(w, "event loop failed");
                        call_clear(&w->call);
                        break;
                }
        }
        mb_worker_unref(w);
        if (!s.done) {
                sd_bus_error_free(&s.error);
                return r;
        }
        if (error)
                sd_bus_error_move(error, &s.error);
        else
                sd_bus_error_free(&s.error);
        if (reply)
                *reply = s.reply;
        else
                sd_bus_message_unref(s.reply);
        return s.r;
}

int mb_worker_stop(MbWorker *w, uint64_t timeout_usec) {
        int r;

        if (!w->alive)
                return 0;
        w->stopping = true;
        call_clear(&w->call);
        drop_bus(w);
        w->child_source = sd_event_source_disable_unref(w->child_source);
        /* Closing the connection told it to stop: no signal. */
        r = mb_spawn_stop(w->pid, 0, timeout_usec);
        w->alive = false;
        if (r > 0) {
                log_dev_warning(w->bdf, "worker did not exit within %llu ms: killed it",
                                (unsigned long long) (timeout_usec / 1000));
                snprintf(w->death, sizeof(w->death), "killed after a stop timeout");
        } else {
                snprintf(w->death, sizeof(w->death), "stopped");
        }
        return 0;
}
