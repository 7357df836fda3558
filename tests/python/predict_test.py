"""predict_test.py WORKER CLI MODELFILE: trains the MLP for 2 epochs with
psync-worker (blob kept in memory: worker stdout -> this process ->
`psync predict --model -` stdin), rebuilds it in PyTorch from the blob read
with msgpack + numpy only, and requires the same predictions on the 10000
test images (argmax equal on >= 99.9%, accuracy within 0.1 point).
Exit 77 (skipped) when torch is missing."""
import gzip
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psync_blob  # noqa: E402

try:
    import torch
except ImportError:
    print("torch not importable: skipped")
    sys.exit(77)


def load_t10k(data_dir):
    with gzip.open(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x.astype(np.float32) * np.float32(1.0 / 255.0), y


def torch_predict(blob, x):
    """Rebuilds the graph's dense/relu chain in PyTorch and returns argmax."""
    g, t = blob["graph"], blob["tensors"]
    values = {g["inputs"][0]["name"]: torch.from_numpy(x)}
    for node in g["nodes"]:
        src = values.get(node["inputs"][0])
        if node["op"] == "dense":
            w, b = (torch.from_numpy(t[p]) for p in node["params"])
            values[node["name"]] = src @ w + b  # dense weight is [in, out]
        elif node["op"] == "relu":
            values[node["name"]] = torch.relu(src)
        elif node["op"] != "softmax_xent":
            raise SystemExit("unexpected op %s" % node["op"])
    return values[g["output"]].argmax(dim=1).numpy()


def main():
    worker, cli, model = sys.argv[1:4]
    data_dir = os.environ.get("PSYNC_DATA_DIR", "/usr/share/datasets/fashion-mnist")
    torch.set_num_threads(1)
    train = subprocess.run([worker, "--model", model, "--epochs", "2", "--threads", "1",
                            "--test", "none", "--freeze-to", "-"],
                           stdout=subprocess.PIPE, check=True)
    blob_bytes = train.stdout
    blob = psync_blob.parse(blob_bytes)
    pred = subprocess.run([cli, "predict", "--model", "-", "--data-dir", data_dir],
                          input=blob_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=True)
    ours = np.array([int(line) for line in pred.stdout.split()], dtype=np.int64)
    acc_line = pred.stderr.decode().strip().splitlines()[-1]
    ours_acc = float(acc_line.split()[0].split("=")[1])
    x, y = load_t10k(data_dir)
    theirs = torch_predict(blob, x)
    agree = float(np.mean(ours == theirs))
    torch_acc = float(np.mean(theirs == y))
    print("blob %d bytes, step %d" % (len(blob_bytes), blob["state"]["global_step"]))
    print("psync predict accuracy %.4f (%s)" % (ours_acc, acc_line))
    print("pytorch accuracy %.4f, argmax agreement %.5f" % (torch_acc, agree))
    assert len(ours) == 10000, len(ours)
    assert abs(float(np.mean(ours == y)) - ours_acc) < 1e-4
    assert agree >= 0.999, agree
    assert abs(ours_acc - torch_acc) <= 0.001, (ours_acc, torch_acc)
    assert ours_acc > 0.8, ours_acc
    print("PASS")


if __name__ == "__main__":
    main()
