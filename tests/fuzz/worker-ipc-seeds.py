#!/usr/bin/env python3
# Writes the seed corpus of the worker-ipc fuzz target (tests/fuzz/fuzz-worker-ipc.c
# describes the input format) into tests/fuzz/corpus/worker-ipc/:
#   tests/fuzz/worker-ipc-seeds.py [DIR]
# Each seed is a short session the broker could run (or a wrong one), so the
# fuzzer starts from inputs that reach the save and load paths.
import os
import struct
import sys

BDF = "0000:3b:00.1"
(HELLO, PROBE, INIT, CLEANUP, SET_STATE, GET_STATE, UPDATE_PENDING, SAVE, LOAD, LOAD_FINISH, CALL_OP,
 RANDOM_SIG, RANDOM_MEMBER, STD_CALL, OTHER_PATH, SIGNAL) = range(16)
# fd kinds (fd_open())
PIPE_PEER_CLOSED, PIPE_HELD, DEV_NULL, MEMFD, READ_ONLY_FILE, DIRECTORY, SOCKET_PEER_CLOSED, SOCKET_HELD, \
    EVENTFD, O_PATH, WRONG_PIPE_END, BLOCKING_PIPE = range(12)
DATA_KINDS = {PIPE_PEER_CLOSED, PIPE_HELD, MEMFD, READ_ONLY_FILE, SOCKET_PEER_CLOSED, SOCKET_HELD, BLOCKING_PIPE}
SAVE_BEGIN, SAVE_UNTIL_EMPTY, SAVE_END = 1, 2, 4
LOAD_BEGIN = 1
STOP, RUNNING, SAVING, PRECOPY, RESUMING = 0, 1, 2, 3, 4


def u16(v): return struct.pack(">H", v)
def u32(v): return struct.pack(">I", v & 0xffffffff)
def u64(v): return struct.pack(">Q", v & 0xffffffffffffffff)


def string(s):
    b = s.encode() if isinstance(s, str) else s
    assert len(b) < 256
    return bytes([len(b)]) + b


def known(i):            # take_word(): one of the method's known words
    return bytes([i])


def word(s):             # take_word(): any string
    return b"\xff" + string(s)


def call(op, *args, reply=True):
    return bytes([op]) + b"".join(args) + (b"" if op == SIGNAL else bytes([0 if reply else 0x7f]))


def literal(data): return b"\x00" + u16(len(data)) + data
def saved(): return b"\x01"
def saved_flipped(off, xor): return b"\x02" + u16(off) + bytes([xor])
def saved_cut(n): return b"\x03" + u16(n)


def fd(kind, data=None, reading=False):
    if (reading and kind in DATA_KINDS) or kind == READ_ONLY_FILE:
        return bytes([kind]) + (data if data is not None else literal(b""))
    return bytes([kind])


FRAMED, RAW = known(0), known(1)


def init(arg, bdf=known(0)): return call(INIT, bdf, string(arg))
def set_state(v): return call(SET_STATE, u32(v))
def save(kind, fmt=FRAMED, max_bytes=0, flags=SAVE_BEGIN | SAVE_UNTIL_EMPTY | SAVE_END, stall=1000):
    return call(SAVE, fd(kind), fmt, u64(max_bytes), u32(flags), u32(stall))
def load(kind, data=None, fmt=FRAMED, flags=LOAD_BEGIN, stall=1000):
    return call(LOAD, fd(kind, data, reading=True), fmt, u32(flags), u32(stall))


def roundtrip(fmt, arg="state-size=64K,seed=3"):
    return (init(arg) + set_state(SAVING) + call(UPDATE_PENDING) + save(MEMFD, fmt) + call(CLEANUP) +
            init("state-size=64K,empty") + set_state(RESUMING) + load(MEMFD, saved(), fmt) +
            call(LOAD_FINISH) + set_state(RUNNING) + call(GET_STATE))


SEEDS = {
    "hello-probe": b"\x01" + call(HELLO) + call(PROBE, known(0), u16(0x1af4), u16(0x1041)) +
        call(PROBE, known(0), u16(0x8086), u16(0x1572)) + call(PROBE, word("bogus"), u16(1), u16(2)),
    "hello-no-info": b"\x03" + call(HELLO) + call(PROBE, known(0), u16(0x1af4), u16(0x1041)),
    "not-loaded": b"\x00" + call(HELLO) + init("") + call(GET_STATE) + save(MEMFD) + call(CLEANUP),
    # Init then Cleanup, twice: the BDF and argument copies must be freed (a leak before 3239cd2).
    "init-cleanup": b"\x01" + init("state-size=4K") + call(CLEANUP) + init("state-size=4K,seed=9") +
        call(CLEANUP) + init("bogus-key=1") + call(CLEANUP),
    "init-twice": b"\x01" + init("state-size=4K") + init("state-size=4K") + call(GET_STATE),
    "roundtrip-framed": b"\x01" + roundtrip(FRAMED),
    "roundtrip-raw": b"\x01" + roundtrip(RAW),
    "precopy-dirty": b"\x01" + init("state-size=64K,dirty=4K,seed=1") + set_state(PRECOPY) +
        save(PIPE_HELD, max_bytes=16384, flags=SAVE_BEGIN, stall=10) + save(MEMFD, flags=0) +
        set_state(SAVING) + save(MEMFD, flags=SAVE_UNTIL_EMPTY | SAVE_END) + call(CLEANUP) +
        init("state-size=64K,empty") + set_state(RESUMING) + load(MEMFD, saved()) + call(LOAD_FINISH),
    "load-corrupt": b"\x01" + init("state-size=16K,seed=5") + set_state(SAVING) + save(MEMFD) +
        call(CLEANUP) + init("state-size=16K,empty") + set_state(RESUMING) +
        load(MEMFD, saved_flipped(40, 0x10)) + call(LOAD_FINISH) + call(CLEANUP) +
        init("state-size=16K,empty") + set_state(RESUMING) + load(PIPE_PEER_CLOSED, saved_cut(100)) +
        load(SOCKET_HELD, saved(), flags=0, stall=5) + call(LOAD_FINISH),
    "save-fd-kinds": b"\x01" + init("state-size=8K") + set_state(SAVING) +
        b"".join(save(k, stall=5) for k in range(12)),
    "load-fd-kinds": b"\x01" + init("state-size=8K,empty") + set_state(RESUMING) +
        b"".join(load(k, literal(b"MBST\x00\x01"), stall=5) for k in range(12)),
    "save-session-errors": b"\x01" + init("state-size=8K") + save(MEMFD, flags=0) + set_state(SAVING) +
        save(MEMFD, flags=SAVE_BEGIN) + save(MEMFD, fmt=RAW, flags=0) + save(MEMFD, fmt=word("json")) +
        save(MEMFD, flags=SAVE_UNTIL_EMPTY | SAVE_END) + save(MEMFD, flags=0),
    "plugin-faults": b"\x01" + init("save=fail:EIO+after:2,state-size=16K") + set_state(SAVING) +
        save(MEMFD, max_bytes=4096, flags=SAVE_BEGIN) + save(MEMFD, flags=SAVE_UNTIL_EMPTY) + call(CLEANUP) +
        init("update_pending=garbage,state-size=16K") + set_state(SAVING) + save(MEMFD) + call(CLEANUP) +
        init("get_state=garbage,set_state=fail:EBUSY,cleanup=fail") + call(GET_STATE) + set_state(RUNNING) +
        call(CLEANUP) + init("load=fail:EPROTO,state-size=16K,empty") + set_state(RESUMING) +
        load(MEMFD, literal(b"\x00" * 64)) + call(CLEANUP) + init("save=garbage,state-size=4K") +
        set_state(SAVING) + save(MEMFD) + call(CLEANUP) + init("update_pending=slow:2,state-size=4K") +
        call(UPDATE_PENDING),
    "set-state-values": b"\x01" + init("state-size=4K") + b"".join(set_state(v) for v in
        (0, 1, 2, 3, 4, 5, 6, 7, 0xffffffff)) + call(GET_STATE),
    "call-op": b"\x01" + call(CALL_OP, known(0), u64(100), b"\x01") + call(CALL_OP, known(1), u64(1), b"\x01") +
        init("state-size=4K") + call(CALL_OP, known(0), u64(4096), b"\x00") +
        call(CALL_OP, known(1), u64(7), b"\x00") + call(CALL_OP, known(0), u64(2 << 20), b"\x00") +
        call(CALL_OP, known(1), u64(1 << 33), b"\x00") + call(CALL_OP, word("load"), u64(0), b"\x00"),
    # append_random(): a type byte (0-12: "ybnqiuxtdsogh"; 0xf0 and up: array, variant or struct) then its value
    "wrong-calls": b"\x01" + call(RANDOM_SIG, bytes([2]), bytes([SAVE]), b"\x09", string("x"), b"\x05", u32(5)) +
        call(RANDOM_SIG, bytes([1]), bytes([INIT]), b"\xf0\x02\x00", u64(1), u64(2)) +
        call(RANDOM_SIG, bytes([3]), bytes([LOAD]), b"\x0c\x00", bytes([MEMFD]), literal(b"abc"),
             b"\xf1\x00", string("v"), b"\xf2\x01", string("s"), u32(3)) +
        call(RANDOM_MEMBER, string("Frobnicate"), b"\x00") + call(STD_CALL, b"\x00") +
        call(STD_CALL, b"\x01", known(0)) + call(STD_CALL, b"\x02", known(0), known(1)) +
        call(STD_CALL, b"\x03") + call(STD_CALL, b"\x04") +
        call(OTHER_PATH, string("/org/migbroker1/worker/x"), bytes([HELLO]), bytes([HELLO])) +
        call(SIGNAL, u64(12345)) + call(GET_STATE, reply=False) + call(HELLO),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "worker-ipc")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
