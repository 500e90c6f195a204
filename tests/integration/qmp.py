#!/usr/bin/env python3
"""Minimal QMP client for the tests: qmp.py SOCKET COMMAND [JSON-ARGS].
Prints the command's "return" as JSON; exits 1 on an error reply."""
import json
import socket
import sys


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    f = s.makefile("rwb")
    json.loads(f.readline())  # greeting
    for c, a in (("qmp_capabilities", None), (cmd, args)):
        msg = {"execute": c}
        if a is not None:
            msg["arguments"] = a
        f.write(json.dumps(msg).encode() + b"\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "event" in r:
                continue
            break
        if "error" in r:
            print(json.dumps(r["error"]), file=sys.stderr)
            sys.exit(1)
    print(json.dumps(r.get("return")))


if __name__ == "__main__":
    main()
