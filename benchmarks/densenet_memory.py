"""Training memory of DenseNet: plain against memory-efficient, as depth grows.

Pleiss et al. 2017 (arXiv:1707.06990) say a naive DenseNet
needs memory quadratic in the number of layers per block, because every
layer keeps its own concatenation of all earlier feature maps and the BN and
ReLU outputs on it for backward, while the memory-efficient mode (recompute
those in backward) needs linear memory. This script measures both, side by
side, for CIFAR DenseNet-BC (k = 12) of growing depth.

Two measurements, both real:

* **saved for backward**: bytes of the tensors autograd holds at the end of
  the forward pass, counted with ``torch.autograd.graph.saved_tensors_hooks``
  (each storage once). Inside a checkpointed region checkpoint's own hooks
  take over and nothing is held; the block inputs a checkpoint keeps for its
  recomputation are earlier layers' outputs, counted where autograd saves them.
* **peak step RSS**: the operating system's high-water mark of resident
  memory (``VmHWM``) during one forward + backward, in a fresh process per
  configuration, reset (``/proc/self/clear_refs``) after the model and the
  batch exist; parameters' gradients are included (the same in both modes).

Run: ``python benchmarks/densenet_memory.py`` (about 2–3 minutes on 2 CPU
cores); writes ``benchmarks/densenet_memory.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import torch

import cnnzoo

MiB = 2**20


def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for backward at the end of ``model(x)``, each storage once."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    # Parameters are saved by the convolutions too, but exist anyway.
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    del out
    return sum(n for ptr, n in storages.items() if ptr not in params)


def _vm_hwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def child(depth: int, growth_rate: int, batch: int, size: int, efficient: bool) -> dict:
    """One configuration in this (fresh) process: saved bytes, peak RSS, step time."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = cnnzoo.create(
        "densenet_cifar", depth=depth, growth_rate=growth_rate, memory_efficient=efficient
    ).train()
    x = torch.randn(batch, 3, size, size)
    saved = saved_bytes(model, x)
    base = _vm_rss()
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to now
    t0 = time.perf_counter()
    model(x).square().mean().backward()
    seconds = time.perf_counter() - t0
    peak = _vm_hwm() - base
    return {"saved": saved, "peak": peak, "seconds": seconds}


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y on log x: 2 for quadratic growth, 1 for linear."""
    lx, ly = [math.log(v) for v in xs], [math.log(v) for v in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depths", default="40,76,112,148", help="DenseNet-BC depths L (6n + 4)")
    p.add_argument("--growth-rate", type=int, default=12)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--plot", default=str(Path(__file__).with_name("densenet_memory.png")))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--depth", type=int, help=argparse.SUPPRESS)
    p.add_argument("--efficient", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.depth, a.growth_rate, a.batch, a.size, a.efficient)))
        return

    depths = [int(d) for d in a.depths.split(",")]
    rows = []
    print(
        f"DenseNet-BC (CIFAR), k={a.growth_rate}, batch {a.batch} × 3 × {a.size} × {a.size}, "
        "float32, 1 thread; one forward + backward per configuration, each in a fresh process"
    )
    header = (
        f"{'L':>4} {'layers/block':>12} | {'saved plain':>11} {'saved eff.':>10} {'ratio':>6} | "
        f"{'peak plain':>10} {'peak eff.':>9} {'ratio':>6} | {'s plain':>7} {'s eff.':>6}"
    )
    print(header)
    print("-" * len(header))
    for d in depths:
        r = {"depth": d, "layers": (d - 4) // 6}
        for mode, flag in (("plain", []), ("efficient", ["--efficient"])):
            cmd = [sys.executable, __file__, "--child", "--depth", str(d), "--growth-rate",
                   str(a.growth_rate), "--batch", str(a.batch), "--size", str(a.size), *flag]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r[mode] = json.loads(out.strip().splitlines()[-1])
        rows.append(r)
        pl, ef = r["plain"], r["efficient"]
        print(
            f"{d:>4} {r['layers']:>12} | {pl['saved'] / MiB:>9.1f}Mi {ef['saved'] / MiB:>8.1f}Mi "
            f"{pl['saved'] / ef['saved']:>6.2f} | {pl['peak'] / MiB:>8.1f}Mi {ef['peak'] / MiB:>7.1f}Mi "
            f"{pl['peak'] / ef['peak']:>6.2f} | {pl['seconds']:>7.2f} {ef['seconds']:>6.2f}",
            flush=True,
        )

    n = [r["layers"] for r in rows]
    for key, label in (("saved", "saved for backward"), ("peak", "peak step RSS")):
        sp = _slope(n, [r["plain"][key] for r in rows])
        se = _slope(n, [r["efficient"][key] for r in rows])
        print(f"log-log slope vs layers per block, {label}: plain {sp:.2f}, memory-efficient {se:.2f}")
    # Equal depth steps: a quadratic cost grows by a growing amount per step
    # (constant second difference), a linear one by a constant amount.
    for mode in ("plain", "efficient"):
        saved = [r[mode]["saved"] / MiB for r in rows]
        steps = [f"{b - a:.1f}" for a, b in zip(saved, saved[1:], strict=False)]
        print(f"saved for backward, increase per depth step, {mode}: {', '.join(steps)} MiB")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "saved", "saved for backward"), (axes[1], "peak", "peak step RSS")):
        ax.plot([r["depth"] for r in rows], [r["plain"][key] / MiB for r in rows], "o-", label="plain")
        ax.plot(
            [r["depth"] for r in rows], [r["efficient"][key] / MiB for r in rows], "s-",
            label="memory-efficient",
        )
        ax.set_xlabel(f"depth L (DenseNet-BC, k={a.growth_rate})")
        ax.set_ylabel("MiB")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"DenseNet training memory, batch {a.batch} at {a.size}×{a.size}")
    fig.tight_layout()
    fig.savefig(a.plot, dpi=120)
    print(f"plot: {a.plot}")


if __name__ == "__main__":
    main()
