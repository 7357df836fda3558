#!/usr/bin/python3
"""torch_train.py: the peer of train_bench: the same MLP (784-256-128-10,
relu, softmax cross-entropy) trained with PyTorch on Fashion-MNIST with the
same batch size, optimizer and one thread (torch's and OpenBLAS's). The timed loop is
the same as psync's: gather a batch through a shuffled permutation, then one
training step. Prints a "peer ..." line: median images/s and test accuracy."""
import argparse
import gzip
import os
import statistics
import time

import numpy as np

from peerkit import openblas_env, set_blas_threads


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(dirname, train):
    kind = "train" if train else "t10k"
    x = load_idx(os.path.join(dirname, f"{kind}-images-idx3-ubyte.gz"))
    y = load_idx(os.path.join(dirname, f"{kind}-labels-idx1-ubyte.gz"))
    return x.reshape(len(x), -1).astype(np.float32) / 255.0, y.astype(np.int64)


def run_epoch(torch, model, opt, x, y, batch, samples, gen):
    """Trains on `samples` images in batches; returns images per second."""
    lossf = torch.nn.CrossEntropyLoss()
    perm = torch.randperm(len(x), generator=gen)
    t0 = time.perf_counter()
    for start in range(0, samples - batch + 1, batch):
        idx = perm[start % len(x):start % len(x) + batch]
        if len(idx) < batch:
            continue
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
    return (samples // batch) * batch / (time.perf_counter() - t0)


def make_optimizer(torch, model, a):
    """The torch optimizer matching psync's kind and hyper-parameters."""
    if a.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    momentum = 0.0 if a.optimizer == "sgd" else a.momentum
    return torch.optim.SGD(model.parameters(), lr=a.lr, momentum=momentum,
                           nesterov=a.optimizer == "nesterov")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=os.environ.get("PSYNC_DATA_DIR",
                                                     "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--samples", type=int, default=60000, help="images per timed round")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--optimizer", default="adam", choices=["sgd", "momentum", "nesterov", "adam"])
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    set_blas_threads(1)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    x, y = (torch.from_numpy(v) for v in load(a.data, True))
    tx, ty = (torch.from_numpy(v) for v in load(a.data, False))
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    opt = make_optimizer(torch, model, a)
    run_epoch(torch, model, opt, x, y, a.batch, min(a.samples, 20 * a.batch), gen)  # warm-up
    rates = [run_epoch(torch, model, opt, x, y, a.batch, a.samples, gen) for _ in range(a.reps)]
    with torch.no_grad():
        acc = (model(tx).argmax(1) == ty).float().mean().item()
    print(f"peer_env torch={torch.__version__} torch_threads={torch.get_num_threads()} "
          f"{openblas_env()} batch={a.batch} optimizer={a.optimizer} lr={a.lr}")
    print(f"peer torch_images_per_s={statistics.median(rates):.0f} "
          f"torch_test_accuracy={acc:.4f}")


if __name__ == "__main__":
    main()
