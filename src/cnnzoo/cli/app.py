"""The typer application and the one way commands report bad input."""

from __future__ import annotations

import ast
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    name="cnnzoo",
    help="The classic CNNs, faithful to their papers: list, analyse, train, evaluate, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2 (the message is shown as written, not as markup)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def parse_shape(text: str, *, name: str = "--input") -> tuple[int, ...]:
    """``"3x224x224"`` → ``(3, 224, 224)``; a clear error for anything else."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        fail(f"{name} must look like 3x224x224 (channels x height x width); got {text!r}")
    if len(dims) != 3 or any(d <= 0 for d in dims):
        fail(f"{name} must be three positive integers C x H x W, e.g. 3x224x224; got {text!r}")
    return dims


@app.callback()
def _root() -> None:
    """The classic CNNs, faithful to their papers: list, analyse, train, evaluate, export."""


def parse_kwargs(items: list[str] | None, *, option: str = "--arg") -> dict[str, Any]:
    """``["towers=1", "lrn=False"]`` → ``{"towers": 1, "lrn": False}`` (Python literals, else strings)."""
    kwargs: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            fail(f"{option} must look like NAME=VALUE, e.g. towers=1; got {item!r}")
        try:
            kwargs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kwargs[key] = text
    return kwargs
