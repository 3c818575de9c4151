"""Upsampling: transposed convolution initialised as bilinear interpolation, and bilinear resize.

*Transposed convolution* ("deconvolution") with stride ``f`` maps ``H`` to
``(H − 1)·f − 2p + k`` (Dumoulin & Visin, "A guide to convolution arithmetic
for deep learning", 2016, arXiv:1603.07285, §4). Long, Shelhamer and
Darrell ("Fully Convolutional Networks for Semantic Segmentation", CVPR 2015,
arXiv:1411.4038, §3.3) initialise their ×2 and ×32 upsampling layers to
bilinear interpolation and learn them (×2) or freeze them (the final ×8/×16/
×32). :func:`bilinear_kernel` builds that initial weight as in d2l §14.10:
channel ``c`` reads only channel ``c`` through the separable tent
``(1 − |i − centre| / factor) ⊗ (1 − |j − centre| / factor)``. With
``k = 2f`` and ``p = f/2`` the output is exactly ``f·H``, and away from the
border it equals ``F.interpolate(..., mode="bilinear", align_corners=False)``
(at the border the transposed convolution sees zeros where interpolation
repeats the edge pixel).

*Bilinear resize* maps output pixel ``i`` to a source coordinate and
interpolates the two neighbours on each axis. The two conventions
(``align_corners``):

* ``True``: corner pixel *centres* line up, ``src = i·(in − 1)/(out − 1)``.
  The image's first and last pixels are kept exactly; the scale is not
  ``in/out``, so repeated resizes drift.
* ``False`` (PyTorch's default, OpenCV's, TensorFlow 2's): corner pixel
  *edges* line up, pixels are unit squares and ``src = (i + 0.5)·in/out − 0.5``,
  clamped at 0. Resizing by ``f`` and back by ``1/f`` is consistent, which is
  why segmentation heads use it.

:func:`bilinear_resize` computes both by hand (gather the two neighbours,
weight them) so the arithmetic can be read; it equals ``F.interpolate``
(tested). Everything else in the library resizes through :func:`resize_to`
(or :func:`resize_like`), the one place that names the mode and the corner
convention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BilinearUpsample", "bilinear_kernel", "bilinear_resize", "resize_like", "resize_to", "source_coordinates"]


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> Tensor:
    """Weight ``(in_channels, out_channels, k, k)`` of a transposed conv that interpolates bilinearly.

    Channel ``c`` maps to channel ``c`` only (for ``c < min(in, out)``); the
    rest is zero. ``factor = ceil(k / 2)``; for even ``k`` the tent is centred
    between two taps, for odd ``k`` on one.
    """
    if kernel_size < 1 or in_channels < 1 or out_channels < 1:
        raise ValueError(
            f"kernel_size and channel counts must be positive; got in_channels={in_channels}, "
            f"out_channels={out_channels}, kernel_size={kernel_size}"
        )
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float64)
    tent = 1 - (og - centre).abs() / factor
    filt = (tent[:, None] * tent[None, :]).float()
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    n = min(in_channels, out_channels)
    weight[range(n), range(n)] = filt
    return weight


class BilinearUpsample(nn.Module):
    """``×factor`` upsampling by a transposed convolution initialised to bilinear interpolation.

    Kernel ``2·factor``, stride ``factor``, padding ``factor // 2`` by default:
    ``(N, C, H, W) -> (N, C, factor·H, factor·W)`` for even ``factor``.
    ``padding=0`` gives ``factor·(H + 1)`` (FCN's layout, which crops
    afterwards).

    ``learnable=True``: a full ``C × C`` weight, learned from the bilinear start
    (FCN's intermediate ×2 layers). ``learnable=False``: a fixed per-channel
    bilinear kernel held as a buffer, not a parameter (FCN's final layer,
    "fixed to bilinear interpolation", §3.3; it is not counted in the paper's
    parameter totals).
    """

    def __init__(self, channels: int, factor: int, padding: int | None = None, learnable: bool = True) -> None:
        super().__init__()
        if factor < 1 or channels < 1:
            raise ValueError(f"channels and factor must be positive integers; got {channels}, {factor}")
        self.channels, self.factor, self.learnable = channels, factor, learnable
        self.padding = factor // 2 if padding is None else padding
        k = 2 * factor
        if learnable:
            self.weight = nn.Parameter(bilinear_kernel(channels, channels, k))
        else:
            self.register_buffer("weight", bilinear_kernel(1, 1, k).repeat(channels, 1, 1, 1), persistent=False)

    def reset_parameters(self) -> None:
        """Set the weight back to bilinear interpolation."""
        k = 2 * self.factor
        c = self.channels
        kernel = bilinear_kernel(c, c, k) if self.learnable else bilinear_kernel(1, 1, k).repeat(c, 1, 1, 1)
        with torch.no_grad():
            self.weight.copy_(kernel)

    def forward(self, x: Tensor) -> Tensor:
        groups = 1 if self.learnable else self.channels
        return F.conv_transpose2d(x, self.weight, stride=self.factor, padding=self.padding, groups=groups)

    def extra_repr(self) -> str:
        return f"{self.channels}, factor={self.factor}, padding={self.padding}, learnable={self.learnable}"


def source_coordinates(out_size: int, in_size: int, align_corners: bool) -> Tensor:
    """Source coordinate (in input pixel indices) of each of ``out_size`` output pixels."""
    if out_size < 1 or in_size < 1:
        raise ValueError(f"sizes must be positive; got out_size={out_size}, in_size={in_size}")
    i = torch.arange(out_size, dtype=torch.float64)
    if align_corners:
        return i * ((in_size - 1) / (out_size - 1)) if out_size > 1 else torch.zeros(1, dtype=torch.float64)
    return ((i + 0.5) * (in_size / out_size) - 0.5).clamp(min=0)


def _axis(out_size: int, in_size: int, align_corners: bool) -> tuple[Tensor, Tensor, Tensor]:
    src = source_coordinates(out_size, in_size, align_corners)
    low = src.floor().long().clamp(max=in_size - 1)
    high = (low + 1).clamp(max=in_size - 1)
    return low, high, (src - low).clamp(0, 1)


def bilinear_resize(x: Tensor, size: tuple[int, int], align_corners: bool = False) -> Tensor:
    """Bilinear resize written out: ``(N, C, H, W) -> (N, C, *size)``; equals ``F.interpolate``.

    Each output pixel reads the two neighbours of its source coordinate on
    each axis (:func:`source_coordinates`) with weights ``1 − t`` and ``t``.
    """
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"bilinear_resize expects (N, C, H, W); got {shape}")
    h, w = x.shape[-2:]
    y0, y1, ty = _axis(size[0], h, align_corners)
    x0, x1, tx = _axis(size[1], w, align_corners)
    ty = ty.to(x.dtype)[:, None]
    tx = tx.to(x.dtype)[None, :]
    top = x[..., y0, :][..., x0] * (1 - tx) + x[..., y0, :][..., x1] * tx
    bottom = x[..., y1, :][..., x0] * (1 - tx) + x[..., y1, :][..., x1] * tx
    return top * (1 - ty) + bottom * ty


def resize_to(x: Tensor, size: tuple[int, int] | torch.Size, align_corners: bool = False) -> Tensor:
    """Bilinear resize of ``(N, C, H, W)`` (or ``(C, H, W)``) to ``size``; ``x`` itself when already that size.

    Integer tensors (label maps) cannot be interpolated bilinearly; resize the
    scores instead and take the arg-max afterwards.
    """
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    if x.dim() == 3:
        return resize_to(x[None], size, align_corners)[0]
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"resize_to expects a float (N, C, H, W) or (C, H, W) tensor; got {x.dtype} {tuple(x.shape)}")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)


def resize_like(x: Tensor, ref: Tensor, align_corners: bool = False) -> Tensor:
    """:func:`resize_to` ``ref``'s spatial size."""
    return resize_to(x, ref.shape[-2:], align_corners)
