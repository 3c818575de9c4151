"""Augmentation presets that run on whole batches of tensors, on the training device.

``build_augment("digits")`` returns a callable ``(N, C, H, W) -> (N, C, H, W)``
applied to each training batch; ``"none"`` is the identity. Running on
batches avoids a per-image Python loop, which for small images costs more than
the network itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["AUGMENTATIONS", "RandomAffine", "build_augment"]


class RandomAffine:
    """Random rotation, scaling and translation of each image in a batch.

    Args:
        degrees: rotation drawn from [−degrees, degrees].
        translate: shift drawn from [−t, t] as a fraction of the image size.
        scale: zoom factor drawn from [scale[0], scale[1]].
        generator: a ``torch.Generator`` for reproducible draws.
    """

    def __init__(
        self,
        degrees: float = 10.0,
        translate: float = 0.1,
        scale: tuple[float, float] = (0.9, 1.1),
        generator: torch.Generator | None = None,
    ) -> None:
        self.degrees, self.translate, self.scale, self.generator = degrees, translate, scale, generator

    def _uniform(self, n: int, lo: float, hi: float) -> Tensor:
        return torch.rand(n, generator=self.generator) * (hi - lo) + lo

    def __call__(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        angle = self._uniform(n, -self.degrees, self.degrees) * math.pi / 180
        s = self._uniform(n, *self.scale)
        # affine_grid maps output to input coordinates in [-1, 1], so a shift of
        # t·size pixels is 2t there, and zooming in by s divides coordinates by s.
        tx = self._uniform(n, -self.translate, self.translate) * 2
        ty = self._uniform(n, -self.translate, self.translate) * 2
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


AUGMENTATIONS = ("none", "digits")


def build_augment(name: str, generator: torch.Generator | None = None) -> Callable[[Tensor], Tensor]:
    """The batch augmentation called ``name``."""
    if name == "none":
        return lambda x: x
    if name == "digits":
        # Handwriting varies in slant, size and position; the digits are small
        # (8×8 upsampled to 32×32), so the jitter is a few pixels at most.
        return RandomAffine(degrees=12.0, translate=0.08, scale=(0.9, 1.1), generator=generator)
    raise ValueError(f"unknown augmentation {name!r}; accepted: {', '.join(AUGMENTATIONS)}")
