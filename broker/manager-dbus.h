/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager-dbus.h: org.migbroker1.Manager on /org/migbroker1 and the
 * ObjectManager that announces device objects. The D-Bus edge of manager.h.
 */
#pragma once

#include "manager.h"

#define MANAGER_PATH "/org/migbroker1"
#define MANAGER_INTERFACE "org.migbroker1.Manager"
#define MANAGER_BUS_NAME "org.migbroker1"

int manager_dbus_register(Manager *m);
