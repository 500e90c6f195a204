/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "ctl-bus.h"
#include "ctl-monitor.h"
#include "macro.h"

typedef struct Monitor {
        const CtlOptions *o;
        unsigned limit;     /* exit after this many events (0: never) */
        unsigned seen;
        sd_event *event;
} Monitor;

static void stamp(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        snprintf(buf, size, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static const char *path_bdf(const char *path, char **tofree) {
        *tofree = NULL;
        if (sd_bus_path_decode(path, "/org/migbroker1/device", tofree) > 0)
                return *tofree;
        return path;
}

/* One event: text for people, value (consumed) for --json. */
static void event_out(Monitor *mon, const char *bdf, const char *key, const char *text, JsonNode *value) {
        g_autoptr(JsonNode) v = value;
        char ts[32];

        stamp(ts, sizeof(ts));
        if (mon->o->json) {
                g_autoptr(JsonBuilder) jb = json_builder_new();
                g_autoptr(JsonGenerator) g = json_generator_new();
                g_autoptr(JsonNode) root = NULL;
                g_autofree char *out = NULL;

                json_builder_begin_object(jb);
                json_builder_set_member_name(jb, "time");
                json_builder_add_string_value(jb, ts);
                json_builder_set_member_name(jb, "bdf");
                json_builder_add_string_value(jb, bdf);
                json_builder_set_member_name(jb, key);
                json_builder_add_value(jb, g_steal_pointer(&v));
                json_builder_end_object(jb);
                root = json_builder_get_root(jb);
                json_generator_set_root(g, root);
                out = json_generator_to_data(g, NULL);
                printf("%s\n", out);
        } else {
                printf("%s %s %s=%s\n", ts, bdf, key, *text ? text : "-");
        }
        fflush(stdout);
        if (mon->limit && ++mon->seen >= mon->limit)
                (void) sd_event_exit(mon->event, 0);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Monitor *mon = userdata;
        _cleanup_free_ char *tofree = NULL;
        const char *iface, *bdf, *path = sd_bus_message_get_path(m) ?: "";
        bool is_device;
        int r;

        is_device = g_str_has_prefix(path, "/org/migbroker1/device/");
        if (!is_device && strcmp(path, CTL_MANAGER_PATH) != 0)
                return 0;
        bdf = is_device ? path_bdf(path, &tofree) : "manager";
        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || (strcmp(iface, CTL_DEVICE_IFACE) != 0 && strcmp(iface, CTL_MANAGER_IFACE) != 0))
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                const char *name, *contents;
                char buf[64];

                if (sd_bus_message_read(m, "s", &name) < 0 || sd_bus_message_peek_type(m, NULL, &contents) < 0)
                        return 0;
                if (strcmp(contents, "s") == 0) {
                        const char *v;
                        if (sd_bus_message_read(m, "v", "s", &v) >= 0)
                                event_out(mon, bdf, name, v, json_node_init_string(json_node_alloc(), v));
                } else if (strcmp(contents, "t") == 0) {
                        uint64_t v;
                        if (sd_bus_message_read(m, "v", "t", &v) >= 0) {
                                snprintf(buf, sizeof(buf), "%" PRIu64, v);
                                event_out(mon, bdf, name, buf, json_node_init_int(json_node_alloc(), (gint64) v));
                        }
                } else if (strcmp(contents, "b") == 0) {
                        int v;
                        if (sd_bus_message_read(m, "v", "b", &v) >= 0)
                                event_out(mon, bdf, name, v ? "yes" : "no",
                                          json_node_init_boolean(json_node_alloc(), v));
                } else if (strcmp(contents, "as") == 0 || strcmp(contents, "ao") == 0) {
                        g_auto(GStrv) l = NULL;
                        if (sd_bus_message_enter_container(m, 'v', contents) >= 0 &&
                            sd_bus_message_read_strv(m, &l) >= 0 && sd_bus_message_exit_container(m) >= 0) {
                                g_autofree char *text = l ? g_strjoinv(",", l) : g_strdup("");
                                JsonArray *a = json_array_new();
                                for (char **i = l; i && *i; i++)
                                        json_array_add_string_element(a, *i);
                                event_out(mon, bdf, name, text, json_node_init_array(json_node_alloc(), a));
                                json_array_unref(a);
                        }
                } else {
                        (void) sd_bus_message_skip(m, "v");
                }
                (void) sd_bus_message_exit_container(m);
        }
        return 0;
}

static int on_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_free_ char *tofree = NULL;
        const char *path;

        if (sd_bus_message_read(m, "o", &path) < 0)
                return 0;
        event_out(userdata, path_bdf(path, &tofree), "Device", "added", json_node_init_string(json_node_alloc(), "added"));
        return 0;
}

static int on_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_free_ char *tofree = NULL;
        const char *path;

        if (sd_bus_message_read(m, "o", &path) < 0)
                return 0;
        event_out(userdata, path_bdf(path, &tofree), "Device", "removed",
                  json_node_init_string(json_node_alloc(), "removed"));
        return 0;
}

int ctl_monitor_main(int argc, char *argv[]) {
        enum { ARG_COUNT = 1 };
        static const struct option options[] = {
                CTL_COMMON_OPTIONS,
                { "count", required_argument, NULL, ARG_COUNT },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Monitor mon = {};
        CtlOptions o;
        sigset_t ss;
        int c, r;

        ctl_options_init(&o);
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case ARG_COUNT: {
                        uint64_t n;
                        if (ctl_parse_uint(optarg, &n) < 0 || n == 0 || n > UINT32_MAX)
                                return ctl_usage("monitor", "--count needs a positive number, not '%s'", optarg);
                        mon.limit = (unsigned) n;
                        break;
                }
                case CTL_ARG_HELP:
                        printf("Usage: migbrokerctl monitor [OPTIONS]\n\n"
                               "Print device changes (State, Owner, PendingBytes, IsOpen, ...) and devices\n"
                               "added or removed, as the broker announces them; lists (Capabilities) are\n"
                               "joined by commas. Ctrl-C stops.\n\n"
                               "  --count N       exit after N events\n" CTL_COMMON_HELP);
                        return CTL_EXIT_OK;
                default:
                        r = ctl_options_handle(&o, c, optarg);
                        if (r <= 0)
                                return ctl_usage("monitor", "unknown option");
                }
        }
        if (optind < argc)
                return ctl_usage("monitor", "unexpected argument '%s'", argv[optind]);
        mon.o = &o;

        r = ctl_bus_open(&o, &bus, &e);
        if (r < 0)
                return ctl_fail(&o, "monitor", r, &e);
        r = sd_event_default(&event);
        if (r < 0)
                return ctl_fail(&o, "monitor", r, NULL);
        mon.event = event;
        r = sd_bus_attach_event(bus, event, 0);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, CTL_BUS_NAME, NULL, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_properties_changed, &mon);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, CTL_BUS_NAME, CTL_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                        "InterfacesAdded", on_added, &mon);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, CTL_BUS_NAME, CTL_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                        "InterfacesRemoved", on_removed, &mon);
        if (r < 0)
                return ctl_fail(&o, "monitor", r, NULL);
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (!o.json)
                fprintf(stderr, "Monitoring %s (Ctrl-C to stop)...\n", o.bus ?: "the system bus");
        r = sd_event_loop(event);
        return r < 0 ? ctl_fail(&o, "monitor", r, NULL) : CTL_EXIT_OK;
}
