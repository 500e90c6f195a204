/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-device.h: the migbrokerctl verbs that query and drive device objects:
 * list, show, claim, release, open, close, set-state, reset. Streaming
 * (save/load) and monitor live in their own files.
 */
#pragma once

int ctl_list_main(int argc, char *argv[]);
int ctl_show_main(int argc, char *argv[]);
int ctl_preflight_main(int argc, char *argv[]);
int ctl_claim_main(int argc, char *argv[]);
int ctl_release_main(int argc, char *argv[]);
int ctl_open_main(int argc, char *argv[]);
int ctl_close_main(int argc, char *argv[]);
int ctl_set_state_main(int argc, char *argv[]);
int ctl_reset_main(int argc, char *argv[]);
