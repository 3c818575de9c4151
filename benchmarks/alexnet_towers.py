"""Two-tower AlexNet against its single-tower form: training images/s and MACs/s.

The paper's AlexNet (Krizhevsky et al. 2012, figure 2) splits conv2, conv4
and conv5 into two groups and normalises each tower's maps apart (``towers=2``,
0.72 GMACs); ``towers=1`` is the same network ungrouped (1.14 GMACs). Grouped
convolutions do less work per image, so the fair comparison is the rate of
useful work: MACs per second (images/s × MACs per image), the two-tower
network against the single tower, with LRN and without. Two more variants:
what the two-tower network used before (``F.local_response_norm`` across both
towers), and an ungrouped network of about the same MACs, the single-GPU
layout of Krizhevsky's "One weird trick" report (arXiv:1404.5997: 64/192/384/
256/256 filters, no LRN, 224×224, 0.71 GMACs; torchvision's ``alexnet``),
built here only as a yardstick: images/s of equal work, grouped or not.

One training step = forward, cross-entropy, backward, SGD step, batch
``--batch`` at 227×227. Rounds interleaved in one process (each starting at
the next variant); medians.

    python benchmarks/alexnet_towers.py [--batch 16] [--rounds 5] [--steps 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import cnnzoo
from cnnzoo.layers.lrn import LocalResponseNorm


class _TorchLRN(nn.Module):
    """``F.local_response_norm`` over all channels (α on the mean, hence ``α · n``)."""

    def __init__(self, lrn: LocalResponseNorm) -> None:
        super().__init__()
        self.lrn = lrn

    def forward(self, x: Tensor) -> Tensor:
        n = self.lrn.size
        return F.local_response_norm(
            x, n, alpha=self.lrn.alpha * n, beta=self.lrn.beta, k=self.lrn.k
        )


def _one_weird_trick() -> nn.Module:
    def conv(c_in: int, c_out: int, k: int, s: int = 1, p: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, k, s, p), nn.ReLU(inplace=True)]

    pool = nn.MaxPool2d(3, 2)
    return nn.Sequential(
        *conv(3, 64, 11, 4, 2), pool, *conv(64, 192, 5, 1, 2), pool,
        *conv(192, 384, 3), *conv(384, 256, 3), *conv(256, 256, 3), pool,
        nn.AdaptiveAvgPool2d(6), nn.Flatten(),
        nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(inplace=True),
        nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 1000),
    )  # fmt: skip


def _variants() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    out = {
        "2 towers, LRN": cnnzoo.create("alexnet"),
        "1 tower, LRN": cnnzoo.create("alexnet", towers=1),
        "2 towers, no LRN": cnnzoo.create("alexnet", lrn=False),
        "1 tower, no LRN": cnnzoo.create("alexnet", towers=1, lrn=False),
    }
    before = cnnzoo.create("alexnet")
    for name in ("lrn1", "lrn2"):
        setattr(before.features, name, _TorchLRN(getattr(before.features, name)))
    out["2 towers, torch LRN across towers"] = before
    out["ungrouped, same MACs (1404.5997)"] = _one_weird_trick()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--steps", type=int, default=2, help="training steps timed per round and variant"
    )
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    models = _variants()
    side = {k: 224 if "1404" in k else 227 for k in models}
    macs = {k: cnnzoo.analyze(m, (3, side[k], side[k])).macs for k, m in models.items()}
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}
    xs = {s: torch.randn(args.batch, 3, s, s) for s in (224, 227)}
    y = torch.randint(0, 1000, (args.batch,))

    def step(name: str) -> None:
        model, opt = models[name], opts[name]
        loss = F.cross_entropy(model(xs[side[name]]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    load = os.getloadavg()[0]
    for name in models:  # warm-up: first-call allocations
        models[name].train()
        step(name)
    times: dict[str, list[float]] = {k: [] for k in models}
    names = list(models)
    for r in range(args.rounds):
        # Each round starts at the next variant, so no variant always follows the same one.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            for _ in range(args.steps):
                step(name)
            times[name].append((time.perf_counter() - t) / args.steps)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch}, "
        f"{args.rounds} rounds × {args.steps} steps, load {load:.1f} → {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| variant | GMACs/image | step (ms) | images/s | GMAC/s | GMAC/s vs 1 tower | images/s vs same MACs ungrouped |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    rate = {}
    for name in models:
        step_s = statistics.median(times[name])
        ips = args.batch / step_s
        rate[name] = ips * macs[name] / 1e9
    for name in models:
        step_s = statistics.median(times[name])
        ref = "1 tower, no LRN" if "no LRN" in name or "1404" in name else "1 tower, LRN"
        same = statistics.median(times["ungrouped, same MACs (1404.5997)"]) / step_s
        print(
            f"| {name} | {macs[name] / 1e9:.3f} | {step_s * 1e3:.0f} | {args.batch / step_s:.1f} "
            f"| {rate[name]:.1f} | {rate[name] / rate[ref]:.2f} | {same:.2f} |"
        )


if __name__ == "__main__":
    main()
