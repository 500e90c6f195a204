/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hook-config.h: the libvirt hook's settings file, /etc/migbroker/hook.conf
 * (or $MIGBROKER_HOOK_CONF): a few "key = value" lines. It reads and checks
 * the file; it does not connect anywhere or decide what the hook does.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#define HOOK_CONFIG_DEFAULT_PATH "/etc/migbroker/hook.conf"
#define HOOK_ENV_CONFIG "MIGBROKER_HOOK_CONF"
#define HOOK_DEFAULT_TIMEOUT_MS 10000u
#define HOOK_TIMEOUT_MS_MAX 600000u
/* Largest hook.conf read. */
#define HOOK_CONFIG_MAX (64u * 1024)

typedef struct HookConfig {
        char *bus;          /* D-Bus address; NULL: the system bus */
        uint64_t timeout_ms; /* bound of each D-Bus call */
        int log_level;      /* LOG_*; -1 when the file does not set it */
} HookConfig;

void hook_config_init(HookConfig *c);
void hook_config_done(HookConfig *c);

/* $MIGBROKER_HOOK_CONF when set and not empty, else HOOK_CONFIG_DEFAULT_PATH. */
const char *hook_config_path(void);

/*
 * Reads path into c (initialised with hook_config_init). A missing file
 * leaves the defaults and returns 0. The file must be a regular file owned
 * by root or the caller and not writable by group or others (it decides where
 * a root process sends its calls). Errors: a negative errno and *ret_error,
 * one line "PATH:LINE: ...".
 */
int hook_config_load(HookConfig *c, const char *path, char **ret_error);

/* Parses the text of a config file (named path in messages). */
int hook_config_parse(HookConfig *c, const char *path, const char *text, size_t len, char **ret_error);
