#!/usr/bin/env python3
# Writes the seed corpus of the dbus-surface fuzz target (tests/fuzz/fuzz-dbus-surface.c
# describes the input format) into tests/fuzz/corpus/dbus-surface/:
#   tests/fuzz/dbus-surface-seeds.py [DIR]
# Each seed is a short session as a client of the broker would run it (a
# migration's source and destination, a dbus-vmstate save, a hot-unplug) or a
# run of wrong calls, so the fuzzer starts from inputs that reach the plugins.
import os
import struct
import sys

(LIST_DEVICES, GET_DEVICE, RELOAD_POLICY, RESCAN, MANAGER_PROPERTIES, MANAGED_OBJECTS, PREFLIGHT, CLAIM,
 RELEASE, OPEN, CLOSE, SET_STATE, RESET, REFRESH_PENDING, SAVE_TO, LOAD_FROM, DEVICE_PROPERTIES, RANDOM_CALL,
 INTROSPECT, HOTPLUG, VMSTATE, PING, SIGHUP) = range(23)
ASYNC, NOBODY = 0x20, 0x40
# devices (the target's devices[]), then an absent BDF and a malformed path
D1, D2, D3_NOPRECOPY, D4_FAILING, D5_LYING, D6_CRASHING, D7_INIT_FAILS, D8_SLOW, D_PATTERN, D_VENDOR, \
    D_UNMANAGED, D_LIAR0, D_LIAR1, D_HOTPLUG, D_ABSENT, D_MALFORMED = range(16)
U1, U2, U1_UPPER = 0, 1, 2
# fd kinds (fd_open())
PIPE, MEMFD, DEV_NULL, DIRECTORY, SOCKET, READ_ONLY_FILE, EVENTFD, O_PATH, WRONG_PIPE_END, BLOCKING_PIPE, \
    PIPE_PEER_GONE = range(11)
DATA_KINDS = {PIPE, MEMFD, SOCKET, READ_ONLY_FILE, BLOCKING_PIPE}
STATES = {"running": 0, "stop": 1, "pre-copy": 2, "stop-copy": 3, "resuming": 4, "error": 5}
OPTION_KEYS = {"format": 0, "max-bytes": 1, "vmstate-id": 2, "frobnicate": 3}


def u16(v): return struct.pack(">H", v)
def u64(v): return struct.pack(">Q", v)


def string(s):
    b = s.encode() if isinstance(s, str) else s
    assert len(b) < 256
    return bytes([len(b)]) + b


def known(i): return bytes([i])
def word(s): return b"\xff" + string(s)


def state(name): return known(STATES[name]) if name in STATES else word(name)


def options(*items):
    """items: (key, value) with value a str (s), int (t) or bool (b)."""
    out = bytes([len(items)])
    for key, value in items:
        out += known(OPTION_KEYS[key]) if key in OPTION_KEYS else word(key)
        if isinstance(value, bool):
            out += b"\x07" + bytes([int(value)])
        elif isinstance(value, int):
            out += b"\x06" + u64(value)
        else:
            kind = {"format": {"framed": 0, "raw": 1}, "vmstate-id": {"mb-nic0": 0, "mb-nic1": 1}}
            k = kind.get(key, {}).get(value)
            out += b"\x05" + (known(k) if k is not None else word(value))
    return out


def literal(data): return b"\x00" + u16(len(data)) + data
def saved(): return b"\x01"
def saved_flipped(off, xor): return b"\x02" + u16(off) + bytes([xor])
def saved_cut(n): return b"\x03" + u16(n)


def op(code, *args, flags=0): return bytes([code | flags]) + b"".join(args)
def dev(d): return bytes([d])


def owner_call(code, d, owner, flags=0):
    return op(code, dev(d), known(owner) if isinstance(owner, int) else word(owner), flags=flags)


def claim(d, o=U1, flags=0): return owner_call(CLAIM, d, o, flags)
def release(d, o=U1, flags=0): return owner_call(RELEASE, d, o, flags)
def close(d, o=U1, flags=0): return owner_call(CLOSE, d, o, flags)
def preflight(d, o=U1, flags=0): return owner_call(PREFLIGHT, d, o, flags)
def open_(d, o=U1, opts=options(), flags=0): return owner_call(OPEN, d, o, flags) + opts
def set_state(d, s, flags=0): return op(SET_STATE, dev(d), state(s), flags=flags)
def save_to(d, kind=MEMFD, opts=options(), flags=0): return op(SAVE_TO, dev(d), bytes([kind]), opts, flags=flags)


def load_from(d, kind=MEMFD, data=None, opts=options(), flags=0):
    src = (data if data is not None else literal(b"")) if kind in DATA_KINDS else b""
    return op(LOAD_FROM, dev(d), bytes([kind]), src, opts, flags=flags)


SEEDS = {
    "source-stop-copy": claim(D1) + open_(D1) + set_state(D1, "stop-copy") + save_to(D1, PIPE) +
        set_state(D1, "running") + close(D1) + release(D1),
    "migration": claim(D1) + open_(D1) + set_state(D1, "pre-copy") + save_to(D1, MEMFD) +
        op(REFRESH_PENDING, dev(D1)) + set_state(D1, "stop-copy") + save_to(D1, MEMFD) + release(D1) +
        preflight(D2, U2) + claim(D2, U2) + open_(D2, U2) + set_state(D2, "resuming") +
        load_from(D2, PIPE, saved()) + set_state(D2, "running") + release(D2, U2),
    "migration-raw": claim(D3_NOPRECOPY) + open_(D3_NOPRECOPY) + set_state(D3_NOPRECOPY, "stop-copy") +
        save_to(D3_NOPRECOPY, SOCKET, opts=options(("format", "raw"))) + set_state(D3_NOPRECOPY, "resuming") +
        load_from(D3_NOPRECOPY, MEMFD, saved(), opts=options(("format", "raw"))) + set_state(D3_NOPRECOPY, "running"),
    "load-damaged": claim(D1) + open_(D1) + set_state(D1, "stop-copy") + save_to(D1, MEMFD) + close(D1) +
        open_(D1) + set_state(D1, "resuming") + load_from(D1, MEMFD, saved_flipped(300, 0x40)) +
        set_state(D1, "running") + op(RESET, dev(D1)) + set_state(D1, "resuming") +
        load_from(D1, BLOCKING_PIPE, saved_cut(1000)) + set_state(D1, "running"),
    "faults": claim(D4_FAILING) + open_(D4_FAILING) + set_state(D4_FAILING, "pre-copy") +
        save_to(D4_FAILING, opts=options(("max-bytes", 4096))) + save_to(D4_FAILING) + save_to(D4_FAILING) +
        claim(D5_LYING) + open_(D5_LYING) + op(REFRESH_PENDING, dev(D5_LYING)) + set_state(D5_LYING, "stop-copy") +
        save_to(D5_LYING) + claim(D7_INIT_FAILS) + open_(D7_INIT_FAILS) + op(RESET, dev(D4_FAILING)),
    "crashes": claim(D6_CRASHING) + open_(D6_CRASHING) + set_state(D6_CRASHING, "stop-copy") +
        save_to(D6_CRASHING) + set_state(D6_CRASHING, "running") + op(RESET, dev(D6_CRASHING)) +
        set_state(D6_CRASHING, "stop") + set_state(D6_CRASHING, "running") + set_state(D6_CRASHING, "stop") +
        set_state(D6_CRASHING, "running") + op(DEVICE_PROPERTIES, dev(D6_CRASHING), known(1), b"\x01"),
    "timeout": claim(D8_SLOW) + open_(D8_SLOW) + set_state(D8_SLOW, "stop-copy") + save_to(D8_SLOW) +
        op(DEVICE_PROPERTIES, dev(D8_SLOW), known(1), b"\x00", known(3)) + op(RESET, dev(D8_SLOW)),
    "wrong-arguments": op(GET_DEVICE, known(4)) + op(GET_DEVICE, known(5)) + op(GET_DEVICE, known(8)) +
        op(GET_DEVICE, known(2)) + op(GET_DEVICE, known(1)) + owner_call(CLAIM, D1, "not-a-uuid") + claim(D1) +
        claim(D1, U2) + release(D1, U2) + close(D1) + set_state(D1, "flying") + set_state(D1, "error") +
        open_(D1, opts=options(("frobnicate", "x"))) + open_(D1, opts=options(("vmstate-id", "a,b"))) +
        save_to(D1, DIRECTORY) + claim(D_UNMANAGED) + claim(D_ABSENT) + claim(D_MALFORMED) +
        load_from(D1, EVENTFD) + save_to(D1, O_PATH, opts=options(("format", 7))),
    "closed-device-streams": claim(D1) + save_to(D1) + load_from(D1, MEMFD, literal(b"MBST")) +
        op(REFRESH_PENDING, dev(D1)) + set_state(D1, "stop") + op(RESET, dev(D1)) + open_(D1) +
        set_state(D1, "stop-copy") + save_to(D1, WRONG_PIPE_END) + save_to(D1, PIPE_PEER_GONE) +
        save_to(D1, DEV_NULL) + save_to(D1, EVENTFD) + save_to(D1, READ_ONLY_FILE) + load_from(D1, PIPE_PEER_GONE),
    "as-nobody": op(LIST_DEVICES, flags=NOBODY) + claim(D1, flags=NOBODY) + claim(D1) + open_(D1) +
        set_state(D1, "stop", flags=NOBODY) + save_to(D1, flags=NOBODY) + op(RELOAD_POLICY, flags=NOBODY) +
        op(DEVICE_PROPERTIES, dev(D1), known(1), b"\x01", flags=NOBODY) + release(D1, flags=NOBODY),
    "concurrent": claim(D1, flags=ASYNC) + open_(D1, flags=ASYNC) + set_state(D1, "pre-copy", flags=ASYNC) +
        save_to(D1, PIPE, flags=ASYNC) + set_state(D1, "stop-copy", flags=ASYNC) + save_to(D1, SOCKET, flags=ASYNC) +
        close(D1, flags=ASYNC) + op(RESET, dev(D1), flags=ASYNC) + release(D1, flags=ASYNC) +
        claim(D2, flags=ASYNC) + open_(D2, flags=ASYNC) + release(D2, flags=ASYNC),
    "vmstate": claim(D1) + open_(D1, opts=options(("vmstate-id", "mb-nic0"))) + claim(D2) +
        open_(D2, opts=options(("vmstate-id", "mb-nic1"))) + op(VMSTATE, known(U1), b"\x00", b"\x02") +
        op(VMSTATE, known(U1), b"\x00", b"\x00") + op(VMSTATE, known(U1), b"\x01", b"\x00") +
        close(D1) + open_(D1, opts=options(("vmstate-id", "mb-nic0"))) +
        op(VMSTATE, known(U1), b"\x00", b"\x01", saved()) + op(VMSTATE, known(U1), b"\x00", b"\x01", literal(b"x")),
    "hotplug": claim(D_HOTPLUG) + open_(D_HOTPLUG) + op(HOTPLUG) + op(RESCAN) + op(LIST_DEVICES) +
        set_state(D_HOTPLUG, "stop") + release(D_HOTPLUG) + op(RESCAN) + op(HOTPLUG) + op(RESCAN) +
        claim(D_PATTERN, U2) + claim(D_VENDOR, U2) + open_(D_VENDOR, U2),
    "manager": op(LIST_DEVICES) + op(RELOAD_POLICY) + op(RESCAN) + op(MANAGED_OBJECTS) +
        op(MANAGER_PROPERTIES, known(0), b"\x01") + op(MANAGER_PROPERTIES, known(0), b"\x00", known(2)) +
        op(INTROSPECT, b"\x00") + op(INTROSPECT, b"\x02") + op(INTROSPECT, b"\x03") + op(INTROSPECT, b"\x80", dev(D1)) +
        op(PING) + op(SIGHUP),
    # append_random(): a type byte (0-12: "ybnqiuxtdsogh"; 0xf0 and up: array, variant or struct) then its value
    "random-calls": op(RANDOM_CALL, b"\x01", b"\x02", dev(D1), b"\x01", b"\x09", string("x"), b"\x05", b"\x00" * 4) +
        op(RANDOM_CALL, b"\x00", b"\x01", string("GetDevice"), b"\x05", b"\x00\x00\x00\x01") +
        op(RANDOM_CALL, b"\x01", b"\x02", dev(D1), b"\x08", b"\x0c", b"\x01", bytes([MEMFD]), b"\xf1\x00", string("v")) +
        op(RANDOM_CALL, b"\x00", b"\x00", string("Frobnicate")),
}


# The lying worker's script (tests/fuzz/lying-worker.c): per call an action
# byte, then the values it takes.
RIGHT, RANDOM, ERROR, SILENT, EXIT, HANG_UP = 0, 3, 4, 5, 6, 7


def script(*parts):
    b = b"".join(parts)
    assert len(b) < 256
    return bytes([len(b)]) + b


LIAR_SEEDS = {
    # every answer right, values zero: Open, a stop-copy SaveTo and LoadFrom through a lying worker
    "liar-zeros": script() + claim(D_LIAR0) + open_(D_LIAR0) + set_state(D_LIAR0, "stop-copy") +
        save_to(D_LIAR0, PIPE) + set_state(D_LIAR0, "resuming") + load_from(D_LIAR0, MEMFD, literal(b"x" * 100)) +
        set_state(D_LIAR0, "running") + op(REFRESH_PENDING, dev(D_LIAR0)) + release(D_LIAR0),
    # Hello right, then a made-up error, a wrong signature, silence, a hang-up
    "liar-mixed": script(bytes([RIGHT]), b"\x02", string("liar"), b"\x01\x01", b"\x00" * 8,
                         bytes([RIGHT]), bytes([RIGHT, 1]), bytes([ERROR]), string("lies"), b"\x08",
                         bytes([RANDOM, 2, 9]), string("x"), b"\x05", b"\x00" * 4, bytes([SILENT]),
                         bytes([HANG_UP])) +
        claim(D_LIAR1) + open_(D_LIAR1) + set_state(D_LIAR1, "stop-copy") + save_to(D_LIAR1) +
        op(REFRESH_PENDING, dev(D_LIAR1)) + op(RESET, dev(D_LIAR1)) + set_state(D_LIAR1, "running") + release(D_LIAR1),
    # absurd values in right-typed answers: pending 2^64-1, state 0xdeadbeef, a huge SaveTo result
    "liar-values": script(bytes([RIGHT]), b"\x00", b"\x00", b"\xff" * 4, b"\x00", bytes([RIGHT]),
                          bytes([RIGHT, 7]), bytes([RIGHT]), b"\xff" * 8, bytes([RIGHT, 3]),
                          bytes([RIGHT, 0, 0]), b"\xff" * 25, bytes([EXIT, 0, 3])) +
        claim(D_LIAR0) + open_(D_LIAR0) + op(REFRESH_PENDING, dev(D_LIAR0)) + set_state(D_LIAR0, "pre-copy") +
        save_to(D_LIAR0, SOCKET) + save_to(D_LIAR0) + op(DEVICE_PROPERTIES, dev(D_LIAR0), known(1), b"\x01"),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "dbus-surface")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"\x00" + data)  # an empty script: the liar devices' workers answer right, with zeros
    for name, data in LIAR_SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
