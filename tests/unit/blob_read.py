#!/usr/bin/python3
# blob_read.py BLOB GRAPH_HASH_HEX: reads a psync model blob with the stock
# msgpack package alone and recomputes its graph hash and layout hash from
# docs/blob-format.md, proving another language can read the format.
import struct
import sys

import msgpack

FNV_OFFSET, FNV_PRIME, MASK = 0xcbf29ce484222325, 0x100000001b3, (1 << 64) - 1
ROLES = {"param": 1, "slot": 2, "buffer": 3}
DTYPES = {"f32": (1, "<f4"), "f64": (2, "<f8"), "i32": (3, "<i4"), "i64": (4, "<i8"), "u8": (5, "u1")}


def fnv(h, data):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK
    return h


def layout_hash(graph_hash, tensors):
    h = fnv(FNV_OFFSET, struct.pack("<Q", graph_hash))
    h = fnv(h, struct.pack("<Q", len(tensors)))
    for t in tensors:
        h = fnv(h, t["name"].encode() + b"\0")
        h = fnv(h, bytes([ROLES[t["role"]], DTYPES[t["dtype"]][0], len(t["shape"])]))
        for d in t["shape"]:
            h = fnv(h, struct.pack("<Q", d))
        h = fnv(h, struct.pack("<Q", t["offset"]))
    return h


def main():
    blob = open(sys.argv[1], "rb").read()
    doc = msgpack.unpackb(blob)
    assert list(doc) == ["format", "version", "graph", "tensors", "optimizer", "state",
                         "meta", "layout_hash", "pad", "payload"], list(doc)
    assert doc["format"] == "psync.model" and doc["version"] == 1
    payload = doc["payload"]
    start = len(blob) - len(payload)
    assert start % 64 == 0, start
    assert blob[start - 5] == 0xC6, "payload must be a bin32"
    assert doc["pad"] == bytes(len(doc["pad"]))
    # attrs are sorted by key, so re-packing the graph map gives the hash input.
    for node in doc["graph"]["nodes"]:
        assert list(node["attrs"]) == sorted(node["attrs"])
    graph_hash = fnv(FNV_OFFSET, msgpack.packb(doc["graph"]))
    assert graph_hash == int(sys.argv[2], 16), (hex(graph_hash), sys.argv[2])
    assert layout_hash(graph_hash, doc["tensors"]) == doc["layout_hash"]
    import numpy as np
    for t in doc["tensors"]:
        assert t["offset"] % 64 == 0
        a = np.frombuffer(payload, DTYPES[t["dtype"]][1], count=t["nbytes"] // np.dtype(DTYPES[t["dtype"]][1]).itemsize, offset=t["offset"])
        if t["name"] == "fc1.w":
            assert np.array_equal(a, -1.5 + np.arange(32, dtype=np.float32) / 8), a
    print("python msgpack read %d bytes, %d tensors, hashes match" % (len(blob), len(doc["tensors"])))


main()
