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


def version_line() -> str:
    """``cnnzoo X.Y.Z, torch A.B.C``: what a bug report needs first."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        own = version("cnnzoo")
    except PackageNotFoundError:  # run from a source tree that was never installed
        own = "unknown"
    return f"cnnzoo {own}, torch {torch.__version__}"


def _show_version(value: bool) -> None:
    if value:
        console.print(version_line(), markup=False, highlight=False)
        raise typer.Exit()


def _use_threads(value: int | None) -> int | None:
    if value is not None:
        from cnnzoo.threads import set_threads

        if value < 1:
            fail(f"--threads must be a positive integer; got {value}")
        set_threads(value)
    return value


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True, help="Print the versions of cnnzoo and torch and exit."),
    threads: int | None = typer.Option(
        None, "--threads", callback=_use_threads, metavar="N",
        help="CPU threads for torch, as OMP_NUM_THREADS, e.g. cnnzoo --threads 1 train.",
        show_default="one for a small model, the CPUs other work leaves free for a large one",
    ),
) -> None:
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
