"""SENet: squeeze-and-excitation on ResNet and ResNeXt.

J. Hu, L. Shen, G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018,
arXiv:1709.01507 (table 1: SE-ResNet-50 and SE-ResNeXt-50; table 2: GFLOPs;
appendix: SENet-154).

An SE block (:class:`~cnnzoo.layers.squeeze_excite.SqueezeExcite`, reduction
``r = 16``) rescales the channels of each residual branch before the
addition (figure 3). The extra parameters are ``2/r · Σ_s C_s²`` (weights;
our FC layers also have ``C_s/r + C_s`` biases), about 2.5M on ResNet-50 —
``tests/models/test_senet.py`` checks this sum.

Reference numbers: SE-ResNet-50 28.1M / 3.87G, SE-ResNeXt-50 (32×4d) 27.6M /
4.25G, SENet-154 115.1M / 20.7G.

Where the stride goes follows the authors' Caffe models: on the first 1×1 in
SE-ResNet (as in the ResNet paper; SE-ResNet-50 3.87G against ResNet-50's
3.86G), on the grouped 3×3 in SE-ResNeXt and SENet-154.

SENet-154 (appendix): the 64×4d ResNeXt-152 ([3, 8, 36, 3]) with SE blocks and
these changes — the first 1×1 of each bottleneck has half the width of the
grouped 3×3; the 7×7 stem is three 3×3 convs (64, 64, 128); the strided 1×1
projection shortcuts are 3×3 stride-2 convs; dropout 0.2 before the classifier.
"""

from __future__ import annotations

from torch import nn

from cnnzoo.models.resnet import ResNet
from cnnzoo.registry import register_model

__all__ = [
    "se_resnet50",
    "se_resnet101",
    "se_resnet152",
    "se_resnext50_32x4d",
    "se_resnext101_32x4d",
    "senet154",
]

_HU = "Hu et al. 2018, arXiv:1709.01507"
_ENTRY = dict(family="SENet", paper=_HU, year=2018, min_size=32, test_size=(3, 32, 32))


def _se(name: str, layers: list[int], reduction: int = 16, stem_pool_ceil: bool = False, **kwargs) -> ResNet:
    """``stem_pool_ceil``: the stem's 3×3/2 max pool without padding, in ceil mode, as in the
    authors' released Caffe models (timm's ``legacy_seresnet*`` weights are those models)."""
    kwargs.setdefault("name", name)
    model = ResNet(layers, block="bottleneck", attention="se", reduction=reduction, **kwargs)
    if stem_pool_ceil:
        model.maxpool = nn.MaxPool2d(3, 2, ceil_mode=True)
    return model


# Our MACs count convolutions and FC layers only (see cnnzoo.analysis.macs); the paper's
# 3.87G / 4.25G also include the SE rescaling multiplies (C·H·W per block,
# ~0.006G in all) and round up, hence 0.5%.
@register_model(**_ENTRY, params="28.1M", macs="3.87G", macs_rtol=0.005)
def se_resnet50(**kwargs) -> ResNet:
    """SE-ResNet-50 (table 1): ResNet-50 with an SE block in every bottleneck."""
    return _se("se_resnet50", [3, 4, 6, 3], **kwargs)


_NO_SE = (
    "Hu et al. print no parameter count for SE-ResNet-{d}; the test suite "
    "checks it as ResNet-{d} (table 1 of He et al.) plus 2/r·ΣC_s² and the FC biases"
)


@register_model(**_ENTRY, no_reference=_NO_SE.format(d=101))
def se_resnet101(**kwargs) -> ResNet:
    """SE-ResNet-101: bottlenecks [3, 4, 23, 3] with SE blocks."""
    return _se("se_resnet101", [3, 4, 23, 3], **kwargs)


@register_model(**_ENTRY, no_reference=_NO_SE.format(d=152))
def se_resnet152(**kwargs) -> ResNet:
    """SE-ResNet-152: bottlenecks [3, 8, 36, 3] with SE blocks."""
    return _se("se_resnet152", [3, 8, 36, 3], **kwargs)


@register_model(**_ENTRY, params="27.6M", macs="4.25G", macs_rtol=0.005)
def se_resnext50_32x4d(**kwargs) -> ResNet:
    """SE-ResNeXt-50 (32×4d), table 1."""
    kwargs.setdefault("cardinality", 32)
    kwargs.setdefault("base_width", 4)
    kwargs.setdefault("stride_on_3x3", True)
    return _se("se_resnext50_32x4d", [3, 4, 6, 3], **kwargs)


@register_model(
    **_ENTRY,
    no_reference="Hu et al. print no parameter count for SE-ResNeXt-101; the test suite checks "
    "it as ResNeXt-101 32×4d (44.2M, Xie et al.) plus 2/r·ΣC_s² and the FC biases",
)  # fmt: skip
def se_resnext101_32x4d(**kwargs) -> ResNet:
    """SE-ResNeXt-101 (32×4d)."""
    kwargs.setdefault("cardinality", 32)
    kwargs.setdefault("base_width", 4)
    kwargs.setdefault("stride_on_3x3", True)
    return _se("se_resnext101_32x4d", [3, 4, 23, 3], **kwargs)


@register_model(**_ENTRY, params="115.1M", macs="20.7G")
def senet154(**kwargs) -> ResNet:
    """SENet-154 (appendix): SE on a modified 64×4d ResNeXt-152, dropout 0.2."""
    kwargs.setdefault("cardinality", 64)
    kwargs.setdefault("base_width", 4)
    kwargs.setdefault("first_width_ratio", 0.5)
    kwargs.setdefault("stride_on_3x3", True)
    kwargs.setdefault("stem", "deep")
    kwargs.setdefault("stem_width", 128)
    kwargs.setdefault("downsample_kernel", 3)
    kwargs.setdefault("drop_rate", 0.2)
    return _se("senet154", [3, 8, 36, 3], **kwargs)
