"""Metric formulas on counts: precision/recall/F1, the FCN scores of a confusion matrix, curve thinning.

The task plug-ins (:mod:`cnnzoo.train.tasks`) accumulate counts over batches
with torchmetrics (which also sums them across processes); the functions here
turn counts into the reported numbers, with plain floats and lists out, and a
0/0 ratio reported as ``None`` (JSON ``null``) rather than NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["fcn_scores", "mean_present", "precision_recall_f1", "ratio_list", "thin_curve"]


def ratio_list(num: Tensor, den: Tensor) -> list[float | None]:
    """``num / den`` elementwise as floats, ``None`` where ``den`` is 0."""
    return [float(n) / float(d) if d else None for n, d in zip(num.tolist(), den.tolist())]


def mean_present(values: Sequence[float | None]) -> float:
    """The mean of the values that are not ``None`` (NaN if there are none)."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else math.nan


def fcn_scores(cm: Tensor) -> dict[str, object]:
    """The four metrics of Long, Shelhamer & Darrell 2015 (FCN, arXiv:1411.4038, §5), and Dice.

    With ``n_ij`` the pixels of class ``i`` predicted as ``j`` and ``t_i = Σ_j n_ij``:

    * pixel accuracy ``Σ_i n_ii / Σ_i t_i``
    * mean accuracy ``(1/n_cl) Σ_i n_ii / t_i``
    * mean IU ``(1/n_cl) Σ_i n_ii / (t_i + Σ_j n_ji − n_ii)``
    * frequency-weighted IU ``(Σ_k t_k)^−1 Σ_i t_i n_ii / (t_i + Σ_j n_ji − n_ii)``

    As in the paper's own scoring code (``np.nanmean``), a class whose ratio is
    0/0 (no pixel of it, and for IU none predicted either) is left out of the
    means; its per-class entry is ``None``. Dice (Dice 1945) is ``2 n_ii / (t_i + Σ_j n_ji)``.
    """
    cm = cm.double().cpu()
    tp, truth, predicted = cm.diagonal(), cm.sum(1), cm.sum(0)
    union = truth + predicted - tp
    acc, iou, dice = ratio_list(tp, truth), ratio_list(tp, union), ratio_list(2 * tp, truth + predicted)
    total = float(truth.sum())
    fw = sum(float(t) * v for t, v in zip(truth.tolist(), iou) if v is not None) / total if total else math.nan
    return {
        "acc": float(tp.sum()) / total if total else math.nan,
        "mean_acc": mean_present(acc),
        "miou": mean_present(iou),
        "fwiou": fw,
        "mean_dice": mean_present(dice),
        "per_class": {"acc": acc, "iou": iou, "dice": dice, "pixels": [int(v) for v in truth.tolist()]},
    }


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def precision_recall_f1(tp: Tensor, fp: Tensor, fn: Tensor) -> dict[str, object]:
    """Per-class precision, recall and F1 from counts, with their macro and micro averages.

    A class with nothing predicted has precision 0, one with no sample recall 0
    (scikit-learn's ``zero_division=0``); the macro average is the plain mean
    over all classes, the micro average pools the counts first.
    """
    tp, fp, fn = tp.double().cpu(), fp.double().cpu(), fn.double().cpu()
    precision = [float(a / b) if b else 0.0 for a, b in zip(tp, tp + fp)]
    recall = [float(a / b) if b else 0.0 for a, b in zip(tp, tp + fn)]
    f1 = [_f1(p, r) for p, r in zip(precision, recall)]
    k = max(len(f1), 1)
    sp, sr = float(tp.sum() + fp.sum()), float(tp.sum() + fn.sum())
    micro_p = float(tp.sum()) / sp if sp else 0.0
    micro_r = float(tp.sum()) / sr if sr else 0.0
    return {
        "precision_macro": sum(precision) / k, "recall_macro": sum(recall) / k, "f1_macro": sum(f1) / k,
        "precision_micro": micro_p, "recall_micro": micro_r, "f1_micro": _f1(micro_p, micro_r),
        "per_class": {"precision": precision, "recall": recall, "f1": f1, "support": [int(v) for v in (tp + fn).tolist()]},
    }  # fmt: skip


def thin_curve(x: Tensor, y: Tensor, max_points: int = 201) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points of a curve, evenly spaced by index, first and last kept.

    An exact ROC or precision–recall curve has a point per distinct score; for
    the report and its plot a couple of hundred are indistinguishable.
    """
    n = len(x)
    if n > max_points:
        idx = torch.linspace(0, n - 1, max_points).round().long().unique()
        x, y = x[idx], y[idx]
    return [float(v) for v in x.tolist()], [float(v) for v in y.tolist()]
