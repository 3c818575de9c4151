"""Multi-label classification: a 0/1 row of labels per image, one sigmoid per label.

A label is predicted when its sigmoid exceeds ``threshold``. Training score
and ``acc``: the fraction of label decisions that are right (Hamming accuracy,
``1 −`` the Hamming loss of Schapire & Singer 2000, "BoosTexter"). Evaluation: macro
precision, recall and F1 over the labels (and micro F1); ``detailed`` adds the
per-label table and per-label precision–recall curves with average precision.
The score that decides "best" is the macro F1, since the accuracy of sparse
labels is high for a model that predicts none.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchmetrics.classification import MultilabelStatScores

from cnnzoo.train.losses import LOSSES, build_loss
from cnnzoo.train.metrics import precision_recall_f1
from cnnzoo.train.tasks.base import Meter, SumMeter, Task, TaskError, main_output, register_task
from cnnzoo.train.tasks.curves import ScoreCollector, curve_report
from cnnzoo.train.tasks.report import confusion_and_curves, fmt, per_class_rows

__all__ = ["MultilabelTask"]


class DecisionMeter(SumMeter):
    """Running fraction of the label decisions that are right."""

    names = ("right", "seen")

    def __init__(self, device: torch.device, threshold: float) -> None:
        super().__init__(device)
        self.threshold = threshold

    def update(self, outputs: Any, target: Tensor) -> None:
        logits = main_output(outputs).detach()
        right = ((logits.sigmoid() > self.threshold) == (target > 0.5)).float().mean(1).sum()
        self.add(right, target.shape[0])

    def compute(self) -> dict[str, float]:
        t = self.totals()
        return {"acc": t["right"] / max(t["seen"], 1.0)}


class MultilabelMeter(Meter):
    """Hamming accuracy, macro precision/recall/F1; with ``detailed`` per-label tables and AP."""

    def __init__(self, num_labels: int, threshold: float, device: torch.device, detailed: bool) -> None:
        self.detailed = detailed
        self.stats = MultilabelStatScores(num_labels, threshold=threshold, average=None, validate_args=False).to(device)
        if detailed:
            self.scores = ScoreCollector().to(device)

    def update(self, outputs: Any, target: Tensor) -> None:
        probs = main_output(outputs).detach().float().sigmoid()
        truth = (target > 0.5).long()
        self.stats.update(probs, truth)
        if self.detailed:
            self.scores.update(probs, truth)

    def compute(self) -> dict[str, Any]:
        tp, fp, tn, fn, _ = self.stats.compute().cpu().double().unbind(-1)
        prf = precision_recall_f1(tp, fp, fn)
        decisions = float((tp + fp + tn + fn).sum())
        out: dict[str, Any] = {
            "acc": float((tp + tn).sum()) / decisions if decisions else float("nan"),
            "precision": prf["precision_macro"], "recall": prf["recall_macro"], "f1": prf["f1_macro"],
            "f1_micro": prf["f1_micro"],
        }  # fmt: skip
        if not self.detailed:
            return out
        scores, truth = self.scores.compute()
        curves = curve_report(scores, truth, roc=False)
        per_class = prf["per_class"] | {"ap": curves.pop("ap")}  # type: ignore[operator]
        return out | {"per_class": per_class} | curves


@register_task
class MultilabelTask(Task):
    """Several labels per image: sigmoid binary cross-entropy, macro F1."""

    name = "multilabel"
    score_key = "f1"
    score_label = "macro F1"

    def resolve_loss(self, name: str) -> str:
        if name in ("auto", "bce"):
            return "bce"
        known = ", ".join(LOSSES)
        raise TaskError(f"--loss {name!r} does not fit multi-label data (one sigmoid per label); expected bce or auto (known losses: {known})")

    def criterion(self) -> Callable[[Tensor, Tensor], Tensor]:
        return build_loss("bce")

    def train_meter(self, device: torch.device) -> Meter:
        return DecisionMeter(device, self.ctx.threshold)

    def eval_meter(self, device: torch.device, *, detailed: bool = False) -> Meter:
        return MultilabelMeter(self.ctx.num_classes, self.ctx.threshold, device, detailed)

    def write_report(self, result: dict[str, Any], out_dir: Path, *, title: str) -> list[Path]:
        return confusion_and_curves(result, out_dir, title=title, names=self.ctx.class_names)

    def headline(self, result: dict[str, Any]) -> str:
        line = f"macro F1 {result['f1']:.3f} (precision {result['precision']:.3f}, recall {result['recall']:.3f}), label decisions right {result['acc']:.2%}"
        if "ap_macro" in result:
            line += f", mAP {fmt(result['ap_macro'])}"
        return line

    def per_class_table(self, result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
        return per_class_rows(result, self.ctx.class_names, "label", [("precision", "precision"), ("recall", "recall"), ("F1", "f1"), ("AP", "ap")])
