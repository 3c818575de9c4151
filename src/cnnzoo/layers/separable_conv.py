"""Depthwise separable convolution: a depthwise conv, then a 1×1 pointwise conv.

F. Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions",
CVPR 2017, arXiv:1610.02357; A. Howard et al., "MobileNets", arXiv:1704.04861.

A ``k×k`` convolution from ``M`` to ``N`` channels is factored into ``M``
single-channel ``k×k`` filters (one per input channel, ``groups=M``) and an
``M → N`` pointwise (``1×1``) convolution. Its cost relative to the standard
convolution is ``(k²·M + M·N) / (k²·M·N) = 1/N + 1/k²`` (MobileNet, eq. 5).

The two papers put different things between the two convolutions:

* Xception (and Keras ``SeparableConv2D``): nothing. Chollet's §4.7 ablation
  shows that an intermediate ReLU or ELU *hurts*; ``mid_act`` puts one in to
  reproduce it.
* MobileNet v1: BN and ReLU after the depthwise conv and after the pointwise
  conv (figure 3): ``mid_bn=True, mid_act=nn.ReLU, bn=True, act=nn.ReLU``.

    >>> import torch
    >>> conv = SeparableConv2d(32, 64, 3)
    >>> conv(torch.zeros(1, 32, 8, 8)).shape
    torch.Size([1, 64, 8, 8])
"""

from __future__ import annotations

from torch import nn

__all__ = ["SeparableConv2d"]


def _make_act(act: type[nn.Module]) -> nn.Module:
    # In-place where the activation supports it: the intermediate tensor is not
    # needed again, and this halves the activation memory of the block.
    return act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.ELU) else act()


class SeparableConv2d(nn.Sequential):
    """``depthwise`` → [``mid_bn``] → [``mid_act``] → ``pointwise`` → [``bn``] → [``act``].

    Shapes: ``(N, in_chans, H, W) -> (N, out_chans, H', W')`` with ``H'`` given
    by the usual formula for the depthwise conv (the pointwise conv keeps it).

    Args:
        in_chans: ``M``, input channels (one depthwise filter each).
        out_chans: ``N``, output channels of the pointwise conv.
        kernel_size: depthwise kernel ``k``.
        stride: depthwise stride.
        padding: depthwise padding; ``None`` gives "same" padding
            ``dilation·(k − 1) // 2`` for odd kernels.
        dilation: depthwise dilation.
        depth_multiplier: depthwise filters per input channel (Keras'
            ``depth_multiplier``); the pointwise conv then reads
            ``in_chans · depth_multiplier`` channels.
        bias: put a bias on the convolutions that are not followed by a BN.
        mid_bn: BatchNorm between depthwise and pointwise (MobileNet v1).
        mid_act: non-linearity between depthwise and pointwise (``None`` in
            Xception; ``nn.ReLU`` in MobileNet v1 and Xception's ablation).
        bn: BatchNorm after the pointwise conv.
        act: non-linearity after the pointwise (and after ``bn``).
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        depth_multiplier: int = 1,
        bias: bool = False,
        mid_bn: bool = False,
        mid_act: type[nn.Module] | None = None,
        bn: bool = False,
        act: type[nn.Module] | None = None,
    ) -> None:
        for name, value in (("in_chans", in_chans), ("out_chans", out_chans),
                            ("kernel_size", kernel_size), ("stride", stride),
                            ("depth_multiplier", depth_multiplier)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SeparableConv2d: {name} must be a positive integer; got {value!r}")
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        super().__init__()
        mid = in_chans * depth_multiplier
        self.depthwise = nn.Conv2d(
            in_chans, mid, kernel_size, stride, padding, dilation=dilation, groups=in_chans,
            bias=bias and not mid_bn,
        )
        if mid_bn:
            self.mid_bn = nn.BatchNorm2d(mid)
        if mid_act is not None:
            self.mid_act = _make_act(mid_act)
        self.pointwise = nn.Conv2d(mid, out_chans, 1, bias=bias and not bn)
        if bn:
            self.bn = nn.BatchNorm2d(out_chans)
        if act is not None:
            self.act = _make_act(act)
