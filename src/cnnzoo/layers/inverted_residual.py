"""The inverted residual with linear bottleneck ("MBConv").

M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen, "MobileNetV2: Inverted
Residuals and Linear Bottlenecks", CVPR 2018, arXiv:1801.04381, table 1:

    1×1 conv, C_in → t·C_in, BN, ReLU6      (expansion; left out when t = 1)
    k×k depthwise, stride s, BN, ReLU6
    1×1 conv, t·C_in → C_out, BN            (linear: no activation)
    + input, when s = 1 and C_in = C_out

The residual joins the thin bottlenecks, not the wide expanded layers, the
reverse of ResNet's bottleneck; the projection is linear because a ReLU on a
low-dimensional map destroys information (paper §3.2).

The same block, with keywords, is used by MobileNet v3 (h-swish, kernel 5, an
explicit expansion width, and a squeeze-and-excitation with hard-sigmoid gate
after the depthwise conv; Howard et al. 2019, arXiv:1905.02244, figure 4) and
by EfficientNet (SiLU, SE reduced from the block *input* width, stochastic
depth on the residual branch; Tan & Le 2019, arXiv:1905.11946).
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.squeeze_excite import SqueezeExcite
from cnnzoo.layers.stochastic_depth import StochasticDepth

__all__ = ["InvertedResidual"]


class InvertedResidual(nn.Module):
    """Expand → depthwise → (SE) → linear project, with a residual when shapes allow.

    Shapes: ``(N, in_chans, H, W) -> (N, out_chans, ⌈H/stride⌉, ⌈W/stride⌉)``.

    Args:
        in_chans, out_chans: the bottleneck widths.
        stride: of the depthwise conv (1 or 2).
        expand_ratio: ``t``; the expanded width is ``round(t · in_chans)``.
        mid_chans: the expanded width given directly (MobileNet v3's "exp size");
            overrides ``expand_ratio``. No expansion conv when it equals ``in_chans``.
        kernel_size: of the depthwise conv.
        act: activation after the expansion and the depthwise conv.
        se_channels: bottleneck width of a squeeze-and-excitation after the
            depthwise conv; ``None`` for none.
        se_act, se_gate: the SE's inner activation and gate.
        survival: stochastic-depth survival probability of the residual branch
            (per sample, inverted, as EfficientNet); 1.0 disables it.
        bn_eps: BatchNorm epsilon (1e-3 in the TensorFlow reference models).
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        stride: int = 1,
        expand_ratio: float = 6.0,
        mid_chans: int | None = None,
        kernel_size: int = 3,
        act: type[nn.Module] = nn.ReLU6,
        se_channels: int | None = None,
        se_act: type[nn.Module] = nn.ReLU,
        se_gate: type[nn.Module] = nn.Sigmoid,
        survival: float = 1.0,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"an inverted residual takes stride 1 or 2; got {stride}")
        if mid_chans is None:
            if expand_ratio < 1:
                raise ValueError(f"expand_ratio must be at least 1; got {expand_ratio}")
            mid_chans = round(in_chans * expand_ratio)
        self.use_residual = stride == 1 and in_chans == out_chans
        if survival < 1.0 and not self.use_residual:
            survival = 1.0  # nothing to drop: a block without identity path always runs
        self.expand = (
            ConvBNAct(in_chans, mid_chans, 1, act=act, bn_eps=bn_eps)
            if mid_chans != in_chans
            else None
        )
        self.depthwise = ConvBNAct(
            mid_chans, mid_chans, kernel_size, stride, groups=mid_chans, act=act, bn_eps=bn_eps
        )
        self.se = (
            SqueezeExcite(mid_chans, rd_channels=se_channels, act=se_act, gate=se_gate)
            if se_channels
            else None
        )
        self.project = ConvBNAct(mid_chans, out_chans, 1, act=None, bn_eps=bn_eps)
        self.drop_path = (
            StochasticDepth(survival, mode="row", inverted=True) if survival < 1.0 else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.depthwise(out)
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)
        if not self.use_residual:
            return out
        if self.drop_path is not None:
            out = self.drop_path(out)
        return x + out
