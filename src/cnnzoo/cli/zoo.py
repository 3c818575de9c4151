"""``cnnzoo list``: the registered models with their family, size and year."""

from __future__ import annotations

import typer
from rich.table import Table

from cnnzoo.cli.app import app, console
from cnnzoo.registry import create, get_model_info, list_models


def _count_params(name: str) -> int:
    import torch

    with torch.device("meta"):  # no memory, no initialisation cost
        model = create(name)
    return sum(p.numel() for p in model.parameters())


@app.command("list")
def list_command(
    pattern: str = typer.Argument("*", help="Shell-style pattern, e.g. 'resnet*'."),
    names_only: bool = typer.Option(False, "--names", help="Print names only, one per line."),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print docs/papers.md: every model, its paper, the counts it prints and ours."
    ),
) -> None:
    """List registered models: name, family, parameters (ours and the paper's), year."""
    if markdown:
        from cnnzoo.papers import papers_markdown

        print(papers_markdown(), end="")
        return
    names = list_models(pattern)
    if not names:
        from cnnzoo.cli.app import fail

        fail(f"no model matches {pattern!r}; `cnnzoo list` shows all {len(list_models())}")
    if names_only:
        for n in names:
            console.print(n, highlight=False)
        return
    table = Table(title=f"cnnzoo models ({len(names)})", header_style="bold")
    table.add_column("name")
    table.add_column("family")
    table.add_column("params", justify="right")
    table.add_column("paper", justify="right")
    table.add_column("input", justify="right")
    table.add_column("year", justify="right")
    for n in names:
        info = get_model_info(n)
        ref = info.params.text if info.params else "—"
        table.add_row(
            n,
            info.family,
            f"{_count_params(n):,}",
            ref,
            "x".join(map(str, info.input_size)),
            str(info.year),
        )
    console.print(table)
