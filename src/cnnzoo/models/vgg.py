"""VGG: configurations A, A-LRN, B, C, D and E.

K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015, arXiv:1409.1556, table 1 (configurations) and
table 2 (parameters).

Table 1 (``conv3-64``: 3×3 convolution with 64 maps, stride 1, padding 1;
``conv1-256``: 1×1; ``M``: 2×2/2 max pooling; ReLU after every convolution)::

    A (11)     A-LRN (11)   B (13)      C (16)       D (16)      E (19)
    conv3-64   conv3-64     conv3-64    conv3-64     conv3-64    conv3-64
               LRN          conv3-64    conv3-64     conv3-64    conv3-64
    M
    conv3-128  conv3-128    conv3-128   conv3-128    conv3-128   conv3-128
                            conv3-128   conv3-128    conv3-128   conv3-128
    M
    conv3-256 ×2 (A, A-LRN, B); C: ×2 + conv1-256; D: ×3; E: ×4
    M
    conv3-512 ×2 (A, A-LRN, B); C: ×2 + conv1-512; D: ×3; E: ×4
    M
    conv3-512 ×2 (A, A-LRN, B); C: ×2 + conv1-512; D: ×3; E: ×4
    M
    FC-4096, FC-4096, FC-1000, soft-max

Table 2: 133M / 133M / 133M / 134M / 138M / 144M parameters (our exact
counts: 132,863,336 / 132,863,336 / 133,047,848 / 133,638,952 / 138,357,544 /
143,667,240); D costs 15.5G and E 19.6G multiply-accumulates at 224×224.
(Secondary tables that print 113M for A have a typo for 133M.)

Why 3×3: a stack of three 3×3 convolutions sees a 7×7 window, like one 7×7
layer, but has three non-linearities and 27C² weights instead of 49C²
(§2.3). The 1×1 convolutions of C add non-linearity without changing the
receptive field; D, with 3×3 in their place, is better. A-LRN puts the LRN of
AlexNet (k=2, n=5, α=1e-4, β=0.75) after the first layer and does not improve
on A (table 3), so no other configuration uses it.

Initialisation: the paper trained A from N(0, 0.01) and initialised the deeper
nets from it; its authors then found that "it is possible to initialise the
weights without pre-training by using the random initialisation procedure of
Glorot & Bengio" (§3.1), so every configuration here starts from Xavier/Glorot
uniform weights and zero biases.

Options and deviations: ``batch_norm=True`` inserts BatchNorm after each
convolution (not in the paper, which predates it; the convolutions then carry
no bias, since BN's shift replaces it). An adaptive average pool fixes the last
map to 7×7 before fc6 (the identity at 224×224), so any input from 32×32 up is
accepted. For the paper's dense evaluation (fc6 as a 7×7 convolution, fc7/fc8
as 1×1) use :func:`cnnzoo.layers.fc_to_conv.convolutionalize`; for FCN and other
networks that reuse the convolutional part, use :func:`vgg_features`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.lrn import LocalResponseNorm
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["VGG", "VGG_CONFIGS", "vgg_features", "vgg11", "vgg11_lrn", "vgg13", "vgg16c", "vgg16", "vgg19"]

MIN_SIZE = 32  # five 2×2/2 poolings


def _linear(in_features: int, out_features: int) -> nn.Linear:
    # nn.Linear's default initialisation of fc6 (10⁸ weights) costs seconds and is
    # overwritten at once by the paper's; allocate the layer uninitialised instead,
    # on whatever device the caller builds on (meta included).
    return nn.utils.skip_init(nn.Linear, in_features, out_features, device=torch.empty(0).device)


# Per stage, the convolutions as (kernel, maps); "LRN" marks A-LRN's normalisation.
_Stage = list[tuple[int, int] | str]
VGG_CONFIGS: dict[str, list[_Stage]] = {
    "A": [[(3, 64)], [(3, 128)], [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2],
    "A-LRN": [[(3, 64), "LRN"], [(3, 128)], [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2],
    "B": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2],
    "C": [
        [(3, 64)] * 2,
        [(3, 128)] * 2,
        [(3, 256)] * 2 + [(1, 256)],
        [(3, 512)] * 2 + [(1, 512)],
        [(3, 512)] * 2 + [(1, 512)],
    ],
    "D": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 3, [(3, 512)] * 3, [(3, 512)] * 3],
    "E": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 4, [(3, 512)] * 4, [(3, 512)] * 4],
}
_MODEL_TO_CONFIG = {"vgg11": "A", "vgg11_lrn": "A-LRN", "vgg13": "B", "vgg16c": "C", "vgg16": "D", "vgg19": "E"}


def vgg_features(cfg_name: str, batch_norm: bool = False, in_chans: int = 3, conv_bias: bool | None = None) -> nn.Sequential:
    """The convolutional part of a VGG configuration: ``(N, in_chans, H, W) -> (N, 512, H/32, W/32)``.

    ``cfg_name`` is a configuration letter of table 1 (``"A"``, ``"A-LRN"``,
    ``"B"``, ``"C"``, ``"D"``, ``"E"``) or a model name (``"vgg16"``). Layers are
    named as in the released Caffe models, ``conv{stage}_{i}``, ``relu{stage}_{i}``,
    ``bn{stage}_{i}`` and ``pool{stage}``, so that ``features.pool4`` is FCN's
    pool4 (stride 16) and ``features.pool3`` its pool3 (stride 8). Weights are
    Xavier-uniform, biases zero. ``conv_bias`` (default: not ``batch_norm``)
    keeps the convolutions' biases before BatchNorm, as torchvision's
    ``vgg*_bn`` weights do (a bias before BN is redundant, but it is in them).

        >>> from cnnzoo.models.vgg import vgg_features
        >>> f = vgg_features("vgg16")
        >>> [n for n in f._modules if n.startswith("pool")]
        ['pool1', 'pool2', 'pool3', 'pool4', 'pool5']
    """
    key = _MODEL_TO_CONFIG.get(cfg_name, cfg_name)
    if key not in VGG_CONFIGS:
        accepted = sorted(VGG_CONFIGS) + sorted(_MODEL_TO_CONFIG)
        raise ValueError(f"unknown VGG configuration {cfg_name!r}; accepted: {', '.join(accepted)}")
    layers = nn.Sequential()
    c = in_chans
    bias = not batch_norm if conv_bias is None else conv_bias
    for s, stage in enumerate(VGG_CONFIGS[key], start=1):
        i = 0
        for item in stage:
            if item == "LRN":
                layers.add_module(f"lrn{s}", LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
                continue
            k, maps = item
            i += 1
            layers.add_module(f"conv{s}_{i}", nn.Conv2d(c, maps, k, padding=k // 2, bias=bias))
            if batch_norm:
                layers.add_module(f"bn{s}_{i}", nn.BatchNorm2d(maps))
            layers.add_module(f"relu{s}_{i}", nn.ReLU(inplace=True))
            c = maps
        layers.add_module(f"pool{s}", nn.MaxPool2d(2, 2))
    _xavier(layers)
    return layers


def _xavier(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class VGG(ClassifierInterface, nn.Module):
    """A VGG configuration: ``(N, in_chans, 224, 224) -> (N, num_classes)``.

    Args:
        config: ``"A"``, ``"A-LRN"``, ``"B"``, ``"C"``, ``"D"`` or ``"E"`` (table 1).
        num_classes: output classes.
        in_chans: input channels.
        batch_norm: BatchNorm after every convolution (not in the paper).
        drop_rate: dropout after fc6 and fc7 (0.5 in the paper).
        conv_bias: convolution biases even with ``batch_norm`` (torchvision's
            ``vgg*_bn`` weights have them; ``cnnzoo.weights`` sets it for them).

    Children: ``features`` (see :func:`vgg_features`), ``avgpool`` (adaptive,
    to 7×7) and ``classifier`` (``fc6``, ``relu6``, ``drop6``, ``fc7``, ``relu7``,
    ``drop7``, ``fc8``).
    """

    input_size = 224
    classifier_names = ("classifier.fc8",)

    def __init__(
        self,
        config: str = "D",
        num_classes: int = 1000,
        in_chans: int = 3,
        batch_norm: bool = False,
        drop_rate: float = 0.5,
        name: str = "vgg",
        conv_bias: bool | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1); got {drop_rate}")
        self.in_chans, self.config, self.name = in_chans, config, name
        self.features = vgg_features(config, batch_norm=batch_norm, in_chans=in_chans, conv_bias=conv_bias)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        c = nn.Sequential()
        c.add_module("fc6", _linear(512 * 7 * 7, 4096))
        c.add_module("relu6", nn.ReLU(inplace=True))
        c.add_module("drop6", nn.Dropout(drop_rate))
        c.add_module("fc7", _linear(4096, 4096))
        c.add_module("relu7", nn.ReLU(inplace=True))
        c.add_module("drop7", nn.Dropout(drop_rate))
        c.add_module("fc8", _linear(4096, num_classes))
        self.classifier = c
        _xavier(self.classifier)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 512, H/32, W/32)``: the convolutions up to pool5."""
        check_input_size(x, MIN_SIZE, self.name, self.in_chans)
        return self.features(x)  # N x 512 x 7 x 7 at 224×224

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 512, h, w) -> (N, num_classes)``: the 7×7 adaptive pool, fc6, fc7, fc8."""
        x = self.avgpool(features)
        return self.classifier(torch.flatten(x, 1))  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


_PAPER = "Simonyan & Zisserman 2015, arXiv:1409.1556"


def _vgg(name: str, kwargs: dict) -> VGG:
    return VGG(_MODEL_TO_CONFIG[name], name=name, **kwargs)


@register_model(family="VGG", paper=_PAPER, year=2015, min_size=MIN_SIZE, params="133M", table="table 2")
def vgg11(**kwargs) -> VGG:
    """VGG configuration A (11 weight layers): 133M parameters."""
    return _vgg("vgg11", kwargs)


@register_model(family="VGG", paper=_PAPER, year=2015, min_size=MIN_SIZE, params="133M", table="table 2")
def vgg11_lrn(**kwargs) -> VGG:
    """VGG configuration A-LRN: A with AlexNet's LRN after the first layer; 133M parameters."""
    return _vgg("vgg11_lrn", kwargs)


@register_model(family="VGG", paper=_PAPER, year=2015, min_size=MIN_SIZE, params="133M", table="table 2")
def vgg13(**kwargs) -> VGG:
    """VGG configuration B (13 weight layers): 133M parameters."""
    return _vgg("vgg13", kwargs)


@register_model(family="VGG", paper=_PAPER, year=2015, min_size=MIN_SIZE, params="134M", table="table 2")
def vgg16c(**kwargs) -> VGG:
    """VGG configuration C (16 weight layers, three of them 1×1): 134M parameters."""
    return _vgg("vgg16c", kwargs)


@register_model(family="VGG", paper=_PAPER, year=2015, min_size=MIN_SIZE, params="138M", macs="15.5G", table="table 2")
def vgg16(**kwargs) -> VGG:
    """VGG configuration D (16 weight layers): 138M parameters, 15.5G MACs."""
    return _vgg("vgg16", kwargs)


@register_model(family="VGG", paper=_PAPER, year=2015, min_size=MIN_SIZE, params="144M", macs="19.6G", table="table 2")
def vgg19(**kwargs) -> VGG:
    """VGG configuration E (19 weight layers): 144M parameters, 19.6G MACs."""
    return _vgg("vgg19", kwargs)
