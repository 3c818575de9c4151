"""Depthwise and depthwise-separable convolution, as MobileNet v1 uses them.

A. Howard et al., "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications", 2017, arXiv:1704.04861, §3.1 and figure 3.

A standard ``k×k`` convolution from ``M`` to ``N`` channels on a ``D_F×D_F``
map costs ``k²·M·N·D_F²`` multiply-adds. MobileNet factorises it into a
*depthwise* ``k×k`` convolution (one filter per input channel, ``groups = M``:
``k²·M·D_F²``) and a *pointwise* ``1×1`` convolution (``M·N·D_F²``). The ratio
of the two costs (paper eq. 5) is

    (k²·M·D_F² + M·N·D_F²) / (k²·M·N·D_F²) = 1/N + 1/k²,

about 1/8 to 1/9 for ``k = 3``. The unit itself (with MobileNet's BatchNorm
and ReLU after *both* parts, or Xception's nothing in between) is
``layers/separable_conv.py``'s ``SeparableConv2d``; this file holds the
depthwise convolution and the cost formula.
"""

from __future__ import annotations

from torch import nn

__all__ = ["depthwise_conv", "separable_cost_ratio"]


def depthwise_conv(
    channels: int, kernel_size: int = 3, stride: int = 1, bias: bool = False
) -> nn.Conv2d:
    """A ``k×k`` convolution with one filter per channel (``groups = channels``), "same" padding."""
    return nn.Conv2d(
        channels, channels, kernel_size, stride, (kernel_size - 1) // 2, groups=channels, bias=bias
    )


def separable_cost_ratio(out_chans: int, kernel_size: int) -> float:
    """MobileNet eq. 5: multiply-adds of depthwise + pointwise over a standard conv, ``1/N + 1/k²``."""
    if out_chans < 1 or kernel_size < 1:
        raise ValueError(
            f"out_chans and kernel_size must be positive; got {out_chans} and {kernel_size}"
        )
    return 1.0 / out_chans + 1.0 / kernel_size**2
