"""psync_blob.py: reads a psync model blob with msgpack and numpy only.

A blob is one msgpack map (docs/blob-format.md): format, version, graph,
tensors [{name, role, dtype, shape, offset, nbytes}], optimizer, state,
meta, layout_hash, pad, payload. Tensor bytes are little-endian at
payload[offset:offset + nbytes]. No psync code is used, which is the point:
any msgpack reader can open a psync model.
"""
import msgpack
import numpy as np

DTYPES = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8", "u8": "u1"}


def _tensor(payload, t):
    dtype = np.dtype(DTYPES[t["dtype"]])
    shape = tuple(int(d) for d in t["shape"])
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    off, nbytes = int(t["offset"]), int(t["nbytes"])
    if nbytes != count * dtype.itemsize or off + nbytes > len(payload):
        raise ValueError("tensor %r: bad offset/nbytes" % t["name"])
    return np.frombuffer(payload, dtype, count, off).reshape(shape).copy()


def parse(data):
    """Decodes blob bytes into a dict: format, version, graph, tensors
    (name -> numpy array), roles (name -> role), optimizer, state, meta,
    layout_hash."""
    doc = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if doc.get("format") != "psync.model":
        raise ValueError("not a psync model blob: %r" % doc.get("format"))
    payload = doc["payload"]
    tensors = {t["name"]: _tensor(payload, t) for t in doc["tensors"]}
    return {
        "format": doc["format"],
        "version": doc["version"],
        "graph": doc["graph"],
        "tensors": tensors,
        "roles": {t["name"]: t["role"] for t in doc["tensors"]},
        "optimizer": doc["optimizer"],
        "state": doc["state"],
        "meta": doc.get("meta", {}),
        "layout_hash": doc.get("layout_hash"),
    }


def load(path):
    """Reads and decodes the blob file at path (see parse)."""
    with open(path, "rb") as f:
        return parse(f.read())
