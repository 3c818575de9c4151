"""MobileNet v2.

M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen, "MobileNetV2:
Inverted Residuals and Linear Bottlenecks", CVPR 2018, arXiv:1801.04381.

Reproduces table 2 of the paper (224×224, width multiplier 1.0); each row is a
sequence of ``n`` inverted-residual blocks (``layers/inverted_residual.py``)
with expansion ``t``, output channels ``c`` and first stride ``s``::

    input        operator       t   c     n  s
    224²×3       conv2d 3×3     -   32    1  2
    112²×32      bottleneck     1   16    1  1
    112²×16      bottleneck     6   24    2  2
    56²×24       bottleneck     6   32    3  2
    28²×32       bottleneck     6   64    4  2
    14²×64       bottleneck     6   96    3  1
    14²×96       bottleneck     6   160   3  2
    7²×160       bottleneck     6   320   1  1
    7²×320       conv2d 1×1     -   1280  1  1
    7²×1280      avgpool 7×7    -   -     1  -
    1×1×1280     conv2d 1×1     -   k     -

Counts: 3,504,872 parameters with the 1000-class head, 300M multiply-adds.
The paper's table 4 prints 3.4M; the reference TensorFlow model has 3.47M
(1001 classes), so the paper truncates. We report **3.5M with the head**, the
rounding of our exact count; without the final classifier the network has
2.22M parameters.

Width multiplier ``α`` (``width_mult``): every bottleneck width becomes
``make_divisible(α·c, 8)``; the last 1×1 conv keeps 1280 channels for
``α < 1`` and grows for ``α > 1`` (paper §6.1). ReLU6 everywhere except after
the projections (linear bottlenecks). Dropout 0.2 before the classifier as in
the reference implementation; initialisation (He fan-out for convolutions) as
well, since the paper states none.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.helpers import init_fan_out, make_divisible
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.inverted_residual import InvertedResidual
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["MOBILENET_V2_SETTINGS", "MobileNetV2", "mobilenet_v2"]

# Table 2: (t, c, n, s) per bottleneck sequence.
MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class MobileNetV2(ClassifierInterface, nn.Module):
    """MobileNet v2: ``(N, in_chans, H, W) -> (N, num_classes)``, any ``H, W ≥ 32``.

    Args:
        num_classes: classifier outputs.
        in_chans: input channels.
        width_mult: ``α``, applied to every layer but the last 1×1 conv when ``α < 1``.
        dropout: before the classifier.
    """

    min_size = 32
    classifier_names = ("fc",)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult (α) must be positive; got {width_mult}")
        self.in_chans = in_chans
        c = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        self.features = nn.Sequential()
        self.features.add_module("stem", ConvBNAct(in_chans, c, 3, 2, act=nn.ReLU6))
        for i, (t, out, n, s) in enumerate(MOBILENET_V2_SETTINGS, start=1):
            out = make_divisible(out * width_mult)
            stage = nn.Sequential(
                *(
                    InvertedResidual(c if j == 0 else out, out, s if j == 0 else 1, t)
                    for j in range(n)
                )
            )
            self.features.add_module(f"stage{i}", stage)
            c = out
        self.features.add_module("head", ConvBNAct(c, last, 1, act=nn.ReLU6))
        self.num_features, self.num_classes = last, num_classes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(last, num_classes)
        init_fan_out(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 1280, H/32, W/32)``, the last 1×1 conv included."""
        check_input_size(x, self.min_size, "mobilenet_v2", self.in_chans)
        return self.features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 1280, h, w) -> (N, num_classes)``: pool, dropout, fc."""
        x = torch.flatten(self.pool(features), 1)  # N x 1280
        return self.fc(self.dropout(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="MobileNet",
    paper="Sandler et al. 2018, arXiv:1801.04381",
    year=2018,
    min_size=32,
    params="3.5M",  # with the classifier; the paper's 3.4M truncates 3.47M (module docstring)
    macs="300M",
    macs_rtol=0.005,  # 300.8M counted; the paper truncates (table 4 prints 300, as for 3.47M → 3.4M)
    table="table 4",
    test_size=(3, 32, 32),
)
def mobilenet_v2(**kwargs) -> MobileNetV2:
    """MobileNet v2 1.0-224 (table 2): 3.5M parameters with the head, 300M multiply-adds."""
    return MobileNetV2(**kwargs)
