#!/usr/bin/python3
"""torch_blob.py: the peer of blob_bench: torch.save / torch.load of the same
dense MLP tensors (weights, biases and one momentum slot each) to and from an
in-memory io.BytesIO. Prints "peer ..." lines with medians in milliseconds.
Measured twice: as users write it (a new BytesIO per save, glibc's default
allocator), then warm like psync's side (the BytesIO reused, large frees
kept in the heap with mallopt). Each measurement has one untimed warm-up."""
import argparse
import io
import statistics
import time

from peerkit import keep_heap, openblas_env


def build(torch, layers):
    """Returns {name: tensor} with psync's names: fcK.w, fcK.b and their
    /momentum slots."""
    state = {}
    for k in range(len(layers) - 1):
        w = torch.randn(layers[k], layers[k + 1])
        b = torch.zeros(layers[k + 1])
        for name, t in ((f"fc{k + 1}.w", w), (f"fc{k + 1}.b", b)):
            state[name] = t
            state[name + "/momentum"] = torch.zeros_like(t)
    return state


def timed(fn, reps):
    times = []
    for _ in range(reps + 1):  # first round is the warm-up
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:]) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layers", required=True, help="comma-separated widths")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    layers = [int(x) for x in a.layers.split(",")]
    state = build(torch, layers)
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    buf = io.BytesIO()

    def save_fresh():
        nonlocal buf
        buf = io.BytesIO()
        torch.save(state, buf)

    def save():
        buf.seek(0)
        torch.save(state, buf)
        buf.truncate()

    def load():
        buf.seek(0)
        return torch.load(buf)

    # As users write it (new BytesIO, default allocator), then warm: the
    # BytesIO reused and large frees kept in the heap.
    cold_save, cold_load = timed(save_fresh, a.reps), timed(load, a.reps)
    keep_heap()
    save_ms, load_ms = timed(save, a.reps), timed(load, a.reps)
    back = load()
    assert all(torch.equal(back[k], state[k]) for k in state)
    print(f"peer_env torch={torch.__version__} torch_threads={torch.get_num_threads()} "
          f"{openblas_env()}")
    print(f"peer torch_bytes={nbytes} torch_blob_bytes={buf.getbuffer().nbytes} "
          f"torch_save_ms={save_ms:.2f} torch_load_ms={load_ms:.2f} "
          f"torch_default_save_ms={cold_save:.2f} torch_default_load_ms={cold_load:.2f}")


if __name__ == "__main__":
    main()
