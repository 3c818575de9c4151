"""``cnnzoo summary`` and ``cnnzoo compare``: the analysis of registered models."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cnnzoo.cli.app import app, console, err_console, fail, parse_kwargs, parse_shape


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


def _wide() -> Console:
    # A pipe or a test runner reports 80 columns; the tables need about 120.
    return console if console.is_terminal else Console(width=max(console.width, 130))


def _analyze(
    name: str, input_text: str | None, model_kwargs: dict[str, Any] | None = None
):  # -> AnalysisReport
    from cnnzoo.analysis import analyze
    from cnnzoo.registry import get_model_info

    try:
        info = get_model_info(name)
    except ValueError as e:
        fail(str(e))
    size = parse_shape(input_text) if input_text else info.input_size
    # Every builder takes in_chans: a 1-channel input analyses a 1-channel model.
    kwargs = {"in_chans": size[0]} if size[0] != info.input_size[0] else {}
    kwargs.update(model_kwargs or {})
    try:
        return analyze(name, size, **kwargs)
    except (ValueError, TypeError) as e:
        # TypeError: a keyword argument the builder does not take.
        text = " ".join(str(e).split())
        fail(text if text.startswith(name) else f"{name}: {text}")


@app.command("summary")
def summary_command(
    model: str = typer.Argument(..., help="Registered model name (see `cnnzoo list`)."),
    input: str | None = typer.Option(
        None, "--input", "-i", help="Input size CxHxW, e.g. 3x224x224 (default: the paper's)."
    ),
    format: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    depth: int | None = typer.Option(
        None, "--depth", "-d", min=1, help="Fold modules nested deeper than N into their parent."
    ),
    arg: list[str] | None = typer.Option(
        None, "--arg", "-a", help="Builder keyword argument NAME=VALUE (repeatable), e.g. towers=1."
    ),
) -> None:
    """Per-layer shapes, parameters, MACs, receptive fields and memory of MODEL (no real compute)."""
    from cnnzoo.analysis.render import render_csv, render_json, render_markdown, render_table

    report = _analyze(model, input, parse_kwargs(arg))
    if format is Format.table:
        _wide().print(render_table(report, depth))
    elif format is Format.markdown:
        typer.echo(render_markdown(report, depth), nl=False)
    elif format is Format.json:
        typer.echo(render_json(report))
    else:
        typer.echo(render_csv(report, depth), nl=False)


@app.command("compare")
def compare_command(
    models: list[str] = typer.Argument(..., help="Registered model names."),
    input: str | None = typer.Option(
        None, "--input", "-i", help="One input size CxHxW for all (default: each model's own)."
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Write a chart (PNG, SVG or PDF): MACs against parameters on log axes, point area = activation memory.",
    ),
) -> None:
    """Totals of several models side by side, with the papers' numbers, and an optional chart."""
    from cnnzoo.analysis.render import format_bytes, format_count
    from cnnzoo.registry import get_model_info

    reports = []
    # On stderr, and only on a terminal: a transient bar on a pipe or file leaves a blank first line.
    with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as progress:
        task = progress.add_task("analysing", total=len(models))
        for name in models:
            progress.update(task, description=f"analysing {name}")
            reports.append(_analyze(name, input))
            progress.advance(task)
    table = Table(title="cnnzoo compare", header_style="bold")
    for col in (
        "model",
        "input",
        "params",
        "paper",
        "MACs",
        "paper",
        "other ops",
        "forward act.",
        "training act.",
        "RF",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in reports:
        info = get_model_info(r.model)
        table.add_row(
            r.model,
            "x".join(map(str, r.input_size)),
            format_count(r.params),
            info.params.text if info.params else "-",
            format_count(r.macs),
            info.macs.text if info.macs and tuple(info.input_size) == r.input_size else "-",
            format_count(r.other_ops),
            format_bytes(r.activation_bytes),
            format_bytes(r.training_bytes),
            str(r.receptive_field) if r.receptive_field else "-",
        )
    _wide().print(table)
    if plot is not None:
        from cnnzoo.analysis.render import compare_chart

        try:
            compare_chart(reports, plot)
        except OSError as e:
            fail(f"cannot write the chart to {plot}: {e.strerror or e}")
        console.print(f"chart written to {plot}", highlight=False, soft_wrap=True)
