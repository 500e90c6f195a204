#!/usr/bin/env python3
"""Reads and damages migbroker framed streams (docs/stream-format.md), for tests.

Usage: mb-stream-tool.py IN info
       mb-stream-tool.py IN OUT OPERATION [ARGS...]

info prints "plugin NAME", "bdf BDF", "records N" and "bytes N" (payload
total), after checking the header CRC, the indexes, the end record and the
CRCs of records up to 4 KiB (pure Python is too slow for more).

Operations (record numbers count data records from 0):
  truncate-in N         cut the stream in the middle of record N's payload
  truncate-before-end   drop the end record (every data record intact)
  flip N BYTE BIT       flip one bit of record N's payload
  swap I J              exchange records I and J (each keeps its CRC)
  dup N                 insert a second copy of record N right after it
  oversize N LEN        set record N's length field to LEN (CRC left alone)
  version V             set the header's version to V (header CRC recomputed,
                        so that only the version is wrong)
"""
import struct
import sys

MAGIC = b"MIGBRKR\n"
END = 1


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class Stream:
    def __init__(self, data):
        if data[:8] != MAGIC:
            raise ValueError("bad magic")
        version, header_len, flags = struct.unpack(">III", data[8:20])
        self.header = bytearray(data[:header_len])
        bdf_len = data[20]
        self.bdf = data[21:21 + bdf_len].decode()
        plugin_len = data[21 + bdf_len]
        self.plugin = data[22 + bdf_len:22 + bdf_len + plugin_len].decode()
        self.records = []  # (idx, flags, len, crc, payload) as raw bytes
        self.end = None
        off = header_len
        while off < len(data):
            idx, rflags, rlen, crc = struct.unpack(">IIII", data[off:off + 16])
            raw = data[off:off + 16 + rlen]
            if rflags & END:
                self.end = raw
            else:
                self.records.append(raw)
            off += 16 + rlen

    def check(self):
        hl = len(self.header)
        if struct.unpack(">I", self.header[hl - 4:])[0] != crc32c(self.header[:hl - 4]):
            raise ValueError("header CRC")
        total = 0
        for n, raw in enumerate(self.records):
            idx, _, rlen, crc = struct.unpack(">IIII", raw[:16])
            # Pure Python is slow: payload CRCs of small records only (the broker checks them all).
            if rlen <= 4096 and crc != crc32c(raw[16:], crc32c(raw[:12])):
                raise ValueError("record %d: CRC" % n)
            if idx != n:
                raise ValueError("record %d: index %d" % (n, idx))
            total += rlen
        if self.end is None:
            raise ValueError("no end record")
        idx, _, _, crc = struct.unpack(">IIII", self.end[:16])
        if crc != crc32c(self.end[16:], crc32c(self.end[:12])):
            raise ValueError("end record: CRC")
        tb, tr = struct.unpack(">QQ", self.end[16:32])
        if idx != len(self.records) or tr != len(self.records) or tb != total:
            raise ValueError("end record: %d/%d/%d for %d records, %d bytes" % (idx, tr, tb, len(self.records),
                                                                                  total))
        return total

    def bytes(self, with_end=True):
        out = bytes(self.header) + b"".join(self.records)
        return out + self.end if with_end and self.end is not None else out


def main(argv):
    if len(argv) == 3 and argv[2] == "info":
        s = Stream(open(argv[1], "rb").read())
        total = s.check()
        print("plugin %s\nbdf %s\nrecords %d\nbytes %d" % (s.plugin, s.bdf, len(s.records), total))
        return 0
    if len(argv) < 4:
        sys.exit(__doc__)
    src, dst, op, args = argv[1], argv[2], argv[3], [int(a, 0) for a in argv[4:]]
    s = Stream(open(src, "rb").read())
    s.check()
    recs = s.records
    if op == "truncate-in":
        n = args[0]
        out = bytes(s.header) + b"".join(recs[:n]) + recs[n][:16 + (len(recs[n]) - 16) // 2]
    elif op == "truncate-before-end":
        out = s.bytes(with_end=False)
    elif op == "flip":
        n, byte, bit = args
        r = bytearray(recs[n])
        r[16 + byte] ^= 1 << bit
        recs[n] = bytes(r)
        out = s.bytes()
    elif op == "swap":
        i, j = args
        recs[i], recs[j] = recs[j], recs[i]
        out = s.bytes()
    elif op == "dup":
        n = args[0]
        recs.insert(n + 1, recs[n])
        out = s.bytes()
    elif op == "oversize":
        n, length = args
        recs[n] = recs[n][:8] + struct.pack(">I", length) + recs[n][12:]
        out = s.bytes()
    elif op == "version":
        s.header[8:12] = struct.pack(">I", args[0])
        hl = len(s.header)
        s.header[hl - 4:] = struct.pack(">I", crc32c(s.header[:hl - 4]))
        out = s.bytes()
    else:
        sys.exit("unknown operation %s" % op)
    open(dst, "wb").write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
