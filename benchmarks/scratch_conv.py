"""The NumPy engine against torch: convolution speed, the ways to convolve, time to 97 %.

Three tables, each cnnzoo beside its baseline in one run:

1. conv forward + backward (dx, dw, db): the naive loops and im2col + GEMM of
   ``cnnzoo.scratch.functional`` against ``torch.nn.functional.conv2d`` with autograd,
   on a LeNet-sized layer (C3) and a ResNet-sized one (conv2_x), same thread count.
2. one 2-D convolution five ways (``cnnzoo.scratch.conv_theory``): direct sum, dense
   Toeplitz matrix, dense doubly block circulant matrix, FFT, separable passes —
   multiplications counted and time measured.
3. wall time of ``cnnzoo scratch train`` until 97 % test accuracy on the digits, beside
   the same LeNet-5 and recipe (Adam, constant lr 2e-3, batch 32) in plain eager PyTorch.

    python benchmarks/scratch_conv.py [--threads 1] [--repeats 5] [--skip-train]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as TF
from threadpoolctl import threadpool_limits

from cnnzoo.scratch import conv_theory as ct
from cnnzoo.scratch import functional as F


def timeit(fn, repeats: int, min_seconds: float = 1.0) -> float:
    """Best of at least ``repeats`` runs (and of at least ``min_seconds``): on shared cores the
    minimum is the run least disturbed by other processes."""
    fn()  # warm-up
    times: list[float] = []
    while len(times) < repeats or sum(times) < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def conv_table(repeats: int) -> list[str]:
    layers = [
        # name, N, C_in, H, C_out, k, stride, padding, naive batch (timed, then scaled to N)
        ("LeNet C3: 32×6×14×14 → 16, 5×5", 32, 6, 14, 16, 5, 1, 0, 2),
        ("ResNet conv2_x: 8×64×56×56 → 64, 3×3 pad 1", 8, 64, 56, 64, 3, 1, 1, 1),
    ]
    rows = ["| layer | naive loops | im2col + GEMM | torch conv2d (CPU) | im2col / torch |", "|---|---:|---:|---:|---:|"]
    for name, *shape in layers:
        rows.append(f"| {name} | " + _time_layer(*shape, repeats) + " |")
    return rows


def _time_layer(n: int, c: int, h: int, o: int, k: int, s: int, p: int, n_naive: int, repeats: int) -> str:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    w = (0.1 * rng.standard_normal((o, c, k, k))).astype(np.float32)
    b = np.zeros(o, np.float32)

    def ours():
        out, cache = F.conv2d_forward(x, w, b, s, p)
        F.conv2d_backward(np.ones_like(out), cache)

    def naive():
        out, cache = F.conv2d_forward_naive(x[:n_naive], w, b, s, p)
        F.conv2d_backward_naive(np.ones_like(out), cache)

    xt = torch.from_numpy(x).requires_grad_()
    wt, bt = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()

    def theirs():
        out = TF.conv2d(xt, wt, bt, s, p)
        out.backward(torch.ones_like(out))

    t_ours, t_torch = timeit(ours, repeats), timeit(theirs, repeats)
    t_naive = timeit(naive, 1, min_seconds=0.0) * n / n_naive
    scaled = f" (N={n_naive}, ×{n // n_naive})" if n_naive != n else ""
    return f"{t_naive * 1e3:,.0f} ms{scaled} | {t_ours * 1e3:,.1f} ms | {t_torch * 1e3:,.1f} ms | {t_ours / t_torch:.1f}×"


def theory_table(repeats: int) -> list[str]:
    rng = np.random.default_rng(0)
    rows = ["| image, kernel | method | multiplies | time (incl. building the matrix) | equals direct |", "|---|---|---:|---:|---|"]
    for size, k in ((32, 5), (32, 9), (64, 9)):
        x = rng.standard_normal((size, size))
        u, v = rng.standard_normal(k), rng.standard_normal(k)
        kernel = np.outer(u, v)  # rank 1, so the separable method applies
        direct = ct.convolve2d(x, kernel, "full")
        costs = ct.convolution_costs(x.shape, kernel.shape)
        methods = {
            "direct": lambda x=x, kernel=kernel: ct.convolve2d(x, kernel, "full"),
            "toeplitz": lambda x=x, kernel=kernel: ct.toeplitz_convolve2d(x, kernel, "full"),
            "circulant": lambda x=x, kernel=kernel: ct.circulant_convolve2d(x, kernel, "full"),
            "fft": lambda x=x, kernel=kernel: ct.fft_convolve2d(x, kernel, "full"),
            "separable": lambda x=x, u=u, v=v: ct.separable_convolve2d(x, u, v, "full"),
        }
        for name, fn in methods.items():
            if name == "circulant" and size > 32:
                rows.append(f"| {size}×{size}, {k}×{k} | {name} | {costs[name]:,.0f} | (matrix of {costs[name] * 8 / 2**30:.1f} GiB: skipped) | |")
                continue
            t = timeit(fn, repeats)
            ok = np.allclose(fn(), direct, atol=1e-9)
            rows.append(f"| {size}×{size}, {k}×{k} | {name} | {costs[name]:,.0f} | {t * 1e3:.3f} ms | {'yes' if ok else 'NO'} |")
    return rows


def torch_time_to_target(target: float, threads: int, max_epochs: int = 20) -> tuple[float, int, float]:
    """Same LeNet-5 (ReLU, max pool), same recipe, plain eager PyTorch."""
    import cnnzoo
    from cnnzoo.data.digits import load_digits_arrays

    torch.manual_seed(0)
    d = load_digits_arrays(32)
    xtr, ytr = torch.from_numpy(d.x_train), torch.from_numpy(d.y_train)
    xte, yte = torch.from_numpy(d.x_test), torch.from_numpy(d.y_test)
    model = cnnzoo.create("lenet5", activation="relu", pool="max")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    acc, epochs_run = 0.0, 0
    for epoch in range(1, max_epochs + 1):
        epochs_run = epoch
        model.train()
        order = torch.from_numpy(rng.permutation(len(xtr)))
        for i in range(0, len(xtr), 32):
            idx = order[i : i + 32]
            loss = TF.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(xte).argmax(1) == yte).float().mean())
        if acc >= target:
            break
    return time.perf_counter() - start, epochs_run, acc


def train_table(threads: int) -> list[str]:
    rows = ["| engine | epochs to 97 % | test accuracy then | time to 97 % (training loop) | whole command |", "|---|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "cnnzoo", "scratch", "train", "--lr", "0.002", "--schedule", "constant", "--epochs", "20",
               "--target-acc", "0.97", "--threads", str(threads), "--out", tmp, "--quiet"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
        wall = time.perf_counter() - start
        last = json.loads(Path(tmp, "metrics.jsonl").read_text().splitlines()[-1])
    rows.append(f"| cnnzoo scratch (NumPy) | {last['epoch']} | {last['test_acc']:.2%} | {last['elapsed']:.1f} s | {wall:.1f} s |")
    t, epochs, acc = torch_time_to_target(0.97, threads)
    rows.append(f"| eager PyTorch, same LeNet-5 and recipe | {epochs} | {acc:.2%} | {t:.1f} s | |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (same for both)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        print(f"## conv forward + backward, float32, {args.threads} thread(s), best of >= {args.repeats} runs\n")
        print("\n".join(conv_table(args.repeats)), "\n")
        print("## one 2-D convolution (full mode), float64, five ways\n")
        print("\n".join(theory_table(args.repeats)), "\n")
    if not args.skip_train:
        print("## time to 97 % test accuracy on the digits (LeNet-5, ReLU, max pool, Adam 2e-3, batch 32)\n")
        print("\n".join(train_table(args.threads)))


if __name__ == "__main__":
    main()
