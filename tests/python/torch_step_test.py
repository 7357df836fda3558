"""torch_step_test.py: replays tests/unit/torch_step's training steps in
PyTorch and compares loss, every param and every optimizer slot with the
psync engine's results (max relative error 1e-4 against each tensor's
magnitude). Usage: torch_step_test.py DIR (the torch_step output).
Exits 77 (skip) when torch is not importable."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psync_blob  # noqa: E402

try:
    import torch
except ImportError:
    print("torch not importable: skipping")
    sys.exit(77)

TOL = 1e-4
STEPS = 2


def rel_err(a, b):
    """Max |a-b| relative to |b|, floored at 10% of b's largest entry (two
    steps amplify rounding where g1 and g2 nearly cancel in Adam's m)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.maximum(np.abs(b), 0.1 * np.abs(b).max() + 1e-12)
    return float((np.abs(a - b) / scale).max())


def to_torch(name, arr, graph):
    """psync layout -> torch layout: dense weights are [in,out] in psync."""
    dense = {p for n in graph["nodes"] if n["op"] == "dense" for p in n["params"][:1]}
    t = torch.tensor(arr)
    return t.t().contiguous() if name in dense else t


def forward(graph, params, x):
    """Runs the graph's nodes in order (the ops torch_step uses)."""
    vals = {graph["inputs"][0]["name"]: x}
    out = None
    for n in graph["nodes"]:
        a = vals.get(n["inputs"][0])
        attrs = n.get("attrs", {})
        op, p = n["op"], [params[q] for q in n.get("params", [])]
        if op == "dense":
            out = torch.nn.functional.linear(a, p[0], p[1])
        elif op == "relu":
            out = torch.relu(a)
        elif op == "conv2d":
            out = torch.nn.functional.conv2d(a, p[0], p[1], stride=attr(attrs, "stride", 1),
                                             padding=attr(attrs, "pad", 0))
        elif op == "maxpool2d":
            k = attr(attrs, "size", 2)
            out = torch.nn.functional.max_pool2d(a, k, attr(attrs, "stride", k))
        elif op == "flatten":
            out = a.flatten(1)
        elif op == "softmax_xent":
            continue
        else:
            raise ValueError("op %s not replayed" % op)
        vals[n["name"]] = out
    return vals[graph["output"]]


def attr(attrs, key, dflt):
    return int(attrs.get(key, dflt))


def make_opt(o, params):
    kind, lr, wd = o["kind"], o["lr"], o["weight_decay"]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if kind in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=o["momentum"], weight_decay=wd,
                               nesterov=kind == "nesterov")
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                                weight_decay=wd, foreach=False)
    raise ValueError(kind)


def slots(kind, opt, p):
    st = opt.state[p]
    if kind in ("momentum", "nesterov"):
        return {"momentum": st["momentum_buffer"]}
    if kind == "adam":
        return {"m": st["exp_avg"], "v": st["exp_avg_sq"]}
    return {}


def run_case(d, net, case):
    before = psync_blob.load(os.path.join(d, "%s_%s.before.blob" % (net, case)))
    after = psync_blob.load(os.path.join(d, "%s_%s.after.blob" % (net, case)))
    graph = before["graph"]
    x = np.fromfile(os.path.join(d, net + ".x.f32"), "<f4")
    y = torch.tensor(np.fromfile(os.path.join(d, net + ".y.i32"), "<i4").astype(np.int64))
    shape = [int(s) for s in graph["inputs"][0]["shape"]]
    x = torch.tensor(x.reshape([len(y)] + shape))
    names = [q for n in graph["nodes"] for q in n.get("params", [])]
    params = {q: to_torch(q, before["tensors"][q], graph).requires_grad_() for q in names}
    opt = make_opt(before["optimizer"], list(params.values()))
    worst = 0.0
    for s in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(graph, params, x), y)
        loss.backward()
        opt.step()
        worst = max(worst, check(case, "loss.%d" % s, float(after["meta"]["loss.%d" % s]),
                                 loss.item()))
    kind = before["optimizer"]["kind"]
    for q in names:
        worst = max(worst, check(case, q, after["tensors"][q],
                                 to_torch(q, params[q].detach().numpy(), graph).numpy()))
        for sname, val in slots(kind, opt, params[q]).items():
            ours = after["tensors"]["%s/%s" % (q, sname)]
            worst = max(worst, check(case, q + "/" + sname, ours,
                                     to_torch(q, val.numpy(), graph).numpy()))
    if after["optimizer"]["step"] != STEPS or after["state"]["global_step"] != STEPS:
        raise AssertionError("%s: step counters not advanced" % case)
    print("%-14s max relative error %.2e" % (net + "_" + case, worst))


FAILED = []


def check(case, what, ours, theirs):
    e = rel_err(ours, theirs)
    if not e <= TOL:
        FAILED.append("%s %s: relative error %.3g" % (case, what, e))
    return e


def main():
    torch.set_num_threads(1)
    d = sys.argv[1]
    for net in ("mlp", "cnn"):
        for case in ("sgd", "momentum", "nesterov", "adam"):
            run_case(d, net, case)
    for f in FAILED:
        print("FAIL", f)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
