"""Octave-convolution ResNet-50 (Oct-ResNet-50).

Y. Chen, H. Fan, B. Xu, Z. Yan, Y. Kalantidis, M. Rohrbach, S. Yan, J. Feng,
"Drop an Octave: Reducing Spatial Redundancy in Convolutional Neural Networks
with Octave Convolution", ICCV 2019, arXiv:1904.05049 — §4.1 and table 3
(ImageNet ablation: ResNet-50 at α = 0.125, 0.25, 0.5, 0.75 with its GFLOPs).

Every convolution of the residual stages becomes an octave convolution
(:class:`~cnnzoo.layers.octave_conv.OctaveConv2d`), so every feature map of
stages 1–3 is a pair: ``(1−α)C`` channels at full resolution and ``αC`` at
half. As in the authors' code, the stem (7×7 conv, max pool) stays ordinary,
the first unit of stage 1 splits its input (``α_in = 0 → α``), the last
stage is ordinary (``α = 0``) and its first unit merges the pair
(``α → 0``). BN and ReLU act on each part; the shortcut adds part to part.

The network is ResNet-50 "v1.5" (stride on the 3×3 of the bottleneck), the
ResNet-50 the paper's 4.1 GFLOPs baseline counts. The paper's "FLOPs" are
multiply-adds (MACs here): its baseline 4.1G is ResNet-50's 4.1G MACs.
An octave convolution keeps all ``k²·C_in·C_out`` weights of the convolution
it replaces, so Oct-ResNet-50 has ResNet-50's 25.6M parameters at every α.
Counted conv by conv at 224×224: 4.09G, 3.57G, 3.10G, 2.37G and 1.88G MACs
for α = 0, 0.125, 0.25, 0.5 and 0.75, each the paper's figure to its
printed precision.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.octave_conv import OctaveConv2d
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["OCT_RESNET50_GFLOPS", "OctaveBottleneck", "OctResNet", "oct_resnet50"]

# Table 3 of the paper, ResNet-50 row: GFLOPs (multiply-adds) at 224×224 for each α.
OCT_RESNET50_GFLOPS = {0.0: "4.1G", 0.125: "3.6G", 0.25: "3.1G", 0.5: "2.4G", 0.75: "1.9G"}

Pair = Tensor | tuple[Tensor, Tensor]


class _OctaveNorm(nn.Module):
    """BatchNorm (and ReLU) on each part of an octave pair; the modules keep the names ``bn_h``, ``bn_l``."""

    def __init__(self, chans: int, alpha: float, relu: bool = True) -> None:
        super().__init__()
        low = int(alpha * chans)
        self.bn_h = nn.BatchNorm2d(chans - low)
        self.bn_l = nn.BatchNorm2d(low) if low else None
        self.relu = relu

    def forward(self, x: Pair) -> Pair:
        act = nn.functional.relu if self.relu else (lambda t: t)
        if isinstance(x, Tensor):
            return act(self.bn_h(x))
        return act(self.bn_h(x[0])), act(self.bn_l(x[1]))


def _add(a: Pair, b: Pair, relu: bool = True) -> Pair:
    f = nn.functional.relu if relu else (lambda t: t)
    if isinstance(a, Tensor):
        return f(a + b)
    return f(a[0] + b[0]), f(a[1] + b[1])


class OctaveBottleneck(nn.Module):
    """1×1 → 3×3 (stride) → 1×1 octave bottleneck; ``α_in`` of its input, ``α`` of its output.

    Shapes: a pair ``((N, (1−α_in)C_in, H, W), (N, α_in·C_in, H/2, W/2))`` (a
    single tensor when ``α_in = 0``) to the same kind of pair for ``out_chans``
    and ``α``, divided in size by ``stride``.
    """

    def __init__(
        self, in_chans: int, width: int, out_chans: int, stride: int, alpha_in: float, alpha: float
    ) -> None:
        super().__init__()
        self.conv1 = OctaveConv2d(in_chans, width, 1, alpha_in, alpha)
        self.bn1 = _OctaveNorm(width, alpha)
        self.conv2 = OctaveConv2d(width, width, 3, alpha, alpha, stride=stride)
        self.bn2 = _OctaveNorm(width, alpha)
        self.conv3 = OctaveConv2d(width, out_chans, 1, alpha, alpha)
        self.bn3 = _OctaveNorm(out_chans, alpha, relu=False)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_chans != out_chans or alpha_in != alpha:
            self.downsample = nn.Sequential(OrderedDict(
                conv=OctaveConv2d(in_chans, out_chans, 1, alpha_in, alpha, stride=stride),
                bn=_OctaveNorm(out_chans, alpha, relu=False),
            ))  # fmt: skip

    def forward(self, x: Pair) -> Pair:
        out = self.bn3(self.conv3(self.bn2(self.conv2(self.bn1(self.conv1(x))))))
        skip = x if self.downsample is None else self.downsample(x)
        return _add(out, skip)


class OctResNet(ClassifierInterface, nn.Module):
    """Oct-ResNet: ``(N, in_chans, H, W) -> (N, num_classes)``, H and W multiples of 32.

    Args:
        layers: bottlenecks per stage (``[3, 4, 6, 3]``).
        alpha: fraction of low-frequency channels in stages 1–3 (0 ≤ α < 1).
        num_classes, in_chans: classifier outputs and input channels.
    """

    classifier_names = ("fc",)

    def __init__(
        self,
        layers: tuple[int, ...] = (3, 4, 6, 3),
        *,
        alpha: float = 0.5,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"oct_resnet: alpha must be in [0, 1); got {alpha}")
        self.in_chans, self.alpha = in_chans, alpha
        self.conv1 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        alphas = [alpha] * (len(layers) - 1) + [0.0]  # the last stage is ordinary
        in_c, a_in = 64, 0.0
        self.stage_names: list[str] = []
        for i, (n, planes, a) in enumerate(zip(layers, (64, 128, 256, 512), alphas, strict=True)):
            units = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                units.append(OctaveBottleneck(in_c, planes, planes * 4, stride, a_in, a))
                in_c, a_in = planes * 4, a
            self.add_module(f"layer{i + 1}", nn.Sequential(*units))
            self.stage_names.append(f"layer{i + 1}")
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_c, num_classes)
        self.num_features, self.num_classes = in_c, num_classes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 2048, H/32, W/32)``."""
        check_input_size(x, 32, "oct_resnet50", self.in_chans)
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(
                f"oct_resnet50: height and width must be multiples of 32; got {tuple(x.shape[-2:])}"
            )
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # N x 64 x H/4 x W/4
        for stage in self.stage_names:
            x = getattr(self, stage)(
                x
            )  # pairs in layer1..3; layer4 merges them: N x 2048 x H/32 x W/32
        return x

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 2048, h, w) -> (N, num_classes)``."""
        return self.fc(torch.flatten(self.avgpool(features), 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="Octave ResNet",
    paper="Chen et al. 2019, arXiv:1904.05049",
    table="table 3",
    year=2019,
    min_size=32,
    test_size=(3, 64, 64),
    macs=OCT_RESNET50_GFLOPS[0.5],
    no_reference="the paper prints GFLOPs, not parameters, for Oct-ResNet-50; an octave "
    "conv keeps every weight, so it has ResNet-50's 25.6M (tested)",
)
def oct_resnet50(**kwargs) -> OctResNet:
    """Oct-ResNet-50 (table 3), ``alpha`` 0.5 by default (2.4 GFLOPs); 0.125, 0.25, 0.75 as printed too."""
    return OctResNet((3, 4, 6, 3), **kwargs)
