/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-plugin-check.h: "migbrokerctl plugin check PLUGIN.so": options, the
 * worker it runs the plugin in, and the output (a line per check, or JSON).
 * The checks themselves are in plugin-conformance.c; no D-Bus broker needed.
 */
#pragma once

int ctl_plugin_main(int argc, char *argv[]);
