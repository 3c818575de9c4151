"""Dilated (atrous) convolution: the gridding problem, hybrid dilated convolution, and ASPP.

A ``k × k`` convolution with dilation ``r`` reads taps ``r`` apart: an
effective kernel of ``r(k − 1) + 1`` at the cost of ``k²`` weights, so the
receptive field grows without pooling away resolution (Yu & Koltun,
"Multi-Scale Context Aggregation by Dilated Convolutions", ICLR 2016,
arXiv:1511.07122).

*Gridding* (Wang et al. 2018, §3.2, below): stacking convolutions of the same rate ``r > 1``
— or rates with a common factor, such as 2, 4, 6 — only ever combines inputs
on a lattice of spacing ``gcd(rates)``, so an output unit ignores most pixels
of its receptive field. :func:`receptive_field_footprint` shows this directly:
it back-propagates from one output unit through the stack (all weights 1) and
returns how many paths reach each input pixel; zeros inside the window are
the holes.

*Hybrid dilated convolution* (HDC; Wang et al., "Understanding Convolution
for Semantic Segmentation", WACV 2018, arXiv:1702.08502, §3.2) picks rates
that leave no holes: no common factor > 1, a sawtooth such as
``[1, 2, 5, 1, 2, 5]`` to serve small and large objects alike, and the
"maximum distance between two non-zero taps"
``M_i = max(M_{i+1} − 2r_i, M_{i+1} − 2(M_{i+1} − r_i), r_i)``, ``M_n = r_n``,
at most the kernel size at the second layer: ``M_2 ≤ k``. (Secondary
accounts state the last condition loosely as "the last rate is the largest and at most the
kernel size"; we implement the paper's.) ``[1, 2, 5]`` satisfies it (M_2 = 2);
``[1, 2, 9]`` does not (M_2 = 5) and indeed leaves holes. The rule is
stated for one group of rates; a sawtooth of repeated groups is hole-free
when its group is, which :func:`has_gridding` checks exactly.

*Atrous spatial pyramid pooling* (ASPP; Chen et al., DeepLab v2, TPAMI 2017,
arXiv:1606.00915, and the v3 head, arXiv:1706.05587 §3.3): parallel branches
look at the same map at several rates — a 1×1 convolution, three 3×3
convolutions at rates 6, 12, 18 (output stride 16), and image-level pooling —
each 256 maps with BN and ReLU, concatenated and fused by a 1×1 convolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct

__all__ = [
    "ASPP",
    "HybridDilatedConv",
    "has_gridding",
    "hdc_max_distance",
    "is_hdc",
    "receptive_field_footprint",
]


def _check_rates(rates: Sequence[int]) -> tuple[int, ...]:
    out = tuple(rates)
    if not out or any(not isinstance(r, int) or r < 1 for r in out):
        raise ValueError(f"dilation rates must be a non-empty sequence of positive ints; got {rates}")
    return out


def hdc_max_distance(rates: Sequence[int]) -> int:
    """``M_2`` of Wang et al. (eq. in §3.2): the largest gap left at the second layer.

    For a single layer this is its rate. The design goal is ``M_2 <= kernel_size``.
    """
    rates = _check_rates(rates)
    m = rates[-1]
    for r in reversed(rates[1:-1]):
        m = max(m - 2 * r, m - 2 * (m - r), r)
    return m


def is_hdc(rates: Sequence[int], kernel_size: int = 3) -> bool:
    """Whether ``rates`` meet HDC's conditions: no common factor > 1 and ``M_2 <= kernel_size``."""
    rates = _check_rates(rates)
    return reduce(math.gcd, rates) == 1 and hdc_max_distance(rates) <= kernel_size


def receptive_field_footprint(rates: Sequence[int], kernel_size: int = 3) -> Tensor:
    """Paths from the centre output unit to each input pixel through stacked dilated convs.

    Builds the stack with every weight 1, feeds it an input exactly the size
    of the receptive field, ``1 + Σ r_i (k − 1)``, and back-propagates from the
    single output unit. Returns the input gradient, an int64 ``(S, S)`` map:
    entry ``(i, j)`` counts the paths by which input pixel ``(i, j)`` reaches
    the output. A zero inside the map is a pixel the unit never sees.
    """
    rates = _check_rates(rates)
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be positive; got {kernel_size}")
    size = 1 + sum(r * (kernel_size - 1) for r in rates)
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    w = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    y = x
    for r in rates:
        y = F.conv2d(y, w, dilation=r)
    assert y.shape[-2:] == (1, 1)
    y.sum().backward()
    return x.grad[0, 0].round().long()


def has_gridding(rates: Sequence[int], kernel_size: int = 3) -> bool:
    """Whether the stack leaves holes: a zero inside :func:`receptive_field_footprint`."""
    return bool((receptive_field_footprint(rates, kernel_size) == 0).any())


class HybridDilatedConv(nn.Sequential):
    """A stack of ``k × k`` conv-BN-ReLU layers with dilations ``rates``, same size in and out.

    ``(N, in_chans, H, W) -> (N, out_chans, H, W)``. With ``check=True`` rates
    that leave holes (:func:`has_gridding`) are a ``ValueError``;
    ``check=False`` builds them anyway (to study the effect).
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        rates: Sequence[int] = (1, 2, 5),
        kernel_size: int = 3,
        check: bool = True,
    ) -> None:
        rates = _check_rates(rates)
        if check and has_gridding(rates, kernel_size):
            raise ValueError(
                f"dilation rates {list(rates)} leave holes in the receptive field (gridding): HDC needs "
                f"no common factor > 1 (gcd = {reduce(math.gcd, rates)}) and M_2 <= {kernel_size} per "
                f"group (M_2 = {hdc_max_distance(rates)}); e.g. [1, 2, 5]. Pass check=False to build them anyway."
            )
        super().__init__()
        c = in_chans
        for i, r in enumerate(rates, start=1):
            self.add_module(f"conv{i}", ConvBNAct(c, out_chans, kernel_size, dilation=r))
            c = out_chans
        self.rates = rates


class _ImagePooling(nn.Module):
    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__()
        # No BN here: it would see one value per channel and image, which
        # breaks at batch size 1 in training; a biased conv takes its place.
        self.conv = nn.Conv2d(in_chans, out_chans, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.conv(F.adaptive_avg_pool2d(x, 1)))
        return y.expand(-1, -1, *x.shape[-2:])  # bilinear upsampling of a 1×1 map is a broadcast


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLab v3 head): ``(N, in_chans, H, W) -> (N, out_chans, H, W)``.

    Branches: a 1×1 conv, one 3×3 conv per rate (``(6, 12, 18)`` at output
    stride 16; doubled at stride 8), and, if ``image_pooling``, global average
    pooling → 1×1 conv, broadcast back to ``H × W``. Each gives ``out_chans``
    maps; the concatenation is fused by a 1×1 conv-BN-ReLU and dropout.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int = 256,
        rates: Sequence[int] = (6, 12, 18),
        image_pooling: bool = True,
        drop_rate: float = 0.1,
    ) -> None:
        super().__init__()
        rates = _check_rates(rates)
        branches: list[nn.Module] = [ConvBNAct(in_chans, out_chans, 1)]
        branches += [ConvBNAct(in_chans, out_chans, 3, dilation=r) for r in rates]
        if image_pooling:
            branches.append(_ImagePooling(in_chans, out_chans))
        self.branches = nn.ModuleList(branches)
        self.project = ConvBNAct(len(branches) * out_chans, out_chans, 1)
        self.drop = nn.Dropout(drop_rate)
        self.rates = rates

    def forward(self, x: Tensor) -> Tensor:
        y = torch.cat([b(x) for b in self.branches], dim=1)  # N x (branches·out_chans) x H x W
        return self.drop(self.project(y))
