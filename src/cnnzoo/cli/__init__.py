"""Command-line interface: ``cnnzoo COMMAND --help``.

Each module in this package adds its commands to the one typer ``app``; the
commands parse their options and call library functions, nothing more.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from cnnzoo.cli.app import app, fail

__all__ = ["app", "fail", "main"]

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod not in ("app",) and not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")


def main() -> None:
    """Entry point of the ``cnnzoo`` script and of ``python -m cnnzoo``."""
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
