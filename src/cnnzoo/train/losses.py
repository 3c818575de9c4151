"""Losses by name, and the L1 penalty.

==============  ===============================================================
cross_entropy   softmax cross-entropy; with ``label_smoothing`` ε the target is
                ``q = (1 − ε)·onehot + ε/K`` (Szegedy et al. 2016, Inception v3 §7)
hinge           multi-class hinge ``Σ_{j≠y} max(0, 1 − s_y + s_j) / K``
                (Crammer–Singer margin, summed as in ``nn.MultiMarginLoss``)
focal           ``−(1 − p_y)^γ log p_y`` with γ = 2 (Lin et al. 2017)
bce             sigmoid binary cross-entropy per label, for multi-label targets
unet_weighted   segmentation only: per-pixel cross-entropy weighted by U-Net's
                weight map (Ronneberger et al. 2015, arXiv:1505.04597, eq. 1–2;
                w₀ = 10, σ = 5), computed per batch from the label maps by
                :class:`cnnzoo.train.tasks.segmentation.SegmentationTask`
==============  ===============================================================

Auxiliary classifiers (GoogLeNet §5, Inception v3) add their loss with weight
0.3; the loop does that, since it sees the model's tuple of outputs.
L2 regularisation is the optimizer's ``weight_decay``; :func:`l1_penalty` adds
``λ Σ |w|`` over the weights (not biases or normalisation parameters).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LOSSES", "PIXEL_LOSSES", "build_loss", "focal_loss", "l1_penalty", "multiclass_hinge", "smoothed_targets"]

LOSSES = ("cross_entropy", "hinge", "focal", "bce", "unet_weighted")
PIXEL_LOSSES = ("unet_weighted",)  # need a label map per image: only the segmentation task builds them


def smoothed_targets(target: Tensor, num_classes: int, eps: float) -> Tensor:
    """``q = (1 − ε)·onehot(y) + ε/K`` (Inception v3 §7)."""
    return (1 - eps) * F.one_hot(target, num_classes).float() + eps / num_classes


def multiclass_hinge(logits: Tensor, target: Tensor, margin: float = 1.0) -> Tensor:
    """Mean over samples of ``Σ_{j≠y} max(0, margin − s_y + s_j) / K``."""
    s_y = logits.gather(1, target[:, None])
    m = (margin - s_y + logits).clamp_min(0)
    m = m.scatter(1, target[:, None], 0.0)
    return m.sum(1).div(logits.shape[1]).mean()


def focal_loss(logits: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Mean of ``−(1 − p_y)^γ log p_y`` (Lin et al. 2017, eq. 4 without α)."""
    logp = F.log_softmax(logits.float(), 1).gather(1, target[:, None]).squeeze(1)
    return (-(1 - logp.exp()).pow(gamma) * logp).mean()


def build_loss(name: str, *, label_smoothing: float = 0.0) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss(logits, target)`` for classification (class indices) or multi-label (multi-hot) targets."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; accepted: {', '.join(LOSSES)}")
    if name in PIXEL_LOSSES:
        raise ValueError(f"loss {name!r} weighs the pixels of a label map; it needs segmentation data (e.g. --data digits-seg)")
    if name == "cross_entropy":
        return lambda z, y: F.cross_entropy(z, y, label_smoothing=label_smoothing)
    if name == "hinge":
        return multiclass_hinge
    if name == "focal":
        return focal_loss
    return lambda z, y: F.binary_cross_entropy_with_logits(z, y.to(z.dtype))


def l1_penalty(model: nn.Module) -> Tensor:
    """``Σ |w|`` over weight tensors of convolutions and linear layers (dim > 1)."""
    terms = [p.abs().sum() for p in model.parameters() if p.requires_grad and p.dim() > 1]
    return torch.stack(terms).sum() if terms else torch.zeros(())
