"""The data-set registry and the ``name:path`` spec parser.

A loader is a function ``(path: str | None, **options) -> DataBundle``
registered under a name. ``build_data("cifar10:/data/cifar")`` splits the spec
and calls the loader; unknown names and missing paths are a :class:`DataError`
that says what is accepted.
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch.utils.data import Dataset

__all__ = ["DataBundle", "DataError", "build_data", "list_datasets", "parse_data_spec", "register_dataset"]


class DataError(ValueError):
    """A data set that cannot be read: names the file and the format expected."""


@dataclass
class DataBundle:
    """Train and test splits with what a model needs to know about them.

    ``train`` and ``test`` yield ``(image, target)`` with ``image`` a float
    tensor ``(C, H, W)``. ``task`` is ``"classification"``, ``"multilabel"`` or
    ``"segmentation"``. ``val`` is set when a validation split is carved out.
    """

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    in_chans: int
    image_size: tuple[int, int]
    class_names: list[str] = field(default_factory=list)
    task: str = "classification"
    val: Dataset | None = None
    meta: dict[str, Any] = field(default_factory=dict)


_LOADERS: dict[str, tuple[Callable[..., DataBundle], bool, str]] = {}


def register_dataset(name: str, *, needs_path: bool, help: str) -> Callable:
    """Register ``loader(path, **options) -> DataBundle`` under ``name``."""

    def decorator(fn: Callable[..., DataBundle]) -> Callable[..., DataBundle]:
        _LOADERS[name] = (fn, needs_path, help)
        return fn

    return decorator


def _ensure_loaded() -> None:
    from cnnzoo import data as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_") and mod.name != "datasets":
            importlib.import_module(f"cnnzoo.data.{mod.name}")


def list_datasets() -> dict[str, str]:
    """``{name: one-line description}`` of every registered format, sorted by name."""
    _ensure_loaded()
    return {k: _LOADERS[k][2] for k in sorted(_LOADERS)}


def _accepted() -> str:
    # csv: names a manifest file; every other format with a path names a directory.
    parts = [f"{n}:FILE" if n == "csv" else f"{n}:DIR" if _LOADERS[n][1] else n for n in sorted(_LOADERS)]
    return ", ".join(parts)


def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """``"cifar10:/data/c10"`` → ``("cifar10", "/data/c10")``; ``"digits"`` → ``("digits", None)``.

    A leading ``~`` or ``~user`` in the path is expanded as the shell would,
    since ``--data folder:~/ds`` reaches us unexpanded (the shell expands
    ``~`` only at the start of a word).
    """
    _ensure_loaded()
    name, sep, path = spec.partition(":")
    name = name.strip().lower()
    if name not in _LOADERS:
        close = difflib.get_close_matches(name, list(_LOADERS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise DataError(f"unknown data set {name!r}{hint} (accepted: {_accepted()})")
    needs_path = _LOADERS[name][1]
    if needs_path and not (sep and path):
        raise DataError(f"data set {name!r} needs a path: --data {name}:PATH")
    if not needs_path and sep and path:
        raise DataError(f"data set {name!r} is built in and takes no path; use --data {name}")
    return name, (os.path.expanduser(path) if path else None)


def build_data(spec: str, **options: Any) -> DataBundle:
    """Load the data set named by ``spec`` (``"digits"``, ``"mnist:DIR"``, …)."""
    name, path = parse_data_spec(spec)
    return _LOADERS[name][0](path, **options)
