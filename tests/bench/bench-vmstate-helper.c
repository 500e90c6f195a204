/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-vmstate-helper: the trivial QEMU dbus-vmstate helper that the
 * broker's downtime is compared with. Queues for org.qemu.VMState1 on the
 * given bus (as QEMU's own test helpers do), exports /org/qemu/VMState1 with
 * property Id and methods Save() -> ay (--size bytes of a fixed pattern,
 * prepared once) and Load(ay) (checks the length, keeps nothing).
 *
 *   bench-vmstate-helper --bus ADDRESS --id ID --size BYTES [--ready FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

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

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bus", required_argument, NULL, 'b' },
                { "id", required_argument, NULL, 'i' },
                { "size", required_argument, NULL, 's' },
                { "ready", required_argument, NULL, 'r' },
                {}
        };
        const char *address = NULL, *ready = NULL;
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'b': address = optarg; break;
                case 'i': arg_id = optarg; break;
                case 's': arg_size = (size_t) strtoull(optarg, NULL, 0); break;
                case 'r': ready = optarg; break;
                default: return 2;
                }
        }
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
