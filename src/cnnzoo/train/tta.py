"""Test-time evaluation as the papers did it: center crop, 10-crop, multi-scale, dense.

* ``center`` — resize the shorter side to ``Q`` and take the central crop.
* ``10crop`` — AlexNet (Krizhevsky et al. 2012, §4.1): the four corner crops
  and the central crop of a ``Q``-sized image, each with its horizontal
  mirror; the softmax outputs of the ten are averaged.
* ``multiscale`` — VGG (Simonyan & Zisserman 2015, §4.2): the image at several
  scales ``Q`` (the center crop and its mirror at each), class posteriors averaged.
* ``dense`` — VGG §3.2: the fully connected layers are turned into
  convolutions (:func:`cnnzoo.layers.fc_to_conv.convolutionalize`) and the
  whole uncropped ``Q``-sized image goes through; the class score map is
  averaged over positions, and over the mirrored image. Networks that end in
  global average pooling already accept any size and run unchanged.

All functions take a batch ``(N, C, H, W)`` of images *before* normalisation
and a ``normalize`` callable, and return class probabilities ``(N, K)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TTA_MODES", "center_crop", "default_scales", "resize_shorter", "ten_crop", "tta_probabilities"]

TTA_MODES = ("center", "10crop", "multiscale", "dense")


def resize_shorter(x: Tensor, q: int) -> Tensor:
    """Resize so that the shorter side is ``q`` pixels, keeping the aspect ratio (bilinear)."""
    h, w = x.shape[-2:]
    if min(h, w) == q:
        return x
    s = q / min(h, w)
    size = (max(q, round(h * s)), max(q, round(w * s)))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def center_crop(x: Tensor, size: int) -> Tensor:
    """The central ``size × size`` window; a ``ValueError`` if the image is smaller."""
    h, w = x.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"cannot crop {size}×{size} from a {h}×{w} image")
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


def ten_crop(x: Tensor, size: int) -> list[Tensor]:
    """Four corners and the center, then the same five of the mirrored image (AlexNet §4.1)."""
    h, w = x.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"cannot crop {size}×{size} from a {h}×{w} image")
    crops = [
        x[..., :size, :size],
        x[..., :size, w - size :],
        x[..., h - size :, :size],
        x[..., h - size :, w - size :],
        center_crop(x, size),
    ]
    return crops + [c.flip(-1) for c in crops]


def default_scales(mode: str, crop: int) -> list[int]:
    """``Q`` values: the crop size for center/dense, 256/224 of it for 10-crop (AlexNet's
    256 → 224), and VGG's ``{S − 32, S, S + 32}`` scaled to the crop for multi-scale."""
    if mode == "10crop":
        return [round(crop * 256 / 224)]
    if mode == "multiscale":
        return [crop, round(crop * 256 / 224), round(crop * 288 / 224)]
    return [crop]


def _probs(model: nn.Module, x: Tensor) -> Tensor:
    out = model(x)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() == 4:  # a score map from a convolutionalised network
        return out.softmax(1).mean((2, 3))
    return out.softmax(1)


@torch.no_grad()
def tta_probabilities(
    model: nn.Module,
    images: Tensor,
    mode: str,
    crop: int,
    normalize: Callable[[Tensor], Tensor],
    scales: Sequence[int] | None = None,
    dense_model: nn.Module | None = None,
) -> Tensor:
    """Class probabilities ``(N, K)`` for ``images`` under the evaluation ``mode``.

    ``crop`` is the size the model was trained at; ``scales`` the ``Q``
    values (defaults: :func:`default_scales`); ``dense_model`` the
    convolutionalised network for ``mode="dense"`` (``model`` if omitted).
    """
    if mode not in TTA_MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; accepted: {', '.join(TTA_MODES)}")
    scales = list(scales or default_scales(mode, crop))
    if any(q < crop for q in scales):
        raise ValueError(f"every scale must be at least the crop size {crop}; got {scales}")
    total: Tensor | None = None
    views = 0
    for q in scales:
        img = resize_shorter(images, q)
        if mode == "center":
            batch = [center_crop(img, crop)]
        elif mode == "10crop":
            batch = ten_crop(img, crop)
        elif mode == "multiscale":
            c = center_crop(img, crop)
            batch = [c, c.flip(-1)]
        else:
            batch = [img, img.flip(-1)]
        net = dense_model if (mode == "dense" and dense_model is not None) else model
        for v in batch:
            p = _probs(net, normalize(v))
            total = p if total is None else total + p
            views += 1
    assert total is not None
    return total / views
