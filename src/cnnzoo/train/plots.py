"""Plots of a run and of an evaluation, written atomically as PNGs.

Learning curves (loss and the task's reported metric by epoch), the confusion
matrix (counts and row-normalised side by side), one-vs-rest ROC and
precision–recall curves, and per-class bars. Figures are drawn with
matplotlib's object interface on the Agg canvas: no pyplot, no global figure
state, so plotting from a training process or a thread leaks nothing.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

from cnnzoo.train.checkpoint import atomic_write_bytes

__all__ = ["MAX_CURVES", "plot_confusion", "plot_curves", "plot_per_class", "plot_pr", "plot_roc"]

MAX_CURVES = 10  # beyond this many classes the legend is unreadable: plot the worst ones
MAX_TICKS = 30  # class names on the axes of a confusion matrix up to this many classes
MAX_ANNOTATED = 15  # counts written in the cells up to this many classes


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(path, buf.getvalue())


def _names(class_names: Sequence[str] | None, k: int) -> list[str]:
    return list(class_names) if class_names and len(class_names) == k else [str(i) for i in range(k)]


def plot_curves(rows: list[dict[str, Any]], path: str | os.PathLike[str], *, metric: str = "acc", label: str | None = None) -> None:
    """Loss and ``metric`` by epoch, train against validation/test (``{split}_{metric}`` of each row)."""
    epochs = [r["epoch"] for r in rows]
    fig = _figure(10, 4)
    ax_loss, ax_metric = fig.subplots(1, 2)
    for split in ("train", "val", "test"):
        for ax, key in ((ax_loss, "loss"), (ax_metric, metric)):
            ys = [r.get(f"{split}_{key}") for r in rows]
            if any(isinstance(y, (int, float)) and not math.isnan(y) for y in ys):
                ax.plot(epochs, [math.nan if y is None else y for y in ys], marker="o", ms=3, label=split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    name = label or metric
    ax_metric.set(xlabel="epoch", ylabel=name, title=name)
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    _save(fig, path)


def plot_confusion(cm: Any, class_names: Sequence[str] | None, path: str | os.PathLike[str], *, title: str = "") -> None:
    """The confusion matrix (rows: true class, columns: predicted): counts, and each row as fractions."""
    import numpy as np

    counts = np.asarray(cm, dtype=np.float64)
    k = counts.shape[0]
    rows = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    side = min(10.0, 3 + 0.4 * k)
    fig = _figure(2 * side + 1.5, side + 0.6)
    names = _names(class_names, k)
    for ax, values, what in zip(fig.subplots(1, 2), (counts, rows), ("counts", "fraction of each true class")):
        im = ax.imshow(values, cmap="Blues", vmin=0, vmax=None if values is counts else 1)
        fig.colorbar(im, ax=ax, fraction=0.046)
        if k <= MAX_TICKS:
            ax.set_xticks(range(k), names, rotation=90)
            ax.set_yticks(range(k), names)
        if k <= MAX_ANNOTATED:
            _annotate(ax, counts, values, rows)
        ax.set(xlabel="predicted", ylabel="true", title=what)
    total = counts.sum()
    acc = np.trace(counts) / total if total else math.nan
    fig.suptitle(f"{title}: accuracy {acc:.2%}" if title else f"accuracy {acc:.2%}")
    _save(fig, path)


def _annotate(ax: Any, counts: Any, values: Any, rows: Any) -> None:
    k = counts.shape[0]
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                text = f"{int(counts[i, j])}" if values is counts else f"{rows[i, j]:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if rows[i, j] > 0.5 else "black")


def _worst(scores: Sequence[float | None], limit: int) -> list[int]:
    """Indices of the classes with a curve, lowest score first, at most ``limit``."""
    have = [i for i, s in enumerate(scores) if s is not None]
    return sorted(have, key=lambda i: scores[i])[:limit]  # type: ignore[arg-type, return-value]


def _curves(xs, ys, scores, class_names, path, *, title, kind, what, axes, diagonal, max_classes) -> None:
    k = len(scores)
    names = _names(class_names, k)
    chosen = _worst(scores, max_classes)
    fig = _figure(6.5, 5.5)
    ax = fig.subplots()
    for i in chosen:
        ax.plot(xs[i], ys[i], lw=1.2, label=f"{names[i]} ({what} {scores[i]:.3f})")
    if diagonal:
        ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
    ax.set(xlabel=axes[0], ylabel=axes[1], xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    present = [s for s in scores if s is not None]
    macro = f"macro {what} {sum(present) / len(present):.3f}" if present else f"no class has a {what}"
    shown = f", the {len(chosen)} of {len(present)} classes with the lowest {what}" if len(present) > len(chosen) else ""
    if chosen:
        ax.legend(fontsize=7, loc="lower right" if diagonal else "lower left")
    ax.set_title(f"{title}\n{kind}: {macro}{shown}" if title else f"{kind}: {macro}{shown}", fontsize=9)
    _save(fig, path)


def plot_roc(fpr: Sequence[Sequence[float]], tpr: Sequence[Sequence[float]], auc: Sequence[float | None],
             class_names: Sequence[str] | None, path: str | os.PathLike[str], *, title: str = "",
             max_classes: int = MAX_CURVES) -> None:  # fmt: skip
    """One-vs-rest ROC curves with each class's AUC in the legend (the ``max_classes`` lowest)."""
    _curves(fpr, tpr, auc, class_names, path, title=title, kind="one-vs-rest ROC", what="AUC", axes=("false positive rate", "true positive rate"),
            diagonal=True, max_classes=max_classes)  # fmt: skip


def plot_pr(recall: Sequence[Sequence[float]], precision: Sequence[Sequence[float]], ap: Sequence[float | None],
            class_names: Sequence[str] | None, path: str | os.PathLike[str], *, title: str = "",
            max_classes: int = MAX_CURVES) -> None:  # fmt: skip
    """Precision–recall curves with each class's average precision in the legend (the ``max_classes`` lowest)."""
    _curves(recall, precision, ap, class_names, path, title=title, kind="precision–recall", what="AP", axes=("recall", "precision"),
            diagonal=False, max_classes=max_classes)  # fmt: skip


def plot_per_class(values: Sequence[float | None], class_names: Sequence[str] | None, path: str | os.PathLike[str],
                   *, title: str = "", ylabel: str = "") -> None:  # fmt: skip
    """One bar per class (a class without a value gets none)."""
    k = len(values)
    names = _names(class_names, k)
    fig = _figure(min(14.0, 2 + 0.35 * k), 4)
    ax = fig.subplots()
    ax.bar(range(k), [math.nan if v is None else v for v in values], color="tab:blue")
    if k <= 60:
        ax.set_xticks(range(k), names, rotation=90 if k > 10 else 0)
    ax.set(ylabel=ylabel, ylim=(0, 1), title=title)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
