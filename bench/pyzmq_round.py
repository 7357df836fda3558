#!/usr/bin/python3
"""pyzmq_round.py: the "quick Python server" peer of psync's sync round: a
pyzmq ROUTER averages 4 workers' float32 snapshots sent as msgpack maps
(numpy bytes inside) and sends the mean back to each DEALER worker. A round
is timed at each worker from its send to its receipt of the mean; the round
time is the slowest worker's, median over rounds (after one warm-up)."""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time

import msgpack
import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerkit import keep_heap  # noqa: E402


def server(addr, workers, rounds, keep, q):
    if keep:
        keep_heap()
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    s.bind(addr)
    q.put("ready")
    for _ in range(rounds):
        ids, acc = [], None
        for _ in range(workers):
            rid, body = s.recv_multipart(copy=False)
            msg = msgpack.unpackb(body.buffer)
            x = np.frombuffer(msg["data"], dtype=np.float32)
            acc = x.copy() if acc is None else acc.__iadd__(x)
            ids.append(rid.bytes)
        acc /= workers
        out = msgpack.packb({"round": msg["round"], "data": acc.tobytes()})
        for rid in ids:
            s.send_multipart([rid, out], copy=False)
    times = [msgpack.unpackb(s.recv_multipart()[1])["times"] for _ in range(workers)]
    q.put([max(col) for col in zip(*times)])
    s.close(0)
    ctx.term()


def worker(addr, rank, n, rounds, keep):
    if keep:
        keep_heap()
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.connect(addr)
    w = np.full(n, float(rank + 1), dtype=np.float32)
    times = []
    for r in range(rounds):
        t0 = time.perf_counter()
        s.send(msgpack.packb({"rank": rank, "round": r, "data": w.tobytes()}), copy=False)
        msg = msgpack.unpackb(s.recv(copy=False).buffer)
        np.copyto(w, np.frombuffer(msg["data"], dtype=np.float32))
        times.append(time.perf_counter() - t0)
    s.send(msgpack.packb({"times": times}))
    s.close(linger=1000)
    ctx.term()


def run(addr, a, n):
    q = mp.Queue()
    keep = not a.no_keep_heap
    srv = mp.Process(target=server, args=(addr, a.workers, a.reps + 1, keep, q))
    srv.start()
    q.get(timeout=60)
    ws = [mp.Process(target=worker, args=(addr, r, n, a.reps + 1, keep))
          for r in range(a.workers)]
    for p in ws:
        p.start()
    worst = q.get(timeout=900)
    for p in ws + [srv]:
        p.join(60)
    return statistics.median(worst[1:]) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=float, default=100.0, help="MB of float32 per worker")
    ap.add_argument("--params", type=int, default=0, help="element count (overrides --size-mb)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--transport", choices=["ipc", "tcp", "both"], default="both")
    ap.add_argument("--no-keep-heap", action="store_true")
    a = ap.parse_args()
    n = a.params or int(a.size_mb * 1e6 / 4)
    print(f"peer_env pyzmq={zmq.__version__} libzmq={zmq.zmq_version()} msgpack numpy="
          f"{np.__version__} workers={a.workers} params={n} keep_heap={int(not a.no_keep_heap)}")
    figures = []
    if a.transport in ("ipc", "both"):
        with tempfile.TemporaryDirectory() as d:
            figures.append(f"pyzmq_ipc_round_ms={run(f'ipc://{d}/round.sock', a, n):.2f}")
    if a.transport in ("tcp", "both"):
        import socket
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
        figures.append(f"pyzmq_tcp_round_ms={run(f'tcp://127.0.0.1:{port}', a, n):.2f}")
    print("peer " + " ".join(figures))


if __name__ == "__main__":
    main()
