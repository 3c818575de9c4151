"""Metrics: top-k accuracy, confusion matrix, mean intersection over union."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["confusion_matrix", "mean_iou", "per_class_accuracy", "topk_correct"]


def topk_correct(logits: Tensor, target: Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """Number of samples whose target is among the ``k`` highest logits, for each ``k``.

    ``k`` larger than the number of classes counts every sample as correct.
    """
    maxk = min(max(ks), logits.shape[1])
    top = logits.topk(maxk, dim=1).indices  # N x maxk
    hit = top.eq(target[:, None])
    return {k: int(hit[:, : min(k, maxk)].any(dim=1).sum()) for k in ks}


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """``cm[i, j]`` = number of elements of true class ``i`` predicted as ``j`` (int64).

    Works for labels of any shape (per image or per pixel); elements whose
    target equals ``ignore_index`` are left out.
    """
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    keep = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        keep &= target != ignore_index
    idx = target[keep] * num_classes + pred[keep]
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(cm: Tensor) -> Tensor:
    """Recall of each class, ``cm[i, i] / Σ_j cm[i, j]`` (NaN for a class with no sample)."""
    cm = cm.double()
    return cm.diagonal() / cm.sum(1)


def mean_iou(cm: Tensor) -> float:
    """Mean over classes present (in target or prediction) of ``TP / (TP + FP + FN)`` (Long et al. 2015)."""
    cm = cm.double()
    tp = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - tp
    present = union > 0
    return float((tp[present] / union[present]).mean()) if present.any() else float("nan")
