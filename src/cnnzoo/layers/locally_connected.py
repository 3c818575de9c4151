"""Locally-connected ("unshared") convolution.

Goodfellow, Bengio, Courville, *Deep Learning*, 2016, §9.5,
eq. 9.9; used for faces by DeepFace (Taigman et al. 2014).

Like a convolution, each output unit sees a ``k×k`` window of the input;
unlike a convolution, every output position ``(j, k)`` has its own kernel:

    Z[i, j, k] = Σ_{l, m, n} V[l, j·s + m, k·s + n] · W[i, j, k, l, m, n]

so the layer is sparse like a convolution but shares no parameters across
positions. When all positions' kernels are equal (``W[i, j, k, ...] =
K[i, ...]``) it is a convolution. Each output unit has its own bias.
Parameters: ``H_out · W_out · C_out · (C_in · k_h · k_w + 1)``.
The input size must be fixed in advance, since the weights depend on it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LocallyConnected2d"]


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class LocallyConnected2d(nn.Module):
    """Unshared convolution: ``(N, in_chans, H, W) -> (N, out_chans, H_out, W_out)``.

    Args:
        in_chans, out_chans: channels ``C_in``, ``C_out``.
        input_size: ``(H, W)`` the layer is built for.
        kernel_size, stride, padding: as for ``nn.Conv2d``.
        bias: one bias per output unit (``C_out × H_out × W_out``).

    ``weight`` has shape ``(H_out, W_out, C_out, C_in, k_h, k_w)``.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        input_size: int | tuple[int, int],
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_chans, self.out_chans = in_chans, out_chans
        self.input_size = _pair(input_size)
        self.kernel_size, self.stride, self.padding = (
            _pair(kernel_size),
            _pair(stride),
            _pair(padding),
        )
        self.output_size = tuple(
            (n + 2 * p - k) // s + 1
            for n, k, s, p in zip(
                self.input_size, self.kernel_size, self.stride, self.padding, strict=True
            )
        )
        if min(self.output_size) < 1:
            raise ValueError(
                f"a {self.kernel_size} kernel with padding {self.padding} does not fit an input of "
                f"{self.input_size}; the input must be at least the kernel size minus twice the padding"
            )
        ho, wo = self.output_size
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(ho, wo, out_chans, in_chans, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_chans, ho, wo)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The same uniform range nn.Conv2d uses, per position.
        bound = 1.0 / math.sqrt(self.in_chans * self.kernel_size[0] * self.kernel_size[1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.in_chans, *self.input_size):
            raise ValueError(
                f"LocallyConnected2d was built for inputs (N, {self.in_chans}, "
                f"{self.input_size[0]}, {self.input_size[1]}); got {tuple(x.shape)}"
            )
        ho, wo = self.output_size
        cols = F.unfold(
            x, self.kernel_size, padding=self.padding, stride=self.stride
        )  # N x C·k² x L
        w = self.weight.reshape(ho * wo, self.out_chans, -1)  # L x C_out x C·k²
        out = torch.einsum("ncl,loc->nol", cols, w).reshape(x.shape[0], self.out_chans, ho, wo)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (
            f"{self.in_chans}, {self.out_chans}, input_size={self.input_size}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"bias={self.bias is not None}"
        )
