/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-monitor.h: migbrokerctl monitor: prints device state, owner, pending
 * and set changes as the broker announces them (no polling). Nothing else.
 */
#pragma once

int ctl_monitor_main(int argc, char *argv[]);
