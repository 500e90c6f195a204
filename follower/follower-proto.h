/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * follower-proto.h: what migbroker-libvirt-events tells the broker: one line
 * per fact on its standard output, and why it ended in its exit status.
 * Writing and parsing those lines; not libvirt, not what the broker does.
 */
#pragma once

#include <stddef.h>

#include "uuid.h"

typedef enum MbFollowerLineKind {
        MB_FOLLOWER_CONNECTED,  /* "connected": the connection is open, lifecycle events are followed */
        MB_FOLLOWER_STARTED,    /* "started UUID": a domain started (an incoming migration's start is not told) */
        MB_FOLLOWER_RESUMED,    /* "resumed UUID": a domain resumed */
        MB_FOLLOWER_RUNNING,    /* "running UUID": a domain runs when the connection opens (one line
                                 * per running domain, after "connected": events of while no
                                 * follower was connected are lost, the domain's state is not) */
        _MB_FOLLOWER_LINE_KIND_MAX,
} MbFollowerLineKind;

typedef struct MbFollowerLine {
        MbFollowerLineKind kind;
        char uuid[MB_UUID_STRLEN + 1]; /* lower case; "" for "connected" */
} MbFollowerLine;

/* The longest line, its newline included. */
#define MB_FOLLOWER_LINE_MAX 64

/* Exit statuses: the follower says why on standard error first. */
enum {
        MB_FOLLOWER_EXIT_STOPPED = 0,       /* told to stop: standard output closed, SIGTERM */
        MB_FOLLOWER_EXIT_FAILED = 1,        /* anything else */
        MB_FOLLOWER_EXIT_USAGE = 2,
        MB_FOLLOWER_EXIT_NO_CONNECTION = 3, /* could not connect */
        MB_FOLLOWER_EXIT_DENIED = 4,        /* could not connect to a local URI (no host; unix socket):
                                             * libvirtd or its socket refused this user */
        MB_FOLLOWER_EXIT_NO_EVENTS = 5,     /* connected, but libvirt would not send lifecycle events */
        MB_FOLLOWER_EXIT_CLOSED = 6,        /* the connection closed */
};

/* The line for l into buf, newline included: its length, or -EINVAL (a
 * domain line without a valid UUID, a buffer too small). */
int mb_follower_line_format(const MbFollowerLine *l, char *buf, size_t size);
/* One line without its newline: 0, or -EBADMSG (an unknown word, a missing
 * or extra argument, an invalid UUID). */
int mb_follower_line_parse(const char *text, MbFollowerLine *ret);
