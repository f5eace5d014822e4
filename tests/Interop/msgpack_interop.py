#!/usr/bin/python3
"""Independent side of the wire-interop tests, using Debian's python3-msgpack.

  build            print the hex of an Identify request body packed by python3-msgpack,
                   full of edge values (int boundaries, float32/64, str8/16/32, nested maps,
                   timestamps 32/64/96, lists)
  check            read the hex of Cdp's GetProfile response body on stdin, unpack it with
                   python3-msgpack and compare every trait with what `build` sent; print OK or
                   the differences (exit 1)
  decode           read hex on stdin, print the value as JSON (timestamps as [seconds, nanoseconds])
"""
import json
import struct
import sys

import msgpack
from msgpack import Timestamp

INTS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1,
        -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63]
STRINGS = {"empty": "", "fix31": "a" * 31, "str8_32": "b" * 32, "str8_255": "c" * 255,
           "str16_256": "d" * 256, "str16_65535": "e" * 65535, "unicode": "Grüße, 世界 🙂"}
TIMESTAMPS = {
    "ts32": Timestamp(1_700_000_000, 0),             # timestamp 32
    "ts64": Timestamp(1_700_000_000, 123_456_789),   # timestamp 64, sub-ms digits dropped by Cdp
    "ts96_pre1970": Timestamp(-86_400 * 365, 0),     # timestamp 96 (negative seconds)
    "ts96_2600": Timestamp(19_880_000_000, 5_000_000),  # timestamp 96 (beyond 34 bits)
    "epoch": Timestamp(0, 0),
}


def traits():
    t = {}
    for i, v in enumerate(INTS):
        t["int_%d" % i] = v
    t.update({"s_" + k: v for k, v in STRINGS.items()})
    t.update({"t_" + k: v for k, v in TIMESTAMPS.items()})
    t["f64"] = 0.1
    t["f64_big"] = -1.5e300
    t["bool_t"] = True
    t["bool_f"] = False
    t["nil"] = None
    t["list_empty"] = []
    t["list"] = ["x", "", "ü" * 10]
    t["nested"] = {"a": {"b": {"c": 1}, "d": "e"}}
    return t


def body():
    # float32 needs its own packer: python floats are float64 by default.
    packer64 = msgpack.Packer(use_bin_type=True, datetime=False)
    packer32 = msgpack.Packer(use_bin_type=True, use_single_float=True)
    t = traits()
    # Build the map by hand so one value can be float32 while the rest stay float64.
    items = [("identifiers", {"email": "interop@x.com"}), ("traits", t)]
    out = bytearray()
    out += packer64.pack_map_header(len(items))
    out += packer64.pack("identifiers") + packer64.pack(items[0][1])
    out += packer64.pack("traits")
    out += packer64.pack_map_header(len(t) + 1)
    for k, v in t.items():
        out += packer64.pack(k) + packer64.pack(v)
    out += packer64.pack("f32") + packer32.pack(0.25)
    return bytes(out)


def expected():
    e = {}
    for k, v in traits().items():
        if isinstance(v, dict):
            for path, leaf in flatten(k, v):
                e[path] = leaf
        elif isinstance(v, Timestamp):
            ns = v.seconds * 1_000_000_000 + v.nanoseconds
            ms = ns // 1_000_000
            e[k] = Timestamp.from_unix_nano(ms * 1_000_000)
        else:
            e[k] = v
    e["f32"] = 0.25
    return e


def flatten(prefix, d):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flatten(prefix + "." + k, v)
        else:
            yield prefix + "." + k, v


def to_json(v):
    if isinstance(v, Timestamp):
        return [v.seconds, v.nanoseconds]
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


def main():
    mode = sys.argv[1]
    if mode == "build":
        print(body().hex())
    elif mode == "decode":
        value = msgpack.unpackb(bytes.fromhex(sys.stdin.read().strip()), raw=False, timestamp=0, strict_map_key=True)
        print(json.dumps(to_json(value)))
    elif mode == "check":
        profile = msgpack.unpackb(bytes.fromhex(sys.stdin.read().strip()), raw=False, timestamp=0)
        got = profile["traits"]
        want = expected()
        problems = []
        for k, v in want.items():
            if k not in got:
                problems.append("missing %s" % k)
            elif type(got[k]) is not type(v) or got[k] != v:
                problems.append("%s: sent %r, got back %r" % (k, v, got[k]))
        for k in got:
            if k not in want:
                problems.append("unexpected %s" % k)
        if profile["identifiers"] != {"email": ["interop@x.com"]}:
            problems.append("identifiers: %r" % profile["identifiers"])
        if not isinstance(profile["createdAt"], Timestamp):
            problems.append("createdAt is not a timestamp: %r" % profile["createdAt"])
        print("OK" if not problems else "\n".join(problems))
        sys.exit(0 if not problems else 1)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
