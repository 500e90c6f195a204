/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-vmstate-helper: the trivial QEMU dbus-vmstate helper that the
 * broker's downtime is compared with. Queues for org.qemu.VMState1 on the
 * given bus (as QEMU's own test helpers do), exports /org/qemu/VMState1 with
 * property Id and methods Save() -> ay (--size bytes of a fixed pattern,
 * prepared once) and Load(ay) (checks the length, keeps nothing).
 *
 *   bench-vmstate-helper --bus ADDRESS --id ID --size BYTES [--ready FILE]
 *
 * As a client (what QEMU does at stop-copy, without QEMU): calls Save() on
 * whoever owns org.qemu.VMState1 on the bus, --calls times, and prints the
 * median in ms and the byte count: "MS BYTES". --between CMD runs
 * "sh -c CMD" before each call, untimed (to put a device back in running).
 *
 *   bench-vmstate-helper --call-save --bus ADDRESS [--calls N] [--between CMD]
 *
 * Likewise --call-load FILE calls Load() with the bytes of FILE (what QEMU
 * does on the destination, inside the downtime too) and prints "MS BYTES".
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <time.h>

static const char *arg_id;
static size_t arg_size;
static uint8_t *payload;

static int method_save(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', payload, arg_size);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static int method_load(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const void *data;
        size_t len;
        int r;

        r = sd_bus_message_read_array(m, 'y', &data, &len);
        if (r < 0)
                return r;
        if (len != arg_size)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "got %zu bytes, expected %zu", len, arg_size);
        return sd_bus_reply_method_return(m, NULL);
}

static int property_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", arg_id);
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", property_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD("Save", "", "ay", method_save, 0),
        SD_BUS_METHOD("Load", "ay", "", method_load, 0),
        SD_BUS_VTABLE_END,
};

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static int call_save(const char *address, unsigned calls, const char *between, const char *load) {
        double *t = calloc(calls, sizeof(double));
        size_t bytes = 0, in_len = 0;
        uint8_t *in = NULL;
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0 || !t) {
                fprintf(stderr, "bench-vmstate-helper: %s: %s\n", address, strerror(r < 0 ? -r : ENOMEM));
                return 1;
        }
        if (load) {
                FILE *f = fopen(load, "re");
                long len;
                if (!f || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
                    !(in = malloc((size_t) len + 1)) || fread(in, 1, (size_t) len, f) != (size_t) len) {
                        fprintf(stderr, "bench-vmstate-helper: cannot read %s\n", load);
                        return 1;
                }
                fclose(f);
                in_len = (size_t) len;
        }
        for (unsigned i = 0; i < calls; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                const void *data;
                double t0;

                if (between && system(between) != 0) {
                        fprintf(stderr, "bench-vmstate-helper: '%s' failed\n", between);
                        return 1;
                }
                if (load) {
                        sd_bus_message *m = NULL;
                        r = sd_bus_message_new_method_call(bus, &m, "org.qemu.VMState1", "/org/qemu/VMState1",
                                                           "org.qemu.VMState1", "Load");
                        if (r >= 0)
                                r = sd_bus_message_append_array(m, 'y', in, in_len);
                        t0 = now();
                        if (r >= 0)
                                r = sd_bus_call(bus, m, 0, &e, &reply);
                        bytes = in_len;
                        sd_bus_message_unref(m);
                } else {
                        t0 = now();
                        r = sd_bus_call_method(bus, "org.qemu.VMState1", "/org/qemu/VMState1", "org.qemu.VMState1",
                                               "Save", &e, &reply, "");
                        if (r >= 0)
                                r = sd_bus_message_read_array(reply, 'y', &data, &bytes);
                }
                t[i] = now() - t0;
                sd_bus_message_unref(reply);
                if (r < 0) {
                        fprintf(stderr, "bench-vmstate-helper: %s: %s\n", load ? "Load" : "Save",
                                e.message ? e.message : strerror(-r));
                        return 1;
                }
                sd_bus_error_free(&e);
        }
        qsort(t, calls, sizeof(double), cmp);
        printf("%.3f %zu\n", (calls % 2 ? t[calls / 2] : (t[calls / 2 - 1] + t[calls / 2]) / 2) * 1e3, bytes);
        free(t);
        free(in);
        sd_bus_flush_close_unref(bus);
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "call-save", no_argument, NULL, 'C' },
                { "call-load", required_argument, NULL, 'L' },
                { "calls", required_argument, NULL, 'n' },
                { "between", required_argument, NULL, 'B' },
                { "bus", required_argument, NULL, 'b' },
                { "id", required_argument, NULL, 'i' },
                { "size", required_argument, NULL, 's' },
                { "ready", required_argument, NULL, 'r' },
                {}
        };
        const char *address = NULL, *ready = NULL, *between = NULL, *load = NULL;
        unsigned calls = 9;
        int client = 0;
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'b': address = optarg; break;
                case 'i': arg_id = optarg; break;
                case 's': arg_size = (size_t) strtoull(optarg, NULL, 0); break;
                case 'r': ready = optarg; break;
                case 'C': client = 1; break;
                case 'L': client = 1, load = optarg; break;
                case 'n': calls = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'B': between = optarg; break;
                default: return 2;
                }
        }
        if (client)
                return address && calls > 0 ? call_save(address, calls, between, load) : 2;
        if (!address || !arg_id || arg_size == 0)
                return 2;
        payload = malloc(arg_size);
        if (!payload)
                return 1;
        for (size_t i = 0; i < arg_size; i++)
                payload[i] = (uint8_t) (i * 7);

        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, "/org/qemu/VMState1", "org.qemu.VMState1", vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, "org.qemu.VMState1", SD_BUS_NAME_QUEUE);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, 0);
        if (r < 0) {
                fprintf(stderr, "bench-vmstate-helper: %s\n", strerror(-r));
                return 1;
        }
        if (ready) {
                FILE *f = fopen(ready, "we");
                if (f) {
                        fputs("ready\n", f);
                        fclose(f);
                }
        }
        r = sd_event_loop(event);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(event);
        free(payload);
        return r < 0 ? 1 : 0;
}
