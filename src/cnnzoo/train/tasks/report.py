"""The plots and table cells that the tasks' reports share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnnzoo.train.plots import plot_confusion, plot_pr, plot_roc

__all__ = ["confusion_and_curves", "fmt"]


def fmt(value: float | None, digits: int = 3) -> str:
    """A table cell: ``0.912``, or ``–`` for a value that is undefined (0/0)."""
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def confusion_and_curves(result: dict[str, Any], out_dir: Path, *, title: str, names: Sequence[str]) -> list[Path]:
    """``confusion.png``, ``roc.png`` and ``pr.png`` of a detailed evaluation, for the parts it has."""
    names = result.get("class_names") or list(names)
    written = []
    if "confusion" in result:
        plot_confusion(result["confusion"], names, out_dir / "confusion.png", title=title)
        written.append(out_dir / "confusion.png")
    pc = result.get("per_class", {})
    if "roc" in result and "auc" in pc:
        plot_roc(result["roc"]["fpr"], result["roc"]["tpr"], pc["auc"], names, out_dir / "roc.png", title=title)
        written.append(out_dir / "roc.png")
    if "pr" in result and "ap" in pc:
        plot_pr(result["pr"]["recall"], result["pr"]["precision"], pc["ap"], names, out_dir / "pr.png", title=title)
        written.append(out_dir / "pr.png")
    return written


def per_class_rows(
    result: dict[str, Any], names: Sequence[str], first: str, metrics: Sequence[tuple[str, str]]
) -> tuple[list[str], list[list[str]]]:
    """``(columns, rows)``: one row per class of ``result["per_class"]``, ``metrics`` as (column, key)."""
    pc = result.get("per_class")
    if not pc:
        return [], []
    names = result.get("class_names") or names or [str(i) for i in range(len(pc["support"]))]
    cols = [first, *(c for c, _ in metrics), "images"]
    rows = [[str(n), *(fmt(pc[k][i]) for _, k in metrics), str(pc["support"][i])] for i, n in enumerate(names[: len(pc["support"])])]
    return cols, rows
