#!/usr/bin/python3
"""gloo_round.py: the peer of psync's sync round: 4 processes average a
float32 tensor with torch.distributed (gloo backend) all_reduce(SUM) then /N,
over TCP loopback. Each round starts on a barrier; the round time is the
slowest rank's (max over ranks). Prints a "peer ..." line with the median."""
import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerkit import keep_heap, openblas_env  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_main(rank, world, port, n, reps, keep, q):
    import torch
    import torch.distributed as dist
    if keep:
        keep_heap()
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    t = torch.full((n,), float(rank + 1))
    times = []
    for r in range(reps + 1):  # round 0 is the warm-up
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t.div_(world)
        times.append(time.perf_counter() - t0)
    worst = torch.tensor(times[1:], dtype=torch.float64)
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    if rank == 0:
        q.put((statistics.median(worst.tolist()) * 1e3, float(t[0])))
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=float, default=100.0, help="MB of float32 per worker")
    ap.add_argument("--params", type=int, default=0, help="element count (overrides --size-mb)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-keep-heap", action="store_true")
    a = ap.parse_args()
    import torch.multiprocessing as mp
    n = a.params or int(a.size_mb * 1e6 / 4)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=rank_main,
                         args=(r, a.workers, port, n, a.reps, not a.no_keep_heap, q))
             for r in range(a.workers)]
    for p in procs:
        p.start()
    ms, first = q.get(timeout=600)
    for p in procs:
        p.join(60)
    expect = (a.workers + 1) / 2.0
    print(f"peer_env gloo workers={a.workers} params={n} torch_threads=1 {openblas_env()}")
    print(f"peer gloo_round_ms={ms:.2f} gloo_ok={int(abs(first - expect) < 1e-3)}")


if __name__ == "__main__":
    main()
