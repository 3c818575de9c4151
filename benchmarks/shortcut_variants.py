"""The shortcut variants of He et al. 2016b, table 1, re-run on the embedded digits.

K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual Networks",
ECCV 2016, arXiv:1603.05027. Table 1 trains ResNet-110 on CIFAR-10 with each
shortcut of figure 2 and prints the test error (%; "fail": above 20%):

==========================  ===============  ==========  =========
case (figure 2)             on shortcut      on F        error
==========================  ===============  ==========  =========
(a) original                1                1           6.61
(b) constant scaling        0                1           fail
                            0.5              1           fail
                            0.5              0.5         12.35
(c) exclusive gating        1 − g(x)         g(x)        fail (b_g = 0 … −5)
                            1 − g(x)         g(x)        8.70 (b_g = −6)
                            1 − g(x)         g(x)        9.81 (b_g = −7)
(d) shortcut-only gating    1 − g(x)         1           12.86 (b_g = 0)
                            1 − g(x)         1           6.91 (b_g = −6)
(e) 1×1 conv shortcut       1×1 conv         1           12.22
(f) dropout shortcut        dropout 0.5      1           fail
==========================  ===============  ==========  =========

Here: a CIFAR-style ResNet (``resnet32`` by default: 15 units) on the digits
at their native 8×8 (1,347 training and 450 test images), one seed, the same
budget and recipe for every row (AdamW, lr 2e-3, weight decay 5e-4, cosine
decay, batch 64, no augmentation: a lean loop, so that the rows cost minutes
on two shared cores), so the rows differ only in the shortcut. The digits
are far easier than CIFAR-10 and the network shallower than ResNet-110, so
expect the ranking, not the gaps, to carry over.

    python benchmarks/shortcut_variants.py [--model resnet32] [--epochs 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch
import torch.nn.functional as F

import cnnzoo
from cnnzoo.data.digits import load_digits_arrays

# (case, on shortcut, on F, model keyword arguments, the paper's CIFAR-10 error)
ROWS = [
    ("(a) original", "1", "1", {}, "6.61"),
    (
        "(b) constant scaling",
        "0.5",
        "1",
        {"shortcut_variant": "scaling", "branch_scale": 1.0},
        "fail",
    ),
    ("(b) constant scaling", "0.5", "0.5", {"shortcut_variant": "scaling"}, "12.35"),
    (
        "(c) exclusive gating, b_g = 0",
        "1 − g",
        "g",
        {"shortcut_variant": "exclusive_gating", "gate_bias": 0.0},
        "fail",
    ),
    (
        "(c) exclusive gating, b_g = −6",
        "1 − g",
        "g",
        {"shortcut_variant": "exclusive_gating"},
        "8.70",
    ),
    (
        "(d) shortcut-only gating, b_g = 0",
        "1 − g",
        "1",
        {"shortcut_variant": "shortcut_gating", "gate_bias": 0.0},
        "12.86",
    ),
    (
        "(d) shortcut-only gating, b_g = −6",
        "1 − g",
        "1",
        {"shortcut_variant": "shortcut_gating"},
        "6.91",
    ),
    ("(e) 1×1 conv shortcut", "1×1 conv", "1", {"shortcut": "C"}, "12.22"),
    ("(f) dropout shortcut", "dropout 0.5", "1", {"shortcut_variant": "dropout"}, "fail"),
]


def run(model: str, epochs: int, seed: int, kwargs: dict) -> tuple[float, float, float]:
    """(test error %, final training loss, seconds) of one row."""
    d = load_digits_arrays(size=8)
    x_tr, y_tr = torch.from_numpy(d.x_train), torch.from_numpy(d.y_train)
    x_te, y_te = torch.from_numpy(d.x_test), torch.from_numpy(d.y_test)
    torch.manual_seed(seed)
    net = cnnzoo.create(model, num_classes=10, in_chans=1, **kwargs)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    batch = 64
    steps = epochs * math.ceil(len(x_tr) / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    start, loss = time.perf_counter(), torch.tensor(float("nan"))
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x_tr), generator=gen).split(batch):
            loss = F.cross_entropy(net(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        wrong = (net(x_te).argmax(1) != y_te).float().mean()
    return 100 * float(wrong), float(loss.detach()), time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet32")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(
        f"{a.model} on the digits, {a.epochs} epochs, seed {a.seed}; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| case | on shortcut | on F | paper: CIFAR-10 error (%) | digits test error (%) | last batch loss | s |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for case, on_s, on_f, kwargs, paper in ROWS:
        err, loss, took = run(a.model, a.epochs, a.seed, kwargs)
        print(
            f"| {case} | {on_s} | {on_f} | {paper} | {err:.2f} | {loss:.3f} | {took:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
