/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migbrokerctl: the admin CLI. main() only dispatches the first word to a verb. */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ctl-device.h"
#include "ctl-domain.h"
#include "ctl-monitor.h"
#include "ctl-plugin-check.h"
#include "ctl-policy.h"
#include "ctl-stream.h"
#include "ctl.h"
#include "log.h"
#include "macro.h"

typedef struct Verb {
        const char *name;
        CtlVerbFunc func;
        const char *summary;
} Verb;

/* One row per verb; the D-Bus verbs (list, show, claim...) join here. */
static const Verb verbs[] = {
        { "list", ctl_list_main, "list the managed devices" },
        { "show", ctl_show_main, "show one device's properties" },
        { "preflight", ctl_preflight_main, "check a device can take an incoming migration for a domain" },
        { "claim", ctl_claim_main, "reserve a device for a domain" },
        { "release", ctl_release_main, "give a device back" },
        { "open", ctl_open_main, "start a device's worker and initialise its plugin" },
        { "close", ctl_close_main, "clean up a device's plugin and stop its worker" },
        { "set-state", ctl_set_state_main, "move a device to a migration state" },
        { "reset", ctl_reset_main, "respawn a device's worker (leaves the error state)" },
        { "save", ctl_save_main, "save a device's state (pre-copy, stop-copy) to a file or pipe" },
        { "load", ctl_load_main, "load a saved state into a device and start it" },
        { "monitor", ctl_monitor_main, "print device changes as they happen" },
        { "policy", ctl_policy_main, "check, explain or reload the device policy" },
        { "plugin", ctl_plugin_main, "check a migration plugin's conformance (in a worker; no broker needed)" },
        { "domain", ctl_domain_main, "set up a libvirt domain for migbroker (metadata, dbus-vmstate), or show it" },
};

static void help(FILE *f) {
        fputs("Usage: migbrokerctl [--help] [--version] COMMAND [ARGS...]\n"
              "\n"
              "Administer migbroker, the VFIO migration plugin broker.\n"
              "\n"
              "Commands:\n",
              f);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
        fputs("\n"
              "Options:\n"
              "  -h, --help       show this help\n"
              "  -V, --version    show the version\n"
              "  --bus ADDRESS    talk to the broker on this bus (default: the system bus)\n"
              "  --json           print JSON (errors too)\n"
              "  --timeout SEC    bound on each control call (default 30)\n"
              "\n"
              "'migbrokerctl COMMAND --help' describes a command. Exit status: 0 ok,\n"
              "1 the operation failed, 2 usage error.\n",
              f);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                /* Common options may also come before the command. */
                { "bus", required_argument, NULL, 'b' },
                { "timeout", required_argument, NULL, 't' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        char *global[8];
        int n_global = 0;
        int c;

        mb_log_set_ident("migbrokerctl");
        opterr = 0;
        /* '+': stop at the first word; what follows is the verb's. */
        while ((c = getopt_long(argc, argv, "+hV", options, NULL)) >= 0) {
                if (n_global > (int) ELEMENTSOF(global) - 2) {
                        fprintf(stderr, "migbrokerctl: too many global options\n");
                        return CTL_EXIT_USAGE;
                }
                switch (c) {
                case 'h':
                        help(stdout);
                        return CTL_EXIT_OK;
                case 'V':
                        printf("migbrokerctl %s\n", PACKAGE_VERSION);
                        return CTL_EXIT_OK;
                case 'b':
                        global[n_global++] = (char *) "--bus";
                        global[n_global++] = optarg;
                        break;
                case 't':
                        global[n_global++] = (char *) "--timeout";
                        global[n_global++] = optarg;
                        break;
                case 'j':
                        global[n_global++] = (char *) "--json";
                        break;
                default:
                        fprintf(stderr, "migbrokerctl: unknown option %s\nTry 'migbrokerctl --help'.\n",
                                argv[optind - 1]);
                        return CTL_EXIT_USAGE;
                }
        }

        if (optind >= argc) {
                help(stderr);
                return CTL_EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, argv[optind]) == 0) {
                        /* The verb sees: its name, the global options, then its own arguments. */
                        int n = argc - optind;
                        char **v = calloc((size_t) (n + n_global + 1), sizeof(char *));
                        int k = 0, r;

                        if (!v)
                                return CTL_EXIT_FAILED;
                        v[k++] = argv[optind];
                        for (int j = 0; j < n_global; j++)
                                v[k++] = global[j];
                        for (int j = 1; j < n; j++)
                                v[k++] = argv[optind + j];
                        v[k] = NULL;
                        optind = 0; /* a fresh getopt for the verb */
                        r = verbs[i].func(k, v);
                        free(v);
                        return r;
                }
        fprintf(stderr, "migbrokerctl: unknown command \"%s\"\nTry 'migbrokerctl --help'.\n", argv[optind]);
        return CTL_EXIT_USAGE;
}
