"""Spatial pyramid pooling: a fixed-length vector from a feature map of any size.

He, Zhang, Ren, Sun, "Spatial Pyramid Pooling in Deep Convolutional Networks
for Visual Recognition", ECCV 2014 (arXiv:1406.4729). The last convolutional
maps are max-pooled into ``n × n`` bins for each pyramid level ``n`` and the
bins concatenated, so the fully connected layers that follow always see
``C · Σ n²`` numbers whatever the image size. The paper's network uses the
4-level pyramid {6×6, 3×3, 2×2, 1×1}: 50 bins, 12,800 numbers from ZF-5's
256 conv5 maps.

The paper sizes each level's window as ``ceil(a/n)`` with stride
``floor(a/n)``; for some sizes (a = 7, n = 4: window 2, stride 1, six bins)
that does not give ``n`` bins. We use adaptive pooling's bins instead
(``floor(i·a/n)`` to ``ceil((i+1)·a/n)``), which always gives exactly ``n``,
even when ``a < n``, and coincides with the paper's where ``n`` divides ``a``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SpatialPyramidPooling", "spatial_pyramid_pool"]

PAPER_LEVELS = (6, 3, 2, 1)


def _check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    out = tuple(levels)
    if not out or any(not isinstance(n, int) or n <= 0 for n in out):
        raise ValueError(f"levels must be a non-empty sequence of positive ints; got {levels}")
    return out


def spatial_pyramid_pool(x: Tensor, levels: Sequence[int] = PAPER_LEVELS, mode: str = "max") -> Tensor:
    """``(N, C, H, W) -> (N, C · Σ n²)``, level by level, each level channel-major."""
    levels = _check_levels(levels)
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg'; got {mode!r}")
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[-1] == 0 or x.shape[-2] == 0:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"spatial pyramid pooling needs a non-empty (N, C, H, W) map; got {shape}")
    pool = F.adaptive_max_pool2d if mode == "max" else F.adaptive_avg_pool2d
    return torch.cat([pool(x, n).flatten(1) for n in levels], dim=1)


class SpatialPyramidPooling(nn.Module):
    """SPP layer: ``(N, C, H, W) -> (N, C · Σ n²)`` for any ``H, W >= 1``.

    Args:
        levels: bins per side at each level (the paper's ``(6, 3, 2, 1)``).
        mode: ``"max"`` (the paper) or ``"avg"``.
    """

    def __init__(self, levels: Sequence[int] = PAPER_LEVELS, mode: str = "max") -> None:
        super().__init__()
        self.levels = _check_levels(levels)
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg'; got {mode!r}")
        self.mode = mode

    def output_features(self, channels: int) -> int:
        """Length of the output vector for ``channels`` input maps."""
        return channels * sum(n * n for n in self.levels)

    def forward(self, x: Tensor) -> Tensor:
        return spatial_pyramid_pool(x, self.levels, self.mode)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode!r}"
