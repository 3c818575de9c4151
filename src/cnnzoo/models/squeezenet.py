"""SqueezeNet 1.0 and 1.1.

F. Iandola, S. Han, M. Moskewicz, K. Ashraf, W. Dally, K. Keutzer,
"SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size", arXiv:1602.07360.

SqueezeNet 1.0 (table 1; Fire modules as ``s1x1 / e1x1 / e3x3``)::

    conv1     96 × 7×7/2           227 → 111 × 111 × 96 (224 → 109)
    maxpool1  3×3/2                → 55
    fire2     16 / 64 / 64         → 55 × 55 × 128
    fire3     16 / 64 / 64         → 128
    fire4     32 / 128 / 128       → 256
    maxpool4  3×3/2                → 27
    fire5     32 / 128 / 128       → 256
    fire6     48 / 192 / 192       → 384
    fire7     48 / 192 / 192       → 384
    fire8     64 / 256 / 256       → 512
    maxpool8  3×3/2                → 13
    fire9     64 / 256 / 256       → 512
    dropout 50%, conv10 1000 × 1×1 → 13 × 13 × 1000, ReLU, global average pool

1,248,424 parameters. SqueezeNet 1.1 (the authors' v1.1 release): conv1 is 64 ×
3×3/2 and the pools move earlier (after conv1, fire3 and fire5), the same
Fire modules otherwise: 1,235,496 parameters and 2.4× less computation.

Input size: table 1 prints a 224×224 input but a 111×111 conv1 output, which
only the 227×227 crop of the authors' Caffe model gives. Pools round up, as in
Caffe, so both work (224: 109 → 54 → 27 → 13; 227: 111 → 55 → 27 → 13). The
registry uses 224, at which the convolutions cost the 0.82G (1.0) and 0.35G
(1.1) multiply-accumulates that the registry entries carry.

Bypass (§6, ``bypass``): "simple" adds an identity shortcut around fire3, 5, 7
and 9 (the modules whose input and output widths agree); no parameters.
"complex" adds, in addition, a 1×1 convolution shortcut around fire2, 4, 6
and 8. Table 3: 57.5% / 60.4% / 58.8% top-1 for none / simple / complex.

Initialisation: as the authors' Caffe model: Xavier (Caffe's uniform
``±sqrt(3 / fan_in)``) for every convolution but conv10, which is Gaussian
with std 0.01 (it produces the class scores directly); zero biases.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from cnnzoo.layers.fire import Fire
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["SqueezeNet", "squeezenet1_0", "squeezenet1_1"]

# (s1x1, e1x1, e3x3) of fire2 … fire9, the same in 1.0 and 1.1.
FIRE_CONFIG = (
    (16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
    (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256),
)  # fmt: skip

# After which Fire module (2 … 9; 1 = conv1) each version max-pools.
_POOL_AFTER = {"1_0": (1, 4, 8), "1_1": (1, 3, 5)}
# conv1: (filters, kernel)
_CONV1 = {"1_0": (96, 7), "1_1": (64, 3)}
# Smallest input each version accepts: the last pool still needs a full window.
MIN_SIZE = {"1_0": 21, "1_1": 17}


class SqueezeNet(ClassifierInterface, nn.Module):
    """SqueezeNet: ``(N, in_chans, 224, 224) -> (N, num_classes)``.

    Any input of at least ``MIN_SIZE[version]`` pixels works; the head pools
    globally (the paper's 13×13 average pooling).

    Args:
        version: ``"1_0"`` or ``"1_1"``.
        num_classes: filters of conv10 (class scores).
        in_chans: input channels.
        bypass: ``None``, ``"simple"`` or ``"complex"`` (§6).
        drop_rate: dropout before conv10 (50% in the paper).
    """

    classifier_names = ("classifier.conv10",)

    def __init__(
        self,
        version: str = "1_0",
        num_classes: int = 1000,
        in_chans: int = 3,
        bypass: str | None = None,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__()
        if version not in _CONV1:
            raise ValueError(f"SqueezeNet version must be '1_0' or '1_1'; got {version!r}")
        if bypass not in (None, "simple", "complex"):
            raise ValueError(f"bypass must be None, 'simple' or 'complex'; got {bypass!r}")
        self.version, self.in_chans = version, in_chans
        c, k = _CONV1[version]
        self.features = nn.Sequential()
        self.features.add_module("conv1", nn.Conv2d(in_chans, c, k, stride=2))
        self.features.add_module("relu1", nn.ReLU(inplace=True))
        pools = _POOL_AFTER[version]
        self.features.add_module("maxpool1", nn.MaxPool2d(3, 2, ceil_mode=True))
        for i, (s, e1, e3) in enumerate(FIRE_CONFIG, start=2):
            # Simple bypass goes around the odd modules (equal widths); complex
            # bypass around the even ones as well, with a 1×1 conv.
            if bypass == "simple":
                b = "simple" if i % 2 == 1 else None
            else:
                b = bypass
            fire = Fire(c, s, e1, e3, bypass=b)
            self.features.add_module(f"fire{i}", fire)
            c = fire.out_chans
            if i in pools:
                self.features.add_module(f"maxpool{i}", nn.MaxPool2d(3, 2, ceil_mode=True))
        self.classifier = nn.Sequential()
        self.classifier.add_module("dropout", nn.Dropout(drop_rate))
        self.classifier.add_module("conv10", nn.Conv2d(c, num_classes, 1))
        self.classifier.add_module("relu10", nn.ReLU(inplace=True))
        self.classifier.add_module("pool10", nn.AdaptiveAvgPool2d(1))
        self.classifier.add_module("flatten", nn.Flatten(1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is self.classifier.conv10:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                    bound = math.sqrt(3.0 / fan_in)
                    nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 512, h, w)``: conv1 to fire9 (13×13 at 224×224)."""
        check_input_size(x, MIN_SIZE[self.version], f"squeezenet{self.version}", self.in_chans)
        return self.features(x)  # N x 512 x 13 x 13

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 512, h, w) -> (N, num_classes)``: dropout, conv10 (the class maps), ReLU, global pool."""
        return self.classifier(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="SqueezeNet",
    paper="Iandola et al. 2016, arXiv:1602.07360",
    year=2016,
    input_size=(3, 224, 224),
    min_size=MIN_SIZE["1_0"],
    params="1,248,424",
    macs="0.82G",
    table="table 1",
)
def squeezenet1_0(**kwargs) -> SqueezeNet:
    """SqueezeNet 1.0 (table 1): 1,248,424 parameters."""
    return SqueezeNet(version="1_0", **kwargs)


@register_model(
    family="SqueezeNet",
    paper="Iandola et al. 2016, arXiv:1602.07360 (v1.1 release)",
    year=2016,
    input_size=(3, 224, 224),
    min_size=MIN_SIZE["1_1"],
    params="1.24M",
    macs="0.35G",
)
def squeezenet1_1(**kwargs) -> SqueezeNet:
    """SqueezeNet 1.1: 3×3 conv1 and earlier pooling, 2.4× less computation than 1.0."""
    return SqueezeNet(version="1_1", **kwargs)
