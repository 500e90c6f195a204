/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hook-actions.h"
#include "log.h"
#include "macro.h"

static const char *const method_names[_HOOK_METHOD_MAX] = {
        [HOOK_METHOD_PREFLIGHT] = "Preflight",
        [HOOK_METHOD_CLAIM] = "Claim",
        [HOOK_METHOD_OPEN] = "Open",
        [HOOK_METHOD_CLOSE] = "Close",
        [HOOK_METHOD_RELEASE] = "Release",
};

const char *hook_method_name(HookMethod m) {
        return m >= 0 && m < _HOOK_METHOD_MAX ? method_names[m] : "?";
}

/* Interface contract §8. Every other op/subop is none of our business. */
static const HookAction actions[] = {
        /* destination, before anything else: can this host take the devices? */
        { "migrate", "begin", "preflight", { HOOK_METHOD_PREFLIGHT }, 1, HOOK_FAIL_ROLLBACK_EXIT },
        /* virsh restore loads saved state, like an incoming migration */
        { "restore", "begin", "preflight", { HOOK_METHOD_PREFLIGHT }, 1, HOOK_FAIL_ROLLBACK_EXIT },
        { "prepare", "begin", "claim", { HOOK_METHOD_CLAIM }, 1, HOOK_FAIL_ROLLBACK_EXIT },
        { "start", "begin", "open", { HOOK_METHOD_OPEN }, 1, HOOK_FAIL_EXIT },
        /* both run after a domain stops; the second finds nothing left to do */
        { "stopped", "end", "release", { HOOK_METHOD_CLOSE, HOOK_METHOD_RELEASE }, 2, HOOK_FAIL_LOG },
        { "release", "end", "release", { HOOK_METHOD_CLOSE, HOOK_METHOD_RELEASE }, 2, HOOK_FAIL_LOG },
        /* libvirtd restarted: a failing hook here makes libvirt kill the VM */
        { "reconnect", "begin", "reclaim", { HOOK_METHOD_CLAIM }, 1, HOOK_FAIL_LOG },
};

const HookAction *hook_action_lookup(const char *op, const char *subop) {
        if (!op || !subop)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(actions); i++)
                if (strcmp(actions[i].op, op) == 0 && strcmp(actions[i].subop, subop) == 0)
                        return &actions[i];
        return NULL;
}

int hook_action_failure_exit(const HookAction *a) {
        return a->on_failure == HOOK_FAIL_LOG ? 0 : 1;
}

bool hook_error_unreachable(int r, const sd_bus_error *e) {
        static const char *const names[] = {
                SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_NO_REPLY,
                SD_BUS_ERROR_TIMEOUT,         SD_BUS_ERROR_DISCONNECTED,      SD_BUS_ERROR_NO_SERVER,
                SD_BUS_ERROR_FILE_NOT_FOUND,  SD_BUS_ERROR_NO_NETWORK,
        };

        if (e && sd_bus_error_is_set(e)) {
                if (mb_error_from_name(e->name))
                        return false; /* the broker answered */
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        if (sd_bus_error_has_name(e, names[i]))
                                return true;
                return false;
        }
        r = r < 0 ? -r : r;
        return r == ETIMEDOUT || r == ECONNREFUSED || r == ECONNRESET || r == ENOTCONN || r == ENOENT ||
               r == EPIPE;
}

/* The short name for a failure: ours ("Busy"), the last part of a foreign
 * D-Bus name ("NoReply"), or the errno's. */
static const char *error_name(int r, const sd_bus_error *e) {
        const MbErrorInfo *info = e ? mb_error_from_name(e->name) : NULL;

        if (info)
                return info->short_name;
        if (e && e->name) {
                const char *dot = strrchr(e->name, '.');
                return dot ? dot + 1 : e->name;
        }
        return mb_error_short_name(r);
}

/* The broker's messages start with the BDF ("0000:3b:00.1 is claimed by X",
 * "0000:3b:00.1: plugin ..."); our line already does: "claimed by X". */
static const char *strip_bdf(const char *msg, const char *bdf) {
        size_t n = strlen(bdf);

        if (g_ascii_strncasecmp(msg, bdf, n) != 0)
                return msg;
        msg += n;
        if (msg[0] == ':' && msg[1] == ' ')
                return msg + 2;
        if (msg[0] == ' ') {
                msg++;
                return g_str_has_prefix(msg, "is ") ? msg + 3 : msg;
        }
        return msg - n;
}

/* "Busy: claimed by X", for a line that names the device already */
static char *describe_error(const char *bdf, int r, const sd_bus_error *e, const char *suffix) {
        const char *msg = e && e->message ? e->message : strerror(r < 0 ? -r : r);

        return g_strdup_printf("%s: %s%s", error_name(r, e), strip_bdf(msg, bdf), suffix ?: "");
}

/* "0000:3b:00.1: Busy: claimed by X", the line for standard error */
static char *describe(const char *bdf, int r, const sd_bus_error *e, const char *suffix) {
        g_autofree char *what = describe_error(bdf, r, e, suffix);

        return g_strdup_printf("%s: %s", bdf, what);
}

static bool has_error(const sd_bus_error *e, int errnum) {
        const MbErrorInfo *info = mb_error_from_errno(errnum);
        return e && info && sd_bus_error_has_name(e, info->bus_name);
}

typedef struct Claimed {
        const HookDevice *dev;
        char *path;
} Claimed;

static void claimed_free(Claimed *c) {
        if (!c)
                return;
        g_free(c->path);
        g_free(c);
}

/* prepare (or a preflight) failed: give back what this run claimed or marked
 * incoming, newest first (Release of a device only marked drops the mark). */
static void rollback(GPtrArray *claimed, const HookDomain *d, const HookBrokerOps *ops, void *userdata) {
        for (guint i = claimed->len; i > 0; i--) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                Claimed *c = claimed->pdata[i - 1];
                int r;

                r = ops->call(userdata, c->dev->bdf, c->path, HOOK_METHOD_RELEASE, d->uuid, NULL, &e);
                if (r < 0) {
                        g_autofree char *what = describe_error(c->dev->bdf, r, &e, NULL);
                        log_dev_warning(c->dev->bdf, "could not release it again after the failure: %s", what);
                        if (hook_error_unreachable(r, &e)) {
                                log_warning("migbrokerd is unreachable: %u device(s) stay claimed by %s",
                                            i - 1, d->uuid);
                                return;
                        }
                        continue;
                }
                log_dev_info(c->dev->bdf, "released again for %s: another device failed", d->uuid);
        }
}

/* Not ours to handle: a hostdev the broker does not manage. */
static bool skip_unmanaged(const HookDevice *dev, const sd_bus_error *e) {
        return !dev->metadata && (has_error(e, MB_ENOTMANAGED) || has_error(e, MB_ENOSUCHDEVICE));
}

/* Close/Release of a device that is no longer ours: already released. */
static bool already_released(const HookAction *a, HookMethod m, const sd_bus_error *e) {
        return a->on_failure == HOOK_FAIL_LOG && (m == HOOK_METHOD_CLOSE || m == HOOK_METHOD_RELEASE) &&
               has_error(e, MB_ENOTCLAIMED);
}

typedef enum Outcome {
        OUTCOME_DONE,
        OUTCOME_SKIPPED, /* a hostdev the broker does not manage */
        OUTCOME_FAILED,  /* logged; the row goes on (HOOK_FAIL_LOG) */
        OUTCOME_FATAL,   /* *failure set; the row stops */
} Outcome;

/* One device: GetDevice, then the row's methods in order. *unreachable
 * tells the caller not to try the other devices. */
static Outcome run_device(const HookAction *a, const HookDomain *d, const HookDevice *dev, const char *guest,
                          const HookBrokerOps *ops, void *userdata, GPtrArray *claimed, char **failure,
                          bool *unreachable) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_autofree char *path = NULL;
        Outcome outcome = OUTCOME_DONE;
        int r;

        r = ops->get_device(userdata, dev->bdf, &path, &e);
        if (r < 0 && skip_unmanaged(dev, &e)) {
                log_dev_debug(dev->bdf, "hostdev not managed by migbroker (%s: %s): skipped", error_name(r, &e),
                              e.message ?: "");
                return OUTCOME_SKIPPED;
        }
        if (r < 0) {
                const char *suffix = dev->metadata ? " (declared in the domain's metadata)" : NULL;
                g_autofree char *what = NULL;

                *unreachable = hook_error_unreachable(r, &e);
                if (a->on_failure != HOOK_FAIL_LOG) {
                        *failure = describe(dev->bdf, r, &e, suffix);
                        return OUTCOME_FATAL;
                }
                what = describe_error(dev->bdf, r, &e, suffix);
                log_dev_warning(dev->bdf, "cannot %s it for %s (%s): %s", a->what, guest, d->uuid, what);
                return OUTCOME_FAILED;
        }

        for (unsigned k = 0; k < a->n_methods; k++) {
                HookMethod m = a->methods[k];
                g_autofree char *what = NULL;

                sd_bus_error_free(&e);
                r = ops->call(userdata, dev->bdf, path, m, d->uuid, m == HOOK_METHOD_OPEN ? dev->vmstate_id : NULL, &e);
                if (r >= 0) {
                        log_dev_info(dev->bdf, "%s for %s (%s): done", hook_method_name(m), guest, d->uuid);
                        if ((m == HOOK_METHOD_CLAIM || m == HOOK_METHOD_PREFLIGHT) &&
                            a->on_failure == HOOK_FAIL_ROLLBACK_EXIT) {
                                Claimed *c = g_new0(Claimed, 1);
                                c->dev = dev;
                                c->path = g_strdup(path);
                                g_ptr_array_add(claimed, c);
                        }
                        continue;
                }
                if (already_released(a, m, &e)) {
                        log_dev_debug(dev->bdf, "%s for %s: not claimed by it (already released)",
                                      hook_method_name(m), d->uuid);
                        continue;
                }
                *unreachable = hook_error_unreachable(r, &e);
                if (a->on_failure != HOOK_FAIL_LOG) {
                        *failure = describe(dev->bdf, r, &e, NULL);
                        return OUTCOME_FATAL;
                }
                what = describe_error(dev->bdf, r, &e, NULL);
                log_dev_warning(dev->bdf, "%s for %s (%s) failed: %s", hook_method_name(m), guest, d->uuid, what);
                outcome = OUTCOME_FAILED;
                if (*unreachable)
                        break; /* Release after a Close that got no reply would wait as long */
        }
        return outcome;
}

int hook_action_run(const HookAction *a, const HookDomain *d, const char *guest, const HookBrokerOps *ops,
                    void *userdata, char **ret_message) {
        g_autoptr(GPtrArray) claimed = g_ptr_array_new_with_free_func((GDestroyNotify) claimed_free);
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_autofree char *failure = NULL;
        unsigned counts[OUTCOME_FATAL + 1] = {};
        bool unreachable = false;
        int r;

        g_assert(ret_message);
        *ret_message = NULL;
        if (d->devices->len == 0)
                return 0;
        g_assert(d->uuid);

        r = ops->connect(userdata, &e);
        if (r < 0) {
                const char *msg = e.message ?: strerror(-r);

                if (a->on_failure == HOOK_FAIL_LOG) {
                        log_warning("%s of %s (%s): %s: %u device(s) not handled", a->what, guest, d->uuid, msg,
                                    d->devices->len);
                        return 0;
                }
                *ret_message = g_strdup(msg);
                return 1;
        }

        for (guint i = 0; i < d->devices->len; i++) {
                Outcome o = run_device(a, d, d->devices->pdata[i], guest, ops, userdata, claimed, &failure,
                                       &unreachable);

                counts[o]++;
                if (o == OUTCOME_FATAL)
                        break;
                if (unreachable) {
                        log_warning("migbrokerd is unreachable: the other %u device(s) were not tried",
                                    d->devices->len - i - 1);
                        break;
                }
        }

        if (failure) {
                if (a->on_failure == HOOK_FAIL_ROLLBACK_EXIT && claimed->len > 0) {
                        if (unreachable)
                                log_warning("migbrokerd is unreachable: %u device(s) stay claimed by %s",
                                            claimed->len, d->uuid);
                        else
                                rollback(claimed, d, ops, userdata);
                }
                *ret_message = g_steal_pointer(&failure);
                return 1;
        }
        log_debug("%s of %s (%s): %u device(s) done, %u not managed, %u failed", a->what, guest, d->uuid,
                  counts[OUTCOME_DONE], counts[OUTCOME_SKIPPED], counts[OUTCOME_FAILED]);
        return 0;
}
