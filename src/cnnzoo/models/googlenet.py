"""GoogLeNet (Inception v1).

C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan,
V. Vanhoucke, A. Rabinovich, "Going Deeper with Convolutions", CVPR 2015,
arXiv:1409.4842.

Table 1 of the paper, reproduced (module columns: #1×1, #3×3 reduce, #3×3,
#5×5 reduce, #5×5, pool proj)::

    type            patch/stride   output          module
    convolution     7×7/2          112×112×64
    max pool        3×3/2          56×56×64        (then LRN)
    convolution     1×1 + 3×3/1    56×56×192       reduce 64, 192 (then LRN)
    max pool        3×3/2          28×28×192
    inception (3a)                 28×28×256       64   96 128  16  32  32
    inception (3b)                 28×28×480      128  128 192  32  96  64
    max pool        3×3/2          14×14×480
    inception (4a)                 14×14×512      192   96 208  16  48  64   → aux 1
    inception (4b)                 14×14×512      160  112 224  24  64  64
    inception (4c)                 14×14×512      128  128 256  24  64  64
    inception (4d)                 14×14×528      112  144 288  32  64  64   → aux 2
    inception (4e)                 14×14×832      256  160 320  32 128 128
    max pool        3×3/2          7×7×832
    inception (5a)                 7×7×832        256  160 320  32 128 128
    inception (5b)                 7×7×1024       384  192 384  48 128 128
    avg pool        7×7/1          1×1×1024
    dropout (40%), linear          1000

Our count without the auxiliary classifiers is 6,998,552 parameters (weights
and biases), "~7.0M": the table's params column sums to 6.8M, secondary
summaries say 6.977M. We count 1.58G multiply-accumulates at 224×224; the ops column sums
to 1.50G, but its conv1 row (34M ops, 2.7K parameters) is not that of a 7×7
convolution from 3 to 64 maps (118M, 9.4K), which explains the difference.
Each auxiliary classifier (§5: 5×5/3 average pool, 1×1 convolution with 128
filters, FC 1024, dropout 70%, linear classifier) has about 3.2M parameters
(3,188,840 after 4a, 3,190,888 after 4d). In training they are returned with
the main logits, ``(logits, aux1, aux2)``, and their losses are added with
weight 0.3 (:data:`AUX_LOSS_WEIGHT`); in eval mode they are skipped and the
model returns the logits only.

Normalisation: LRN after the first pooling and after conv2, with the values of
the reference Caffe model (bvlc_googlenet: n=5, α=1e-4 on the *mean* of the
squares, k=1, β=0.75; α=2e-5 in the paper's sum convention of
:class:`cnnzoo.layers.lrn.LocalResponseNorm`). Pools use ceil rounding, as the
reference model does, which gives the table's 56/28/14/7 grids.

Initialisation: the paper gives none; we follow the reference Caffe model:
"Xavier" weights (Caffe's form, uniform in ±√(3/fan_in)), biases 0.2 in the
hidden layers and 0 in the classifiers, so ReLUs start active.

Where other libraries deviate: torchvision (and the ports of the TensorFlow
model) put a 3×3 convolution in the "5×5" branch, add BatchNorm and drop the
LRN; that network has 6.6M parameters and is not the paper's. The BatchNorm
part of that variant is the option ``bn=True`` here (BatchNorm after every
convolution, no LRN, no conv biases), with the real 5×5 convolutions kept.

Any input from 31×31 up is accepted (global average pooling; the auxiliary
heads pool 5×5/3 when their map allows and then adaptively to 4×4, which is
the identity at 224×224).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.inception import InceptionModule
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.lrn import LocalResponseNorm
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["AUX_LOSS_WEIGHT", "GoogLeNet", "GoogLeNetOutputs", "InceptionAux", "googlenet"]

AUX_LOSS_WEIGHT = 0.3  # §5: each auxiliary loss is added with this weight during training
MIN_SIZE = 31  # the smallest side for which pool4 (3×3/2, ceil rounding) still has a 2×2 input

# Table 1: (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj) per module.
GOOGLENET_TABLE: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNetOutputs(NamedTuple):
    """Training-mode output with auxiliary classifiers: main logits first."""

    logits: Tensor
    aux1: Tensor
    aux2: Tensor


class InceptionAux(nn.Module):
    """Auxiliary classifier (§5): ``(N, in_chans, 14, 14) -> (N, num_classes)``.

    5×5/3 average pool (14×14 → 4×4), 1×1 conv with 128 filters and ReLU, FC
    1024 with ReLU, dropout, linear classifier.
    """

    def __init__(self, in_chans: int, num_classes: int, bn: bool = False, drop_rate: float = 0.7) -> None:
        super().__init__()
        self.conv = ConvBNAct(in_chans, 128, 1, bn=bn)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.dropout = nn.Dropout(drop_rate)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if min(x.shape[-2:]) >= 5:
            x = F.avg_pool2d(x, 5, 3)
        # The paper's pool gives 4×4 at 224×224; other sizes are brought to it.
        x = F.adaptive_avg_pool2d(x, 4)  # N x C x 4 x 4
        x = self.conv(x)  # N x 128 x 4 x 4
        x = F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)  # N x 1024
        return self.fc2(self.dropout(x))


class GoogLeNet(ClassifierInterface, nn.Module):
    """GoogLeNet: ``(N, in_chans, 224, 224) -> (N, num_classes)``.

    Args:
        num_classes: output classes.
        in_chans: input channels.
        aux_logits: build the two auxiliary classifiers (§5, for training); in
            training mode the model then returns :class:`GoogLeNetOutputs`
            ``(logits, aux1, aux2)``. Off by default: table 1's network, the one
            counted, is the inference network without them.
        bn: BatchNorm after every convolution instead of LRN (not the paper).
        drop_rate: dropout before the classifier (40% in table 1).
        aux_drop_rate: dropout in the auxiliary heads (70%).

    ``forward_features`` ends at inception (5b), ``forward_head`` pools, drops
    out and classifies; in eval mode ``forward`` is the two in turn.
    """

    input_size = 224
    classifier_names = ("fc", "aux1.fc2", "aux2.fc2")

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = False,
        bn: bool = False,
        drop_rate: float = 0.4,
        aux_drop_rate: float = 0.7,
    ) -> None:
        super().__init__()
        self.in_chans, self.aux_logits = in_chans, aux_logits

        def lrn() -> nn.Module:
            return nn.Identity() if bn else LocalResponseNorm(5, alpha=1e-4 / 5, beta=0.75, k=1.0)

        def pool() -> nn.Module:
            return nn.MaxPool2d(3, 2, ceil_mode=True)

        self.stem = nn.Sequential()
        self.stem.add_module("conv1", ConvBNAct(in_chans, 64, 7, stride=2, bn=bn))
        self.stem.add_module("pool1", pool())
        self.stem.add_module("norm1", lrn())
        self.stem.add_module("conv2_reduce", ConvBNAct(64, 64, 1, bn=bn))
        self.stem.add_module("conv2", ConvBNAct(64, 192, 3, bn=bn))
        self.stem.add_module("norm2", lrn())
        self.stem.add_module("pool2", pool())

        t = GOOGLENET_TABLE
        self.inception3a = InceptionModule(192, *t["3a"], bn=bn)
        self.inception3b = InceptionModule(256, *t["3b"], bn=bn)
        self.pool3 = pool()
        self.inception4a = InceptionModule(480, *t["4a"], bn=bn)
        self.inception4b = InceptionModule(512, *t["4b"], bn=bn)
        self.inception4c = InceptionModule(512, *t["4c"], bn=bn)
        self.inception4d = InceptionModule(512, *t["4d"], bn=bn)
        self.inception4e = InceptionModule(528, *t["4e"], bn=bn)
        self.pool4 = pool()
        self.inception5a = InceptionModule(832, *t["5a"], bn=bn)
        self.inception5b = InceptionModule(832, *t["5b"], bn=bn)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(1024, num_classes)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, bn=bn, drop_rate=aux_drop_rate)
            self.aux2 = InceptionAux(528, num_classes, bn=bn, drop_rate=aux_drop_rate)
        else:
            self.aux1 = self.aux2 = None
        self._init_weights()

    def _init_weights(self) -> None:
        classifiers = {self.fc} | ({self.aux1.fc2, self.aux2.fc2} if self.aux_logits else set())
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                bound = math.sqrt(3.0 / fan_in)
                nn.init.uniform_(m.weight, -bound, bound)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0.0 if m in classifiers else 0.2)

    def _features(self, x: Tensor, with_aux: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
        # The auxiliary heads read 4a and 4d on the way, so the trunk returns them too.
        check_input_size(x, MIN_SIZE, "googlenet", self.in_chans)
        x = self.stem(x)  # N x 192 x 28 x 28
        x = self.inception3a(x)  # N x 256 x 28 x 28
        x = self.inception3b(x)  # N x 480 x 28 x 28
        x = self.pool3(x)  # N x 480 x 14 x 14
        x = self.inception4a(x)  # N x 512 x 14 x 14
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)  # N x 528 x 14 x 14
        aux2 = self.aux2(x) if with_aux else None
        x = self.inception4e(x)  # N x 832 x 14 x 14
        x = self.pool4(x)  # N x 832 x 7 x 7
        x = self.inception5a(x)
        x = self.inception5b(x)  # N x 1024 x 7 x 7
        return x, aux1, aux2

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 1024, h, w)``: stem to inception (5b), 7×7 at 224×224."""
        return self._features(x, with_aux=False)[0]

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 1024, h, w) -> (N, num_classes)``: global average pool, dropout (40%), fc."""
        x = torch.flatten(self.avgpool(features), 1)  # N x 1024
        return self.fc(self.dropout(x))

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        train_aux = self.aux1 is not None and self.training
        x, aux1, aux2 = self._features(x, with_aux=train_aux)
        logits = self.forward_head(x)
        if train_aux:
            return GoogLeNetOutputs(logits, aux1, aux2)
        return logits


@register_model(
    family="Inception",
    paper="Szegedy et al. 2015, arXiv:1409.4842",
    table="table 1",
    year=2015,
    min_size=MIN_SIZE,
    # "~7.0M" (table 1 sums to 6.8M, secondary summaries say 6.977M): the
    # sources disagree by 3%, so the check allows 3% around 7.0M.
    params="7.0M",
    params_rtol=0.03,
    # The table's ops column sums to 1.5G but undercounts conv1 by 84M (see the
    # module docstring): 6% covers that one row.
    macs="1.5G",
    macs_rtol=0.06,
)
def googlenet(**kwargs) -> GoogLeNet:
    """GoogLeNet (table 1: real 5×5 branches, LRN): ~7.0M parameters without the auxiliary heads."""
    return GoogLeNet(**kwargs)
