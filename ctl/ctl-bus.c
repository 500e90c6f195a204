/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-bus.h"
#include "error.h"
#include "macro.h"

void ctl_options_init(CtlOptions *o) {
        *o = (CtlOptions) { .timeout_usec = 30ull * 1000 * 1000 };
}

int ctl_options_handle(CtlOptions *o, int c, const char *arg) {
        char *end;
        double sec;

        switch (c) {
        case CTL_ARG_BUS:
                o->bus = arg;
                return 1;
        case CTL_ARG_JSON:
                o->json = true;
                return 1;
        case CTL_ARG_TIMEOUT:
                errno = 0;
                sec = strtod(arg, &end);
                if (errno || *end || sec <= 0) {
                        fprintf(stderr, "migbrokerctl: --timeout needs a positive number of seconds, not '%s'\n", arg);
                        return -1;
                }
                o->timeout_usec = (uint64_t) (sec * 1e6);
                return 1;
        default:
                return 0;
        }
}

int ctl_bus_open(const CtlOptions *o, sd_bus **ret, sd_bus_error *error) {
        sd_bus *bus = NULL;
        int r;

        (void) mb_error_register();
        if (o->bus) {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, o->bus);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_negotiate_fds(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else {
                r = sd_bus_open_system(&bus);
        }
        if (r < 0) {
                sd_bus_unref(bus);
                return sd_bus_error_set_errnof(error, r, "cannot connect to %s%s: %s",
                                               o->bus ? "the bus " : "the system bus", o->bus ?: "", strerror(-r));
        }
        *ret = bus;
        return 0;
}

int ctl_device_path(sd_bus *bus, const CtlOptions *o, const char *bdf, char **ret, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *m = NULL;
        const char *path;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, CTL_BUS_NAME, CTL_MANAGER_PATH, CTL_MANAGER_IFACE, "GetDevice");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", bdf);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, o->timeout_usec, error, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        *ret = strdup(path);
        return *ret ? 0 : -ENOMEM;
}

static const char *error_short(int r, const sd_bus_error *e) {
        const MbErrorInfo *info = e ? mb_error_from_name(e->name) : NULL;

        if (info)
                return info->short_name;
        if (e && e->name) {
                const char *dot = strrchr(e->name, '.');
                return dot ? dot + 1 : e->name;
        }
        return mb_error_short_name(r);
}

static bool broker_missing(const sd_bus_error *e) {
        return e && (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                     sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER));
}

static int report(const CtlOptions *o, const char *what, const char *name, const char *msg, const char *hint) {
        if (o->json) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                g_autoptr(JsonNode) n = NULL;

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "error");
                json_builder_add_string_value(b, name);
                json_builder_set_member_name(b, "message");
                json_builder_add_string_value(b, msg);
                json_builder_set_member_name(b, "operation");
                json_builder_add_string_value(b, what);
                json_builder_end_object(b);
                n = json_builder_get_root(b);
                ctl_json_print(n);
        } else {
                fprintf(stderr, "migbrokerctl: %s: %s: %s%s\n", what, name, msg, hint);
        }
        return CTL_EXIT_FAILED;
}

int ctl_fail(const CtlOptions *o, const char *what, int r, const sd_bus_error *error) {
        const char *name = error_short(r, error);
        const char *msg = error && error->message ? error->message : strerror(r < 0 ? -r : r);
        char hint[160] = "";

        if (broker_missing(error))
                snprintf(hint, sizeof(hint), " (is migbrokerd running%s%s?)", o->bus ? " on " : "", o->bus ?: "");
        return report(o, what, name, msg, hint);
}

int ctl_fail_named(const CtlOptions *o, const char *what, const char *name, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        return report(o, what, name, msg, "");
}

int ctl_usage(const char *verb, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "migbrokerctl %s: ", verb);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'migbrokerctl %s --help'.\n", verb);
        return CTL_EXIT_USAGE;
}

int ctl_parse_uint(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

void ctl_json_print(JsonNode *node) {
        g_autoptr(JsonGenerator) g = json_generator_new();
        g_autofree char *text = NULL;

        json_generator_set_pretty(g, TRUE);
        json_generator_set_root(g, node);
        text = json_generator_to_data(g, NULL);
        printf("%s\n", text);
        fflush(stdout);
}

int ctl_call_device(sd_bus *bus, const CtlOptions *o, const char *path, const char *member, uint64_t timeout_usec,
                    sd_bus_error *error, sd_bus_message **reply, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, CTL_BUS_NAME, path, CTL_DEVICE_IFACE, member);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        return sd_bus_call(bus, m, timeout_usec, error, reply);
}
