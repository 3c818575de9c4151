"""The run directory: ``config.json``, ``metrics.jsonl``, ``metrics.csv``, ``curves.png``, ``confusion.png``.

One row per epoch: ``epoch, train_loss, train_acc, test_loss, test_acc`` (or
``val_*``), ``lr``, ``images_per_s``, ``seconds`` and whatever else the loop
measures; accuracies are fractions in [0, 1]. ``metrics.jsonl`` is appended to,
one JSON object per line, so a crash loses at most the epoch in progress;
``metrics.csv`` and ``curves.png`` are rewritten from it after every epoch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from cnnzoo.train.checkpoint import atomic_write_bytes

__all__ = ["RunLogger", "plot_confusion", "plot_curves", "prepare_run_dir"]


def prepare_run_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` and check that it is writable; a ``ValueError`` that says why if not."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"cannot write the run directory {path}: {e.strerror or e}") from None
    return path


class RunLogger:
    """Writes a run directory's metrics and plots.

    With ``resume=True`` the rows already in ``metrics.jsonl`` are kept (rows
    from epochs at or after ``resume_epoch`` are dropped: they belong to work
    the checkpoint does not hold).
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, resume: bool = False, resume_epoch: int | None = None) -> None:
        self.dir = prepare_run_dir(out_dir)
        self.rows: list[dict[str, Any]] = []
        jsonl = self.dir / "metrics.jsonl"
        if resume and jsonl.exists():
            for line in jsonl.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    if resume_epoch is None or row.get("epoch", 0) <= resume_epoch:
                        self.rows.append(row)
            self._rewrite_jsonl()
        elif jsonl.exists():
            jsonl.unlink()

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_bytes(self.dir / "config.json", (json.dumps(config, indent=2, default=str) + "\n").encode())

    def log_epoch(self, row: dict[str, Any], plot: bool = True) -> None:
        """Append one epoch's row and refresh ``metrics.csv`` (and ``curves.png`` if ``plot``)."""
        self.rows.append(dict(row))
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._write_csv()
        if plot:
            plot_curves(self.rows, self.dir / "curves.png")

    def _rewrite_jsonl(self) -> None:
        data = "".join(json.dumps(r) + "\n" for r in self.rows).encode()
        atomic_write_bytes(self.dir / "metrics.jsonl", data)

    def _write_csv(self) -> None:
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(self.rows)
        atomic_write_bytes(self.dir / "metrics.csv", buf.getvalue().encode())


def plot_curves(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Loss and accuracy by epoch, train against test/validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "val", "test"):
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            ys = [r.get(f"{split}_{metric}") for r in rows]
            if any(y is not None and not (isinstance(y, float) and math.isnan(y)) for y in ys):
                ax.plot(epochs, [math.nan if y is None else y for y in ys], marker="o", ms=3, label=split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_confusion(cm: Any, class_names: list[str], path: str | os.PathLike[str]) -> None:
    """The confusion matrix (rows: true class, columns: predicted), each row as fractions, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(cm, dtype=np.float64)
    k = counts.shape[0]
    rows = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    side = min(12.0, 3 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(side, side))
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    names = class_names if class_names and len(class_names) == k else [str(i) for i in range(k)]
    if k <= 30:  # beyond that the labels would overlap
        ax.set_xticks(range(k), names, rotation=90)
        ax.set_yticks(range(k), names)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if counts[i, j]:
                        ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=8, color="white" if rows[i, j] > 0.5 else "black")
    total = counts.sum()
    acc = np.trace(counts) / total if total else float("nan")
    ax.set(xlabel="predicted", ylabel="true", title=f"test confusion matrix (accuracy {acc:.2%})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
