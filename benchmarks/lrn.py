"""Local response normalisation: which formulation is fastest, forward and backward?

AlexNet's LRN (Krizhevsky et al. 2012, §3.3; n=5, α=1e-4, β=0.75, k=2) at the
two places the network uses it, batch 32: after conv1 (96@55×55) and after
conv2 (256@27×27). Candidates, all computing the same function:

  torch            ``F.local_response_norm`` (= ``nn.LocalResponseNorm``): squares,
                   ``avg_pool3d`` over an ``(n, 1, 1)`` window, ``pow``, ``mul``; autograd
  avg_pool2d       the squares viewed as ``(N, 1, C, H·W)``, padded, ``avg_pool2d((n, 1))``
  conv (ones)      the same view, a 1-D convolution over channels with a ones kernel
  slices           ``n − 1`` adds of channel-shifted slices of the padded squares; autograd
  cnnzoo           ``cnnzoo.layers.lrn.local_response_norm``: in-place shifted-slice sums
                   and the gradient written out (one autograd node)

Rounds are interleaved in one process; the table gives the median per call and
the speed-up over torch, plus the largest relative difference from torch
(output and input gradient).

    python benchmarks/lrn.py [--batch 32] [--rounds 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnzoo.layers.lrn import local_response_norm

N, ALPHA, BETA, K = 5, 1e-4, 0.75, 2.0
BEFORE, AFTER = N // 2, (N - 1) // 2


def _torch(x: Tensor) -> Tensor:
    return F.local_response_norm(x, N, alpha=ALPHA * N, beta=BETA, k=K)


def _channels_as_rows(sq: Tensor) -> Tensor:
    b, c = sq.shape[:2]
    return F.pad(sq.reshape(b, 1, c, -1), (0, 0, BEFORE, AFTER))


def _avg_pool2d(x: Tensor) -> Tensor:
    s = F.avg_pool2d(_channels_as_rows(x * x), (N, 1), stride=1) * N
    return x * (s.view_as(x) * ALPHA + K).pow(-BETA)


def _conv(x: Tensor) -> Tensor:
    ones = torch.ones(1, 1, N, 1, dtype=x.dtype)
    s = F.conv2d(_channels_as_rows(x * x), ones)
    return x * (s.view_as(x) * ALPHA + K).pow(-BETA)


def _slices(x: Tensor) -> Tensor:
    c = x.shape[1]
    p = F.pad(x * x, (0, 0, 0, 0, BEFORE, AFTER))
    s = p[:, :c]
    for i in range(1, N):
        s = s + p[:, i : i + c]
    return x * (s * ALPHA + K).pow(-BETA)


def _cnnzoo(x: Tensor) -> Tensor:
    return local_response_norm(x, N, ALPHA, BETA, K)


CANDIDATES: dict[str, Callable[[Tensor], Tensor]] = {
    "torch": _torch,
    "avg_pool2d": _avg_pool2d,
    "conv (ones)": _conv,
    "slices": _slices,
    "cnnzoo": _cnnzoo,
}


def _rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| input | formulation | forward (ms) | × torch | fwd+bwd (ms) | × torch | max rel. diff (out, grad) |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    for shape in [(args.batch, 96, 55, 55), (args.batch, 256, 27, 27)]:
        torch.manual_seed(0)
        x0, g = torch.randn(shape) * 30, torch.randn(shape)
        ref_x = x0.clone().requires_grad_()
        ref = _torch(ref_x)
        ref.backward(g)
        fwd: dict[str, list[float]] = {k: [] for k in CANDIDATES}
        both: dict[str, list[float]] = {k: [] for k in CANDIDATES}
        diffs = {}
        for _ in range(args.rounds):
            for name, fn in CANDIDATES.items():
                with torch.no_grad():
                    t = time.perf_counter()
                    fn(x0)
                    fwd[name].append(time.perf_counter() - t)
                x = x0.clone().requires_grad_()
                t = time.perf_counter()
                y = fn(x)
                y.backward(g)
                both[name].append(time.perf_counter() - t)
                diffs[name] = (_rel(y.detach(), ref.detach()), _rel(x.grad, ref_x.grad))
        f0, b0 = statistics.median(fwd["torch"]), statistics.median(both["torch"])
        for name in CANDIDATES:
            f, b = statistics.median(fwd[name]), statistics.median(both[name])
            d = diffs[name]
            print(
                f"| {'×'.join(map(str, shape))} | {name} | {f * 1e3:.1f} | {f0 / f:.2f} "
                f"| {b * 1e3:.1f} | {b0 / b:.2f} | {d[0]:.1e}, {d[1]:.1e} |"
            )
    print(f"\nload after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
