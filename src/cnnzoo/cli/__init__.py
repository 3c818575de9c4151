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

# `cnnzoo --help` lists commands in the order they are registered: the order a
# user meets them (look, analyse, train, evaluate, ship), then any others.
_ORDER = ["zoo", "analysis", "train", "evaluate", "export", "scratch"]
_found = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "app" and not m.name.startswith("_"))
for _mod in [m for m in _ORDER if m in _found] + [m for m in _found if m not in _ORDER]:
    importlib.import_module(f"{__name__}.{_mod}")


def main() -> None:
    """Entry point of the ``cnnzoo`` script and of ``python -m cnnzoo``."""
    from cnnzoo.threads import configure_threads

    # Before any command runs: on a busy machine, torch's one-thread-per-core default
    # spins for a core instead of computing (see cnnzoo.threads).
    configure_threads()
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
