/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-bus.h: what the D-Bus verbs of migbrokerctl share: the common options
 * (--bus, --json, --timeout), connecting, finding a device object, and the
 * one way errors are reported (text on stderr, or JSON on stdout).
 */
#pragma once

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ctl.h"

#define CTL_BUS_NAME "org.migbroker1"
#define CTL_MANAGER_PATH "/org/migbroker1"
#define CTL_MANAGER_IFACE "org.migbroker1.Manager"
#define CTL_DEVICE_IFACE "org.migbroker1.Device"

typedef struct CtlOptions {
        const char *bus;          /* NULL: the system bus */
        bool json;
        uint64_t timeout_usec;    /* for control calls; data calls wait as long as the broker works */
} CtlOptions;

/* getopt_long ids of the common options, and their table rows. */
enum {
        CTL_ARG_BUS = 0x1000,
        CTL_ARG_JSON,
        CTL_ARG_TIMEOUT,
        CTL_ARG_HELP,
};
#define CTL_COMMON_OPTIONS                                                  \
        { "bus", required_argument, NULL, CTL_ARG_BUS },                    \
        { "json", no_argument, NULL, CTL_ARG_JSON },                        \
        { "timeout", required_argument, NULL, CTL_ARG_TIMEOUT },            \
        { "help", no_argument, NULL, CTL_ARG_HELP }
#define CTL_COMMON_HELP                                                     \
        "  --bus ADDRESS   talk to the broker on this bus (default: the system bus)\n" \
        "  --json          print JSON (errors too)\n"                      \
        "  --timeout SEC   bound on each control call (default 30)\n"

void ctl_options_init(CtlOptions *o);
/* Handles a common option: 1 when it was one, 0 when not, -1 on a bad value. */
int ctl_options_handle(CtlOptions *o, int c, const char *arg);

int ctl_bus_open(const CtlOptions *o, sd_bus **ret, sd_bus_error *error);

/* The object path of a device (GetDevice). */
int ctl_device_path(sd_bus *bus, const CtlOptions *o, const char *bdf, char **ret, sd_bus_error *error);

/* Reports a failure of what (e.g. "claim 0000:3b:00.1") and returns CTL_EXIT_FAILED.
 * error may be NULL (then r's text is used). */
int ctl_fail(const CtlOptions *o, const char *what, int r, const sd_bus_error *error);
/* The same for a failure that is not a D-Bus error: name is the stable short
 * name ("NoSuchDomain"), the message is formatted. */
int ctl_fail_named(const CtlOptions *o, const char *what, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* A usage error: message on stderr, returns CTL_EXIT_USAGE. */
int ctl_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A decimal (or 0x hex) unsigned number, whole string: 0 or -EINVAL. */
int ctl_parse_uint(const char *s, uint64_t *ret);

/* Prints a JSON node (pretty) followed by a newline on stdout. */
void ctl_json_print(JsonNode *node);

/* Calls a device method with a bound; r < 0 on error (error set). */
int ctl_call_device(sd_bus *bus, const CtlOptions *o, const char *path, const char *member, uint64_t timeout_usec,
                    sd_bus_error *error, sd_bus_message **reply, const char *types, ...);
