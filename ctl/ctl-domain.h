/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-domain.h: `migbrokerctl domain enable|disable|show DOMAIN`: a libvirt
 * domain's migbroker metadata and dbus-vmstate object, edited through
 * libvirt's API (the XML edits themselves are domain-edit.h's), and the
 * broker's view of the domain's devices (read-only D-Bus calls).
 */
#pragma once

int ctl_domain_main(int argc, char *argv[]);
