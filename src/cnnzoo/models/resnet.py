"""ResNet: v1, pre-activation v2, CIFAR, plain, stochastic depth and Wide ResNet.

K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016, arXiv:1512.03385 — table 1 (ImageNet 18/34/50/101/152), §3.3
(shortcut options A/B/C), §4.2 (CIFAR 20…1202), figure 3 (plain networks).
K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual Networks",
ECCV 2016, arXiv:1603.05027 — figure 4 (unit orderings a–e), ResNet-200,
figure 2 and table 1 (shortcut variants: ``shortcut_variant``).
Y. Wu, K. He, "Group Normalization", ECCV 2018, arXiv:1803.08494, and
T. Salimans, D. Kingma, "Weight Normalization", NeurIPS 2016, arXiv:1602.07868
(``norm_layer``, ``weight_norm``).
G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Weinberger, "Deep Networks with
Stochastic Depth", ECCV 2016, arXiv:1603.09382.
S. Zagoruyko, N. Komodakis, "Wide Residual Networks", BMVC 2016, arXiv:1605.07146.

Table 1 of He et al. 2016 (224×224 input; output sizes of each stage)::

    conv1    112×112  7×7, 64, stride 2
    conv2_x   56×56   3×3 max pool, stride 2; then units
    conv3_x   28×28   units, first with stride 2
    conv4_x   14×14   units, first with stride 2
    conv5_x    7×7    units, first with stride 2
              1×1     average pool, 1000-d fc, softmax

    units per stage:  18: [2,2,2,2] basic   34: [3,4,6,3] basic
                      50: [3,4,6,3] bottleneck   101: [3,4,23,3]   152: [3,8,36,3]
                      200 (He et al. 2016b): [3,24,36,3]
    params  11.7M / 21.8M / 25.6M / 44.5M / 60.2M
    MACs    1.8G / 3.6G / 3.8G / 7.6G / 11.3G  ("FLOPs" in the paper)

Where implementations differ, and what we do:

* Stride of the bottleneck. The paper (and its Caffe models) downsample with the
  *first 1×1* conv; fb.resnet.torch, and after it torchvision ("ResNet v1.5"),
  moved the stride to the 3×3, which costs more (ResNet-50: 4.1G instead of
  3.8G MACs) and is slightly more accurate. ``stride_on_3x3=False`` (default)
  is the paper; ``True`` is v1.5. Networks that were defined on the v1.5 code
  (ResNeXt, Wide ResNet-50-2) default to ``True``.
* Shortcuts. Option B is the paper's choice for its ImageNet models and our
  default there; the CIFAR networks of §4.2 use option A. Option A subsamples
  the identity by taking every other pixel.
* Pre-activation nets (``unit="e"``): the stem keeps its BN-ReLU, so the first
  unit skips its own pre-activation, and a final BN-ReLU follows the last unit
  ("an extra activation after the last element-wise addition", He et al. 2016b);
  ``unit="d"`` gets a final ReLU for the same reason.
* Normalisation. ``norm_layer="batch"`` (default) is the paper's; ``"group"``
  (32 groups: Wu & He's ResNet-50 GN), ``"layer"`` and ``"instance"`` replace
  every BN, keeping its name; ``weight_norm=True`` reparameterises every conv
  and fc weight on top (see :mod:`cnnzoo.layers.norm`).
* Wide ResNet on CIFAR (WRN-d-k) is a pre-activation network of basic units
  with widths ``16·k, 32·k, 64·k`` and dropout between the two convs.

Initialisation (He et al. 2015, "Delving deep into rectifiers", which the ResNet
paper cites): convolutions ``N(0, 2/fan_out)`` — the variance that keeps the
backward signal's scale through ReLU layers —, BN weights 1 and biases 0, the
classifier's bias 0. ``zero_init_residual=True`` sets the last BN weight of
each residual branch (or its last conv where no BN follows) to zero, so every
unit starts as the identity (Goyal et al. 2017, arXiv:1706.02677).

The smallest input: 32×32 for the ImageNet networks (their total stride; a
smaller image collapses to one pixel before the last stage), 4×4 for the CIFAR
networks (total stride 4). Global average pooling takes any larger size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from cnnzoo.layers.global_context import GlobalContext
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.norm import NORM_TYPES, apply_weight_norm, check_norm, make_norm
from cnnzoo.layers.residual import (
    BasicBlock,
    Bottleneck,
    ResidualUnit,
    check_shortcut,
    check_unit,
)
from cnnzoo.layers.selective_kernel import SelectiveKernelConv
from cnnzoo.layers.shortcut_variants import ExclusiveGating, ShortcutOnlyGating
from cnnzoo.layers.squeeze_excite import SqueezeExcite
from cnnzoo.layers.stochastic_depth import survival_probabilities
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import parse_count, register_model

__all__ = [
    "ResNet",
    "plain18",
    "plain34",
    "preact_resnet18",
    "preact_resnet34",
    "preact_resnet50",
    "preact_resnet101",
    "preact_resnet152",
    "preact_resnet200",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet200",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet1202",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "wrn_cifar",
]

STEMS = ("imagenet", "cifar", "deep")
ATTENTIONS = (None, "se", "gc")


class ResNet(ClassifierInterface, nn.Module):
    """A residual network of stages of residual units; every paper variant is a keyword.

    ``(N, in_chans, H, W) -> (N, num_classes)``. Top-level modules follow the
    usual names: ``conv1, bn1, relu, maxpool, layer1..layer4, final_act,
    avgpool, dropout, fc`` (CIFAR networks have ``layer1..layer3``).

    Args:
        layers: units per stage (``[3, 4, 6, 3]`` for ResNet-50).
        block: ``"basic"`` (two 3×3) or ``"bottleneck"`` (1×1, 3×3, 1×1).
        num_classes, in_chans: classifier outputs and input channels.
        planes: base width of each stage (64, 128, 256, 512); a bottleneck stage
            outputs ``expansion × planes``.
        stem: ``"imagenet"`` (7×7/2 conv + 3×3/2 max pool), ``"cifar"`` (3×3
            conv, no pooling) or ``"deep"`` (three 3×3 convs, SENet-154).
        stem_width: channels of the stem.
        shortcut: ``"A"``, ``"B"``, ``"C"`` (§3.3) or ``None`` (a plain network).
        unit: ordering of BN/ReLU in each unit, ``"a"`` (original) to ``"e"``
            (full pre-activation, ResNet v2).
        cardinality: groups of the bottleneck 3×3 (ResNeXt ``C``).
        base_width: bottleneck width per group in the first stage (ResNeXt
            ``d``; 64 for ResNet, 128 for Wide ResNet-50-2); the 3×3 of stage
            ``i`` has ``cardinality · base_width · planes_i / 64`` channels.
        first_width_ratio: width of the first 1×1 relative to the 3×3 (0.5 in
            SENet-154).
        stride_on_3x3: bottleneck stride on the 3×3 (v1.5) instead of the first 1×1.
        attention: ``None``, ``"se"`` (squeeze-and-excitation) or ``"gc"``
            (global context), applied to every unit's branch output before the
            addition (or only in the stages listed by ``attention_stages``).
        attention_stages: stage indices (1-based) that get the attention block.
        reduction: ``r`` of the SE/GC bottleneck.
        selective_kernel: replace each bottleneck 3×3 by an SK convolution.
        stochastic_depth: final survival probability ``p_L`` (``None``: off).
        stochastic_depth_mode: ``"linear"`` decay to ``p_L`` or ``"uniform"``.
        zero_init_residual: start every unit as the identity.
        dropout: dropout inside each unit, before its last conv (WRN).
        drop_rate: dropout before the classifier (SENet-154: 0.2).
        downsample_kernel: kernel of strided projection shortcuts (SENet-154: 3).
        expansion: bottleneck output = ``expansion × planes``.
        norm_layer: ``"batch"``, ``"group"``, ``"layer"`` or ``"instance"``.
        weight_norm: reparameterise every conv and fc weight as ``g · v / ||v||``.
        shortcut_variant, shortcut_scale, branch_scale, gate_bias: how each
            unit joins shortcut and branch (He et al. 2016b, figure 2; see
            :class:`~cnnzoo.layers.residual.ResidualUnit`).
        name: model name used in error messages.
    """

    classifier_names = ("fc",)

    def __init__(
        self,
        layers: Sequence[int],
        *,
        block: str = "bottleneck",
        num_classes: int = 1000,
        in_chans: int = 3,
        planes: Sequence[int] = (64, 128, 256, 512),
        stem: str = "imagenet",
        stem_width: int = 64,
        shortcut: str | None = "B",
        unit: str = "a",
        cardinality: int = 1,
        base_width: int = 64,
        first_width_ratio: float = 1.0,
        stride_on_3x3: bool = False,
        attention: str | None = None,
        attention_stages: Sequence[int] | None = None,
        reduction: int = 16,
        selective_kernel: bool = False,
        stochastic_depth: float | None = None,
        stochastic_depth_mode: str = "linear",
        zero_init_residual: bool = False,
        dropout: float = 0.0,
        drop_rate: float = 0.0,
        downsample_kernel: int = 1,
        expansion: int = 4,
        norm_layer: str = "batch",
        weight_norm: bool = False,
        shortcut_variant: str = "identity",
        shortcut_scale: float = 0.5,
        branch_scale: float = 0.5,
        gate_bias: float = -6.0,
        name: str = "resnet",
    ) -> None:
        super().__init__()
        _check_arguments(block, stem, attention, layers, planes, cardinality, base_width, selective_kernel, first_width_ratio)
        unit = check_unit(unit)
        shortcut = check_shortcut(shortcut)
        norm = partial(make_norm, check_norm(norm_layer))
        self.name, self.in_chans = name, in_chans
        self.min_size = 4 if stem == "cifar" else 32

        # Stem. Every ordering keeps BN-ReLU after the stem conv; see the module docstring.
        self.conv1: nn.Module = _stem_conv(stem, in_chans, stem_width, norm)
        self.bn1 = norm(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1) if stem != "cifar" else nn.Identity()

        attn = {"se": partial(SqueezeExcite, reduction=reduction), "gc": partial(GlobalContext, reduction=reduction)}.get(attention or "")
        stages_with_attn = _attention_stages(attention_stages, len(layers))
        sk = (lambda i, o, s, g: SelectiveKernelConv(i, o, s, groups=g)) if selective_kernel else None
        total = sum(layers)
        no_drop = stochastic_depth is None
        survival = [1.0] * total if no_drop else survival_probabilities(total, stochastic_depth, stochastic_depth_mode)

        common = dict(
            unit=unit, shortcut=shortcut, dropout=dropout, downsample_kernel=downsample_kernel,
            norm_layer=norm_layer, shortcut_variant=shortcut_variant, shortcut_scale=shortcut_scale,
            branch_scale=branch_scale, gate_bias=gate_bias,
        )  # fmt: skip
        if block == "bottleneck":
            make_unit = partial(
                _bottleneck_unit, expansion=expansion, base_width=base_width, cardinality=cardinality,
                first_width_ratio=first_width_ratio, stride_on_3x3=stride_on_3x3, conv3x3=sk, **common,
            )  # fmt: skip
        else:
            make_unit = partial(_basic_unit, **common)
        in_c = self._add_stages(layers, planes, stem_width, make_unit, attn, stages_with_attn, survival)

        self.final_act = _final_activation(unit, in_c, norm)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout: nn.Module = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc = nn.Linear(in_c, num_classes)
        self.num_features, self.num_classes = in_c, num_classes
        self._init_weights(zero_init_residual)
        if weight_norm:
            apply_weight_norm(self)  # after the initialisation: g starts at each weight's norm

    def _add_stages(
        self, layers: Sequence[int], planes: Sequence[int], in_c: int, make_unit: Callable[..., nn.Module],
        attn: Callable[[int], nn.Module] | None, stages_with_attn: set[int], survival: Sequence[float],
    ) -> int:  # fmt: skip
        """``layer1``, ``layer2``, …: stride 2 on each stage's first unit after the first; returns the width out."""
        index = 0
        self.stage_names: list[str] = []
        for i, (n, p) in enumerate(zip(layers, planes, strict=True)):
            units = []
            for j in range(n):
                unit, in_c = make_unit(
                    in_c, p, 2 if (i > 0 and j == 0) else 1, preact=index > 0,
                    attention=attn if i + 1 in stages_with_attn else None, survival=survival[index],
                )  # fmt: skip
                units.append(unit)
                index += 1
            self.stage_names.append(f"layer{i + 1}")
            self.add_module(self.stage_names[-1], nn.Sequential(*units))
        return in_c

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (*NORM_TYPES, nn.LayerNorm)):  # LayerNorm: the GC block's
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.fc.bias)
        for m in self.modules():
            if isinstance(m, GlobalContext):
                m.init_weights()  # the GC transform starts at zero, as its authors do
            if isinstance(m, (ExclusiveGating, ShortcutOnlyGating)):
                m.reset_gate()  # b_g as the variant asks, not the conv's zero bias
            if zero_init_residual and isinstance(m, ResidualUnit):
                m.zero_init_()

    def units(self) -> list[ResidualUnit]:
        """The residual units in order, ``l = 1..L``."""
        return [m for m in self.modules() if isinstance(m, ResidualUnit)]

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, num_features, H/32, W/32)`` (``/4`` on CIFAR)."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # N x 64 x 56 x 56
        for stage in self.stage_names:
            # ImageNet, 224: layer1 N x 256 x 56 x 56 (bottleneck), layer2 28×28,
            # layer3 14×14, layer4 N x 2048 x 7 x 7
            x = getattr(self, stage)(x)
        return self.final_act(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, num_features, h, w) -> (N, num_classes)``: pool, dropout, fc."""
        x = self.avgpool(features)  # N x C x 1 x 1
        return self.fc(self.dropout(torch.flatten(x, 1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------
# builders

_HE = "He et al. 2016, arXiv:1512.03385"
_HE_V2 = "He et al. 2016b, arXiv:1603.05027"
_DEPTHS = {
    18: ("basic", [2, 2, 2, 2]),
    34: ("basic", [3, 4, 6, 3]),
    50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]),
    152: ("bottleneck", [3, 8, 36, 3]),
    200: ("bottleneck", [3, 24, 36, 3]),
}


def _imagenet(name: str, depth: int, **kwargs) -> ResNet:
    block, layers = _DEPTHS[depth]
    kwargs.setdefault("name", name)
    return ResNet(layers, block=block, **kwargs)


_IMAGENET = dict(family="ResNet", paper=_HE, table="table 1", year=2016, min_size=32, test_size=(3, 32, 32))


@register_model(**_IMAGENET, params="11.7M", macs="1.8G")
def resnet18(**kwargs) -> ResNet:
    """ResNet-18 (table 1): basic units [2, 2, 2, 2]."""
    return _imagenet("resnet18", 18, **kwargs)


# The paper prints 3.6G; with every conv counted at 224×224 the network costs
# 3.66G (torchvision's table agrees), which the paper rounded down.
@register_model(**_IMAGENET, params="21.8M", macs="3.6G", macs_rtol=0.02)
def resnet34(**kwargs) -> ResNet:
    """ResNet-34 (table 1): basic units [3, 4, 6, 3]."""
    return _imagenet("resnet34", 34, **kwargs)


# Counted conv by conv, ResNet-50 costs 3.86G MACs; the paper prints 3.8
# (Hu et al. 2018 and Cao et al. 2019 list the same network at 3.86G).
@register_model(**_IMAGENET, params="25.6M", macs="3.8G", macs_rtol=0.02)
def resnet50(**kwargs) -> ResNet:
    """ResNet-50 (table 1): bottlenecks [3, 4, 6, 3]; 4.1G MACs with ``stride_on_3x3=True``."""
    return _imagenet("resnet50", 50, **kwargs)


@register_model(**_IMAGENET, params="44.5M", macs="7.6G")
def resnet101(**kwargs) -> ResNet:
    """ResNet-101 (table 1): bottlenecks [3, 4, 23, 3]."""
    return _imagenet("resnet101", 101, **kwargs)


@register_model(**_IMAGENET, params="60.2M", macs="11.3G")
def resnet152(**kwargs) -> ResNet:
    """ResNet-152 (table 1): bottlenecks [3, 8, 36, 3]."""
    return _imagenet("resnet152", 152, **kwargs)


_NO_200 = (
    "He et al. 2016b trains ResNet-200 ([3, 24, 36, 3] bottlenecks) but prints no "
    "parameter count; tests check it is ResNet-152 plus 16 conv4 bottlenecks"
)


@register_model(
    family="ResNet",
    paper=_HE_V2,
    year=2016,
    min_size=32,
    test_size=(3, 32, 32),
    no_reference=_NO_200,
)
def resnet200(**kwargs) -> ResNet:
    """ResNet-200 (He et al. 2016b): bottlenecks [3, 24, 36, 3], original units."""
    return _imagenet("resnet200", 200, **kwargs)


# Plain networks (figure 3, middle): the same layers without shortcuts.
# The "~21.8M" registered for plain-34 is ResNet-34's count; without the three
# projection shortcuts it is 21.6M, so the match is to 1%.
@register_model(
    family="ResNet",
    paper=_HE,
    year=2016,
    min_size=32,
    test_size=(3, 32, 32),
    no_reference="the paper prints no count for plain-18; tests check it is ResNet-18 "
    "(11.7M) less its three projection shortcuts, i.e. ResNet-18 with option A",
)
def plain18(**kwargs) -> ResNet:
    """Plain-18: ResNet-18 without shortcuts (the degradation experiment, figure 4)."""
    kwargs.setdefault("shortcut", None)
    return _imagenet("plain18", 18, **kwargs)


@register_model(**_IMAGENET, params="21.8M", params_rtol=0.01, macs="3.6G", macs_rtol=0.02)
def plain34(**kwargs) -> ResNet:
    """Plain-34: ResNet-34 without shortcuts (figure 3, middle)."""
    kwargs.setdefault("shortcut", None)
    return _imagenet("plain34", 34, **kwargs)


# Pre-activation ResNet (v2): full pre-activation units (figure 4e). He et al.
# 2016b prints no separate counts; they equal v1's within 0.1% (tested), so the
# entries carry v1's table-1 numbers.
_V2 = dict(family="ResNet", paper=_HE_V2, year=2016, min_size=32, test_size=(3, 32, 32))


def _v2_params(text: str) -> dict:
    # v2's count is v1's within 0.1% (see above), so the tolerance is v1's printed
    # precision (half a unit of the last digit) widened by 0.1%.
    ref = parse_count(text)
    return {"params": text, "params_rtol": ref.tol / ref.value + 0.001}


def _preact(name: str, depth: int, **kwargs) -> ResNet:
    kwargs.setdefault("unit", "e")
    return _imagenet(name, depth, **kwargs)


@register_model(**_V2, **_v2_params("11.7M"), macs="1.8G")
def preact_resnet18(**kwargs) -> ResNet:
    """Pre-activation ResNet-18 (``unit="e"``; any figure-4 ordering with ``unit=``)."""
    return _preact("preact_resnet18", 18, **kwargs)


@register_model(**_V2, **_v2_params("21.8M"), macs="3.6G", macs_rtol=0.02)
def preact_resnet34(**kwargs) -> ResNet:
    """Pre-activation ResNet-34."""
    return _preact("preact_resnet34", 34, **kwargs)


@register_model(**_V2, **_v2_params("25.6M"), macs="3.8G", macs_rtol=0.02)
def preact_resnet50(**kwargs) -> ResNet:
    """Pre-activation ResNet-50."""
    return _preact("preact_resnet50", 50, **kwargs)


@register_model(**_V2, **_v2_params("44.5M"), macs="7.6G")
def preact_resnet101(**kwargs) -> ResNet:
    """Pre-activation ResNet-101."""
    return _preact("preact_resnet101", 101, **kwargs)


@register_model(**_V2, **_v2_params("60.2M"), macs="11.3G")
def preact_resnet152(**kwargs) -> ResNet:
    """Pre-activation ResNet-152."""
    return _preact("preact_resnet152", 152, **kwargs)


@register_model(**_V2, no_reference=_NO_200)
def preact_resnet200(**kwargs) -> ResNet:
    """Pre-activation ResNet-200, the deepest ImageNet model of He et al. 2016b."""
    return _preact("preact_resnet200", 200, **kwargs)


# CIFAR-10 networks of §4.2: 3×3 stem of 16, three stages of n basic units with
# 16/32/64 channels at 32/16/8 pixels, option-A shortcuts; depth = 6n + 2.
def _cifar(name: str, depth: int, **kwargs) -> ResNet:
    n = (depth - 2) // 6
    kwargs.setdefault("num_classes", 10)
    kwargs.setdefault("shortcut", "A")
    kwargs.setdefault("name", name)
    return ResNet(
        [n, n, n], block="basic", planes=(16, 32, 64), stem="cifar", stem_width=16, **kwargs
    )


_CIFAR = dict(family="ResNet", paper=_HE, table="table 6", year=2016, input_size=(3, 32, 32), min_size=4)


@register_model(**_CIFAR, params="0.27M")
def resnet20(**kwargs) -> ResNet:
    """ResNet-20 for CIFAR (n = 3)."""
    return _cifar("resnet20", 20, **kwargs)


@register_model(**_CIFAR, params="0.46M")
def resnet32(**kwargs) -> ResNet:
    """ResNet-32 for CIFAR (n = 5)."""
    return _cifar("resnet32", 32, **kwargs)


@register_model(**_CIFAR, params="0.66M")
def resnet44(**kwargs) -> ResNet:
    """ResNet-44 for CIFAR (n = 7)."""
    return _cifar("resnet44", 44, **kwargs)


@register_model(**_CIFAR, params="0.85M")
def resnet56(**kwargs) -> ResNet:
    """ResNet-56 for CIFAR (n = 9)."""
    return _cifar("resnet56", 56, **kwargs)


@register_model(**_CIFAR, params="1.7M")
def resnet110(**kwargs) -> ResNet:
    """ResNet-110 for CIFAR (n = 18); with ``stochastic_depth=0.5`` the network of Huang et al."""
    return _cifar("resnet110", 110, **kwargs)


@register_model(**_CIFAR, params="19.4M")
def resnet1202(**kwargs) -> ResNet:
    """ResNet-1202 for CIFAR (n = 200)."""
    return _cifar("resnet1202", 1202, **kwargs)


# Wide ResNets. WRN-50-2 was defined on fb.resnet.torch, whose bottleneck
# strides on the 3×3: its 11.4G MACs hold with ``stride_on_3x3=True``.
_ZK = "Zagoruyko & Komodakis 2016, arXiv:1605.07146"


@register_model(
    family="Wide ResNet", paper=_ZK, year=2016, min_size=32, test_size=(3, 32, 32),
    params="68.9M", macs="11.4G",
)  # fmt: skip
def wide_resnet50_2(**kwargs) -> ResNet:
    """WRN-50-2: ResNet-50 with bottlenecks twice as wide (3×3 of 128…1024 channels)."""
    kwargs.setdefault("base_width", 128)
    kwargs.setdefault("stride_on_3x3", True)
    return _imagenet("wide_resnet50_2", 50, **kwargs)


@register_model(
    family="Wide ResNet", paper=_ZK, year=2016, min_size=32, test_size=(3, 32, 32),
    no_reference="Zagoruyko & Komodakis print the count of WRN-50-2 only; "
    "tests check this one against ResNet-101 with doubled bottlenecks",
)  # fmt: skip
def wide_resnet101_2(**kwargs) -> ResNet:
    """WRN-101-2: ResNet-101 with bottlenecks twice as wide."""
    kwargs.setdefault("base_width", 128)
    kwargs.setdefault("stride_on_3x3", True)
    return _imagenet("wide_resnet101_2", 101, **kwargs)


@register_model(
    family="Wide ResNet", paper=_ZK, year=2016, input_size=(3, 32, 32), min_size=4,
    params="36.5M", test_size=(3, 8, 8),
)  # fmt: skip
def wrn_cifar(depth: int = 28, widen_factor: int = 10, dropout: float = 0.0, **kwargs) -> ResNet:
    """WRN-d-k for CIFAR (table 1 of the paper): pre-activation basic units, widths 16k/32k/64k.

    ``depth = 6n + 4``; WRN-28-10 (the default) has 36.5M parameters. The paper's
    best CIFAR results use ``dropout=0.3`` between the two convs of each unit.
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 40…); got {depth}")
    if widen_factor < 1:
        raise ValueError(f"widen_factor must be a positive integer; got {widen_factor}")
    n = (depth - 4) // 6
    k = widen_factor
    kwargs.setdefault("num_classes", 10)
    kwargs.setdefault("unit", "e")
    kwargs.setdefault("name", f"wrn_cifar (WRN-{depth}-{k})")
    return ResNet(
        [n, n, n], block="basic", planes=(16 * k, 32 * k, 64 * k), stem="cifar", stem_width=16,
        dropout=dropout, **kwargs,
    )  # fmt: skip


def _check_arguments(
    block: str, stem: str, attention: str | None, layers: Sequence[int], planes: Sequence[int],
    cardinality: int, base_width: int, selective_kernel: bool, first_width_ratio: float,
) -> None:  # fmt: skip
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"block must be 'basic' or 'bottleneck'; got {block!r}")
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {STEMS}; got {stem!r}")
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be None, 'se' or 'gc'; got {attention!r}")
    if len(layers) != len(planes) or any(n < 1 for n in layers):
        raise ValueError(f"give one positive unit count per stage ({len(planes)} stages); got {list(layers)}")
    if cardinality < 1 or base_width < 1:
        raise ValueError(f"cardinality and base_width must be positive; got {cardinality}, {base_width}")
    if block == "basic" and (cardinality != 1 or selective_kernel):
        raise ValueError("cardinality and selective_kernel apply to bottleneck units only")
    if not 0 < first_width_ratio <= 1:
        raise ValueError(f"first_width_ratio must be in (0, 1]; got {first_width_ratio}")


def _attention_stages(attention_stages: Sequence[int] | None, num_stages: int) -> set[int]:
    all_stages = set(range(1, num_stages + 1))
    chosen = all_stages if attention_stages is None else set(attention_stages)
    if not chosen <= all_stages:
        raise ValueError(f"attention_stages are 1-based stage numbers in 1..{num_stages}; got {sorted(chosen)}")
    return chosen


def _stem_conv(stem: str, in_chans: int, stem_width: int, norm: Callable[[int], nn.Module]) -> nn.Module:
    if stem == "imagenet":
        return nn.Conv2d(in_chans, stem_width, 7, 2, 3, bias=False)
    if stem == "cifar":
        return nn.Conv2d(in_chans, stem_width, 3, 1, 1, bias=False)
    half = stem_width // 2  # SENet-154: three 3×3 convs instead of the 7×7
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(in_chans, half, 3, 2, 1, bias=False),
        bn1=norm(half), relu1=nn.ReLU(inplace=True),
        conv2=nn.Conv2d(half, half, 3, 1, 1, bias=False),
        bn2=norm(half), relu2=nn.ReLU(inplace=True),
        conv3=nn.Conv2d(half, stem_width, 3, 1, 1, bias=False),
    ))  # fmt: skip


def _final_activation(unit: str, channels: int, norm: Callable[[int], nn.Module]) -> nn.Module:
    """After the last unit: BN-ReLU for full pre-activation (e), ReLU for (d), nothing otherwise."""
    if unit == "e":
        return nn.Sequential(OrderedDict(bn=norm(channels), relu=nn.ReLU(inplace=True)))
    if unit == "d":
        return nn.ReLU(inplace=True)
    return nn.Identity()


def _basic_unit(in_c: int, planes: int, stride: int, **kwargs: Any) -> tuple[nn.Module, int]:
    return BasicBlock(in_c, planes, stride, **kwargs), planes


def _bottleneck_unit(
    in_c: int, planes: int, stride: int, *, expansion: int, base_width: int, cardinality: int,
    first_width_ratio: float, **kwargs: Any,
) -> tuple[nn.Module, int]:  # fmt: skip
    width = int(planes * base_width / 64) * cardinality
    out_c = planes * expansion
    unit = Bottleneck(in_c, out_c, stride, width=width, groups=cardinality, first_width=int(width * first_width_ratio), **kwargs)
    return unit, out_c
