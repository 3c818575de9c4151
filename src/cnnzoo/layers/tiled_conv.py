"""Tiled convolution.

Q. V. Le, J. Ngiam, Z. Chen, D. Chia, P. W. Koh, A. Y. Ng, "Tiled
convolutional neural networks", NIPS 2010; Goodfellow et al.,
*Deep Learning*, §9.5, eq. 9.10.

A compromise between a convolution and a locally-connected layer: learn
``t × t`` kernels and cycle through them as the window moves, so neighbouring
outputs use different kernels but outputs ``t`` positions apart share one:

    Z[i, j, k] = Σ_{l, m, n} V[l, j·s + m, k·s + n] · K[i, l, m, n, j mod t, k mod t]

With ``t = 1`` it is a convolution; with ``t`` at least the output size it is
a locally-connected layer. The parameters grow only by the factor ``t²``:
``t² · C_out · (C_in · k_h · k_w + 1)`` with biases tiled like the kernels.
Unlike a locally-connected layer it accepts any input size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TiledConv2d"]


class TiledConv2d(nn.Module):
    """Tiled convolution: ``(N, in_chans, H, W) -> (N, out_chans, H_out, W_out)``.

    Args:
        in_chans, out_chans: channels.
        kernel_size, stride, padding: as for ``nn.Conv2d`` (square).
        tile: ``t``, the number of kernels cycled through along each axis.
        bias: one bias per output channel and tile position.

    ``weight`` has shape ``(t, t, C_out, C_in, k, k)``; output position
    ``(j, k)`` uses ``weight[j % t, k % t]``.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int,
        tile: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if tile < 1:
            raise ValueError(
                f"tile (the number of kernels per axis) must be at least 1; got {tile}"
            )
        self.in_chans, self.out_chans, self.tile = in_chans, out_chans, tile
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.weight = nn.Parameter(
            torch.empty(tile, tile, out_chans, in_chans, kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(tile, tile, out_chans)) if bias else None
        bound = 1.0 / math.sqrt(in_chans * kernel_size * kernel_size)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"TiledConv2d expects (N, {self.in_chans}, H, W); got {tuple(x.shape)}"
            )
        n, _, h, w = x.shape
        k, s, p, t = self.kernel_size, self.stride, self.padding, self.tile
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if min(ho, wo) < 1:
            raise ValueError(
                f"TiledConv2d: a {k}×{k} kernel does not fit a {h}×{w} input with padding {p}"
            )
        cols = F.unfold(x, k, padding=p, stride=s).reshape(n, -1, ho, wo)  # N x C·k² x Ho x Wo
        out = x.new_empty(n, self.out_chans, ho, wo)
        # One matrix product per tile phase (a, b): the outputs at rows ≡ a and
        # columns ≡ b (mod t) all use kernel (a, b).
        for a in range(min(t, ho)):
            for b in range(min(t, wo)):
                kern = self.weight[a, b].reshape(self.out_chans, -1)
                y = torch.einsum("nchw,oc->nohw", cols[:, :, a::t, b::t], kern)
                if self.bias is not None:
                    y = y + self.bias[a, b].view(1, -1, 1, 1)
                out[:, :, a::t, b::t] = y
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_chans}, {self.out_chans}, kernel_size={self.kernel_size}, tile={self.tile}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )
