"""Test-time evaluation as the papers did it: center crop, 10-crop, multi-scale, dense.

* ``center`` — resize the shorter side to ``Q`` and take the central crop.
* ``10crop`` — AlexNet (Krizhevsky et al. 2012, §4.1): the four corner crops
  and the central crop of a ``Q``-sized image, each with its horizontal
  mirror; the softmax outputs of the ten are averaged.
* ``multiscale`` — VGG (Simonyan & Zisserman 2015, §4.2): the image at several
  scales ``Q`` (the center crop and its mirror at each), class posteriors averaged.
* ``dense`` — VGG §3.2: the fully connected layers are applied convolutionally
  and the whole uncropped ``Q``-sized image goes through; the class score map
  is averaged over positions, and over the mirrored image.
  :func:`dense_model` does this through the model interface: the head
  (``forward_head``) is slid over every window of the last feature map
  (``forward_features``) that has the size it saw in training, which is
  what converting the FC layers to convolutions computes
  (:func:`cnnzoo.layers.fc_to_conv.convolutionalize`). A head that pools
  globally already takes a feature map of any size and runs on the whole map.

All functions take a batch ``(N, C, H, W)`` of images *before* normalisation
and a ``normalize`` callable, and return class probabilities ``(N, K)``;
:class:`TTAClassifier` wraps them as a model for :func:`cnnzoo.train.evaluation.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from cnnzoo.layers.upsample import resize_to

__all__ = [
    "TTA_MODES",
    "DenseClassifier",
    "TTAClassifier",
    "center_crop",
    "default_scales",
    "dense_model",
    "resize_shorter",
    "ten_crop",
    "tta_probabilities",
]

TTA_MODES = ("center", "10crop", "multiscale", "dense")
WINDOWS_PER_CALL = 1024  # feature-map windows sent through the head at once (bounds the memory)


def resize_shorter(x: Tensor, q: int) -> Tensor:
    """Resize so that the shorter side is ``q`` pixels, keeping the aspect ratio (bilinear)."""
    h, w = x.shape[-2:]
    if min(h, w) == q:
        return x
    s = q / min(h, w)
    return resize_to(x, (max(q, round(h * s)), max(q, round(w * s))))


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


class TTAClassifier(nn.Module):
    """A classifier whose output is the log of its test-time-averaged class probabilities.

    Takes images before normalisation; ``softmax`` of the output gives back the
    averaged probabilities, so accuracy, cross-entropy and the ROC curves of
    :func:`cnnzoo.train.evaluation.evaluate` apply unchanged.
    """

    def __init__(
        self,
        model: nn.Module,
        mode: str,
        crop: int,
        normalize: Callable[[Tensor], Tensor],
        scales: Sequence[int] | None = None,
        dense: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.model, self.dense = model, dense
        self.mode, self.crop, self.normalize, self.scales = mode, crop, normalize, scales

    def forward(self, images: Tensor) -> Tensor:
        p = tta_probabilities(self.model, images, self.mode, self.crop, self.normalize, self.scales, self.dense)
        return p.clamp_min(1e-30).log()


class DenseClassifier(nn.Module):
    """The head slid over every ``window``-sized patch of the last feature map: a class score map.

    ``window=None``: the head pools globally and runs once on the whole map.
    """

    def __init__(self, model: nn.Module, window: tuple[int, int] | None) -> None:
        super().__init__()
        self.model, self.window = model, window

    def forward(self, x: Tensor) -> Tensor:
        f = self.model.forward_features(x)
        if self.window is None:
            return self.model.forward_head(f)
        (kh, kw), (n, c, h, w) = self.window, f.shape
        if h < kh or w < kw:
            raise ValueError(f"dense evaluation: a {x.shape[-2]}×{x.shape[-1]} image gives a {h}×{w} feature map; the head reads {kh}×{kw} windows")
        win = f.unfold(2, kh, 1).unfold(3, kw, 1)  # N, C, H', W', kh, kw
        ph, pw = win.shape[2:4]
        win = win.permute(0, 2, 3, 1, 4, 5).reshape(n * ph * pw, c, kh, kw)
        scores = torch.cat([self.model.forward_head(part) for part in win.split(WINDOWS_PER_CALL)])
        return scores.reshape(n, ph, pw, -1).permute(0, 3, 1, 2)


def _pools_globally(model: nn.Module, f: Tensor) -> bool:
    """Does the head give the same scores for a feature map and the map tiled 2 × 2?

    Only a head that pools over all positions (global average or max) does; a
    fully connected head on a fixed window does not (or refuses the larger map).
    """
    g = torch.rand_like(f)
    try:
        a, b = model.forward_head(g), model.forward_head(g.repeat(1, 1, 2, 2))
    except (RuntimeError, ValueError):
        return False
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


@torch.no_grad()
def dense_model(model: nn.Module, crop: int, in_chans: int) -> nn.Module:
    """The network for ``mode="dense"``: :class:`DenseClassifier` over the model interface.

    ``crop`` is the training input size, which fixes the window the head reads.
    A model without ``forward_features``/``forward_head`` runs unchanged on the
    whole image (fine for networks that end in global pooling).
    """
    p = next(model.parameters(), None)
    probe = torch.zeros(1, in_chans, crop, crop, device=p.device if p is not None else None)
    try:
        f = model.forward_features(probe)
    except (AttributeError, NotImplementedError):
        return model
    window = None if _pools_globally(model, f) else (int(f.shape[-2]), int(f.shape[-1]))
    return DenseClassifier(model, window).eval()
