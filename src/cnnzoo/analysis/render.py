"""Reports as a rich table, Markdown (the textbook AlexNet table's layout), JSON or CSV.

``depth`` folds nested modules: a row at depth ``N`` stands for everything
inside it (its MACs, other ops and parameters include its children), and
deeper rows are not shown. ``depth=None`` shows every row that does work:
leaf modules and the functions containers call (``add``, ``cat``…).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.table import Table

from cnnzoo.analysis.report import AnalysisReport, LayerReport, ReceptiveField

__all__ = [
    "compare_chart",
    "format_count",
    "format_shape",
    "render_csv",
    "render_json",
    "render_markdown",
    "render_table",
    "select_rows",
]


def select_rows(report: AnalysisReport, depth: int | None = None) -> list[LayerReport]:
    """Rows to show at ``depth``: leaves above it and every row at exactly ``depth``."""
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be a positive integer; got {depth}")
    rows = []
    for r in report.layers:
        if depth is None:
            if r.kind != "container":
                rows.append(r)
        elif r.depth == depth or (r.depth < depth and r.kind != "container"):
            rows.append(r)
    return rows


def format_shape(shape: Sequence[int] | None, batch: bool = False) -> str:
    """``(1, 96, 55, 55)`` → ``"96@55x55"``; ``(1, 4096)`` → ``"4096"`` (batch dropped)."""
    if shape is None:
        return "-"
    dims = list(shape) if batch else list(shape[1:])
    if len(dims) >= 2:
        return f"{dims[0]}@{'x'.join(map(str, dims[1:]))}"
    return "x".join(map(str, dims)) or "scalar"


def format_count(n: float, unit: str = "") -> str:
    """``3_857_973_248`` → ``"3.86G"``."""
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return (
                f"{n / scale:.3g}{suffix}{unit}"
                if n / scale >= 100
                else f"{n / scale:.2f}{suffix}{unit}"
            )
    return f"{int(n)}{unit}" if float(n).is_integer() else f"{n:.2f}{unit}"


def format_bytes(n: int) -> str:
    for suffix, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f}{suffix}"
    return f"{n}B"


def _same(values: Sequence[float]) -> str:
    # "35" for a square field, "35x17" otherwise.
    parts = [str(int(v)) if float(v).is_integer() else f"{v:.2f}" for v in values]
    return parts[0] if len(set(parts)) == 1 else "x".join(parts)


def _rf(rf: ReceptiveField | None) -> str:
    if rf is None:
        return "-"
    return f"{_same(rf.size)} /{_same(rf.stride)}"


def _pair(v: Sequence[int] | None) -> str:
    if not v:
        return "-"
    return "x".join(map(str, v))


def _stride(v: Sequence[int] | None) -> str:
    if not v:
        return "-"
    return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))


def render_table(report: AnalysisReport, depth: int | None = None) -> Table:
    """A rich table: one row per layer, totals in the caption."""
    table = Table(
        title=f"{report.model} — input {'x'.join(map(str, report.input_size))}, batch {report.batch_size}",
        header_style="bold",
        caption=_caption(report),
        caption_justify="left",
    )
    for col, justify in (
        ("layer", "left"),
        ("type", "left"),
        ("output", "right"),
        ("params", "right"),
        ("MACs", "right"),
        ("other ops", "right"),
        ("RF /jump", "right"),
        ("memory", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=col != "type")  # type: ignore[arg-type]
    for r in select_rows(report, depth):
        flag = ""
        if r.unknown_ops:
            flag = f" [yellow](unknown: {', '.join(r.unknown_ops)})[/]"
        if r.fallback_ops:
            flag += f" [magenta](cpu: {', '.join(r.fallback_ops)})[/]"
        table.add_row(
            "  " * max(r.depth - 1, 0) + r.name,
            r.type + flag,
            format_shape(r.output_shape),
            format_count(r.params) if r.params else "",
            format_count(r.macs) if r.macs else "",
            format_count(r.other_ops) if r.other_ops else "",
            _rf(r.receptive_field),
            format_bytes(r.activation_bytes),
        )
    return table


def _caption(report: AnalysisReport) -> str:
    lines = [
        f"params {report.params:,} (trainable {report.trainable_params:,})   "
        f"MACs {report.macs:,} ({format_count(report.macs)}; FLOPs = 2 x MACs)   "
        f"other ops {report.other_ops:,}",
        f"activations: forward {format_bytes(report.activation_bytes)}, "
        f"kept for training {format_bytes(report.training_bytes)}   "
        f"output receptive field {_rf(report.receptive_field)}",
    ]
    lines += [f"note: {w}" for w in report.warnings]
    return "\n".join(lines)


def render_markdown(report: AnalysisReport, depth: int | None = None) -> str:
    """The textbook AlexNet table's layout.

    Columns: layer, kernel, count, stride, input, output, weights, biases, parameters.
    """
    head = [
        "layer",
        "type",
        "kernel",
        "count",
        "stride",
        "input",
        "output",
        "weights",
        "biases",
        "parameters",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    c_in = report.input_size
    lines.append(
        f"| input | - | - | - | - | - | {format_shape((report.batch_size, *c_in))} | 0 | 0 | 0 |"
    )
    for r in select_rows(report, depth):
        lines.append(
            "| "
            + " | ".join(
                [
                    r.name,
                    r.type,
                    _pair(r.kernel),
                    str(r.count) if r.count is not None else "-",
                    _stride(r.stride),
                    format_shape(r.input_shape),
                    format_shape(r.output_shape),
                    f"{r.weights:,}",
                    f"{r.biases:,}",
                    f"{r.params:,}",
                ]
            )
            + " |"
        )
    weights, biases = sum(r.weights for r in report.leaves), sum(r.biases for r in report.leaves)
    lines.append(f"| total | | | | | | | {weights:,} | {biases:,} | {report.params:,} |")
    lines.append("")
    lines.append(
        f"MACs {report.macs:,} ({format_count(report.macs)}), other ops {report.other_ops:,}, "
        f"forward activations {format_bytes(report.activation_bytes)}, "
        f"kept for training {format_bytes(report.training_bytes)}."
    )
    for w in report.warnings:
        lines.append(f"Note: {w}")
    return "\n".join(lines) + "\n"


def render_json(report: AnalysisReport) -> str:
    """One JSON object in the schema of ``docs/analysis.md`` (plus ``other_ops``, memory and notes)."""
    return json.dumps(report.to_dict(), indent=2)


_CSV_FIELDS = [
    "name", "type", "kind", "depth", "output_shape", "params", "trainable_params",
    "weights", "biases", "macs", "other_ops", "activation_bytes", "rf_size", "rf_stride",
    "rf_start", "kernel", "stride", "unknown_ops",
]  # fmt: skip


def render_csv(report: AnalysisReport, depth: int | None = None) -> str:
    """One line per row; shapes and pairs as ``1x96x55x55``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_CSV_FIELDS)

    def x(v: Sequence[float] | None) -> str:
        if v is None:
            return ""
        return "x".join(str(int(i)) if float(i).is_integer() else f"{i:g}" for i in v)

    for r in select_rows(report, depth):
        rf = r.receptive_field
        writer.writerow(
            [
                r.name, r.type, r.kind, r.depth, x(r.output_shape), r.params,
                r.trainable_params, r.weights, r.biases, r.macs, r.other_ops,
                r.activation_bytes, x(rf.size if rf else None), x(rf.stride if rf else None),
                x(rf.start if rf else None), x(r.kernel), x(r.stride), " ".join(r.unknown_ops),
            ]
        )  # fmt: skip
    writer.writerow(_csv_totals(report, x))
    return buf.getvalue()


def _csv_totals(report: AnalysisReport, x: Callable[[Sequence[float] | None], str]) -> list[object]:
    """The last CSV line: the whole model, whatever ``depth`` folded (as the Markdown ``total`` row)."""
    leaves = report.leaves
    rf = report.receptive_field
    return [
        "total", report.model, "total", 0, x(report.output_shapes[0] if report.output_shapes else None),
        report.params, report.trainable_params, sum(r.weights for r in leaves), sum(r.biases for r in leaves),
        report.macs, report.other_ops, report.activation_bytes, x(rf.size if rf else None),
        x(rf.stride if rf else None), x(rf.start if rf else None), "", "",
        " ".join(sorted({op for r in leaves for op in r.unknown_ops})),
    ]  # fmt: skip


def compare_chart(reports: Sequence[AnalysisReport], path: str | Path) -> Path:
    """``cnnzoo compare --plot``: MACs against parameters on log axes, point area = training activations.

    Log axes because the zoo spans four orders of magnitude (LeNet-5 to VGG).
    Each point carries a number and the key beside the axes names it: model
    names next to the points pile into one clump once a dozen models crowd the
    same decade, numbers of one or two characters stay readable with 20 or more.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    path = Path(path)
    memory = [r.training_bytes / 2**20 for r in reports]
    largest = max(memory) if memory and max(memory) > 0 else 1.0
    xs, ys = [max(r.params, 1) / 1e6 for r in reports], [max(r.macs, 1) / 1e9 for r in reports]
    fig, ax = plt.subplots(figsize=(10, 6), dpi=120)
    ax.scatter(xs, ys, s=[20 + 800 * m / largest for m in memory], alpha=0.4, c=[i % 20 for i in range(len(reports))], cmap="tab20", vmin=0, vmax=19)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True), 1):
        ax.annotate(str(i), (x, y), ha="center", va="center", fontsize=7, fontweight="bold")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(0.15)
    ax.set_xlabel("parameters (millions, log scale)")
    ax.set_ylabel("MACs per image (billions, conv + linear, log scale)")
    ax.set_title("MACs vs parameters (area: activations kept for training)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    key = [f"{i:>2}  {r.model}  {format_count(r.params)} params, {format_count(r.macs)} MACs, {m:.0f} MiB"
           for i, (r, m) in enumerate(zip(reports, memory, strict=True), 1)]
    # Two columns of key past 30 models, so the key never runs off the figure.
    half = (len(key) + 1) // 2 if len(key) > 30 else len(key)
    for col, chunk in enumerate((key[:half], key[half:])):
        if chunk:
            fig.text(0.62 + 0.19 * col, 0.92, "\n".join(chunk), va="top", ha="left", family="monospace", fontsize=7 if col == 0 and half == len(key) else 6)
    fig.subplots_adjust(left=0.08, right=0.6, bottom=0.1, top=0.93)
    fig.savefig(path)
    plt.close(fig)
    return path
