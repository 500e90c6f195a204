/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * worker-server.h: the worker's side of the worker protocol (worker-proto.h):
 * the org.migbroker1.Worker object over one loaded plugin, served on a
 * connection someone else set up and runs. No process set-up here (that is
 * worker-main.c), no event loop, no plugin loading.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "worker-plugin.h"
#include "worker-stream.h"

typedef struct MbWorkerServer {
        sd_bus *bus;               /* the connection served (not owned): Progress goes there */
        const char *bdf;           /* the device, for messages */
        MbPlugin plugin;           /* valid when loaded */
        bool loaded;
        char load_error[512];      /* why the plugin did not load (Hello and every op say it) */
        void *handle;              /* what init() returned */
        char *init_bdf, *init_arg; /* the copies init() got: the plugin may keep them until cleanup() */
        MbSaveSession save;
        MbLoadSession load;
        char errbuf[512];
} MbWorkerServer;

/* Serves the object on bus (userdata w, which must outlive the bus). */
int mb_worker_server_attach(MbWorkerServer *w, sd_bus *bus);

/* Ends what init() began: both stream sessions, the plugin's cleanup() (when
 * initialised and it has one), then the init() copies. The plugin stays loaded. */
void mb_worker_server_release(MbWorkerServer *w);
