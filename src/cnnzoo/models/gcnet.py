"""GCNet: ResNet-50 with global context blocks.

Y. Cao, J. Xu, S. Lin, F. Wei, H. Hu, "GCNet: Non-local Networks Meet
Squeeze-Excitation Networks and Beyond", ICCV workshops 2019, arXiv:1904.11492.

The paper's default placement, used for its ImageNet and COCO results: a GC
block (:class:`~cnnzoo.layers.global_context.GlobalContext`, bottleneck ratio
``r = 16``) after the last 1×1 conv (and its BN) of every bottleneck in stages
c3–c5 (our ``layer2``–``layer4``), before the residual addition. Stage c2 has
none. ``attention_stages=(1, 2, 3, 4)`` puts one in every stage;
``reduction=4`` is the paper's heavier variant.

Reference number: ResNet-50 + GC (r = 16, c3–c5) has 28.08M parameters in the
paper's ImageNet table (25.56M for the baseline). The backbone strides on the
first 1×1 as in the ResNet paper; the GC blocks add about 0.004G MACs, so the
cost is ResNet-50's (3.86G counted).
"""

from __future__ import annotations

from cnnzoo.models.resnet import ResNet
from cnnzoo.registry import register_model

__all__ = ["gc_resnet50"]


@register_model(
    family="GCNet", paper="Cao et al. 2019, arXiv:1904.11492", year=2019, min_size=32,
    test_size=(3, 32, 32), params="28.08M",
)  # fmt: skip
def gc_resnet50(**kwargs) -> ResNet:
    """ResNet-50 with a GC block (r = 16) in every bottleneck of stages c3–c5."""
    kwargs.setdefault("attention_stages", (2, 3, 4))
    kwargs.setdefault("reduction", 16)
    kwargs.setdefault("name", "gc_resnet50")
    return ResNet([3, 4, 6, 3], block="bottleneck", attention="gc", **kwargs)
