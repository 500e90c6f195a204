/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-bus.h"
#include "ctl-device.h"
#include "macro.h"

/* ---- list ----------------------------------------------------------------- */

int ctl_list_main(int argc, char *argv[]) {
        static const struct option options[] = { CTL_COMMON_OPTIONS, {} };
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        g_autoptr(JsonBuilder) jb = NULL;
        CtlOptions o;
        int c, r, n = 0;

        ctl_options_init(&o);
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                if (c == CTL_ARG_HELP) {
                        printf("Usage: migbrokerctl list [OPTIONS]\n\nList the devices the broker manages.\n\n" CTL_COMMON_HELP);
                        return CTL_EXIT_OK;
                }
                r = ctl_options_handle(&o, c, optarg);
                if (r <= 0)
                        return ctl_usage("list", "unknown option");
        }
        if (optind < argc)
                return ctl_usage("list", "unexpected argument '%s'", argv[optind]);

        r = ctl_bus_open(&o, &bus, &e);
        if (r < 0)
                return ctl_fail(&o, "list", r, &e);
        r = sd_bus_call_method(bus, CTL_BUS_NAME, CTL_MANAGER_PATH, CTL_MANAGER_IFACE, "ListDevices", &e, &reply, "");
        if (r < 0)
                return ctl_fail(&o, "list", r, &e);
        r = sd_bus_message_enter_container(reply, 'a', "(ssssso)");
        if (r < 0)
                return ctl_fail(&o, "list", r, NULL);

        if (o.json) {
                jb = json_builder_new();
                json_builder_begin_array(jb);
        } else {
                printf("%-13s %-16s %-10s %-37s %s\n", "BDF", "PLUGIN", "STATE", "OWNER", "RULE");
        }
        for (;;) {
                const char *bdf, *plugin, *state, *owner, *rule, *path;

                r = sd_bus_message_read(reply, "(ssssso)", &bdf, &plugin, &state, &owner, &rule, &path);
                if (r < 0)
                        return ctl_fail(&o, "list", r, NULL);
                if (r == 0)
                        break;
                n++;
                if (o.json) {
                        json_builder_begin_object(jb);
                        json_builder_set_member_name(jb, "bdf");
                        json_builder_add_string_value(jb, bdf);
                        json_builder_set_member_name(jb, "plugin");
                        json_builder_add_string_value(jb, plugin);
                        json_builder_set_member_name(jb, "state");
                        json_builder_add_string_value(jb, state);
                        json_builder_set_member_name(jb, "owner");
                        json_builder_add_string_value(jb, owner);
                        json_builder_set_member_name(jb, "rule");
                        json_builder_add_string_value(jb, rule);
                        json_builder_set_member_name(jb, "path");
                        json_builder_add_string_value(jb, path);
                        json_builder_end_object(jb);
                } else {
                        printf("%-13s %-16s %-10s %-37s %s\n", bdf, plugin, state, *owner ? owner : "-", rule);
                }
        }
        if (o.json) {
                g_autoptr(JsonNode) root = NULL;
                json_builder_end_array(jb);
                root = json_builder_get_root(jb);
                ctl_json_print(root);
        } else if (n == 0) {
                printf("(no managed devices)\n");
        }
        return CTL_EXIT_OK;
}

/* ---- show ----------------------------------------------------------------- */

int ctl_show_main(int argc, char *argv[]) {
        static const struct option options[] = { CTL_COMMON_OPTIONS, {} };
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        g_autoptr(JsonBuilder) jb = NULL;
        g_autofree char *what = NULL;
        CtlOptions o;
        int c, r;

        ctl_options_init(&o);
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                if (c == CTL_ARG_HELP) {
                        printf("Usage: migbrokerctl show BDF [OPTIONS]\n\nShow a device's properties.\n\n" CTL_COMMON_HELP);
                        return CTL_EXIT_OK;
                }
                r = ctl_options_handle(&o, c, optarg);
                if (r <= 0)
                        return ctl_usage("show", "unknown option");
        }
        if (optind + 1 != argc)
                return ctl_usage("show", "expected one BDF");
        what = g_strdup_printf("show %s", argv[optind]);

        r = ctl_bus_open(&o, &bus, &e);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        r = ctl_device_path(bus, &o, argv[optind], &path, &e);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        r = sd_bus_call_method(bus, CTL_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", &e, &reply, "s",
                               CTL_DEVICE_IFACE);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);

        if (o.json) {
                jb = json_builder_new();
                json_builder_begin_object(jb);
        }
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return ctl_fail(&o, what, r, NULL);
        for (;;) {
                const char *name, *contents;

                r = sd_bus_message_enter_container(reply, 'e', "sv");
                if (r < 0)
                        return ctl_fail(&o, what, r, NULL);
                if (r == 0)
                        break;
                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return ctl_fail(&o, what, r, NULL);
                r = sd_bus_message_peek_type(reply, NULL, &contents);
                if (r < 0)
                        return ctl_fail(&o, what, r, NULL);
                if (o.json)
                        json_builder_set_member_name(jb, name);
                if (strcmp(contents, "s") == 0) {
                        const char *v;
                        r = sd_bus_message_read(reply, "v", "s", &v);
                        if (r >= 0) {
                                if (o.json)
                                        json_builder_add_string_value(jb, v);
                                else
                                        printf("%14s: %s\n", name, *v ? v : "-");
                        }
                } else if (strcmp(contents, "t") == 0) {
                        uint64_t v;
                        r = sd_bus_message_read(reply, "v", "t", &v);
                        if (r >= 0) {
                                if (o.json)
                                        json_builder_add_int_value(jb, (gint64) v);
                                else
                                        printf("%14s: %" PRIu64 "\n", name, v);
                        }
                } else if (strcmp(contents, "b") == 0) {
                        int v;
                        r = sd_bus_message_read(reply, "v", "b", &v);
                        if (r >= 0) {
                                if (o.json)
                                        json_builder_add_boolean_value(jb, v);
                                else
                                        printf("%14s: %s\n", name, v ? "yes" : "no");
                        }
                } else if (strcmp(contents, "as") == 0) {
                        g_auto(GStrv) l = NULL;
                        r = sd_bus_message_enter_container(reply, 'v', "as");
                        if (r >= 0)
                                r = sd_bus_message_read_strv(reply, &l);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r >= 0) {
                                if (o.json) {
                                        json_builder_begin_array(jb);
                                        for (char **s = l; s && *s; s++)
                                                json_builder_add_string_value(jb, *s);
                                        json_builder_end_array(jb);
                                } else {
                                        g_autofree char *j = l && l[0] ? g_strjoinv(", ", l) : g_strdup("-");
                                        printf("%14s: %s\n", name, j);
                                }
                        }
                } else {
                        r = sd_bus_message_skip(reply, "v");
                        if (o.json && r >= 0)
                                json_builder_add_null_value(jb);
                }
                if (r < 0)
                        return ctl_fail(&o, what, r, NULL);
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return ctl_fail(&o, what, r, NULL);
        }
        if (o.json) {
                g_autoptr(JsonNode) root = NULL;
                json_builder_end_object(jb);
                root = json_builder_get_root(jb);
                ctl_json_print(root);
        }
        return CTL_EXIT_OK;
}

/* ---- simple calls ------------------------------------------------------------ */

typedef enum CallArgs {
        ARGS_NONE,
        ARGS_OWNER,
        ARGS_OWNER_OPTIONS,
        ARGS_STATE,
} CallArgs;

static int simple_call(int argc, char *argv[], const char *verb, const char *member, CallArgs args,
                       const char *description) {
        static const struct option options[] = {
                CTL_COMMON_OPTIONS,
                { "owner", required_argument, NULL, 'o' },
                { "vmstate-id", required_argument, NULL, 'v' },
                {}
        };
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        g_autofree char *what = NULL;
        const char *owner = NULL, *state = NULL, *vmstate_id = NULL;
        int expect = args == ARGS_STATE ? 2 : 1;
        CtlOptions o;
        int c, r;

        ctl_options_init(&o);
        while ((c = getopt_long(argc, argv, "o:", options, NULL)) >= 0) {
                if (c == CTL_ARG_HELP) {
                        printf("Usage: migbrokerctl %s BDF%s%s [OPTIONS]\n\n%s\n\n", verb,
                               args == ARGS_STATE ? " STATE" : "",
                               args == ARGS_OWNER || args == ARGS_OWNER_OPTIONS ? " --owner UUID" : "", description);
                        if (args == ARGS_OWNER || args == ARGS_OWNER_OPTIONS)
                                printf("  --owner UUID    the domain the device is %s\n",
                                       strcmp(verb, "claim") == 0       ? "claimed for"
                                       : strcmp(verb, "preflight") == 0 ? "migrating in with"
                                                                        : "held by");
                        if (args == ARGS_OWNER_OPTIONS)
                                printf("  --vmstate-id ID serve the device to the domain's QEMU as dbus-vmstate helper ID\n");
                        printf(CTL_COMMON_HELP);
                        return CTL_EXIT_OK;
                }
                if (c == 'o') {
                        owner = optarg;
                        continue;
                }
                if (c == 'v' && args == ARGS_OWNER_OPTIONS) {
                        vmstate_id = optarg;
                        continue;
                }
                r = ctl_options_handle(&o, c, optarg);
                if (r <= 0)
                        return ctl_usage(verb, "unknown option");
        }
        if (argc - optind != expect)
                return ctl_usage(verb, args == ARGS_STATE ? "expected BDF and STATE" : "expected one BDF");
        if ((args == ARGS_OWNER || args == ARGS_OWNER_OPTIONS) && !owner)
                return ctl_usage(verb, "--owner UUID is required");
        if (args == ARGS_STATE)
                state = argv[optind + 1];
        what = g_strdup_printf("%s %s", verb, argv[optind]);

        r = ctl_bus_open(&o, &bus, &e);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        r = ctl_device_path(bus, &o, argv[optind], &path, &e);
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        switch (args) {
        case ARGS_NONE:
                r = ctl_call_device(bus, &o, path, member, o.timeout_usec, &e, NULL, NULL);
                break;
        case ARGS_OWNER:
                r = ctl_call_device(bus, &o, path, member, o.timeout_usec, &e, NULL, "s", owner);
                break;
        case ARGS_OWNER_OPTIONS:
                if (vmstate_id)
                        r = ctl_call_device(bus, &o, path, member, o.timeout_usec, &e, NULL, "sa{sv}", owner, 1,
                                            "vmstate-id", "s", vmstate_id);
                else
                        r = ctl_call_device(bus, &o, path, member, o.timeout_usec, &e, NULL, "sa{sv}", owner, 0);
                break;
        case ARGS_STATE:
                r = ctl_call_device(bus, &o, path, member, o.timeout_usec, &e, NULL, "s", state);
                break;
        }
        if (r < 0)
                return ctl_fail(&o, what, r, &e);
        if (o.json) {
                g_autoptr(JsonBuilder) jb = json_builder_new();
                g_autoptr(JsonNode) root = NULL;
                json_builder_begin_object(jb);
                json_builder_set_member_name(jb, "ok");
                json_builder_add_boolean_value(jb, TRUE);
                json_builder_end_object(jb);
                root = json_builder_get_root(jb);
                ctl_json_print(root);
        }
        return CTL_EXIT_OK;
}

int ctl_claim_main(int argc, char *argv[]) {
        return simple_call(argc, argv, "claim", "Claim", ARGS_OWNER,
                           "Reserve a device for one domain (another owner gets Busy; the same owner is a no-op).");
}

int ctl_release_main(int argc, char *argv[]) {
        return simple_call(argc, argv, "release", "Release", ARGS_OWNER,
                           "Give a claimed device back (closing its session first if it is open).");
}

int ctl_open_main(int argc, char *argv[]) {
        return simple_call(argc, argv, "open", "Open", ARGS_OWNER_OPTIONS,
                           "Start the device's worker and initialise its plugin. A device preflighted for the same\n"
                           "owner starts in stop (awaiting incoming state), others in running.");
}

int ctl_close_main(int argc, char *argv[]) {
        return simple_call(argc, argv, "close", "Close", ARGS_OWNER,
                           "Clean up the plugin and stop the device's worker.");
}

int ctl_set_state_main(int argc, char *argv[]) {
        return simple_call(argc, argv, "set-state", "SetState", ARGS_STATE,
                           "Move an open device to STATE: running, stop, pre-copy, stop-copy or resuming.");
}

int ctl_reset_main(int argc, char *argv[]) {
        return simple_call(argc, argv, "reset", "Reset", ARGS_NONE,
                           "Respawn the device's worker and re-initialise its plugin (leaves the error state; ends running).");
}

int ctl_preflight_main(int argc, char *argv[]) {
        return simple_call(argc, argv, "preflight", "Preflight", ARGS_OWNER,
                           "Check a device can receive an incoming migration for a domain (managed, plugin loadable,\n"
                           "not claimed by another) and mark it incoming: its next open starts in stop.");
}
