"""TensorFlow's "same" padding, for networks whose released weights were trained in TensorFlow.

TensorFlow pads a k×k window at stride s so that the output has ceil(n / s)
pixels, putting the odd pixel of padding at the bottom/right: a 3×3/2 window
on an even-sized map is padded (0, 1), where PyTorch's ``padding=1`` pads
(1, 1) and moves every window up and left by a pixel. At stride 1 (odd k) and
on odd sizes at stride 2 both agree. Keras's Xception and timm's
``tf_efficientnet_*`` weights need the TensorFlow padding to compute what they
computed in TensorFlow.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Conv2dSame", "MaxPool2dSame", "same_padding", "use_same_padding_"]


def same_padding(size: int, kernel_size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of one axis of ``size`` pixels, as TensorFlow's ``padding="same"``."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pad(x: Tensor, kernel_size: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], value: float) -> Tensor:
    h = same_padding(x.shape[-2], kernel_size[0], stride[0], dilation[0])
    w = same_padding(x.shape[-1], kernel_size[1], stride[1], dilation[1])
    return F.pad(x, (*w, *h), value=value)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` padded as TensorFlow's "same" for each input size; same tensors, so same state dict.

    ``(N, C, H, W) -> (N, out_channels, ceil(H / s), ceil(W / s))``.
    """

    def forward(self, x: Tensor) -> Tensor:
        x = _pad(x, self.kernel_size, self.stride, self.dilation, 0.0)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MaxPool2dSame(nn.MaxPool2d):
    """``nn.MaxPool2d`` padded as TensorFlow's "same" (padding never wins the max).

    ``(N, C, H, W) -> (N, C, ceil(H / s), ceil(W / s))``.
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__(kernel_size, stride, padding=0)

    def forward(self, x: Tensor) -> Tensor:
        k, s = (self.kernel_size,) * 2, (self.stride,) * 2
        return F.max_pool2d(_pad(x, k, s, (1, 1), float("-inf")), self.kernel_size, self.stride)


def use_same_padding_(model: nn.Module) -> nn.Module:
    """Replace every strided ``nn.Conv2d`` of ``model`` by a :class:`Conv2dSame` holding its parameters.

    Only strided convolutions change: at stride 1 an odd kernel with padding
    (k − 1) / 2 already is TensorFlow's "same". State-dict names are kept.
    """
    for parent in list(model.modules()):
        for name, m in list(parent.named_children()):
            if type(m) is not nn.Conv2d or m.stride == (1, 1):
                continue
            same = Conv2dSame(
                m.in_channels, m.out_channels, m.kernel_size, m.stride, 0, m.dilation, m.groups, m.bias is not None,
                device=m.weight.device, dtype=m.weight.dtype,
            )  # fmt: skip
            same.weight, same.bias = m.weight, m.bias
            setattr(parent, name, same)
    return model
