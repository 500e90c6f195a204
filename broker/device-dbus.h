/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * device-dbus.h: registration of org.migbroker1.Device objects (one fallback
 * vtable and a node enumerator for /org/migbroker1/device/<bdf>). The device
 * model is device.h; this is only its D-Bus edge.
 */
#pragma once

#include "manager.h"

#define DEVICE_INTERFACE "org.migbroker1.Device"
#define DEVICE_PATH_PREFIX "/org/migbroker1/device"

int device_dbus_register(Manager *m);
