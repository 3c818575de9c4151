"""SKNet: selective kernel networks.

X. Li, W. Wang, X. Hu, J. Yang, "Selective Kernel Networks", CVPR 2019,
arXiv:1903.06586, table 1 (SKNet-50) and §3.

SKNet-50 is ResNeXt-50 (32×4d) whose grouped 3×3 in every bottleneck is a
selective kernel convolution (:class:`~cnnzoo.layers.selective_kernel.SelectiveKernelConv`)
with ``M = 2`` branches (3×3 and a dilated 3×3 standing for 5×5), ``G = 32``
groups, reduction ``r = 16`` and minimum fuse width ``L = 32``: table 1 writes
each unit as ``[1×1, 128; SK[M=2, G=32, r=16], 128; 1×1, 256]``, widths
doubling per stage, with stages [3, 4, 6, 3].

Reference numbers: 27.5M parameters, 4.47 GFLOPs at 224×224.

Deviations: the stride sits on the SK convolution (the 3×3), as in ResNeXt
and the authors' Caffe model; the fuse FC is a 1×1 conv without bias followed
by BN and ReLU (``z = δ(B(W s))``, equation 4), the select FCs are one 1×1 conv
producing all ``M`` attention vectors at once.
"""

from __future__ import annotations

from cnnzoo.models.resnet import ResNet
from cnnzoo.registry import register_model

__all__ = ["sknet50"]


# Our MACs count convolutions and FC layers only; the branch sum and the
# attention-weighted sum (elementwise) are not in it, hence 0.5% on 4.47G.
@register_model(
    family="SKNet", paper="Li et al. 2019, arXiv:1903.06586", year=2019, min_size=32,
    test_size=(3, 32, 32), params="27.5M", macs="4.47G", macs_rtol=0.005, table="table 1",
)  # fmt: skip
def sknet50(**kwargs) -> ResNet:
    """SKNet-50 (table 1): ResNeXt-50 32×4d with selective kernel convolutions."""
    kwargs.setdefault("cardinality", 32)
    kwargs.setdefault("base_width", 4)
    kwargs.setdefault("stride_on_3x3", True)
    kwargs.setdefault("name", "sknet50")
    return ResNet([3, 4, 6, 3], block="bottleneck", selective_kernel=True, **kwargs)
