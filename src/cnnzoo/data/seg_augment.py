"""Augmentation of image and label map together: one geometric draw, two resamplings.

A segmentation batch is an image ``(N, C, H, W)`` and a label map ``(N, H, W)``
whose pixels must stay where the image's pixels go. Every geometric
augmentation here builds one sampling grid per image and applies it twice:
bilinearly to the image and nearest-neighbour to the labels (interpolating
labels would invent classes between two neighbours). Label pixels that the
warp brings in from outside the image get 255 (no label; the loss ignores
them), since nobody knows what lay there.

* :class:`JointAffine` — rotation, scale and shift (the ``digits`` preset of
  :mod:`cnnzoo.data.augment`, with the same draws).
* :class:`ElasticDeformation` — the U-Net paper's elastic deformation
  (Ronneberger, Fischer & Brox 2015, arXiv:1505.04597, §3.1): "random
  displacement vectors on a coarse 3 by 3 grid", sampled from a Gaussian
  with "10 pixels standard deviation"; "per-pixel displacements are then
  computed using bicubic interpolation".
* :func:`joint_augment` — the joint version of an image preset, for
  :meth:`cnnzoo.train.tasks.segmentation.SegmentationTask.augment_batch`.

Every random draw comes from the ``generator`` passed in, so a batch's
augmentation is reproducible from the run's seed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnzoo.data.augment import RandomAffine

__all__ = ["IGNORE_LABEL", "ElasticDeformation", "JointAffine", "elastic_grid", "joint_augment", "warp_pair"]

IGNORE_LABEL = 255  # label of pixels with no class (VOC's borders, pixels warped in from outside)

JointFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def warp_pair(x: Tensor, mask: Tensor, grid: Tensor) -> tuple[Tensor, Tensor]:
    """``x`` sampled bilinearly and ``mask`` nearest-neighbour at ``grid`` (``(N, H, W, 2)``, in [−1, 1]).

    Image pixels from outside are 0; label pixels from outside are 255.
    """
    grid = grid.to(x)
    image = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Shift labels by one so that the zero grid_sample pads with marks "outside".
    shifted = (mask.to(x.dtype) + 1)[:, None]
    labels = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0]
    labels = labels.round().long() - 1
    labels[labels < 0] = IGNORE_LABEL
    return image, labels.to(mask.dtype)


class JointAffine(RandomAffine):
    """Random rotation, scaling and shift of each image and its label map, with :class:`RandomAffine`'s draws."""

    def __call__(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return warp_pair(x, mask, self.grid(x))


def elastic_grid(n: int, size: tuple[int, int], sigma: float, points: int = 3, generator: torch.Generator | None = None) -> Tensor:
    """A smooth random sampling grid ``(n, H, W, 2)``: U-Net §3.1's elastic deformation.

    Displacements (in pixels) are drawn from N(0, σ²) at ``points × points``
    control points spread over the image and interpolated bicubically to every
    pixel; the grid is the identity plus that displacement, in ``grid_sample``'s
    [−1, 1] coordinates.
    """
    h, w = size
    coarse = torch.randn(n, 2, points, points, generator=generator) * sigma
    dense = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)  # N x 2 x H x W, pixels
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # H x W x (x, y)
    shift = torch.stack((dense[:, 0] * 2 / w, dense[:, 1] * 2 / h), dim=-1)  # pixels -> [-1, 1] units
    return base + shift


class ElasticDeformation:
    """U-Net §3.1 elastic deformation of an image batch, or of image and label map together.

    Args:
        sigma: standard deviation of the control-point displacements in pixels
            (10 in the paper, for 572-pixel tiles).
        points: control points per side (3: the paper's coarse 3×3 grid).
        generator: a ``torch.Generator`` for reproducible draws.

    ``aug(x)`` deforms images alone; ``aug.pair(x, mask)`` deforms both with one draw.
    """

    def __init__(self, sigma: float = 10.0, points: int = 3, generator: torch.Generator | None = None) -> None:
        if sigma < 0 or points < 2:
            raise ValueError(f"elastic deformation needs sigma >= 0 and points >= 2; got sigma={sigma}, points={points}")
        self.sigma, self.points, self.generator = sigma, points, generator

    def pair(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        grid = elastic_grid(x.shape[0], tuple(x.shape[-2:]), self.sigma, self.points, self.generator)
        return warp_pair(x, mask, grid)

    def __call__(self, x: Tensor) -> Tensor:
        grid = elastic_grid(x.shape[0], tuple(x.shape[-2:]), self.sigma, self.points, self.generator)
        return F.grid_sample(x, grid.to(x), mode="bilinear", padding_mode="zeros", align_corners=False)


def _identity_pair(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    return x, mask


def joint_augment(image_augment: Callable[[Tensor], Tensor]) -> JointFn | None:
    """The version of an image augmentation that moves the label map with the image; ``None`` if unknown.

    Known: the identity (``none``), :class:`RandomAffine` (``digits``), and any
    augmentation with a ``pair(x, mask)`` method (:class:`ElasticDeformation`).
    """
    if hasattr(image_augment, "pair"):
        return image_augment.pair  # type: ignore[attr-defined]
    if isinstance(image_augment, RandomAffine):
        a = image_augment
        return JointAffine(a.degrees, a.translate, a.scale, a.generator)
    probe = torch.arange(4.0).view(1, 1, 2, 2)
    try:
        unchanged = torch.equal(image_augment(probe), probe)  # "none" is a plain identity
    except Exception:  # a cropping preset refuses so small an image: it is not the identity
        unchanged = False
    return _identity_pair if unchanged else None
