"""Inception v3.

C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the
Inception Architecture for Computer Vision", CVPR 2016, arXiv:1512.00567.

The network of the released model (the paper's table 1 differs from it in the
stem and in the number of 17×17 modules, and the counts everyone quotes are
the released model's)::

    stem     conv 3×3/2 32, conv 3×3 32, conv 3×3 pad 64,      299 → 149 → 147 → 147
             max pool 3×3/2, conv 1×1 80, conv 3×3 192,        → 73 → 73 → 71
             max pool 3×3/2                                    → 35×35×192
    3 × Inception-A  (figure 5: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg pool→1×1)
                                                               35×35×256, 288, 288
    Reduction-A      (figure 10: 3×3/2 | 1×1→3×3→3×3/2 | max pool/2)  17×17×768
    4 × Inception-B  (figure 6, n = 7: 1×1 | 1×1→1×7→7×1 |
                      1×1→7×1→1×7→7×1→1×7 | avg pool→1×1)     17×17×768
    auxiliary head on the last 17×17 module (5×5/3 avg pool, 1×1 128, 5×5 768, FC)
    Reduction-B      (1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max pool/2)     8×8×1280
    2 × Inception-C  (figure 7: 1×1 | 1×1→{1×3, 3×1} | 1×1→3×3→{1×3, 3×1} |
                      avg pool→1×1)                            8×8×2048
    global average pool, dropout, FC 1000

Every convolution is followed by BatchNorm (ε = 0.001) and ReLU; convolutions
inside the modules are padded, the stem and the stride-2 layers are not.

Parameters. Counting convolution weights, BatchNorm γ and β, and the
classifier's weights and bias, without the auxiliary head: 23,834,568
("23.8M"; 27,161,264 with it, the head being 3,326,696), and 5.71G
multiply-accumulates at 299×299 (the paper: "5 billion multiply-adds"; 5.7G in
the registry entry). The Xception paper prints 23,626,728 for Inception v3; the
TensorFlow/Keras model counts 23,817,352 trainable parameters because its
BatchNorm has no γ (ours has 17,216 more, one per BN channel). Whatever
convention gives 23,626,728 (≈0.9% below ours), it is not one we could
reproduce from the architecture.

Deviations from the paper's text, as in the released model: Inception-A keeps
one 5×5 branch beside the double 3×3 one; there are four (not five) 17×17
modules. The paper's "BN-auxiliary" (BatchNorm also in the auxiliary FC) is
not used. Label smoothing (§7) is a loss, not part of the network.

Initialisation: the paper states none; as in TensorFlow-slim's reference, He
(fan-in) normal for the convolutions, N(0, 0.01) for the auxiliary 5×5 and
N(0, 0.001) for the classifiers, BN γ = 1, β = 0.

Inputs from 75×75 up are accepted (the auxiliary head pools adaptively to its
5×5 window, the identity at 299×299).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.inception import asymmetric_conv, stacked_3x3
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = [
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionV3",
    "InceptionV3Aux",
    "InceptionV3Outputs",
    "ReductionA",
    "ReductionB",
    "inception_v3",
]

MIN_SIZE = 75  # the smallest side that leaves Reduction-B a 1×1 map
EPS = 1e-3  # BatchNorm epsilon of the released model


def _conv(in_chans: int, out_chans: int, kernel_size: int | tuple[int, int], stride: int = 1, padding=None):
    return ConvBNAct(in_chans, out_chans, kernel_size, stride=stride, padding=padding, bn_eps=EPS)


class InceptionA(nn.Module):
    """35×35 module (figure 5): ``(N, in_chans, H, W) -> (N, 224 + pool_proj, H, W)``."""

    def __init__(self, in_chans: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1x1 = _conv(in_chans, 64, 1)
        self.branch5x5 = nn.Sequential(_conv(in_chans, 48, 1), _conv(48, 64, 5))
        self.branch3x3dbl = nn.Sequential(_conv(in_chans, 64, 1), stacked_3x3(64, 96, 2, bn_eps=EPS))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, 1, padding=1), _conv(in_chans, pool_proj, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x), self.branch_pool(x)], 1)


class ReductionA(nn.Module):
    """35×35 → 17×17 grid reduction (figure 10): ``(N, C, H, W) -> (N, C + 480, ⌊(H−3)/2⌋+1, …)``."""

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        self.branch3x3 = _conv(in_chans, 384, 3, stride=2, padding=0)
        self.branch3x3dbl = nn.Sequential(
            _conv(in_chans, 64, 1), _conv(64, 96, 3), _conv(96, 96, 3, stride=2, padding=0)
        )
        self.branch_pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(x)], 1)


class InceptionB(nn.Module):
    """17×17 module with 7×7 factorised into 1×7 and 7×1 (figure 6): ``(N, 768, H, W) -> (N, 768, H, W)``."""

    def __init__(self, in_chans: int, mid_chans: int) -> None:
        super().__init__()
        c = mid_chans
        self.branch1x1 = _conv(in_chans, 192, 1)
        self.branch7x7 = nn.Sequential(_conv(in_chans, c, 1), asymmetric_conv(c, c, 192, 7, "1xn", bn_eps=EPS))
        self.branch7x7dbl = nn.Sequential(
            _conv(in_chans, c, 1),
            asymmetric_conv(c, c, c, 7, "nx1", bn_eps=EPS),
            asymmetric_conv(c, c, 192, 7, "nx1", bn_eps=EPS),
        )
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, 1, padding=1), _conv(in_chans, 192, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x), self.branch_pool(x)], 1)


class ReductionB(nn.Module):
    """17×17 → 8×8 grid reduction: ``(N, C, H, W) -> (N, C + 512, ⌊(H−3)/2⌋+1, …)``."""

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        self.branch3x3 = nn.Sequential(_conv(in_chans, 192, 1), _conv(192, 320, 3, stride=2, padding=0))
        self.branch7x7x3 = nn.Sequential(
            _conv(in_chans, 192, 1),
            asymmetric_conv(192, 192, 192, 7, "1xn", bn_eps=EPS),
            _conv(192, 192, 3, stride=2, padding=0),
        )
        self.branch_pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch3x3(x), self.branch7x7x3(x), self.branch_pool(x)], 1)


class _Split(nn.Module):
    """``1×3`` and ``3×1`` side by side, concatenated (figure 7's expanded filter bank)."""

    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__()
        self.conv1x3 = _conv(in_chans, out_chans, (1, 3))
        self.conv3x1 = _conv(in_chans, out_chans, (3, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv1x3(x), self.conv3x1(x)], 1)


class InceptionC(nn.Module):
    """8×8 module with expanded filter banks (figure 7): ``(N, C, H, W) -> (N, 2048, H, W)``."""

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        self.branch1x1 = _conv(in_chans, 320, 1)
        self.branch3x3 = nn.Sequential(_conv(in_chans, 384, 1), _Split(384, 384))
        self.branch3x3dbl = nn.Sequential(_conv(in_chans, 448, 1), _conv(448, 384, 3), _Split(384, 384))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, 1, padding=1), _conv(in_chans, 192, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(x)], 1)


class InceptionV3Aux(nn.Module):
    """Auxiliary classifier on the 17×17 grid: ``(N, 768, 17, 17) -> (N, num_classes)``."""

    def __init__(self, in_chans: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = _conv(in_chans, 128, 1)
        self.conv1 = _conv(128, 768, 5, padding=0)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if min(x.shape[-2:]) >= 5:
            x = F.avg_pool2d(x, 5, 3)  # N x 768 x 5 x 5 at 17×17
        x = F.adaptive_avg_pool2d(x, 5)
        x = self.conv1(self.conv0(x))  # N x 768 x 1 x 1
        return self.fc(torch.flatten(x, 1))


class InceptionV3Outputs(NamedTuple):
    """Training-mode output with the auxiliary head: main logits first."""

    logits: Tensor
    aux: Tensor


class InceptionV3(ClassifierInterface, nn.Module):
    """Inception v3: ``(N, in_chans, 299, 299) -> (N, num_classes)``.

    Args:
        num_classes: output classes.
        in_chans: input channels.
        aux_logits: build the auxiliary head (for training); in training mode
            the model then returns :class:`InceptionV3Outputs` ``(logits, aux)``.
            Off by default: the counted 23.8M network is the one without it.
        drop_rate: dropout before the classifier (0.2, keep probability 0.8 in
            the released model).
        pool_count_pad: whether the modules' 3×3 average pools count the zero
            padding at the border (PyTorch's default, and torchvision's and
            timm's model). TensorFlow's "same" pooling does not; Keras
            Applications' InceptionV3 needs ``False``.

    ``forward_features`` ends at the last Inception-C module, ``forward_head``
    pools, drops out and classifies; in eval mode ``forward`` is the two in turn.
    """

    input_size = 299
    classifier_names = ("fc", "aux.fc")

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = False,
        drop_rate: float = 0.2,
        pool_count_pad: bool = True,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        s = nn.Sequential()
        s.add_module("conv1a", _conv(in_chans, 32, 3, stride=2, padding=0))
        s.add_module("conv2a", _conv(32, 32, 3, padding=0))
        s.add_module("conv2b", _conv(32, 64, 3))
        s.add_module("pool1", nn.MaxPool2d(3, 2))
        s.add_module("conv3b", _conv(64, 80, 1))
        s.add_module("conv4a", _conv(80, 192, 3, padding=0))
        s.add_module("pool2", nn.MaxPool2d(3, 2))
        self.stem = s
        self.stage35 = nn.Sequential(InceptionA(192, 32), InceptionA(256, 64), InceptionA(288, 64))
        self.reduction_a = ReductionA(288)
        self.stage17 = nn.Sequential(
            InceptionB(768, 128), InceptionB(768, 160), InceptionB(768, 160), InceptionB(768, 192)
        )
        self.aux = InceptionV3Aux(768, num_classes) if aux_logits else None
        self.reduction_b = ReductionB(768)
        self.stage8 = nn.Sequential(InceptionC(1280), InceptionC(2048))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.AvgPool2d):
                m.count_include_pad = pool_count_pad
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.001)
                nn.init.zeros_(m.bias)
        if self.aux is not None:
            nn.init.normal_(self.aux.conv1.conv.weight, 0.0, 0.01)

    def _features(self, x: Tensor, with_aux: bool) -> tuple[Tensor, Tensor | None]:
        # The auxiliary head reads the 17×17 grid on the way, so the trunk returns it too.
        check_input_size(x, MIN_SIZE, "inception_v3", self.in_chans)
        x = self.stem(x)  # N x 192 x 35 x 35
        x = self.stage35(x)  # N x 288 x 35 x 35
        x = self.reduction_a(x)  # N x 768 x 17 x 17
        x = self.stage17(x)  # N x 768 x 17 x 17
        aux = self.aux(x) if with_aux else None
        x = self.reduction_b(x)  # N x 1280 x 8 x 8
        return self.stage8(x), aux  # N x 2048 x 8 x 8

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 2048, h, w)``: stem to the last Inception-C, 8×8 at 299×299."""
        return self._features(x, with_aux=False)[0]

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 2048, h, w) -> (N, num_classes)``: global average pool, dropout, fc."""
        x = torch.flatten(self.avgpool(features), 1)  # N x 2048
        return self.fc(self.dropout(x))

    def forward(self, x: Tensor) -> Tensor | InceptionV3Outputs:
        x, aux = self._features(x, with_aux=self.aux is not None and self.training)
        logits = self.forward_head(x)
        if aux is not None:
            return InceptionV3Outputs(logits, aux)
        return logits


@register_model(
    family="Inception",
    paper="Szegedy et al. 2016, arXiv:1512.00567",
    year=2016,
    input_size=(3, 299, 299),
    min_size=MIN_SIZE,
    params="23.8M",
    macs="5.7G",
)
def inception_v3(**kwargs) -> InceptionV3:
    """Inception v3 (released model, 299×299): 23.8M parameters without the auxiliary head."""
    return InceptionV3(**kwargs)
