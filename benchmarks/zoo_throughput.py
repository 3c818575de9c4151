"""Training throughput of every registered model on CPU, with plain-PyTorch baselines.

For each model in the registry (filtered by ``--families`` / ``--models``) the
script builds the model, runs one warm-up step and then timed steps of
forward + backward (loss = mean of the outputs, auxiliary heads included, train
mode) on a fixed batch, and prints images per second. Inputs are ``--size``
pixels square (32 by default, so that all ~80 models fit in a few minutes on
two cores), or the model's smallest accepted size if that is larger.

Side by side, in the same process, at the same batch and ``--compare-size``
(64 by default), it times two networks written here in plain PyTorch,
independent of cnnzoo's layers:
ResNet-50 (bottlenecks [3, 4, 6, 3], stride on the first 1×1 as in the paper,
projection shortcuts where the shape changes) and VGG-16 (configuration D).
Each baseline's parameter count is checked against cnnzoo's before timing, and
the two are timed in alternating rounds so that a busy machine slows both
alike. One intra-op thread by default: on a machine shared with other jobs,
torch's default of one thread per core spends most of its time waiting.

    python benchmarks/zoo_throughput.py                        # all models
    python benchmarks/zoo_throughput.py --families vgg,inception --batch 8 --size 64
    python benchmarks/zoo_throughput.py --models 'resnet50,vgg16' --repeats 5
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

import cnnzoo
from cnnzoo.registry import get_model_info

# --------------------------------------------------------------------------- baselines


class _RefBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_chans: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * 4
        self.conv1 = nn.Conv2d(in_chans, width, 1, stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or in_chans != out:
            self.down = nn.Sequential(nn.Conv2d(in_chans, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: Tensor) -> Tensor:
        idt = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + idt)


class ReferenceResNet50(nn.Module):
    """ResNet-50 of He et al. 2016, table 1, in plain PyTorch."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        blocks, c = [], 64
        for i, (n, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True)):
            for j in range(n):
                blocks.append(_RefBottleneck(c, width, 2 if (j == 0 and i > 0) else 1))
                c = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ReferenceVGG16(nn.Module):
    """VGG-16 (configuration D) of Simonyan & Zisserman 2015 in plain PyTorch."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, num_classes),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 7)
        return self.classifier(torch.flatten(x, 1))


BASELINES: dict[str, Callable[[], nn.Module]] = {"resnet50": ReferenceResNet50, "vgg16": ReferenceVGG16}

# --------------------------------------------------------------------------- timing


def _loss(out) -> Tensor:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return sum(o.float().mean() for o in outs)


def _step(model: nn.Module, x: Tensor) -> None:
    model.zero_grad(set_to_none=True)
    _loss(model(x)).backward()


def time_steps(model: nn.Module, x: Tensor, min_time: float, max_steps: int) -> float:
    """Seconds per forward+backward step: the median over steps after one warm-up."""
    model.train()
    _step(model, x)  # warm-up: allocations, one-off kernel selection
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_steps and (not times or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        _step(model, x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def select(families: str | None, models: str | None) -> list[str]:
    names = cnnzoo.list_models()
    if families:
        wanted = {f.strip().lower() for f in families.split(",") if f.strip()}
        names = [n for n in names if get_model_info(n).family.lower() in wanted]
    if models:
        pats = [p.strip().lower() for p in models.split(",") if p.strip()]
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in pats)]
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", help="comma-separated families as `cnnzoo list` shows them (vgg,inception)")
    ap.add_argument("--models", help="comma-separated names or shell patterns ('resnet*,vgg16')")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=32, help="input side; raised to a model's minimum")
    ap.add_argument("--compare-size", type=int, default=64, help="input side of the side-by-side table")
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds of timed steps per model")
    ap.add_argument("--max-steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds for cnnzoo vs baseline")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: on a shared machine, more threads spin on barriers)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    names = select(args.families, args.models)
    if not names:
        raise SystemExit("no registered model matches the filters; `cnnzoo list` shows the names")
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), {platform.machine()}, "
        f"batch {args.batch}, forward+backward, train mode, float32"
    )
    print()
    print("| model | family | input | params (M) | ms / step | images/s |")
    print("|---|---|---|---:|---:|---:|")
    for name in names:
        info = get_model_info(name)
        side = max(args.size, info.min_size or 1)
        c = info.input_size[0]
        x = torch.randn(args.batch, c, side, side)
        try:
            model = cnnzoo.create(name)
            sec = time_steps(model, x, args.min_time, args.max_steps)
            row = f"{_params(model) / 1e6:.1f} | {sec * 1e3:.0f} | {args.batch / sec:.1f}"
        except Exception as e:  # report and go on: one broken entry must not hide the rest
            row = f"– | – | error: {type(e).__name__}: {str(e).splitlines()[0][:60]}"
        print(f"| {name} | {info.family} | {c}×{side}×{side} | {row} |", flush=True)
        model = None
        gc.collect()

    print()
    print("Side by side with plain PyTorch (same architecture, same process, alternating rounds):")
    print()
    print("| model | input | cnnzoo images/s | plain PyTorch images/s | cnnzoo / plain |")
    print("|---|---|---:|---:|---:|")
    for name, make in BASELINES.items():
        try:
            info = get_model_info(name)
        except ValueError:
            print(f"| {name} | – | not registered yet | – | – |")
            continue
        side = max(args.compare_size, info.min_size or 1)
        x = torch.randn(args.batch, 3, side, side)
        ours, ref = cnnzoo.create(name), make()
        if _params(ours) != _params(ref):
            print(f"| {name} | – | parameter counts differ: {_params(ours):,} vs {_params(ref):,} | – | – |")
            continue
        ours_t, ref_t = [], []
        for i in range(args.repeats):
            # Alternate which goes first, so neither always inherits a warm cache.
            for model, times in [(ours, ours_t), (ref, ref_t)][:: 1 if i % 2 == 0 else -1]:
                times.append(time_steps(model, x, args.min_time, args.max_steps))
        o, r = args.batch / statistics.median(ours_t), args.batch / statistics.median(ref_t)
        print(f"| {name} | 3×{side}×{side} | {o:.1f} | {r:.1f} | {o / r:.2f} |", flush=True)


if __name__ == "__main__":
    main()
