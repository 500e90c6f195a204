/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-policy.h: "migbrokerctl policy": check (offline validation, --json
 * diagnostics), explain (which rule binds a BDF and why) and reload (asks the
 * broker; needs the D-Bus client). It does not parse policies itself.
 */
#pragma once

int ctl_policy_main(int argc, char *argv[]);
