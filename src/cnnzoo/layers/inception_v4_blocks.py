"""The blocks of Inception-v4 and Inception-ResNet.

C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4, Inception-ResNet
and the Impact of Residual Connections on Learning", AAAI 2017, arXiv:1602.07261.

Figure numbers below are the paper's. "V" in the figures marks a valid
(unpadded) convolution; all others are "same". Every convolution is followed
by BatchNorm and ReLU, except the 1×1 "linear" convolution that closes each
Inception-ResNet branch: the paper puts BN "only on top of the traditional
layers, but not on top of the summations", so that convolution has a bias
and no BN.

The authors' released TF-slim networks (behind every published checkpoint,
and timm's ``inception_v4`` and ``inception_resnet_v2`` ports) differ from the
figures in order only: the pooling branch comes *last* in every block's
concatenation, and Inception-v4's released code swaps some 1×7/7×1 (and
1×3/3×1) pairs (``released=True``; tensor shapes differ where it does). The
``released`` and ``pool_last`` options build that order.

Residual scaling (§3.3): with more than about 1000 filters the residual
variants "died" early in training; scaling the residual by 0.1–0.3 before the
addition fixed it. ``scale`` is that factor; the defaults are those of the
authors' released TF-slim code (0.17 for A, 0.10 for B, 0.20 for C).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct

__all__ = [
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionResNetA",
    "InceptionResNetB",
    "InceptionResNetC",
    "InceptionResNetV1Stem",
    "InceptionResNetV2ReleasedStem",
    "InceptionV4Stem",
    "ReductionA",
    "ReductionB",
    "InceptionResNetReductionB",
]

# TensorFlow's BatchNorm epsilon, used by the authors' code.
BN_EPS = 1e-3


def conv(c_in: int, c_out: int, k: int | tuple[int, int], stride: int = 1, valid: bool = False) -> ConvBNAct:
    """Conv-BN-ReLU, "same" padded unless ``valid`` (a "V" in the paper's figures)."""
    return ConvBNAct(c_in, c_out, k, stride, padding=0 if valid else None, bn_eps=BN_EPS)


class _Branches(nn.Module):
    """Run every branch on the same input and concatenate along channels.

    ``pool_last``: the first branch (a parameter-free pooling) is concatenated
    last, as in the released networks; the modules, and so the state dict, keep
    the figures' order.
    """

    branches: nn.ModuleList
    pool_last: bool = False

    def forward(self, x: Tensor) -> Tensor:
        out = [b(x) for b in self.branches]
        if self.pool_last:
            out = out[1:] + out[:1]
        return torch.cat(out, dim=1)


class InceptionV4Stem(nn.Module):
    """The stem of Inception-v4 and Inception-ResNet-v2 (figure 3).

    ``(N, in_chans, 299, 299) -> (N, 384, 35, 35)``. Three places where a
    stride-2 pooling and a stride-2 (or valid) convolution run side by side and
    are concatenated, instead of pooling alone.
    """

    out_chans = 384

    def __init__(self, in_chans: int = 3, released: bool = False) -> None:
        """``released``: the 7×7 tower runs 1×7 before 7×1 (the released code), not 7×1 first (figure 3)."""
        super().__init__()
        asym = ((1, 7), (7, 1)) if released else ((7, 1), (1, 7))
        self.conv1 = conv(in_chans, 32, 3, stride=2, valid=True)  # 149
        self.conv2 = conv(32, 32, 3, valid=True)  # 147
        self.conv3 = conv(32, 64, 3)  # 147
        self.pool4 = nn.MaxPool2d(3, 2)  # 73
        self.conv4 = conv(64, 96, 3, stride=2, valid=True)  # 73
        self.branch5a = nn.Sequential(conv(160, 64, 1), conv(64, 96, 3, valid=True))  # 71
        self.branch5b = nn.Sequential(
            conv(160, 64, 1), conv(64, 64, asym[0]), conv(64, 64, asym[1]), conv(64, 96, 3, valid=True)
        )
        self.conv6 = conv(192, 192, 3, stride=2, valid=True)  # 35
        self.pool6 = nn.MaxPool2d(3, 2)  # 35

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3(self.conv2(self.conv1(x)))  # N x 64 x 147 x 147
        x = torch.cat([self.pool4(x), self.conv4(x)], 1)  # N x 160 x 73 x 73
        x = torch.cat([self.branch5a(x), self.branch5b(x)], 1)  # N x 192 x 71 x 71
        return torch.cat([self.conv6(x), self.pool6(x)], 1)  # N x 384 x 35 x 35


class InceptionResNetV1Stem(nn.Sequential):
    """The stem of Inception-ResNet-v1 (figure 14): ``(N, C, 299, 299) -> (N, 256, 35, 35)``."""

    out_chans = 256

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__(
            conv(in_chans, 32, 3, stride=2, valid=True),  # 149
            conv(32, 32, 3, valid=True),  # 147
            conv(32, 64, 3),  # 147
            nn.MaxPool2d(3, 2),  # 73
            conv(64, 80, 1),  # 73
            conv(80, 192, 3, valid=True),  # 71
            conv(192, 256, 3, stride=2, valid=True),  # 35
        )


class InceptionResNetV2ReleasedStem(nn.Module):
    """The stem of the authors' released Inception-ResNet-v2 (TF-slim), not of figure 3.

    ``(N, C, 299, 299) -> (N, 320, 35, 35)``: Inception-v3's convolutions and
    poolings down to 35×35×192, then one Inception-v3-style block ("Mixed_5b":
    1×1 96; 1×1 48 → 5×5 64; 1×1 64 → 3×3 96 → 3×3 96; avg pool → 1×1 64).
    This is the network behind the published checkpoints and the 55.8M count.
    """

    out_chans = 320

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            conv(in_chans, 32, 3, stride=2, valid=True),  # 149
            conv(32, 32, 3, valid=True),  # 147
            conv(32, 64, 3),  # 147
            nn.MaxPool2d(3, 2),  # 73
            conv(64, 80, 1),  # 73
            conv(80, 192, 3, valid=True),  # 71
            nn.MaxPool2d(3, 2),  # 35
        )
        self.mixed_5b = _Branches()
        self.mixed_5b.branches = nn.ModuleList([
            conv(192, 96, 1),
            nn.Sequential(conv(192, 48, 1), conv(48, 64, 5)),
            nn.Sequential(conv(192, 64, 1), conv(64, 96, 3), conv(96, 96, 3)),
            nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv(192, 64, 1)),
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.mixed_5b(self.convs(x))  # N x 320 x 35 x 35


class InceptionA(_Branches):
    """Inception-v4's 35×35 block (figure 4): ``(N, 384, H, W) -> (N, 384, H, W)``."""

    def __init__(self, in_chans: int = 384, released: bool = False) -> None:
        """``released``: the pooling branch last (the released code), not first (figure 4)."""
        super().__init__()
        pool = nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv(in_chans, 96, 1))
        rest = [
            conv(in_chans, 96, 1),
            nn.Sequential(conv(in_chans, 64, 1), conv(64, 96, 3)),
            nn.Sequential(conv(in_chans, 64, 1), conv(64, 96, 3), conv(96, 96, 3)),
        ]
        self.branches = nn.ModuleList([*rest, pool] if released else [pool, *rest])


class InceptionB(_Branches):
    """Inception-v4's 17×17 block (figure 5): ``(N, 1024, H, W) -> (N, 1024, H, W)``."""

    def __init__(self, in_chans: int = 1024, released: bool = False) -> None:
        """``released``: pooling branch last and the double tower 7×1 first (the released code)."""
        super().__init__()
        a, b = ((7, 1), (1, 7)) if released else ((1, 7), (7, 1))
        pool = nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv(in_chans, 128, 1))
        rest = [
            conv(in_chans, 384, 1),
            nn.Sequential(conv(in_chans, 192, 1), conv(192, 224, (1, 7)), conv(224, 256, (7, 1))),
            nn.Sequential(
                conv(in_chans, 192, 1), conv(192, 192, a), conv(192, 224, b), conv(224, 224, a), conv(224, 256, b)
            ),
        ]
        self.branches = nn.ModuleList([*rest, pool] if released else [pool, *rest])


class _SplitTail(nn.Module):
    """A stem followed by a 1×3 and a 3×1 conv side by side, concatenated (Inception-C)."""

    def __init__(self, stem: nn.Module, c_mid: int, c_out: int) -> None:
        super().__init__()
        self.stem = stem
        self.conv_1x3 = conv(c_mid, c_out, (1, 3))
        self.conv_3x1 = conv(c_mid, c_out, (3, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        return torch.cat([self.conv_1x3(x), self.conv_3x1(x)], 1)


class InceptionC(_Branches):
    """Inception-v4's 8×8 block (figure 6): ``(N, 1536, H, W) -> (N, 1536, H, W)``."""

    def __init__(self, in_chans: int = 1536, released: bool = False) -> None:
        """``released``: pooling branch last and the double tower 3×1 before 1×3 (the released code)."""
        super().__init__()
        a, b = ((3, 1), (1, 3)) if released else ((1, 3), (3, 1))
        pool = nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv(in_chans, 256, 1))
        rest = [
            conv(in_chans, 256, 1),
            _SplitTail(conv(in_chans, 384, 1), 384, 256),
            _SplitTail(nn.Sequential(conv(in_chans, 384, 1), conv(384, 448, a), conv(448, 512, b)), 512, 256),
        ]
        self.branches = nn.ModuleList([*rest, pool] if released else [pool, *rest])


class ReductionA(_Branches):
    """35×35 → 17×17 (figure 7), shared by all three networks with its ``k, l, m, n`` (table 1).

    ``(N, C, H, W) -> (N, C + n + m, H', W')``, ``H' = (H - 3) // 2 + 1``:
    max pooling, a stride-2 3×3 conv with ``n`` filters, and a 1×1 (``k``) →
    3×3 (``l``) → stride-2 3×3 (``m``) tower, side by side.

    ======================  ===  ===  ===  ===
    network                  k    l    m    n
    ======================  ===  ===  ===  ===
    Inception-v4            192  224  256  384
    Inception-ResNet-v1     192  192  256  384
    Inception-ResNet-v2     256  256  384  384
    ======================  ===  ===  ===  ===

    (Some secondary summaries print ``m = 256`` for Inception-ResNet-v2; the paper's table 1
    says 384, and so do the authors' code and figure 18's input width.)
    """

    def __init__(self, in_chans: int, k: int, l: int, m: int, n: int, pool_last: bool = False) -> None:
        super().__init__()
        self.pool_last = pool_last
        self.out_chans = in_chans + n + m
        self.branches = nn.ModuleList([
            nn.MaxPool2d(3, 2),
            conv(in_chans, n, 3, stride=2, valid=True),
            nn.Sequential(conv(in_chans, k, 1), conv(k, l, 3), conv(l, m, 3, stride=2, valid=True)),
        ])


class ReductionB(_Branches):
    """Inception-v4's 17×17 → 8×8 (figure 8): ``(N, 1024, H, W) -> (N, 1536, H', W')``."""

    def __init__(self, in_chans: int = 1024, pool_last: bool = False) -> None:
        super().__init__()
        self.pool_last = pool_last
        self.out_chans = in_chans + 192 + 320
        self.branches = nn.ModuleList([
            nn.MaxPool2d(3, 2),
            nn.Sequential(conv(in_chans, 192, 1), conv(192, 192, 3, stride=2, valid=True)),
            nn.Sequential(
                conv(in_chans, 256, 1),
                conv(256, 256, (1, 7)),
                conv(256, 320, (7, 1)),
                conv(320, 320, 3, stride=2, valid=True),
            ),
        ])


class InceptionResNetReductionB(_Branches):
    """Inception-ResNet's 17×17 → 8×8 (figure 12 for v1, figure 18 for v2).

    ``(N, C, H, W) -> (N, C + a + b + c, H', W')``: max pooling and three
    towers, 1×1 (256) → stride-2 3×3 (``a``), 1×1 (256) → stride-2 3×3 (``b``),
    1×1 (256) → 3×3 (``b``) → stride-2 3×3 (``c``). v1: ``(384, 256, 256)``;
    v2: ``(384, 288, 320)``.
    """

    def __init__(self, in_chans: int, a: int, b: int, c: int, pool_last: bool = False) -> None:
        super().__init__()
        self.pool_last = pool_last
        self.out_chans = in_chans + a + b + c
        self.branches = nn.ModuleList([
            nn.MaxPool2d(3, 2),
            nn.Sequential(conv(in_chans, 256, 1), conv(256, a, 3, stride=2, valid=True)),
            nn.Sequential(conv(in_chans, 256, 1), conv(256, b, 3, stride=2, valid=True)),
            nn.Sequential(conv(in_chans, 256, 1), conv(256, b, 3), conv(b, c, 3, stride=2, valid=True)),
        ])


class _ResidualInception(nn.Module):
    """``relu(x + scale · up(concat(branches(x))))``: the pattern of figures 9–13 and 16–19.

    ``up`` is the 1×1 "linear" convolution (bias, no BN, no activation) that
    brings the concatenation back to the input width so the two can be added.
    """

    def __init__(
        self, branches: list[nn.Module], concat_chans: int, in_chans: int, scale: float, act: bool = True
    ) -> None:
        super().__init__()
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"residual scale must be in (0, 1] (the paper uses 0.1–0.3); got {scale}")
        self.scale = scale
        self.branches = nn.ModuleList(branches)
        self.up = nn.Conv2d(concat_chans, in_chans, 1, bias=True)
        # The authors' released Inception-ResNet-v2 leaves the ReLU out after
        # its very last block (``act=False``); the figures show it everywhere.
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        r = self.up(torch.cat([b(x) for b in self.branches], 1))
        return self.act(x + self.scale * r)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class InceptionResNetA(_ResidualInception):
    """35×35 residual block: figure 10 (v1, ``C = 256``) and figure 16 (v2, ``C = 384``).

    ``(N, C, H, W) -> (N, C, H, W)``. Branches: 1×1 (32); 1×1 (32) → 3×3 (32);
    1×1 (32) → 3×3 (``t1``) → 3×3 (``t2``), with ``(t1, t2) = (32, 32)`` in v1
    and ``(48, 64)`` in v2.
    """

    def __init__(self, in_chans: int, tower: tuple[int, int] = (32, 32), scale: float = 0.17) -> None:
        t1, t2 = tower
        branches = [
            conv(in_chans, 32, 1),
            nn.Sequential(conv(in_chans, 32, 1), conv(32, 32, 3)),
            nn.Sequential(conv(in_chans, 32, 1), conv(32, t1, 3), conv(t1, t2, 3)),
        ]
        super().__init__(branches, 64 + t2, in_chans, scale)


class InceptionResNetB(_ResidualInception):
    """17×17 residual block: figure 11 (v1) and figure 17 (v2).

    ``(N, C, H, W) -> (N, C, H, W)``. Branches: 1×1 (``a``); 1×1 (``b``) →
    1×7 (``c``) → 7×1 (``d``). v1: ``(128, 128, 128, 128)``; v2:
    ``(192, 128, 160, 192)``.
    """

    def __init__(
        self, in_chans: int, widths: tuple[int, int, int, int] = (128, 128, 128, 128), scale: float = 0.10
    ) -> None:
        a, b, c, d = widths
        branches = [
            conv(in_chans, a, 1),
            nn.Sequential(conv(in_chans, b, 1), conv(b, c, (1, 7)), conv(c, d, (7, 1))),
        ]
        super().__init__(branches, a + d, in_chans, scale)


class InceptionResNetC(_ResidualInception):
    """8×8 residual block: figure 13 (v1) and figure 19 (v2).

    ``(N, C, H, W) -> (N, C, H, W)``. Branches: 1×1 (192); 1×1 (192) → 1×3
    (``c``) → 3×1 (``d``). v1: ``(192, 192)``; v2: ``(224, 256)``.
    """

    def __init__(
        self, in_chans: int, widths: tuple[int, int] = (192, 192), scale: float = 0.20, act: bool = True
    ) -> None:
        c, d = widths
        branches = [
            conv(in_chans, 192, 1),
            nn.Sequential(conv(in_chans, 192, 1), conv(192, c, (1, 3)), conv(c, d, (3, 1))),
        ]
        super().__init__(branches, 192 + d, in_chans, scale, act)
