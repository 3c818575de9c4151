"""One-vs-rest ROC and precision–recall curves, with AUC and average precision per class.

Scores are collected over the evaluation (a torchmetrics state, so under DDP
every process's scores are gathered before the curves are drawn) and each
class is scored as a binary problem: its column of scores against "is this
class" (one-vs-rest for single-label data, each label on its own for
multi-label data). One sort per class gives both curves, exact (a point per
distinct score). ``AUC`` is the trapezoidal area under the ROC curve and
``AP`` the un-interpolated step sum ``Σ_n (R_n − R_{n−1}) P_n`` over the
thresholds (as scikit-learn's ``average_precision_score``), both from the
exact curves; only the copies in the report are thinned to a couple of
hundred points. (torchmetrics' functional curves sort twice per class and
took 2–4× as long for 1,000 classes.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from cnnzoo.train.metrics import mean_present, thin_curve

__all__ = ["ScoreCollector", "curve_report"]


class ScoreCollector(Metric):
    """Keeps every ``(scores, target)`` batch; ``compute()`` returns them concatenated."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, scores: Tensor, target: Tensor) -> None:
        self.scores.append(scores.detach().float())
        self.target.append(target.detach())

    def compute(self) -> tuple[Tensor, Tensor]:
        return dim_zero_cat(self.scores), dim_zero_cat(self.target)


def _counts(scores: Tensor, truth: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Cumulative true and false positives along each row ``(k, N)``, highest score first; ``last``
    marks the last of each run of tied scores, where a threshold between distinct scores falls."""
    s, order = scores.sort(dim=1, descending=True)
    t = truth.gather(1, order).double()
    last = torch.ones_like(s, dtype=torch.bool)
    last[:, :-1] = s[:, 1:] != s[:, :-1]
    return t.cumsum(1), (1 - t).cumsum(1), last


def _class_curves(tp: Tensor, fp: Tensor) -> dict[str, Any]:
    """ROC and precision–recall of one class from its counts at each distinct threshold."""
    pos, neg = float(tp[-1]), float(fp[-1])
    out: dict[str, Any] = {"auc": None, "ap": None, "fpr": [], "tpr": [], "recall": [], "precision": []}
    zero = tp.new_zeros(1)
    if pos and neg:
        fpr, tpr = torch.cat([zero, fp / neg]), torch.cat([zero, tp / pos])
        out["auc"] = float(torch.trapezoid(tpr, fpr))
        out["fpr"], out["tpr"] = thin_curve(fpr, tpr)
    if pos:
        full = int(torch.searchsorted(tp, tp[-1]))  # past full recall the curve adds nothing
        precision, recall = (tp / (tp + fp))[: full + 1], (tp / pos)[: full + 1]
        # Recall rises along the curve: AP = Σ (R_n − R_{n−1}) P_n with R_0 = 0.
        out["ap"] = float((torch.diff(recall, prepend=zero) * precision).sum())
        out["recall"], out["precision"] = thin_curve(torch.cat([zero, recall]), torch.cat([zero + 1, precision]))
    return out


def curve_report(scores: Tensor, truth: Tensor, *, roc: bool = True, chunk: int = 32) -> dict[str, Any]:
    """Per-class AUC and AP, their macro means, and thinned curves.

    ``scores`` ``(N, K)`` probabilities; ``truth`` ``(N, K)`` 0/1. A class with
    no positive (or, for ROC, no negative) sample has no value: ``None``.
    Classes are sorted ``chunk`` columns at a time to bound the memory.
    """
    # One row per class, contiguous, so that each sort reads memory in order; the sorts run on the
    # scores' device (fast on a GPU), the per-class bookkeeping on the CPU.
    scores, truth = scores.double().T.contiguous(), (truth > 0.5).T.contiguous()
    per: list[dict[str, Any]] = []
    for lo in range(0, scores.shape[0], chunk):
        tps, fps, last = (c.cpu() for c in _counts(scores[lo : lo + chunk], truth[lo : lo + chunk]))
        per += [_class_curves(tp[m], fp[m]) for tp, fp, m in zip(tps, fps, last)]
    aps = [c["ap"] for c in per]
    out: dict[str, Any] = {"ap": aps, "ap_macro": mean_present(aps), "pr": {k: [c[k] for c in per] for k in ("recall", "precision")}}
    if roc:
        aucs = [c["auc"] for c in per]
        out |= {"auc": aucs, "auc_macro": mean_present(aucs), "roc": {k: [c[k] for c in per] for k in ("fpr", "tpr")}}
    return out
