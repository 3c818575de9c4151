"""MobileNet v1.

A. G. Howard, M. Zhu, B. Chen, D. Kalenichenko, W. Wang, T. Weyand,
M. Andreetto, H. Adam, "MobileNets: Efficient Convolutional Neural Networks
for Mobile Vision Applications", 2017, arXiv:1704.04861.

Reproduces table 1 of the paper (224×224 input, width multiplier α = 1)::

    conv 3×3, 32, /2                        → 32@112×112
    dw/pw 64        dw/pw 128, /2   dw/pw 128      → 128@56×56
    dw/pw 256, /2   dw/pw 256                      → 256@28×28
    dw/pw 512, /2   5 × dw/pw 512                  → 512@14×14
    dw/pw 1024, /2  dw/pw 1024                     → 1024@7×7
    global average pool, FC 1000, softmax

28 layers counting depthwise and pointwise separately; 4.2M parameters and
569M multiply-adds. The two knobs of §3.3–3.4:

* width multiplier ``α`` (``width_mult``): every layer has ``α·C`` channels
  (table 6: 1.0 / 0.75 / 0.5 / 0.25 give 4.2M / 2.6M / 1.3M / 0.5M parameters
  and 569M / 325M / 149M / 41M multiply-adds);
* resolution multiplier ``ρ``: simply a smaller input (224, 192, 160, 128);
  the cost falls with ``ρ²`` and the parameters stay (table 7: 569M / 418M /
  290M / 186M). Any input of at least 32×32 works; global average pooling
  makes the classifier independent of it.

Notes on implementations: the reference TensorFlow-Slim model keeps at least 8
channels per layer when ``α`` is small, as we do, and puts dropout before the
classifier (off here, as in the paper, which trains small models with little
regularisation). The paper says nothing about initialisation; we use He
(fan-out) normal initialisation for convolutions, as the common reference
implementations do, and a small normal for the classifier.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.helpers import init_fan_out
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.separable_conv import SeparableConv2d
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["MOBILENET_V1_LAYERS", "MobileNetV1", "mobilenet_v1"]

# Table 1 after the first conv: (output channels, stride) of each dw/pw pair.
MOBILENET_V1_LAYERS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)  # fmt: skip


class MobileNetV1(ClassifierInterface, nn.Module):
    """MobileNet v1: ``(N, in_chans, H, W) -> (N, num_classes)``, any ``H, W ≥ 32``.

    Args:
        num_classes: classifier outputs.
        in_chans: input channels.
        width_mult: ``α``; every layer gets ``max(8, int(α·C))`` channels.
        dropout: before the classifier (0 as in the paper).
        relu6: ReLU6 instead of the paper's ReLU after every BN. timm's
            ``mobilenetv1_100`` (and the TF-Slim reference code) uses ReLU6;
            set it to load those weights.
    """

    min_size = 32
    classifier_names = ("fc",)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        dropout: float = 0.0,
        relu6: bool = False,
    ) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult (α) must be positive; got {width_mult}")
        self.in_chans = in_chans

        def width(c: int) -> int:
            return max(8, int(c * width_mult))

        act: type[nn.Module] = nn.ReLU6 if relu6 else nn.ReLU
        c = width(32)
        self.features = nn.Sequential()
        self.features.add_module("conv1", ConvBNAct(in_chans, c, 3, 2, act=act))
        for i, (out, stride) in enumerate(MOBILENET_V1_LAYERS, start=2):
            # Figure 3 (right): BN and ReLU after the depthwise *and* the pointwise conv.
            unit = SeparableConv2d(
                c, width(out), 3, stride, mid_bn=True, mid_act=act, bn=True, act=act
            )
            self.features.add_module(f"conv{i}", unit)
            c = width(out)
        self.num_features, self.num_classes = c, num_classes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)
        init_fan_out(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 1024α, H/32, W/32)``."""
        check_input_size(x, self.min_size, "mobilenet_v1", self.in_chans)
        return self.features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 1024α, h, w) -> (N, num_classes)``: pool, dropout, fc."""
        x = torch.flatten(self.pool(features), 1)  # N x 1024α
        return self.fc(self.dropout(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="MobileNet",
    paper="Howard et al. 2017, arXiv:1704.04861",
    year=2017,
    min_size=32,
    params="4.2M",
    macs="569M",
    table="table 8",
    test_size=(3, 32, 32),
)
def mobilenet_v1(**kwargs) -> MobileNetV1:
    """MobileNet v1 1.0-224 (table 1): 4.2M parameters, 569M multiply-adds; ``width_mult`` = α."""
    return MobileNetV1(**kwargs)
