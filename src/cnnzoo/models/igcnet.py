"""IGCNet: ResNet-18-shaped networks of interleaved group convolutions.

T. Zhang, G.-J. Qi, B. Xiao, J. Wang, "Interleaved Group Convolutions for
Deep Neural Networks", ICCV 2017, arXiv:1707.02725: §3 (the block) and the
ImageNet comparison with ResNet-18 (its table is also in the authors' README,
github.com/hellozting/InterleavedGroupConvolutions).

The networks are ResNet-18 (He et al. 2016, arXiv:1512.03385, table 1) with
every 3×3 convolution replaced by an IGC block
(:class:`~cnnzoo.layers.interleaved_group_conv.InterleavedGroupConv2d`:
primary 3×3 group conv with ``L`` partitions of ``M`` channels, permutation,
secondary 1×1 group conv with ``M`` partitions of ``L`` channels, permutation
back). "+Ident." names the identity shortcuts of the residual units. As in the
authors' released network definitions (MXNet symbol files of the three
models)::

    conv 7×7/2, C₀ → BN → ReLU → max pool 3×3/2             → C₀@56×56
    4 stages × 2 units: [IGC → BN → ReLU → IGC → BN] + shortcut → ReLU
        stage widths C, 2C, 4C, 8C; the first unit of stages 2–4 has stride 2
    global average pool, FC 1000

* the stride of a downsampling unit is on its first primary (3×3) group conv;
* a unit whose width changes has a projection shortcut, a 1×1 conv (+ BN)
  that is itself grouped with the unit's ``L`` partitions;
* IGC-L4M32 and IGC-L16M16: ``C₀ = C = L·M``; the width doubles by doubling
  ``M`` with ``L`` fixed;
* IGC-L100M2: ``C₀ = 100``, ``C = 200``; the width doubles by doubling ``L``
  (100, 200, 400, 800) with ``M = 2`` fixed, and stage 1 opens with a
  projection unit (100 → 200).

Reference numbers, paper (ImageNet, 224×224; "FLOPs" there are multiply-adds,
as ResNet-18 is listed at 1.8): IGC-L4M32+Ident. 11.205M parameters and 1.9G,
IGC-L16M16+Ident. 11.329M and 2.2G, IGC-L100M2+Ident. 8.61M and 1.3G. Our
counts of the released networks: 12,251,240 / 13,528,296 / 8,637,900
parameters and 1.94G / 2.27G / 1.26G multiply-adds. The printed 8.61M is
IGC-L100M2's count without BatchNorm's scale and shift (8,607,700); the
printed counts of the other two match no single counting rule (with or
without BatchNorm, with or without the FC layer: L4M32's convolutions alone
come to 11,207,040 and L16M16's to 11,440,896), so those entries carry no
parameter reference.

Initialisation: the paper does not state it; He (fan-out) normal, as for the
other group-convolution networks here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.helpers import init_fan_out
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.interleaved_group_conv import InterleavedGroupConv2d
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["IGCNet", "IGCUnit", "igc_l4m32", "igc_l16m16", "igc_l100m2", "interleaved_group_conv"]

_PAPER = "Zhang et al. 2017, arXiv:1707.02725"


def interleaved_group_conv(
    in_chans: int, out_chans: int, primary_groups: int, stride: int = 1
) -> InterleavedGroupConv2d:
    """An IGC block ``in_chans -> out_chans``: its primary 3×3 conv maps ``L`` partitions of
    ``in_chans/L`` channels to ``L`` partitions of ``M = out_chans/L``.

    The released networks widen inside the first IGC of a unit (e.g. 128 → 256
    with ``L = 4``).
    """
    return InterleavedGroupConv2d(out_chans, primary_groups, 3, stride, in_chans=in_chans)


class IGCUnit(nn.Module):
    """Residual unit ``ReLU(shortcut(x) + BN(IGC(ReLU(BN(IGC(x))))))``: ``(N, in, H, W) -> (N, out, H/s, W/s)``."""

    def __init__(self, in_chans: int, out_chans: int, primary_groups: int, stride: int = 1) -> None:
        super().__init__()
        self.igc1 = interleaved_group_conv(in_chans, out_chans, primary_groups, stride)
        self.bn1 = nn.BatchNorm2d(out_chans)
        self.igc2 = interleaved_group_conv(out_chans, out_chans, primary_groups)
        self.bn2 = nn.BatchNorm2d(out_chans)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if in_chans != out_chans or stride != 1:
            # Grouped like the primary convs (the released networks' projection).
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chans, out_chans, 1, stride, groups=primary_groups, bias=False),
                nn.BatchNorm2d(out_chans),
            )

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.igc1(x)))
        y = self.bn2(self.igc2(y))
        return self.relu(y + self.shortcut(x))


class IGCNet(ClassifierInterface, nn.Module):
    """ResNet-18-shaped IGCNet: ``(N, in_chans, H, W) -> (N, num_classes)``, any ``H, W ≥ 32``.

    Args:
        stem_width: ``C₀``, output channels of the 7×7 stem conv.
        widths: channels of the four stages.
        primary_groups: ``L`` of each stage (``M = width / L``).
        units: residual units per stage (ResNet-18: 2 each).
        num_classes, in_chans: classifier outputs, input channels.
    """

    min_size = 32
    classifier_names = ("fc",)

    def __init__(
        self,
        stem_width: int,
        widths: tuple[int, ...],
        primary_groups: tuple[int, ...],
        units: tuple[int, ...] = (2, 2, 2, 2),
        num_classes: int = 1000,
        in_chans: int = 3,
        name: str = "igcnet",
    ) -> None:
        super().__init__()
        if not len(widths) == len(primary_groups) == len(units):
            raise ValueError(
                f"widths, primary_groups and units need one entry per stage; got {widths}, {primary_groups}, {units}"
            )
        for w, g in zip(widths, primary_groups):
            if w % g:
                raise ValueError(
                    f"primary_groups (L) must divide the stage width (C = L·M); got C={w}, L={g}"
                )
        self.in_chans, self.name = in_chans, name
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, stem_width, 7, 2, 3, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, c = [], stem_width
        for i, (w, g, n) in enumerate(zip(widths, primary_groups, units)):
            first = 1 if i == 0 else 2
            stages.append(
                nn.Sequential(
                    *(IGCUnit(c if j == 0 else w, w, g, first if j == 0 else 1) for j in range(n))
                )
            )
            c = w
        self.stages = nn.Sequential(*stages)
        self.num_features, self.num_classes = c, num_classes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        init_fan_out(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, widths[-1], H/32, W/32)``."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        x = self.stem(x)  # N x C₀ x H/4 x W/4
        return self.stages(x)  # N x 8C x H/32 x W/32

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, C, h, w) -> (N, num_classes)``: global average pool, FC."""
        return self.fc(torch.flatten(self.pool(features), 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


_ENTRY = dict(family="IGCNet", paper=_PAPER, year=2017, min_size=32, test_size=(3, 32, 32))
_NO_COUNT = (
    "the paper prints {p} parameters; the released network has {t:,}, and its convolutions "
    "alone (no BatchNorm, no FC layer) {c:,}, so no one counting rule gives the printed "
    "number; multiply-adds {m}"
)


@register_model(
    **_ENTRY, macs="1.9G",
    no_reference=_NO_COUNT.format(p="11.205M", c=11_207_040, t=12_251_240, m="1.94G, printed 1.9G"),
)  # fmt: skip
def igc_l4m32(**kwargs) -> IGCNet:
    """IGC-L4M32+Ident.: ``L = 4`` in every stage, ``M`` = 32, 64, 128, 256."""
    return IGCNet(128, (128, 256, 512, 1024), (4, 4, 4, 4), name="igc_l4m32", **kwargs)


@register_model(
    **_ENTRY,
    no_reference=_NO_COUNT.format(p="11.329M", c=11_440_896, t=13_528_296, m="2.27G, printed 2.2G"),
)  # fmt: skip
def igc_l16m16(**kwargs) -> IGCNet:
    """IGC-L16M16+Ident.: ``L = 16`` in every stage, ``M`` = 16, 32, 64, 128."""
    return IGCNet(256, (256, 512, 1024, 2048), (16, 16, 16, 16), name="igc_l16m16", **kwargs)


@register_model(
    **_ENTRY, macs="1.3G",
    no_reference="the paper's 8.61M leaves out BatchNorm's scale and shift: 8,607,700 without "
    "them, 8,637,900 with them (tests/models/test_igcnet.py)",
)  # fmt: skip
def igc_l100m2(**kwargs) -> IGCNet:
    """IGC-L100M2+Ident.: ``M = 2`` in every stage, ``L`` = 100, 200, 400, 800."""
    return IGCNet(100, (200, 400, 800, 1600), (100, 200, 400, 800), name="igc_l100m2", **kwargs)
