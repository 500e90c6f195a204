/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl.h: what every migbrokerctl verb shares: its entry point signature and
 * the exit codes of the contract (0 ok, 1 failed, 2 usage). It holds no verb
 * and no D-Bus code.
 */
#pragma once

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILED 1
#define CTL_EXIT_USAGE 2

/* A verb gets argv[0] = its own name and returns an exit code. */
typedef int (*CtlVerbFunc)(int argc, char *argv[]);
