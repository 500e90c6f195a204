/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-stream.h: migbrokerctl save and load: driving a device through its
 * saving or resuming states with the stream going to or coming from a file or
 * a pipe. The stream format itself is common/stream.h.
 */
#pragma once

int ctl_save_main(int argc, char *argv[]);
int ctl_load_main(int argc, char *argv[]);
