"""The chart of ``cnnzoo compare --plot``: MACs against parameters, point area = activation memory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cnnzoo.analysis.report import AnalysisReport

__all__ = ["plot_compare"]


def plot_compare(reports: Sequence[AnalysisReport], path: str | Path) -> Path:
    """Write a labelled scatter plot of the reports to ``path`` (PNG, SVG or PDF by suffix)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    memory = [r.training_bytes / 2**20 for r in reports]
    largest = max(memory) if memory and max(memory) > 0 else 1.0
    for r, mib in zip(reports, memory, strict=True):
        x, y = r.params / 1e6, r.macs / 1e9
        ax.scatter(x, y, s=30 + 1500 * mib / largest, alpha=0.5)
        ax.annotate(
            f"{r.model}\n{mib:.0f} MiB",
            (x, y),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("MACs (billions, conv + linear)")
    ax.set_title("MACs vs parameters (area: activations kept for training)", fontsize=10)
    ax.margins(0.15)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
