"""psync_wire.py: a psync worker in Python, written from docs/protocol.md.

No psync code is used (pyzmq and msgpack only), which is the point: the
protocol page must be enough to write a client in another language. A
Member speaks the worker's side: hello/welcome, attach, model upload,
bootstrap, snapshots, merged versions, heartbeats, status and leave. It
declines shared memory (shm_accept with sid 0), as a client that cannot or
will not map psyncd's segments does, so every payload byte comes as frames.
"""
import os
import time
import zlib

import msgpack
import zmq

VERSION = 2  # the header's "v"


class Refused(Exception):
    """psyncd answered a message with an `error`: code, ref, detail."""

    def __init__(self, hdr):
        super().__init__("%s (ref %r): %s" % (hdr["code"], hdr["ref"], hdr["detail"]))
        self.code, self.ref, self.detail = hdr["code"], hdr["ref"], hdr["detail"]


def routing_id():
    """16 random bytes whose first byte is not zero (ZeroMQ's rule)."""
    rid = bytearray(os.urandom(16))
    rid[0] = rid[0] or 1
    return bytes(rid)


def pack(t, inc, fields):
    hdr = {"v": VERSION, "t": t, "inc": inc}
    hdr.update(fields)
    return msgpack.packb(hdr, use_bin_type=True)


class Member:
    """One worker: a DEALER on each of psyncd's endpoints, one routing id."""

    def __init__(self, ctx, control, bulk, name):
        self.name, rid = name, routing_id()
        self.ctl, self.bulk = ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER)
        for s, ep in ((self.ctl, control), (self.bulk, bulk)):
            s.setsockopt(zmq.ROUTING_ID, rid)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(ep)
        self.inc, self.m, self.welcome, self.held = 0, None, None, 0
        self.shm_declined = 0
        self.next_beat = 0.0

    def close(self):
        self.ctl.close()
        self.bulk.close()

    def send(self, sock, t, payload=None, **fields):
        frames = [pack(t, self.inc, fields)]
        if payload is not None:
            frames.append(payload)
        sock.send_multipart(frames, copy=True)

    # -- receiving ---------------------------------------------------------
    def _poll_one(self, timeout_ms):
        """Next message from either socket as (header, payload or None),
        or None after timeout_ms. Sends heartbeats while it waits."""
        poller = zmq.Poller()
        poller.register(self.ctl, zmq.POLLIN)
        poller.register(self.bulk, zmq.POLLIN)
        end = time.monotonic() + timeout_ms / 1000.0
        while True:
            self._beat()
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready = dict(poller.poll(min(left, 0.1) * 1000))
            for s in (self.ctl, self.bulk):
                if s in ready:
                    frames = s.recv_multipart()
                    hdr = msgpack.unpackb(frames[0], raw=False)
                    if hdr.get("v") != VERSION:
                        raise AssertionError("daemon sent protocol version %r" % hdr.get("v"))
                    return hdr, (frames[1] if len(frames) > 1 else None)

    def _beat(self):
        if self.m is None or time.monotonic() < self.next_beat:
            return
        self.heartbeat()

    def heartbeat(self):
        """Sends a heartbeat now: it carries `held`, the version we hold."""
        self.send(self.ctl, "heartbeat", m=self.m, held=self.held)
        self.next_beat = time.monotonic() + self.welcome["heartbeat_ms"] / 1000.0

    def _housekeep(self, hdr):
        """Handles what may come at any time; returns True if it did."""
        t = hdr["t"]
        if t in ("heartbeat_ack", "announce"):
            return True
        if t == "shm_offer":
            # The doc: answer sid 0 to keep frames (a bootstrap_req waits
            # for the answer).
            self.send(self.bulk, "shm_accept", m=self.m, sid=0)
            self.shm_declined += 1
            return True
        return False

    def expect(self, types, timeout_ms=10000):
        """Waits for a message of one of `types`, handling the others.
        Raises Refused on an `error`, TimeoutError after timeout_ms."""
        end = time.monotonic() + timeout_ms / 1000.0
        while True:
            got = self._poll_one(max(0, (end - time.monotonic()) * 1000))
            if got is None:
                raise TimeoutError("%s: no %s within %d ms" % (self.name, types, timeout_ms))
            hdr, payload = got
            if hdr["t"] in types:
                return hdr, payload
            if hdr["t"] == "error":
                raise Refused(hdr)
            if not self._housekeep(hdr):
                raise AssertionError("%s: unexpected %r" % (self.name, hdr))

    def stream(self, t, timeout_ms=20000, min_version=0):
        """Assembles one whole chunked stream of type t (bootstrap or
        merged) of a version >= min_version: checks each chunk's offset,
        length and crc; a chunk of another version starts a new stream (the
        newer wins). Returns (header of the last chunk, bytes)."""
        buf, have, ident = None, set(), None
        chunk = self.welcome["chunk_bytes"]
        while True:
            hdr, payload = self.expect({t}, timeout_ms)
            total, off = hdr["total"], hdr["offset"]
            if (hdr["version"], total) != ident:
                if ident is not None and hdr["version"] < ident[0]:
                    continue  # an older version's straggler
                buf, have, ident = bytearray(total), set(), (hdr["version"], total)
            want = min(chunk, total - off)
            if off % chunk or off >= total or len(payload) != want:
                raise AssertionError("%s: bad chunk %r len %d" % (t, hdr, len(payload)))
            if zlib.crc32(payload) != hdr["crc"]:
                raise AssertionError("%s: crc mismatch at %d" % (t, off))
            buf[off:off + want] = payload
            have.add(off)
            if len(have) * chunk >= total:
                if hdr["version"] >= min_version:
                    return hdr, bytes(buf)
                ident = None  # an older version sent again: not the one awaited

    # -- the worker's side of the sequence ---------------------------------
    def hello(self, layout=0, model_bytes=0, rank=-1, held=0, held_inc=0, epoch=0):
        self.held = held
        self.send(self.ctl, "hello", name=self.name, rank=rank, layout=layout, held=held,
                  held_inc=held_inc, model_bytes=model_bytes, epoch=epoch)
        hdr, _ = self.expect({"welcome"})
        self.welcome, self.m = hdr, hdr["m"]
        self.inc = hdr["inc"]
        self.send(self.bulk, "attach", m=self.m)
        return hdr

    def send_chunks(self, t, data, **ident):
        """Sends data as stream t in chunk_bytes chunks with ident fields."""
        chunk = self.welcome["chunk_bytes"]
        for off in range(0, len(data), chunk):
            part = data[off:off + chunk]
            self.send(self.bulk, t, part, m=self.m, offset=off, total=len(data),
                      crc=zlib.crc32(part), **ident)

    def upload(self, blob, layout, version=0):
        self.send_chunks("model", blob, layout=layout, version=version)

    def bootstrap(self):
        self.send(self.bulk, "bootstrap_req", m=self.m)
        return self.stream("bootstrap")

    def publish(self, payload, layout, base, samples, gstep=0, seen=0, ostep=0):
        self.send_chunks("snapshot", payload, layout=layout, base=base, samples=samples,
                         gstep=gstep, seen=seen, ostep=ostep)

    def merged(self, min_version, timeout_ms=20000):
        """The next complete merged version >= min_version."""
        hdr, data = self.stream("merged", timeout_ms, min_version)
        self.held = hdr["version"]
        self.heartbeat()  # tell the daemon at once
        return hdr, data

    def leave(self, reason="done"):
        self.send(self.ctl, "leave", m=self.m, reason=reason)


def request(ctx, control, header, timeout_ms=5000):
    """Sends one header (encoded bytes) from a non-member DEALER and
    returns the reply as (header, payload or None)."""
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(control)
    try:
        s.send(header)
        if not s.poll(timeout_ms):
            raise TimeoutError("no reply from %s" % control)
        frames = s.recv_multipart()
        return msgpack.unpackb(frames[0], raw=False), (frames[1] if len(frames) > 1 else None)
    finally:
        s.close()


def status(ctx, control, timeout_ms=5000):
    """The daemon's status document (status_req from a non-member)."""
    hdr, doc = request(ctx, control, pack("status_req", 0, {}), timeout_ms)
    if hdr["t"] != "status":
        raise AssertionError("status_req answered with %r" % hdr)
    return msgpack.unpackb(doc, raw=False, strict_map_key=False)
