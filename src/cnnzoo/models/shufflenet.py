"""ShuffleNet v1 and v2.

v1: X. Zhang, X. Zhou, M. Lin, J. Sun, "ShuffleNet: An Extremely Efficient
Convolutional Neural Network for Mobile Devices", CVPR 2018, arXiv:1707.01083.
v2: N. Ma, X. Zhang, H.-T. Zheng, J. Sun, "ShuffleNet V2: Practical Guidelines
for Efficient CNN Architecture Design", ECCV 2018, arXiv:1807.11164.

**v1, table 1.** A 3×3 conv of 24 channels with stride 2 and a 3×3 max pool,
then three stages of 4 / 8 / 4 ShuffleNet units whose output widths depend on
the number of groups ``g`` of the pointwise group convolutions::

    g           1     2     3     4     8
    stage 2   144   200   240   272   384      (28×28)
    stage 3   288   400   480   544   768      (14×14)
    stage 4   576   800   960  1088  1536      (7×7)

chosen so that every ``g`` costs about 140M multiply-adds at 1×. A unit
(figure 2) is 1×1 group conv → BN → ReLU → channel shuffle → 3×3 depthwise
(stride 1 or 2) → BN → 1×1 group conv → BN, with the bottleneck a quarter of
the output width; stride-1 units add the input, stride-2 units concatenate a
3×3 average-pooled copy of it, and a ReLU follows either. The first pointwise
conv of stage 2 is not grouped: its input has only 24 channels (§3.3).
``width_mult`` is the paper's scale factor ``s`` ("ShuffleNet s×"). 1× with
g = 3 has about 1.9M parameters and 140M multiply-adds.

**v2, table 5.** The same stem and stage lengths; a unit (figure 3 c/d)
splits the channels in two halves, passes one through unchanged and the other
through 1×1 conv → BN → ReLU → 3×3 depthwise → BN → 1×1 conv → BN → ReLU,
concatenates and shuffles with two groups (guidelines G1–G4: equal widths, no
group convs, few branches, no elementwise adds). Stride-2 units feed the whole
input to both branches (the left one: depthwise + 1×1), doubling the width. A
1×1 conv (1024 or 2048 channels) precedes global pooling::

    output width   0.5×   1×    1.5×   2×
    stage 2          48   116    176   244
    stage 3          96   232    352   488
    stage 4         192   464    704   976
    conv5          1024  1024   1024  2048
    params         1.4M  2.3M   3.5M  7.4M
    MACs            41M  146M   299M  591M

Multiply-adds here count every conv and linear layer; v2's table 5 numbers are
0.8–1.4% above that count (e.g. 146M against 144.9M at 1×) and are checked to
1.5%. Neither paper states an initialisation; we use He (fan-out) normal for
convolutions like the other efficient networks here. Counts are at 224×224
with 1000 classes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.channel_shuffle import channel_shuffle
from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.helpers import init_fan_out
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = [
    "SHUFFLENET_V1_WIDTHS",
    "SHUFFLENET_V2_WIDTHS",
    "ShuffleNetV1",
    "ShuffleNetV1Unit",
    "ShuffleNetV2",
    "ShuffleNetV2Unit",
    "shufflenet_v1",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
]

STAGE_REPEATS = (4, 8, 4)
# v1 table 1: output widths of stages 2–4 for each number of groups g.
SHUFFLENET_V1_WIDTHS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
# v2 table 5: widths of stages 2–4 and conv5 for each multiplier.
SHUFFLENET_V2_WIDTHS: dict[str, tuple[int, int, int, int]] = {
    "0.5": (48, 96, 192, 1024),
    "1.0": (116, 232, 464, 1024),
    "1.5": (176, 352, 704, 1024),
    "2.0": (244, 488, 976, 2048),
}


class ShuffleNetV1Unit(nn.Module):
    """ShuffleNet v1 unit (figure 2 b/c): ``(N, in_chans, H, W) -> (N, out_chans, H/s, W/s)``.

    With ``stride=2`` the residual branch produces ``out_chans − in_chans``
    channels and is concatenated with the average-pooled input.
    """

    def __init__(
        self, in_chans: int, out_chans: int, groups: int, stride: int, group_first: bool = True
    ) -> None:
        super().__init__()
        branch_out = out_chans - in_chans if stride == 2 else out_chans
        mid = out_chans // 4
        first_groups = groups if group_first else 1
        for c, g, what in (
            (in_chans, first_groups, "input"),
            (mid, groups, "bottleneck"),
            (branch_out, groups, "output"),
        ):
            if c % g:
                raise ValueError(
                    f"ShuffleNet unit: the {what} width {c} is not divisible by groups={g}; "
                    "choose width_mult so that every width is a multiple of the groups"
                )
        self.stride, self.groups = stride, groups
        self.gconv1 = ConvBNAct(in_chans, mid, 1, groups=first_groups)
        self.dwconv = ConvBNAct(mid, mid, 3, stride, groups=mid, act=None)
        self.gconv2 = ConvBNAct(mid, branch_out, 1, groups=groups, act=None)
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.gconv1(x)
        out = channel_shuffle(out, self.groups)
        out = self.gconv2(self.dwconv(out))
        if self.stride == 2:
            return torch.relu(torch.cat((self.shortcut(x), out), 1))
        return torch.relu(x + out)


class ShuffleNetV2Unit(nn.Module):
    """ShuffleNet v2 unit (figure 3 c/d): ``(N, in_chans, H, W) -> (N, out_chans, H/s, W/s)``."""

    def __init__(self, in_chans: int, out_chans: int, stride: int) -> None:
        super().__init__()
        if out_chans % 2 or (stride == 1 and in_chans != out_chans):
            raise ValueError(
                f"ShuffleNet v2 unit: out_chans must be even and equal to in_chans at stride 1; "
                f"got {in_chans} → {out_chans}, stride {stride}"
            )
        self.stride = stride
        half = out_chans // 2
        branch_in = in_chans if stride == 2 else half
        if stride == 2:
            self.left = nn.Sequential(
                ConvBNAct(in_chans, in_chans, 3, 2, groups=in_chans, act=None),
                ConvBNAct(in_chans, half, 1),
            )
        self.right = nn.Sequential(
            ConvBNAct(branch_in, half, 1),
            ConvBNAct(half, half, 3, stride, groups=half, act=None),
            ConvBNAct(half, half, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)  # channel split
        else:
            left, right = self.left(x), x
        return channel_shuffle(torch.cat((left, self.right(right)), 1), 2)


class ShuffleNetV1(ClassifierInterface, nn.Module):
    """ShuffleNet v1: ``(N, in_chans, H, W) -> (N, num_classes)``, any ``H, W ≥ 32``.

    Args:
        num_classes: classifier outputs.
        in_chans: input channels.
        groups: ``g`` of the pointwise group convolutions, 1, 2, 3, 4 or 8 (table 1).
        width_mult: the scale factor ``s`` (0.25, 0.5, 1 … in the paper).
    """

    min_size = 32
    classifier_names = ("fc",)

    def __init__(
        self, num_classes: int = 1000, in_chans: int = 3, groups: int = 3, width_mult: float = 1.0
    ) -> None:
        super().__init__()
        if groups not in SHUFFLENET_V1_WIDTHS:
            raise ValueError(
                f"groups must be one of {sorted(SHUFFLENET_V1_WIDTHS)} (table 1); got {groups}"
            )
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive; got {width_mult}")
        if int(24 * width_mult) < 1:  # the 24-channel stem would have no channels
            raise ValueError(f"width_mult must be at least 1/24 (the stem has 24·width_mult channels); got {width_mult}")
        self.in_chans, self.groups = in_chans, groups
        c = int(24 * width_mult)
        self.stem = nn.Sequential(ConvBNAct(in_chans, c, 3, 2), nn.MaxPool2d(3, 2, 1))
        self.stages = nn.Sequential()
        for i, (width, repeats) in enumerate(
            zip(SHUFFLENET_V1_WIDTHS[groups], STAGE_REPEATS, strict=True)
        ):
            out = int(width * width_mult)
            units = [ShuffleNetV1Unit(c, out, groups, 2, group_first=i > 0)]
            units += [ShuffleNetV1Unit(out, out, groups, 1) for _ in range(repeats - 1)]
            self.stages.add_module(f"stage{i + 2}", nn.Sequential(*units))
            c = out
        self.num_features, self.num_classes = c, num_classes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        init_fan_out(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, num_features, H/32, W/32)``."""
        check_input_size(x, self.min_size, "shufflenet_v1", self.in_chans)
        x = self.stem(x)  # N x 24 x H/4 x W/4
        return self.stages(x)  # N x (960 for g=3) x H/32 x W/32

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, num_features, h, w) -> (N, num_classes)``: pool, fc."""
        return self.fc(torch.flatten(self.pool(features), 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class ShuffleNetV2(ClassifierInterface, nn.Module):
    """ShuffleNet v2: ``(N, in_chans, H, W) -> (N, num_classes)``, any ``H, W ≥ 32``.

    Args:
        widths: stage 2–4 and conv5 widths (``SHUFFLENET_V2_WIDTHS``).
        name: registry name, for error messages.
        num_classes: classifier outputs.
        in_chans: input channels.
    """

    min_size = 32
    classifier_names = ("fc",)

    def __init__(
        self,
        widths: tuple[int, int, int, int],
        name: str,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        self.name, self.in_chans = name, in_chans
        c = 24
        self.stem = nn.Sequential(ConvBNAct(in_chans, c, 3, 2), nn.MaxPool2d(3, 2, 1))
        self.stages = nn.Sequential()
        for i, (out, repeats) in enumerate(zip(widths[:3], STAGE_REPEATS, strict=True)):
            units = [ShuffleNetV2Unit(c, out, 2)] + [
                ShuffleNetV2Unit(out, out, 1) for _ in range(repeats - 1)
            ]
            self.stages.add_module(f"stage{i + 2}", nn.Sequential(*units))
            c = out
        self.conv5 = ConvBNAct(c, widths[3], 1)
        self.num_features, self.num_classes = widths[3], num_classes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        init_fan_out(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, num_features, H/32, W/32)``, conv5 included."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        x = self.stem(x)  # N x 24 x H/4 x W/4
        return self.conv5(self.stages(x))  # N x 1024 (2048 at 2×) x H/32 x W/32

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, num_features, h, w) -> (N, num_classes)``: pool, fc."""
        return self.fc(torch.flatten(self.pool(features), 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


_V1 = "Zhang et al. 2018, arXiv:1707.01083"
_V2 = "Ma et al. 2018, arXiv:1807.11164"
# Conv + linear multiply-adds of the table 5 networks are 0.8–1.4% below the
# MFLOPs the paper prints (e.g. 144.9M for 146M); the paper does not say what
# else its count includes, so its numbers are checked to 1.5%.
_V2_MACS_RTOL = 0.015


@register_model(
    family="ShuffleNet", paper=_V1, year=2018, min_size=32, test_size=(3, 32, 32),
    params="1.9M",
    params_rtol=0.03,  # "~1.9M" as commonly quoted; the paper prints no exact count
    macs="140M",
    macs_rtol=0.03,  # table 2 rounds every g to "140 MFLOPs"; ours: 137.6M for g = 3
    table="table 2",
)  # fmt: skip
def shufflenet_v1(**kwargs) -> ShuffleNetV1:
    """ShuffleNet v1 1× (table 1), ``groups`` 1–8 (default 3: ~1.9M parameters, 140M multiply-adds)."""
    return ShuffleNetV1(**kwargs)


@register_model(
    family="ShuffleNet",
    paper=_V2,
    year=2018,
    min_size=32,
    test_size=(3, 32, 32),
    params="1.4M",
    macs="41M",
    table="table 5",
    macs_rtol=_V2_MACS_RTOL,
)
def shufflenet_v2_x0_5(**kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 0.5× (table 5): 1.4M parameters, 41M multiply-adds."""
    return ShuffleNetV2(SHUFFLENET_V2_WIDTHS["0.5"], "shufflenet_v2_x0_5", **kwargs)


@register_model(
    family="ShuffleNet",
    paper=_V2,
    year=2018,
    min_size=32,
    test_size=(3, 32, 32),
    params="2.3M",
    macs="146M",
    table="table 5",
    macs_rtol=_V2_MACS_RTOL,
)
def shufflenet_v2_x1_0(**kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 1× (table 5): 2.3M parameters, 146M multiply-adds."""
    return ShuffleNetV2(SHUFFLENET_V2_WIDTHS["1.0"], "shufflenet_v2_x1_0", **kwargs)


@register_model(
    family="ShuffleNet",
    paper=_V2,
    year=2018,
    min_size=32,
    test_size=(3, 32, 32),
    params="3.5M",
    macs="299M",
    table="table 5",
    macs_rtol=_V2_MACS_RTOL,
)
def shufflenet_v2_x1_5(**kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 1.5× (table 5): 3.5M parameters, 299M multiply-adds."""
    return ShuffleNetV2(SHUFFLENET_V2_WIDTHS["1.5"], "shufflenet_v2_x1_5", **kwargs)


@register_model(
    family="ShuffleNet",
    paper=_V2,
    year=2018,
    min_size=32,
    test_size=(3, 32, 32),
    params="7.4M",
    macs="591M",
    table="table 5",
    macs_rtol=_V2_MACS_RTOL,
)
def shufflenet_v2_x2_0(**kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 2× (table 5): 7.4M parameters, 591M multiply-adds."""
    return ShuffleNetV2(SHUFFLENET_V2_WIDTHS["2.0"], "shufflenet_v2_x2_0", **kwargs)
