"""BN-Inception (Inception v2), and SE-Inception.

S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network Training
by Reducing Internal Covariate Shift", ICML 2015, arXiv:1502.03167, appendix,
figure 5. SE-Inception: J. Hu, L. Shen, G. Sun, "Squeeze-and-Excitation
Networks", CVPR 2018, arXiv:1709.01507, figure 2.

GoogLeNet with BatchNorm after every convolution and these changes: each 5×5
becomes two 3×3 (the "double 3×3" columns), the 28×28 stage has three modules,
pools are average or max, the pools between stages are gone, and modules 3c
and 4e reduce the grid themselves (stride-2 3×3 convolutions and max pool, no
1×1 branch, the pooled input passed through). Figure 5's table
(#1×1, #3×3 reduce, #3×3, double #3×3 reduce, double #3×3, pool + proj) and
the per-layer parameter counts (weights only) of the widely copied
secondary table (the paper prints none)::

    conv1  7×7/2, 64                     112×112×64        9,408
    pool   3×3/2                         56×56×64
    conv2  1×1 64, 3×3 192               56×56×192       114,688
    pool   3×3/2                         28×28×192
    3a     64   64 64   64  96  avg+32   28×28×256       218,094 (218,112)
    3b     64   64 96   64  96  avg+64   28×28×320       259,072
    3c     –   128 160  64  96  max+pass 14×14×576       384,000  (stride 2)
    4a     224  64 96   96 128  avg+128  14×14×576       608,193 (608,256)
    4b     192  96 128  96 128  avg+128  14×14×576       663,552
    4c     160 128 160 128 160  avg+128  14×14×608       912,384
    4d     96  128 192 160 192  avg+128  14×14×608     1,140,736
    4e     –   128 192 192 256  max+pass 7×7×1056      1,447,936  (stride 2)
    5a     352 192 320 160 224  avg+128  7×7×1024      2,205,696
    5b     352 192 320 192 224  max+128  7×7×1024      2,276,352
    avg pool 7×7, fc 1000                              1,024,000
    total                                             11,264,111

Two rows of that table do not add up (in brackets: what the columns
give), so the test suite checks the total within 1%. Our count, with BN's γ and β
and the classifier bias, is 11,285,224 (0.19% above): 11,264,192 weights (the
two typos, +81), 20,032 BN parameters and 1,000 biases. About 2.03G
multiply-accumulates at 224×224.

The first convolution is a dense 7×7 here, as that table counts it
(9,408 weights); TensorFlow-slim's ``inception_v2`` makes it depthwise
separable (depth multiplier 8). The paper's stem pools round up (56/28), as
GoogLeNet's do. Padding 1 on every stride-2 convolution and pool keeps all
four branches of 3c/4e on the same grid at any input size.

``se_reduction=r`` adds a squeeze-and-excitation block after each of the ten
Inception modules (SE-Inception, Hu et al. figure 2, r = 16 in the paper): with
the ten output widths C_s it adds ``2/r · Σ C_s²`` weights plus ``Σ (C_s/r + C_s)``
biases (:mod:`cnnzoo.layers.squeeze_excite`).

Initialisation: the paper states none. BatchNorm after every convolution
makes the forward and backward pass invariant to the scale of the incoming
weights (§3.3), so the choice matters little; we use He (fan-in) normal
weights, BN γ = 1 and β = 0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.inception import InceptionModule
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.squeeze_excite import SqueezeExcite
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["BN_INCEPTION_TABLE", "BNInception", "bn_inception"]

MIN_SIZE = 7  # the stem's second ceil-rounded 3×3/2 pool needs at least a 2×2 input

# name: (#1×1, #3×3 reduce, #3×3, double #3×3 reduce, double #3×3, pool proj, pool, stride)
BN_INCEPTION_TABLE: dict[str, tuple[int, int, int, int, int, int, str, int]] = {
    "3a": (64, 64, 64, 64, 96, 32, "avg", 1),
    "3b": (64, 64, 96, 64, 96, 64, "avg", 1),
    "3c": (0, 128, 160, 64, 96, 0, "max", 2),
    "4a": (224, 64, 96, 96, 128, 128, "avg", 1),
    "4b": (192, 96, 128, 96, 128, 128, "avg", 1),
    "4c": (160, 128, 160, 128, 160, 128, "avg", 1),
    "4d": (96, 128, 192, 160, 192, 128, "avg", 1),
    "4e": (0, 128, 192, 192, 256, 0, "max", 2),
    "5a": (352, 192, 320, 160, 224, 128, "avg", 1),
    "5b": (352, 192, 320, 192, 224, 128, "max", 1),
}


class BNInception(ClassifierInterface, nn.Module):
    """BN-Inception: ``(N, in_chans, 224, 224) -> (N, num_classes)``.

    Args:
        num_classes: output classes.
        in_chans: input channels.
        se_reduction: ``None`` (BN-Inception) or the SE reduction ratio ``r``
            (16 gives the SE-Inception of Hu et al. 2018).
        drop_rate: dropout before the classifier (0: the BN paper removed it).

    Children: ``stem``, ``inception3a`` … ``inception5b`` (each an
    ``nn.Sequential`` of the module and, with ``se_reduction``, its ``se``
    block), ``avgpool``, ``fc``.
    """

    input_size = 224
    classifier_names = ("fc",)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        se_reduction: int | None = None,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if se_reduction is not None and se_reduction < 1:
            raise ValueError(f"se_reduction must be None or a positive ratio such as 16; got {se_reduction}")
        self.in_chans = in_chans
        self.stem = nn.Sequential()
        self.stem.add_module("conv1", ConvBNAct(in_chans, 64, 7, stride=2))
        self.stem.add_module("pool1", nn.MaxPool2d(3, 2, ceil_mode=True))
        self.stem.add_module("conv2_reduce", ConvBNAct(64, 64, 1))
        self.stem.add_module("conv2", ConvBNAct(64, 192, 3))
        self.stem.add_module("pool2", nn.MaxPool2d(3, 2, ceil_mode=True))
        c = 192
        self.module_names: list[str] = []
        for name, (b1, r3, c3, rd, cd, proj, pool, stride) in BN_INCEPTION_TABLE.items():
            block = nn.Sequential()
            inc = InceptionModule(c, b1, r3, c3, rd, cd, proj, double_3x3=True, pool=pool, stride=stride, bn=True)
            block.add_module("module", inc)
            c = inc.out_chans
            if se_reduction is not None:
                block.add_module("se", SqueezeExcite(c, reduction=se_reduction))
            self.add_module(f"inception{name}", block)
            self.module_names.append(f"inception{name}")
        self.num_features = c  # 1024
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 1024, H/32, W/32)``: the stem and the ten Inception modules."""
        check_input_size(x, MIN_SIZE, "bn_inception", self.in_chans)
        x = self.stem(x)  # N x 192 x 28 x 28
        for name in self.module_names:
            x = getattr(self, name)(x)  # 3c: N x 576 x 14 x 14; 4e: N x 1056 x 7 x 7
        return x  # N x 1024 x 7 x 7

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 1024, h, w) -> (N, num_classes)``: global average pool, dropout, fc."""
        x = torch.flatten(self.avgpool(features), 1)  # N x 1024
        return self.fc(self.dropout(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="Inception",
    paper="Ioffe & Szegedy 2015, arXiv:1502.03167",
    year=2015,
    min_size=MIN_SIZE,
    # The secondary table's total (the paper prints none); two of its rows
    # have typos, so the check allows 1%.
    params="11,264,111",
    params_rtol=0.01,
)
def bn_inception(**kwargs) -> BNInception:
    """BN-Inception (figure 5): 11.3M parameters; ``se_reduction=16`` gives SE-Inception."""
    return BNInception(**kwargs)
