"""ResNeXt: aggregated residual transformations.

S. Xie, R. Girshick, P. Dollár, Z. Tu, K. He, "Aggregated Residual
Transformations for Deep Neural Networks", CVPR 2017, arXiv:1611.05431.

A ResNeXt unit is a bottleneck whose 3×3 convolution is split into
``C`` (the *cardinality*) groups of ``d`` channels: ``F(x) = Σ_{i=1..C} T_i(x)``,
each ``T_i`` a 1×1 → 3×3 → 1×1 path of width ``d``. Figure 3 of the paper shows
three equivalent forms — the sum of ``C`` paths, the concatenation of their
3×3 outputs followed by one 1×1, and a grouped convolution — and the networks
use the last; :mod:`cnnzoo.layers.resnext_block` builds the other two for the
test that proves the equivalence.

Table 1 (ResNeXt-50 32×4d) keeps ResNet-50's stages and doubles the
bottleneck width: the 3×3 of stage ``i`` has ``C · d · 2^(i-1)`` channels
(128, 256, 512, 1024 for 32×4d). Table 2 lists configurations of "roughly
equal complexity" to ResNet-50: ``C × d`` = 1×64, 2×40, 4×24,
8×14, 32×4, all with about 25M parameters and 4.1 GFLOPs.

Reference numbers: ResNeXt-50 32×4d 25.0M / 4.2G, ResNeXt-101
32×4d 44.2M / 8.0G, ResNeXt-101 32×8d 88.8M / 16.5G.

The authors' code (fb.resnet.torch based) strides on the 3×3; so do we
(``stride_on_3x3=True``), and the MACs above hold with it.
"""

from __future__ import annotations

from cnnzoo.models.resnet import ResNet
from cnnzoo.registry import register_model

__all__ = ["resnext50_32x4d", "resnext101_32x4d", "resnext101_32x8d", "TABLE2_CONFIGS"]

# Table 2 of Xie et al. 2017 (arXiv:1611.05431): cardinality C and bottleneck width d with
# roughly the complexity of ResNet-50 (C = 1, d = 64).
TABLE2_CONFIGS: tuple[tuple[int, int], ...] = ((1, 64), (2, 40), (4, 24), (8, 14), (32, 4))

_XIE = "Xie et al. 2017, arXiv:1611.05431"
_ENTRY = dict(family="ResNeXt", paper=_XIE, year=2017, min_size=32, test_size=(3, 32, 32))


def _resnext(name: str, layers: list[int], c: int, d: int, **kwargs) -> ResNet:
    kwargs.setdefault("cardinality", c)
    kwargs.setdefault("base_width", d)
    kwargs.setdefault("stride_on_3x3", True)
    kwargs.setdefault("name", name)
    return ResNet(layers, block="bottleneck", **kwargs)


@register_model(**_ENTRY, params="25.0M", macs="4.2G", table="table 1")
def resnext50_32x4d(**kwargs) -> ResNet:
    """ResNeXt-50 (32×4d), table 1: ResNet-50's stages with 32 groups of 4 channels."""
    return _resnext("resnext50_32x4d", [3, 4, 6, 3], 32, 4, **kwargs)


@register_model(**_ENTRY, params="44.2M", macs="8.0G")
def resnext101_32x4d(**kwargs) -> ResNet:
    """ResNeXt-101 (32×4d): stages [3, 4, 23, 3]."""
    return _resnext("resnext101_32x4d", [3, 4, 23, 3], 32, 4, **kwargs)


# Counted conv by conv, 32×8d costs 16.41G MACs; the registered 16.5G is
# rounded up from it (other libraries' tables print 16.4G for the same network).
@register_model(**_ENTRY, params="88.8M", macs="16.5G", macs_rtol=0.01)
def resnext101_32x8d(**kwargs) -> ResNet:
    """ResNeXt-101 (32×8d): stages [3, 4, 23, 3], 32 groups of 8 channels."""
    return _resnext("resnext101_32x8d", [3, 4, 23, 3], 32, 8, **kwargs)
