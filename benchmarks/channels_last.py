"""Training-step images/s on the CPU, NCHW against channels_last (NHWC), per model, side by side.

For each model one process builds two copies with the same weights, one in
each memory format, and times a training step (forward, cross-entropy,
backward, AdamW step) on the same random batch; rounds alternate which format
goes first, so the load of a shared machine falls on both alike. The table
gives the median images/s of each format and their ratio, which is what
``cnnzoo train --channels-last`` auto-selects by (the per-model table in
``cnnzoo.train.memory_format``).

    python benchmarks/channels_last.py [--rounds 5] [--steps 3] [--threads 1] [--models name:C:size:batch,…]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

import cnnzoo

# Sizes keep a step near a second on one core: the ratio, not the rate, is the result.
MODELS = ("efficientnet_b0:3:128:8,mobilenet_v2:3:128:8,resnet20:1:32:32,densenet121:3:128:8,resnet50:3:128:8,"
          "lenet5:1:32:32,vgg11:3:64:8")  # fmt: skip


def step_rate(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Images per second over ``steps`` training steps."""
    start = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * x.shape[0] / (time.perf_counter() - start)


def compare(name: str, in_chans: int, size: int, batch: int, rounds: int, steps: int) -> tuple[float, float]:
    """Median images/s of (NCHW, channels_last) for ``name``."""
    torch.manual_seed(0)
    base = cnnzoo.create(name, num_classes=10, in_chans=in_chans).train()
    x = torch.rand(batch, in_chans, size, size)
    y = torch.randint(0, 10, (batch,))
    sides = []
    for cl in (False, True):
        m = copy.deepcopy(base)
        if cl:
            m = m.to(memory_format=torch.channels_last)
        xi = x.contiguous(memory_format=torch.channels_last) if cl else x.clone(memory_format=torch.contiguous_format)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
        step_rate(m, opt, xi, y, 1)  # warm-up: kernel selection, optimizer state
        sides.append((m, opt, xi, []))
    for r in range(rounds):
        for m, opt, xi, rates in sides if r % 2 == 0 else sides[::-1]:
            rates.append(step_rate(m, opt, xi, y, steps))
    return statistics.median(sides[0][3]), statistics.median(sides[1][3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default=MODELS, help="name:in_chans:size:batch,…")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.rounds} rounds × {args.steps} steps")
    print("| model | input | batch | NCHW img/s | channels_last img/s | ratio |\n|---|---|---|---|---|---|")
    for spec in args.models.split(","):
        name, c, size, batch = spec.split(":")
        nchw, nhwc = compare(name, int(c), int(size), int(batch), args.rounds, args.steps)
        print(f"| {name} | {c}×{size}×{size} | {batch} | {nchw:.1f} | {nhwc:.1f} | {nhwc / nchw:.2f} |", flush=True)


if __name__ == "__main__":
    main()
