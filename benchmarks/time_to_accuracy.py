"""Wall time to a fixed test accuracy on the embedded digits: ``cnnzoo.train`` against a bare loop.

For LeNet-5 and the CIFAR ResNet-20 (He et al. 2016 §4.2), both on the digits
at 32×32, with the same recipe on both sides (``TrainConfig``'s defaults: AdamW,
one-cycle schedule over the epoch budget, its batch size, learning rate and
weight decay, the ``digits`` affine jitter, per-channel normalisation). Each side evaluates on the 450 test images after every epoch
and stops at the first epoch whose accuracy reaches the target; the time is
the sum of the epochs' training and evaluation (set-up excluded). cnnzoo's
epochs also write metrics, curves and two checkpoints, which the bare loop does not.

    python benchmarks/time_to_accuracy.py [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import cnnzoo
from cnnzoo.data import build_data
from cnnzoo.data.augment import build_augment
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.optim import DEFAULT_LR
from cnnzoo.train.pipeline import channel_stats
from cnnzoo.train.schedules import build_schedule


def bare(model_name: str, epochs: int, target: float, seed: int = 0) -> tuple[int | None, float, float]:
    """(epoch reaching ``target`` or None, seconds until then, best accuracy)."""
    torch.manual_seed(seed)
    b = build_data("digits")
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in channel_stats(b.train))
    model = cnnzoo.create(model_name, num_classes=10, in_chans=1)
    # The default recipe of TrainConfig, whatever it is tuned to.
    cfg = TrainConfig()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr or DEFAULT_LR["adamw"], weight_decay=cfg.weight_decay)
    steps = math.ceil(len(b.train) / cfg.batch_size)
    sched = build_schedule("onecycle", opt, epochs * steps, steps)
    gen = torch.Generator()
    aug = build_augment("digits", gen)
    test = DataLoader(b.test, batch_size=256)
    total, best = 0.0, 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        gen.manual_seed(seed * 7919 + epoch)
        for x, y in DataLoader(b.train, batch_size=cfg.batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed + epoch)):
            loss = F.cross_entropy(model((aug(x) - mean) / std), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            correct = sum(int((model((x - mean) / std).argmax(1) == y).sum()) for x, y in test)
        total += time.perf_counter() - start
        acc = correct / len(b.test)
        best = max(best, acc)
        if acc >= target:
            return epoch, total, best
    return None, total, best


def ours(model_name: str, epochs: int, target: float, seed: int = 0) -> tuple[int | None, float, float]:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(model=model_name, data="digits", epochs=epochs, out=out, progress=False, seed=seed, stop_at=target)
        rows = train(cfg).rows
    total, best = 0.0, 0.0
    for r in rows:
        total += r["seconds"]
        best = max(best, r["test_acc"])
        if r["test_acc"] >= target:
            return r["epoch"], total, best
    return None, total, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", default="lenet5:30:0.97,resnet20:8:0.95", help="model:epoch-budget:target,…")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"{'model':<9} {'target':>6} {'budget':>6} | {'bare: epoch':>11} {'s':>7} | {'cnnzoo: epoch':>13} {'s':>7} | {'cnnzoo/bare time':>16}")
    for spec in args.runs.split(","):
        name, budget, target = spec.split(":")
        be, bs, bb = bare(name, int(budget), float(target))
        oe, os_, ob = ours(name, int(budget), float(target))
        fmt = lambda e, best: str(e) if e else f"— ({best:.3f})"  # noqa: E731
        print(f"{name:<9} {float(target):>6.2f} {budget:>6} | {fmt(be, bb):>11} {bs:>7.1f} | {fmt(oe, ob):>13} {os_:>7.1f} | {os_ / bs:>16.2f}")


if __name__ == "__main__":
    main()
