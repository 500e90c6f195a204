/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migbrokerctl: the admin CLI. main() only dispatches the first word to a verb. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl-policy.h"
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
        { "policy", ctl_policy_main, "check, explain or reload the device policy" },
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
              "  -h, --help     show this help\n"
              "  -V, --version  show the version\n"
              "\n"
              "'migbrokerctl COMMAND --help' describes a command. Exit status: 0 ok,\n"
              "1 the operation failed, 2 usage error.\n",
              f);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        mb_log_set_ident("migbrokerctl");
        opterr = 0;
        /* '+': stop at the first word; what follows is the verb's. */
        while ((c = getopt_long(argc, argv, "+hV", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return CTL_EXIT_OK;
                case 'V':
                        printf("migbrokerctl %s\n", PACKAGE_VERSION);
                        return CTL_EXIT_OK;
                default:
                        fprintf(stderr, "migbrokerctl: unknown option %s\nTry 'migbrokerctl --help'.\n",
                                argv[optind - 1]);
                        return CTL_EXIT_USAGE;
                }

        if (optind >= argc) {
                help(stderr);
                return CTL_EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, argv[optind]) == 0)
                        return verbs[i].func(argc - optind, argv + optind);
        fprintf(stderr, "migbrokerctl: unknown command \"%s\"\nTry 'migbrokerctl --help'.\n", argv[optind]);
        return CTL_EXIT_USAGE;
}
