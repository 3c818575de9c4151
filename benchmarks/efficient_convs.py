"""Multiply-adds against measured time for the efficient convolutions, side by side.

The efficient networks replace a standard 3×3 convolution with cheaper
factorisations. Their papers argue in multiply-adds; ShuffleNet v2 (Ma et al.
2018, §2) points out that multiply-adds do not predict speed, because memory
access and parallelism differ. This script puts both columns next to each
other for one layer shape (default: 256 → 256 channels at 28×28, batch 8):

* baseline: ``nn.Conv2d`` 3×3 (the standard convolution);
* grouped 3×3 conv with g = 8 (ResNeXt/ShuffleNet; 1/8 of the MACs);
* depthwise-separable: depthwise 3×3 + pointwise 1×1 (MobileNet; ``1/N + 1/k²``);
* MobileNet v2 inverted residual with t = 6 on a 256/6 ≈ 40-channel bottleneck
  is a different shape, so it is not listed; instead:
* interleaved group conv, L = 8 primary groups (IGC);
* ShuffleNet v1 pointwise group conv g = 8 followed by a channel shuffle;
* octave conv with α = 0.5 (``1 − ¾α(2 − α)`` = 43.75% of the MACs);
* tiled conv with t = 2: the baseline's MACs with 4× the weights;
* with ``--unshared``, the locally-connected (unshared) conv as well: the
  baseline's MACs with ``H·W`` times its weights (1.8 GB at the default shape).

MACs come from ``cnnzoo.analyze`` (octave: from the formula); times are the
median of ``--repeats`` forward passes after a warm-up, in eval mode, no grad.

    python benchmarks/efficient_convs.py [--chans 256] [--size 28] [--batch 8] [--repeats 20] [--threads 2] [--unshared]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.channel_shuffle import ChannelShuffle
from cnnzoo.layers.depthwise import depthwise_conv
from cnnzoo.layers.interleaved_group_conv import InterleavedGroupConv2d
from cnnzoo.layers.locally_connected import LocallyConnected2d
from cnnzoo.layers.octave_conv import OctaveConv2d, octave_cost_ratio
from cnnzoo.layers.tiled_conv import TiledConv2d


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chans", type=int, default=256)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--unshared", action="store_true", help="also time the locally-connected conv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    c, s = args.chans, args.size
    x = torch.randn(args.batch, c, s, s)
    low = c // 2
    x_oct = (torch.randn(args.batch, c - low, s, s), torch.randn(args.batch, low, s // 2, s // 2))

    layers: list[tuple[str, nn.Module, object]] = [
        ("standard 3×3 (baseline)", nn.Conv2d(c, c, 3, padding=1, bias=False), x),
        ("grouped 3×3, g=8", nn.Conv2d(c, c, 3, padding=1, groups=8, bias=False), x),
        (
            "depthwise-separable",
            nn.Sequential(depthwise_conv(c, 3), nn.Conv2d(c, c, 1, bias=False)),
            x,
        ),
        ("IGC, L=8", InterleavedGroupConv2d(c, 8), x),
        (
            "1×1 group conv g=8 + shuffle",
            nn.Sequential(nn.Conv2d(c, c, 1, groups=8, bias=False), ChannelShuffle(8)),
            x,
        ),
        ("octave 3×3, α=0.5", OctaveConv2d(c, c, 3, 0.5, 0.5), x_oct),
        ("tiled 3×3, t=2", TiledConv2d(c, c, 3, tile=2, padding=1, bias=False), x),
    ]
    if args.unshared:
        layers.append(
            ("locally connected 3×3", LocallyConnected2d(c, c, s, 3, padding=1, bias=False), x)
        )
    base_macs = base_time = None
    rows = []
    for name, layer, inp in layers:
        layer.eval()
        params = sum(p.numel() for p in layer.parameters())
        if isinstance(layer, OctaveConv2d):
            macs = round(octave_cost_ratio(0.5) * 9 * c * c * s * s) * args.batch
        else:
            macs = cnnzoo.analyze(layer, input_size=(c, s, s)).macs * args.batch
        with torch.no_grad():
            sec = median_seconds(lambda layer=layer, inp=inp: layer(inp), args.repeats)
        base_macs = base_macs or macs
        base_time = base_time or sec
        rows.append((name, params, macs, macs / base_macs, sec * 1e3, sec / base_time))

    print(
        f"# {c}→{c} channels, {s}×{s}, batch {args.batch}, {args.threads} thread(s), "
        f"torch {torch.__version__}, {platform.machine()}"
    )
    print()
    print("| layer | params | MACs | MACs vs baseline | time (ms) | time vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, params, macs, mr, ms, tr in rows:
        print(f"| {name} | {params:,} | {macs / 1e6:,.1f}M | {mr:.3f} | {ms:.2f} | {tr:.3f} |")


if __name__ == "__main__":
    main()
