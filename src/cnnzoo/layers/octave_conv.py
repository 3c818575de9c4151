"""Octave convolution.

Y. Chen, H. Fan, B. Xu, Z. Yan, Y. Kalantidis, M. Rohrbach, S. Yan, J. Feng,
"Drop an Octave: Reducing Spatial Redundancy in Convolutional Neural Networks
with Octave Convolution", ICCV 2019, arXiv:1904.05049, §3.

Feature maps are split by ``α`` into a high-frequency part ``X_H`` (``(1−α)C``
channels, full resolution) and a low-frequency part ``X_L`` (``αC``
channels, half resolution, one octave lower). Four convolutions exchange
information between them (paper eq. 3–4):

    Y_H = f(X_H; W_H→H) + upsample(f(X_L; W_L→H), 2)
    Y_L = f(X_L; W_L→L) + f(pool(X_H, 2); W_H→L)

with 2×2 average pooling and nearest-neighbour upsampling. The four kernels
together have exactly the ``k²·C_in·C_out`` weights of the convolution they
replace; the cost falls because three of the four work at quarter
resolution: with ``α_in = α_out = α`` the multiply-adds are
``1 − ¾·α·(2 − α)`` of a plain convolution (43.75% at α = 0.5; table 1 of
the paper rounds to whole percent). ``α_in = 0`` is the first octave layer (a plain tensor in),
``α_out = 0`` the last (a plain tensor out); ``α_in = α_out = 0`` is an
ordinary convolution.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["OctaveConv2d", "octave_cost_ratio"]


def octave_cost_ratio(alpha: float) -> float:
    """Multiply-adds of an octave conv with ``α_in = α_out = α`` over a plain conv: ``1 − ¾α(2 − α)``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    return 1.0 - 0.75 * alpha * (2.0 - alpha)


class OctaveConv2d(nn.Module):
    """Octave convolution on ``(X_H, X_L)`` pairs.

    Shapes: ``X_H`` is ``(N, C_in − ⌊α_in·C_in⌋, H, W)`` and ``X_L`` is
    ``(N, ⌊α_in·C_in⌋, H/2, W/2)`` (or a single tensor when ``α_in = 0``); the
    output is the same kind of pair for ``out_chans`` and ``α_out`` (a single
    tensor when ``α_out = 0``), divided in size by ``stride``. ``H`` and ``W``
    must be even where a low-frequency part exists.

    Args:
        in_chans, out_chans: total channels ``C_in``, ``C_out``.
        kernel_size: square, odd; "same" padding.
        alpha_in, alpha_out: fraction of low-frequency channels in and out.
        stride: 1, or 2. As in the authors' code, the high part is average-pooled
            first, and the low part, already at the new resolution, feeds the
            low→high kernel as it is (no upsampling) and is pooled for low→low.
        bias: add a bias to each output part.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 3,
        alpha_in: float = 0.5,
        alpha_out: float = 0.5,
        stride: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        for name, a in (("alpha_in", alpha_in), ("alpha_out", alpha_out)):
            if not 0.0 <= a < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {a}")
        if stride not in (1, 2):
            raise ValueError(f"octave convolution takes stride 1 or 2; got {stride}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding); got {kernel_size}")
        self.stride = stride
        self.in_low = int(alpha_in * in_chans)
        self.in_high = in_chans - self.in_low
        self.out_low = int(alpha_out * out_chans)
        self.out_high = out_chans - self.out_low
        pad = kernel_size // 2

        def conv(cin: int, cout: int) -> nn.Conv2d | None:
            return nn.Conv2d(cin, cout, kernel_size, 1, pad, bias=bias) if cin and cout else None

        self.h2h = conv(self.in_high, self.out_high)
        self.h2l = conv(self.in_high, self.out_low)
        self.l2h = conv(self.in_low, self.out_high)
        self.l2l = conv(self.in_low, self.out_low)

    def forward(self, x: Tensor | tuple[Tensor, Tensor]) -> Tensor | tuple[Tensor, Tensor]:
        x_h, x_l = (x, None) if isinstance(x, Tensor) else x
        if (x_l is None) != (self.in_low == 0):
            raise ValueError(
                "OctaveConv2d: pass a (high, low) pair when alpha_in > 0 and a single tensor "
                f"when alpha_in = 0 (this layer has {self.in_low} low-frequency input channels)"
            )
        if x_h.shape[1] != self.in_high or (x_l is not None and x_l.shape[1] != self.in_low):
            got = (x_h.shape[1], None if x_l is None else x_l.shape[1])
            raise ValueError(
                f"OctaveConv2d expects {self.in_high} high- and {self.in_low} low-frequency "
                f"channels; got {got}"
            )
        if self.stride == 2:
            x_h = F.avg_pool2d(x_h, 2)
        if (self.out_low or (x_l is not None and self.stride == 1)) and (x_h.shape[-2] % 2 or x_h.shape[-1] % 2):
            raise ValueError(
                f"OctaveConv2d needs an even height and width for its half-resolution part; "
                f"got {tuple(x_h.shape[-2:])}"
            )
        y_h = self.h2h(x_h) if self.h2h is not None else None
        if self.l2h is not None:
            up = self.l2h(x_l)
            if self.stride == 1:
                up = F.interpolate(up, scale_factor=2.0, mode="nearest")
            y_h = up if y_h is None else y_h + up
        if not self.out_low:
            return y_h
        y_l = self.h2l(F.avg_pool2d(x_h, 2)) if self.h2l is not None else None
        if self.l2l is not None:
            x_l_low = F.avg_pool2d(x_l, 2) if self.stride == 2 else x_l  # at the low output resolution
            y_l = self.l2l(x_l_low) if y_l is None else y_l + self.l2l(x_l_low)
        return y_h, y_l
