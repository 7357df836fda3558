#!/usr/bin/python3
"""foreign_client_test.py SRC BUILD: two workers written in Python from
docs/protocol.md alone (psync_wire.py: pyzmq + msgpack, no psync code)
run a real psyncd, and a C worker hot-joins what they made.

1. Python member A says hello with a model psync-worker froze (1 step of
   the MLP, so Adam's slots are not zero) and uploads it: merged version 1.
2. Python member B names no model: it declines shared memory, asks for the
   bootstrap and must get A's blob back, tensor for tensor, at version 1.
3. A sync round: A and B publish different payloads with 100 and 300
   samples; both must receive merged version 2 equal to the sample-weighted
   average in every merge range (f32 params and, if `slots`, f32 slots) and
   to the uploaded bytes everywhere else (docs: "Merge rules").
4. Refusals: a snapshot chunk with a wrong crc gets `error` EPROTO and the
   counter `bad_chunk`, a header of protocol version 1 gets EVERSION, and
   the daemon's version stays 2.
5. A second round in which both publish the weights of a 300-step model:
   version 3 is that model. A C `psync-worker --eval-only` then hot-joins
   with only the daemon's address and must evaluate version 3 at the
   accuracy `psync predict` gives the 300-step blob (not a random model's).
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib

import msgpack
import numpy as np
import zmq

DATA = os.environ.get("PSYNC_DATA_DIR") or "/usr/share/datasets/fashion-mnist"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psync_blob  # noqa: E402
import psync_wire  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def freeze(build, src, steps):
    """A blob of the MLP after `steps` steps, frozen by psync-worker."""
    out = subprocess.run(
        [os.path.join(build, "worker/psync-worker"), "--model",
         os.path.join(src, "deploy/models/mlp.psync"), "--steps", str(steps), "--test", "none",
         "--freeze-to", "-", "--log-level", "warn"],
        stdout=subprocess.PIPE, check=True, timeout=120)
    return out.stdout


def predict_accuracy(build, blob):
    out = subprocess.run([os.path.join(build, "cli/psync"), "predict", "--model", "-",
                          "--data-dir", DATA],
                         input=blob, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         check=True, timeout=120)
    line = [ln for ln in out.stderr.decode().splitlines() if ln.startswith("accuracy=")][0]
    return float(line.split()[0].split("=")[1])


def merge_ranges(doc, slots):
    """(offset, count) of every f32 tensor psyncd merges, from the blob's
    tensor table (docs/protocol.md "merged": params, and slots if slots)."""
    roles = {"param"} | ({"slot"} if slots else set())
    return [(int(t["offset"]), int(t["nbytes"]) // 4) for t in doc["tensors"]
            if t["dtype"] == "f32" and t["role"] in roles]


def f32(payload, off, n):
    return np.frombuffer(payload, "<f4", n, off)


def over_ranges(base, ranges, values):
    """base's bytes with each merge range (off, n) replaced by the float32
    array values(off, n)."""
    out = bytearray(base)
    for off, n in ranges:
        out[off:off + 4 * n] = np.asarray(values(off, n), "<f4").tobytes()
    return bytes(out)


def expected_average(base, snaps, ranges):
    """sum_i (samples_i / total) * w_i in member order, in float32, on the
    merge ranges; base's bytes elsewhere."""
    total = sum(s for s, _ in snaps)

    def average(off, n):
        acc = np.zeros(n, np.float32)
        for samples, payload in snaps:
            acc += np.float32(samples / total) * f32(payload, off, n)
        return acc
    return over_ranges(base, ranges, average)


def shifted(payload, ranges, scale, shift):
    return over_ranges(payload, ranges,
                       lambda off, n: f32(payload, off, n) * np.float32(scale) + np.float32(shift))


def max_diff(a, b, ranges):
    return max(float(np.max(np.abs(f32(a, o, n) - f32(b, o, n)))) for o, n in ranges)


class Scene:
    """psyncd on two free loopback ports and the Python members A and B."""

    def __init__(self, src, build, tmp):
        port = int(subprocess.check_output([sys.executable,
                                            os.path.join(src, "deploy/free_port.py")]).split()[0])
        self.build = build
        self.control = "tcp://127.0.0.1:%d" % port
        self.bulk = "tcp://127.0.0.1:%d" % (port + 1)
        self.fresh, self.trained = freeze(build, src, 1), freeze(build, src, 300)
        doc = msgpack.unpackb(self.fresh, raw=False)
        self.doc, self.layout, self.payload = doc, doc["layout_hash"], bytes(doc["payload"])
        self.log = open(os.path.join(tmp, "psyncd.log"), "w")
        self.daemon = subprocess.Popen(
            [os.path.join(build, "daemon/psyncd"), "--bind-control", self.control,
             "--bind-bulk", self.bulk, "--policy", "sync"], stderr=self.log)
        self.ctx = zmq.Context()
        self.a = psync_wire.Member(self.ctx, self.control, self.bulk, "python-a")
        self.b = psync_wire.Member(self.ctx, self.control, self.bulk, "python-b")

    def close(self):
        for m in (self.a, self.b):
            m.close()
        self.ctx.term()
        self.daemon.send_signal(signal.SIGTERM)
        try:
            self.daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
        self.log.close()
        return self.daemon.returncode


def upload_and_bootstrap(sc):
    """A uploads (version 1); B bootstraps it. Returns the merge ranges."""
    a, b = sc.a, sc.b
    w = a.hello(layout=sc.layout, model_bytes=len(sc.fresh), rank=0)
    check(w["action"] == "upload", "A with a model is asked to upload it (%s)" % w["action"])
    a.upload(sc.fresh, sc.layout)
    hdr, _ = a.expect({"announce"})
    check(hdr["version"] == 1, "the upload is announced as merged version 1")
    w = b.hello(rank=1)
    check(w["action"] == "bootstrap", "B without a model is told to bootstrap")
    hdr, blob = b.bootstrap()
    got, want = psync_blob.parse(blob), psync_blob.parse(sc.fresh)
    check(hdr["version"] == 1 and got["state"]["merge_version"] == 1,
          "B's bootstrap is version 1")
    check(got["graph"] == want["graph"] and sorted(got["tensors"]) == sorted(want["tensors"]),
          "B got A's graph and tensor table")
    check(all(np.array_equal(got["tensors"][k], want["tensors"][k]) for k in want["tensors"]),
          "B got A's weights and optimizer slots, bit for bit")
    check(b.shm_declined == 1, "B was offered shared memory and declined it")
    return merge_ranges(sc.doc, bool(w["slots"]))


def weighted_round(sc, ranges):
    """A (100 samples) and B (300) publish different payloads: version 2
    must be their weighted average on the merge ranges, the upload's bytes
    elsewhere."""
    a, b, payload = sc.a, sc.b, sc.payload
    pa, pb = shifted(payload, ranges, 1.0, 0.25), shifted(payload, ranges, -0.5, 0.0)
    a.publish(pa, sc.layout, base=1, samples=100, gstep=1, seen=64, ostep=1)
    b.publish(pb, sc.layout, base=1, samples=300, gstep=1, seen=64, ostep=1)
    ha, ma = a.merged(2)
    hb, mb = b.merged(2)
    inputs = [(100, pa), (300, pb)] if a.m < b.m else [(300, pb), (100, pa)]
    check(ha["version"] == 2 and hb["version"] == 2 and ma == mb,
          "A and B receive the same merged version 2")
    diff = max_diff(ma, expected_average(payload, inputs, ranges), ranges)
    check(diff <= 1e-6, "version 2 is the sample-weighted average (max diff %.2g)" % diff)
    outside = over_ranges(ma, ranges, lambda off, n: f32(payload, off, n))
    check(outside == payload, "bytes outside the merge ranges keep the upload's values")
    return pa


def refusals(sc, pa):
    """A wrong crc and a version-1 header are refused and counted; the
    merged version stays 2; status shows both members on frames."""
    a = sc.a
    bad = pa[:a.welcome["chunk_bytes"]]
    a.send(a.bulk, "snapshot", bad, m=a.m, layout=sc.layout, base=2, samples=1, offset=0,
           total=len(pa), crc=zlib.crc32(bad) ^ 1, gstep=2, seen=1, ostep=2)
    try:
        a.expect({"merged"}, 5000)
        check(False, "a wrong crc is refused")
    except psync_wire.Refused as e:
        check(e.code == "EPROTO" and e.ref == "snapshot", "a wrong crc gets EPROTO (%s)" % e)
    reply, _ = psync_wire.request(sc.ctx, sc.control,
                                  msgpack.packb({"v": 1, "t": "status_req", "inc": 0}))
    check(reply["t"] == "error" and reply["code"] == "EVERSION",
          "a version-1 header gets EVERSION")
    st = psync_wire.status(sc.ctx, sc.control)
    check(st["version"] == 2 and st["refused"].get("bad_chunk", 0) >= 1
          and st["refused"].get("protocol_version", 0) >= 1,
          "status counts both refusals and the version stays 2")
    end = time.monotonic() + 5
    while True:  # `held` comes with heartbeats, on another connection
        names = {m["name"]: m for m in psync_wire.status(sc.ctx, sc.control)["members"]}
        held = [names.get(n, {}).get("held") for n in ("python-a", "python-b")]
        if held == [2, 2] or time.monotonic() > end:
            break
        time.sleep(0.05)
    check(held == [2, 2] and all(names[n]["transport"] == "frames"
                                 for n in ("python-a", "python-b")),
          "status lists both Python members on frames, holding version 2 (%s)" % held)


def trained_round_and_c_join(sc, ranges):
    """Both publish a 300-step model's weights (version 3); a C worker that
    names only the daemon hot-joins and evaluates it as psync predict
    evaluates that model."""
    tp = bytes(msgpack.unpackb(sc.trained, raw=False)["payload"])
    for m in (sc.a, sc.b):
        m.publish(tp, sc.layout, base=2, samples=1, gstep=300, seen=19200, ostep=300)
    h3, m3 = sc.a.merged(3)
    sc.b.merged(3)
    check(h3["version"] == 3 and max_diff(m3, tp, ranges) <= 1e-6,
          "version 3 is the 300-step model both published")
    want_acc = predict_accuracy(sc.build, sc.trained)
    joiner = subprocess.run(
        [os.path.join(sc.build, "worker/psync-worker"), "--connect", sc.control, "--eval-only",
         "--join-timeout-ms", "30000"],
        stderr=subprocess.PIPE, timeout=120, env=dict(os.environ, PSYNC_BULK_ADDR=sc.bulk))
    jlog = joiner.stderr.decode()
    evals = [ln for ln in jlog.splitlines() if "event=joined_eval" in ln]
    check(joiner.returncode == 0 and evals,
          "the C worker hot-joined and evaluated" + ("" if evals else "\n" + jlog))
    acc = float(evals[0].split("test_accuracy=")[1].split()[0])
    check(abs(acc - want_acc) <= 0.005,
          "the C joiner evaluates version 3 at %.4f, psync predict of the 300-step "
          "blob says %.4f" % (acc, want_acc))


def run(src, build, tmp):
    sc = Scene(src, build, tmp)
    try:
        ranges = upload_and_bootstrap(sc)
        pa = weighted_round(sc, ranges)
        refusals(sc, pa)
        trained_round_and_c_join(sc, ranges)
        sc.a.leave()
        sc.b.leave()
    finally:
        rc = sc.close()
    check(rc == 0, "psyncd drained and exited 0")


def main():
    src, build = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run(src, build, tmp)
        except BaseException:
            path = os.path.join(tmp, "psyncd.log")
            if os.path.exists(path):
                sys.stderr.write(open(path).read()[-4000:])
            raise
    print("PASS")


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print("took %.1f s" % (time.monotonic() - t0))
