"""Convolution → BatchNorm → activation, the unit most post-2015 networks repeat."""

from __future__ import annotations

from torch import nn


class ConvBNAct(nn.Sequential):
    """``conv`` (no bias) → ``bn`` → ``act``; children are named so checkpoints read well.

    ``padding=None`` gives "same" padding for odd kernels at stride 1,
    ``dilation·(k − 1) // 2``. ``act=None`` leaves the activation out (linear
    bottlenecks, the last BN of a residual branch); ``bn=False`` puts a bias on
    the convolution instead.

    Shapes: ``(N, in_chans, H, W) -> (N, out_chans, H', W')`` with the usual conv formula.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        dilation: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
        bn: bool = True,
        bn_eps: float = 1e-5,
    ) -> None:
        if padding is None:
            ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
            padding = (dilation * (ks[0] - 1) // 2, dilation * (ks[1] - 1) // 2)
        super().__init__()
        self.conv = nn.Conv2d(
            in_chans, out_chans, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=not bn
        )
        if bn:
            self.bn = nn.BatchNorm2d(out_chans, eps=bn_eps)
        if act is not None:
            self.act = act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish) else act()
