"""The Inception module and the convolution factorisations of the Inception family.

C. Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, arXiv:1409.4842,
figure 2(b): four parallel branches concatenated along channels, a 1×1
convolution, a 1×1 "reduce" followed by a 3×3, a 1×1 reduce followed by a 5×5,
and a 3×3 max pool followed by a 1×1 "pool proj". The 1×1 reductions come
*before* the expensive convolutions (and *after* the pool), which is what keeps
the module cheap.

S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015, arXiv:1502.03167,
appendix (BN-Inception): the 5×5 is replaced by two 3×3 (``double_3x3``), the
pool branch is max or average, and the grid-reducing modules 3c/4e run their
3×3 convolutions and pool at stride 2, drop the 1×1 branch and pass the pooled
input through without a projection.

C. Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016,
arXiv:1512.00567, §3: a 5×5 convolution costs as much as 25/18 of two stacked
3×3 ones (two 3×3 have 18/25 = 72% of the weights and the same 5×5 receptive
field), and an n×n convolution as much as n/2 of a 1×n followed by an n×1 (2/n
of the weights). VGG (§2.3) makes the same argument for 7×7 against three 3×3:
49C² against 27C².
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct

__all__ = ["InceptionModule", "asymmetric_conv", "stacked_3x3"]


def stacked_3x3(
    in_chans: int,
    out_chans: int,
    num: int = 2,
    mid_chans: int | None = None,
    stride: int = 1,
    bn: bool = True,
    bn_eps: float = 1e-5,
) -> nn.Sequential:
    """``num`` stacked 3×3 convolutions (each conv → BN → ReLU), replacing one ``(2·num + 1)²`` kernel.

    Two replace a 5×5 (Inception v2/v3), three a 7×7 (VGG, the Inception v3
    stem). Intermediate layers have ``mid_chans`` maps (default ``out_chans``);
    the last one carries ``stride``. Padding 1 keeps the grid at stride 1.

    Shapes: ``(N, in_chans, H, W) -> (N, out_chans, ⌊(H − 1)/stride⌋ + 1, …)``.
    """
    if num < 1:
        raise ValueError(f"need at least one 3×3 convolution; got num={num}")
    mid = out_chans if mid_chans is None else mid_chans
    layers = nn.Sequential()
    c = in_chans
    for i in range(num):
        last = i == num - 1
        layers.add_module(
            f"conv{i + 1}",
            ConvBNAct(c, out_chans if last else mid, 3, stride=stride if last else 1, bn=bn, bn_eps=bn_eps),
        )
        c = mid
    return layers


def asymmetric_conv(
    in_chans: int,
    mid_chans: int,
    out_chans: int,
    n: int,
    first: str = "1xn",
    bn: bool = True,
    bn_eps: float = 1e-5,
) -> nn.Sequential:
    """An ``n × n`` convolution factorised into ``1 × n`` and ``n × 1`` (Inception v3 figure 3, 6).

    ``first`` says which comes first (``"1xn"`` or ``"nx1"``); Inception v3
    uses both orders. Padding keeps the grid: ``(N, in_chans, H, W) -> (N, out_chans, H, W)``.
    """
    if first not in ("1xn", "nx1"):
        raise ValueError(f"first must be '1xn' or 'nx1'; got {first!r}")
    if n < 2:
        raise ValueError(f"an asymmetric factorisation needs n >= 2; got {n}")
    k1, k2 = ((1, n), (n, 1)) if first == "1xn" else ((n, 1), (1, n))
    return nn.Sequential(
        ConvBNAct(in_chans, mid_chans, k1, bn=bn, bn_eps=bn_eps),
        ConvBNAct(mid_chans, out_chans, k2, bn=bn, bn_eps=bn_eps),
    )


class InceptionModule(nn.Module):
    """Inception v1 / BN-Inception module: ``(N, in_chans, H, W) -> (N, out_chans, H', W')``.

    Args:
        in_chans: input maps.
        ch1x1: the 1×1 branch (0: no such branch, as in BN-Inception 3c/4e).
        ch3x3red, ch3x3: the 1×1 reduction and the 3×3 convolution.
        ch5x5red, ch5x5: the 1×1 reduction and the 5×5 convolution (or, with
            ``double_3x3``, both 3×3 convolutions of the pair).
        pool_proj: maps of the 1×1 after the pool; 0 passes the pooled input
            through ("max + pass through" in BN-Inception's table).
        double_3x3: two 3×3 instead of the 5×5 (BN-Inception, Inception v3).
        pool: ``"max"`` (GoogLeNet) or ``"avg"``.
        stride: 2 for BN-Inception's grid-reducing modules (3c, 4e).
        bn: BatchNorm after every convolution (no conv bias then).

    ``out_chans = ch1x1 + ch3x3 + ch5x5 + (pool_proj or in_chans)``;
    ``H' = ⌊(H − 1)/stride⌋ + 1``.
    """

    def __init__(
        self,
        in_chans: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        *,
        double_3x3: bool = False,
        pool: str = "max",
        stride: int = 1,
        bn: bool = False,
    ) -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg'; got {pool!r}")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2; got {stride}")
        if stride == 2 and ch1x1:
            raise ValueError("a stride-2 Inception module has no 1×1 branch (a 1×1 at stride 2 drops 3/4 of the input)")
        self.branch1x1 = ConvBNAct(in_chans, ch1x1, 1, bn=bn) if ch1x1 else None
        self.branch3x3 = nn.Sequential(
            ConvBNAct(in_chans, ch3x3red, 1, bn=bn),
            ConvBNAct(ch3x3red, ch3x3, 3, stride=stride, bn=bn),
        )
        if double_3x3:
            wide = stacked_3x3(ch5x5red, ch5x5, num=2, stride=stride, bn=bn)
        else:
            wide = ConvBNAct(ch5x5red, ch5x5, 5, stride=stride, bn=bn)
        self.branch5x5 = nn.Sequential(ConvBNAct(in_chans, ch5x5red, 1, bn=bn), wide)
        # Padding 1 keeps the pooled grid equal to the convolutions' at either stride.
        pool_layer = nn.MaxPool2d(3, stride, padding=1) if pool == "max" else nn.AvgPool2d(3, stride, padding=1)
        proj = ConvBNAct(in_chans, pool_proj, 1, bn=bn) if pool_proj else nn.Identity()
        self.branch_pool = nn.Sequential(pool_layer, proj)
        self.out_chans = ch1x1 + ch3x3 + ch5x5 + (pool_proj or in_chans)

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch3x3(x), self.branch5x5(x), self.branch_pool(x)]
        if self.branch1x1 is not None:
            branches.insert(0, self.branch1x1(x))
        return torch.cat(branches, 1)
