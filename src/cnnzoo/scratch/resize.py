"""Bilinear resizing written out by hand, with both pixel-coordinate conventions.

Each output pixel ``d`` (per axis) reads the input at a real coordinate ``s`` and blends
its two neighbours ``i₀ = ⌊s⌋`` and ``i₁ = min(i₀ + 1, n_in - 1)`` with weights
``1 - λ`` and ``λ = s - i₀``; a 2-D resize is one such pass down the rows, then one
along the columns (bilinear interpolation is separable). The conventions differ in ``s``:

* ``align_corners=False`` (half-pixel centres; torch's default, OpenCV's ``resize``):
  pixels are unit squares and the image edges line up,
  ``s = (d + 0.5) · n_in / n_out - 0.5``, clamped at 0;
* ``align_corners=True``: the centres of the corner pixels line up,
  ``s = d · (n_in - 1) / (n_out - 1)``.

Resizing ``[0, 1]`` to 4 pixels gives ``[0, 0.25, 0.75, 1]`` the first way and
``[0, 1/3, 2/3, 1]`` the second. Neither smooths before shrinking (no anti-aliasing), as
``torch.nn.functional.interpolate(mode="bilinear")`` does not by default; the tests check
both conventions against it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["source_coordinates", "resize_bilinear"]


def source_coordinates(n_out: int, n_in: int, align_corners: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``n_out`` output pixels: the neighbours ``i₀``, ``i₁`` and the weight ``λ`` of ``i₁``.

    Returns:
        ``(i0, i1, lam)``, each ``(n_out,)``.
    """
    if n_out < 1 or n_in < 1:
        raise ValueError(f"resize: sizes must be >= 1; got input {n_in}, output {n_out}")
    d = np.arange(n_out, dtype=np.float64)
    if align_corners:
        s = d * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        s = np.maximum((d + 0.5) * (n_in / n_out) - 0.5, 0.0)  # left of the first centre: the edge pixel
    i0 = np.minimum(np.floor(s).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, s - i0


def resize_bilinear(x: np.ndarray, size: tuple[int, int], align_corners: bool = False) -> np.ndarray:
    """Resize the last two axes of ``x`` ``(..., H, W)`` to ``size = (H_out, W_out)``.

    Returns:
        ``(..., H_out, W_out)``, the dtype of ``x`` (float input).
    """
    if x.ndim < 2:
        raise ValueError(f"resize: input must have at least 2 dims (..., H, W); got shape {tuple(x.shape)}")
    if len(size) != 2:
        raise ValueError(f"resize: size must be (H_out, W_out); got {size!r}")
    r0, r1, ly = source_coordinates(int(size[0]), x.shape[-2], align_corners)
    c0, c1, lx = source_coordinates(int(size[1]), x.shape[-1], align_corners)
    ly, lx = ly.astype(x.dtype)[:, None], lx.astype(x.dtype)
    rows = (1 - ly) * x[..., r0, :] + ly * x[..., r1, :]  # (..., H_out, W)
    return (1 - lx) * rows[..., c0] + lx * rows[..., c1]
