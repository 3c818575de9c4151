"""AlexNet.

A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012 (figure 2, §3–§5).

The paper's network (``towers=2``, the default) was split over two GPUs: conv2,
conv4 and conv5 see only the maps of their own GPU (here: ``groups=2``), while
conv3 and the fully connected layers read both. Single-tower form
(``towers=1``), the single-tower table common in textbooks (conv6 is FC6 written as a 6×6
convolution, which :func:`cnnzoo.layers.fc_to_conv.convolutionalize` produces)::

    layer   kernel / stride      output        parameters (towers=1)
    input                        3@227×227
    conv1   11×11 / 4, 96        96@55×55         34,944
    pool1   3×3 / 2 (max)        96@27×27
    conv2   5×5 / 1 pad 2, 256   256@27×27       614,656   (307,456 with 2 towers)
    pool2   3×3 / 2              256@13×13
    conv3   3×3 pad 1, 384       384@13×13       885,120
    conv4   3×3 pad 1, 384       384@13×13     1,327,488   (663,936)
    conv5   3×3 pad 1, 256       256@13×13       884,992   (442,624)
    pool5   3×3 / 2              256@6×6
    fc6     9216 → 4096                       37,752,832
    fc7     4096 → 4096                       16,781,312
    fc8     4096 → 1000                        4,097,000
    total                                     62,378,344   (60,965,224 ≈ 61.0M)

About 0.72G multiply-accumulates at 227×227 with two towers (1.14G with one).

Details from the paper, all reproduced: ReLU after every layer but the last;
local response normalisation (k=2, n=5, α=1e-4, β=0.75, §3.3) after the ReLUs
of conv1 and conv2, each GPU normalising the maps it holds (with two towers
the sum over n = 5 adjacent maps never crosses from one tower's 48 or 128 maps
into the other's); *overlapping* max pooling, 3×3 windows at stride 2 (§3.4:
it lowered top-1 error by 0.4% against 2×2/2); dropout 0.5 on the *outputs* of
the first two fully connected layers (§4.2: "we use dropout in the first two
fully-connected layers"; the authors' Caffe definition puts drop6 and drop7
after relu6 and relu7). The paper says 224×224 inputs, but an 11×11/4
convolution only lands on 55×55 from 227×227, so 227 is the input size here.

Initialisation (§5): every weight from N(0, 0.01); the biases of conv2, conv4,
conv5 and of the hidden FC layers are 1, "which accelerates the early stages
of learning by providing the ReLUs with positive inputs"; the other biases 0.

Where other libraries deviate: the widely shipped "AlexNet" (torchvision and
others) is the single-GPU variant of Krizhevsky's later "One weird trick"
report (arXiv:1404.5997): 64/192/384/256/256 filters, no LRN, 11×11/4 with
padding 2 at 224×224, about 61.1M parameters. It is not the network of the
2012 paper and is not offered here. torchvision also drops the *inputs* of
fc6 and fc7 instead of their outputs; the parameters are the same either way,
so a state dict moves between the two placements unchanged.

Any input from 67×67 up is accepted: an adaptive average pool fixes the last
feature map to 6×6 for fc6 (the identity at 227×227; for a smaller map it
repeats values, for a larger one it averages).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.lrn import LocalResponseNorm
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["AlexNet", "alexnet"]

MIN_SIZE = 67  # the smallest side that still leaves pool5 a 1×1 map


def _linear(in_features: int, out_features: int) -> nn.Linear:
    # nn.Linear's default initialisation of fc6 (10⁸ weights) costs seconds and is
    # overwritten at once by the paper's; allocate the layer uninitialised instead,
    # on whatever device the caller builds on (meta included).
    return nn.utils.skip_init(nn.Linear, in_features, out_features, device=torch.empty(0).device)


class AlexNet(ClassifierInterface, nn.Module):
    """AlexNet: ``(N, in_chans, 227, 227) -> (N, num_classes)``.

    Args:
        num_classes: output classes (1000 for ImageNet).
        in_chans: input channels.
        towers: 2 (the paper: conv2/4/5 in two groups) or 1 (the single-tower textbook table).
        lrn: local response normalisation after conv1 and conv2 (the paper); ``False``
            leaves it out (the paper reports 1.4% higher top-1 error).
        drop_rate: dropout on the outputs of fc6 and fc7, after their ReLUs (0.5 in the paper).

    Children: ``features`` (conv1…pool5, an ``nn.Sequential`` with named layers),
    ``avgpool`` (adaptive, to 6×6) and ``classifier`` (fc6…fc8).
    """

    input_size = 227
    classifier_names = ("classifier.fc8",)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        towers: int = 2,
        lrn: bool = True,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__()
        if towers not in (1, 2):
            raise ValueError(f"towers must be 1 (single GPU) or 2 (the paper's two GPUs); got {towers!r}")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1); got {drop_rate}")
        self.in_chans, self.towers = in_chans, towers
        g = towers
        f = nn.Sequential()
        f.add_module("conv1", nn.Conv2d(in_chans, 96, 11, stride=4))
        f.add_module("relu1", nn.ReLU(inplace=True))
        if lrn:  # one normalisation per tower: a GPU saw only its own maps
            f.add_module("lrn1", LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, groups=g))
        f.add_module("pool1", nn.MaxPool2d(3, 2))
        f.add_module("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=g))
        f.add_module("relu2", nn.ReLU(inplace=True))
        if lrn:
            f.add_module("lrn2", LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, groups=g))
        f.add_module("pool2", nn.MaxPool2d(3, 2))
        # conv3 is where the two GPUs exchange maps: it reads all 256 channels.
        f.add_module("conv3", nn.Conv2d(256, 384, 3, padding=1))
        f.add_module("relu3", nn.ReLU(inplace=True))
        f.add_module("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=g))
        f.add_module("relu4", nn.ReLU(inplace=True))
        f.add_module("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=g))
        f.add_module("relu5", nn.ReLU(inplace=True))
        f.add_module("pool5", nn.MaxPool2d(3, 2))
        self.features = f
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = nn.Sequential()
        c = self.classifier
        c.add_module("fc6", _linear(256 * 6 * 6, 4096))
        c.add_module("relu6", nn.ReLU(inplace=True))
        c.add_module("drop6", nn.Dropout(drop_rate))
        c.add_module("fc7", _linear(4096, 4096))
        c.add_module("relu7", nn.ReLU(inplace=True))
        c.add_module("drop7", nn.Dropout(drop_rate))
        c.add_module("fc8", _linear(4096, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        ones = {"features.conv2", "features.conv4", "features.conv5", "classifier.fc6", "classifier.fc7"}
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 1.0 if name in ones else 0.0)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 256, h, w)``: conv1 to pool5 (6×6 at 227×227)."""
        check_input_size(x, MIN_SIZE, "alexnet", self.in_chans)
        return self.features(x)  # N x 256 x 6 x 6 at 227×227

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 256, h, w) -> (N, num_classes)``: the 6×6 adaptive pool, fc6, fc7, fc8."""
        x = self.avgpool(features)
        return self.classifier(torch.flatten(x, 1))  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="AlexNet",
    paper="Krizhevsky et al. 2012, NIPS",
    year=2012,
    input_size=(3, 227, 227),
    min_size=MIN_SIZE,
    params="61.0M",
    # Commonly quoted as "~0.72G"; our count is 0.7243G, so the printed precision holds.
    macs="0.72G",
)
def alexnet(**kwargs) -> AlexNet:
    """AlexNet as in the paper (two towers, LRN): 60,965,224 parameters; ``towers=1``: 62,378,344."""
    return AlexNet(**kwargs)
