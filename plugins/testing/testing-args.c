/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simdev-parse.h"
#include "simdev-stream.h"
#include "testing-args.h"

static const char *const op_names[_TESTING_OP_MAX] = {
        [TESTING_OP_INIT] = "init",
        [TESTING_OP_SAVE] = "save",
        [TESTING_OP_LOAD] = "load",
        [TESTING_OP_UPDATE_PENDING] = "update_pending",
        [TESTING_OP_SET_STATE] = "set_state",
        [TESTING_OP_GET_STATE] = "get_state",
        [TESTING_OP_CLEANUP] = "cleanup",
};

static const char *const fault_names[] = {
        [TESTING_FAULT_NONE] = "none",   [TESTING_FAULT_SEGV] = "segv", [TESTING_FAULT_ABORT] = "abort",
        [TESTING_FAULT_EXIT] = "exit",   [TESTING_FAULT_HANG] = "hang", [TESTING_FAULT_FAIL] = "fail",
        [TESTING_FAULT_GARBAGE] = "garbage", [TESTING_FAULT_SLOW] = "slow", [TESTING_FAULT_LEAK] = "leak",
};

static const struct {
        const char *name;
        int value;
} errno_names[] = {
        { "EIO", EIO },         { "EINVAL", EINVAL },       { "ENOMEM", ENOMEM },   { "ENODEV", ENODEV },
        { "EBUSY", EBUSY },     { "ETIMEDOUT", ETIMEDOUT }, { "EAGAIN", EAGAIN },   { "EPERM", EPERM },
        { "EACCES", EACCES },   { "ENOSPC", ENOSPC },       { "EPROTO", EPROTO },   { "EBADMSG", EBADMSG },
        { "ECONNRESET", ECONNRESET }, { "ENOSYS", ENOSYS }, { "EOPNOTSUPP", EOPNOTSUPP },
};

const char *testing_op_to_string(TestingOp op) {
        return op >= 0 && op < _TESTING_OP_MAX ? op_names[op] : NULL;
}

const char *testing_fault_kind_to_string(TestingFaultKind k) {
        return k >= 0 && (size_t) k < sizeof(fault_names) / sizeof(fault_names[0]) ? fault_names[k] : NULL;
}

static int failf(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t err_size, const char *fmt, ...) {
        va_list ap;

        if (err && err_size > 0) {
                va_start(ap, fmt);
                (void) vsnprintf(err, err_size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static int parse_errno(const char *s, uint64_t *ret) {
        uint64_t v;

        for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
                if (strcmp(s, errno_names[i].name) == 0) {
                        *ret = (uint64_t) errno_names[i].value;
                        return 0;
                }
        if (simdev_parse_u64(s, &v) < 0 || v == 0 || v > 4095)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* value: KIND[:PARAM][+after:N] */
static int parse_fault(TestingOp op, char *value, TestingFault *f, char *err, size_t err_size) {
        char *plus = strchr(value, '+'), *colon, *param = NULL;
        TestingFaultKind kind = TESTING_FAULT_NONE;
        bool found = false;

        *f = (TestingFault) { .after = 1 };
        if (plus) {
                *plus = '\0';
                if (strncmp(plus + 1, "after:", 6) != 0 || simdev_parse_u64(plus + 7, &f->after) < 0 ||
                    f->after == 0)
                        return failf(err, err_size, "%s: bad modifier '+%s' (expected +after:N, N >= 1)",
                                     op_names[op], plus + 1);
        }
        colon = strchr(value, ':');
        if (colon) {
                *colon = '\0';
                param = colon + 1;
        }
        for (size_t k = 0; k < sizeof(fault_names) / sizeof(fault_names[0]); k++)
                if (strcmp(value, fault_names[k]) == 0) {
                        kind = (TestingFaultKind) k;
                        found = true;
                }
        if (!found)
                return failf(err, err_size, "%s: unknown fault '%s'", op_names[op], value);
        f->kind = kind;

        switch (kind) {
        case TESTING_FAULT_EXIT:
                f->param = 1;
                if (param && (simdev_parse_u64(param, &f->param) < 0 || f->param > 255))
                        return failf(err, err_size, "%s: exit code '%s' not in 0..255", op_names[op], param);
                return 0;
        case TESTING_FAULT_FAIL:
                f->param = EIO;
                if (param && parse_errno(param, &f->param) < 0)
                        return failf(err, err_size, "%s: '%s' is not an errno (number or name like EIO)",
                                     op_names[op], param);
                return 0;
        case TESTING_FAULT_SLOW:
                if (!param || simdev_parse_u64(param, &f->param) < 0 || f->param > 3600u * 1000u)
                        return failf(err, err_size, "%s: slow needs :MS (0..3600000)", op_names[op]);
                return 0;
        case TESTING_FAULT_LEAK:
                if (!param || simdev_parse_size(param, &f->param) < 0 || f->param == 0 ||
                    f->param > (1ull << 30))
                        return failf(err, err_size, "%s: leak needs :BYTES (1..1G)", op_names[op]);
                return 0;
        case TESTING_FAULT_GARBAGE:
                if (op != TESTING_OP_UPDATE_PENDING && op != TESTING_OP_GET_STATE && op != TESTING_OP_SAVE)
                        return failf(err, err_size, "%s: garbage applies to update_pending, get_state and save only",
                                     op_names[op]);
                break;
        default:
                break;
        }
        if (param)
                return failf(err, err_size, "%s: fault '%s' takes no parameter", op_names[op], value);
        return 0;
}

int testing_args_parse(const char *arg, TestingConfig *ret, char *err, size_t err_size) {
        TestingConfig c = { .state_size = TESTING_DEFAULT_STATE_SIZE };
        char *copy, *save = NULL;
        int r = 0;

        for (size_t i = 0; i < _TESTING_OP_MAX; i++)
                c.faults[i] = (TestingFault) { .after = 1 };
        if (err && err_size > 0)
                err[0] = '\0';
        if (!arg || !*arg) {
                *ret = c;
                return 0;
        }
        if (strlen(arg) > 4096)
                return failf(err, err_size, "argument too long");
        copy = strdup(arg);
        if (!copy)
                return -ENOMEM;

        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '=');
                const char *value = eq ? eq + 1 : NULL;
                bool known = false;

                if (eq)
                        *eq = '\0';
                if (strcmp(item, "empty") == 0 || strcmp(item, "trace") == 0) {
                        int *flag = strcmp(item, "empty") == 0 ? &c.empty : &c.trace;

                        if (!value || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
                                *flag = 1;
                        else if (strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
                                *flag = 0;
                        else {
                                r = failf(err, err_size, "%s: expected yes/no, got '%s'", item, value);
                                break;
                        }
                        continue;
                }
                if (!value || !*value) {
                        r = failf(err, err_size, "'%s' needs a value (KEY=VALUE)", item);
                        break;
                }
                if (strcmp(item, "state-size") == 0) {
                        known = true;
                        if (simdev_parse_size(value, &c.state_size) < 0 || c.state_size == 0 ||
                            c.state_size > SIMDEV_STATE_SIZE_MAX) {
                                r = failf(err, err_size, "state-size: '%s' is not a size (1 to 64G)", value);
                                break;
                        }
                } else if (strcmp(item, "seed") == 0) {
                        known = true;
                        if (simdev_parse_u64(value, &c.seed) < 0) {
                                r = failf(err, err_size, "seed: '%s' is not a number", value);
                                break;
                        }
                } else if (strcmp(item, "dirty") == 0) {
                        known = true;
                        if (simdev_parse_size(value, &c.dirty) < 0) {
                                r = failf(err, err_size, "dirty: '%s' is not a size", value);
                                break;
                        }
                } else
                        for (size_t op = 0; op < _TESTING_OP_MAX; op++)
                                if (strcmp(item, op_names[op]) == 0) {
                                        known = true;
                                        r = parse_fault((TestingOp) op, (char *) value, &c.faults[op], err,
                                                        err_size);
                                        break;
                                }
                if (r < 0)
                        break;
                if (!known) {
                        r = failf(err, err_size, "unknown key '%s'", item);
                        break;
                }
        }
        free(copy);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}
