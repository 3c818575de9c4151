"""The typed header of every checkpoint: what was trained, on what, and how far.

``CheckpointMeta`` is written into the safetensors header of each checkpoint
(and, for people, into the JSON sidecar beside it). ``from_dict`` is the only
way a header read from disk becomes a ``CheckpointMeta``: it checks every field
and raises a one-line :class:`CheckpointError` naming the file and the field,
so a damaged or foreign header never reaches model construction. Headers of
the first on-disk format (``cnnzoo-checkpoint/1``) are converted on the way in.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

__all__ = ["ENGINES", "FORMAT", "LEGACY_FORMAT", "MAX_CLASSES", "SCHEMA", "TASKS", "CheckpointError", "CheckpointMeta", "Normalization"]

SCHEMA = 2
TASKS = ("classification", "multilabel", "segmentation", "detection")
ENGINES = ("torch", "numpy")
MAX_CLASSES = 100_000  # far above any real label set; larger means a corrupt header
FORMAT = "cnnzoo-checkpoint"  # the header's "format"; its version is the meta's "schema"
LEGACY_FORMAT = "cnnzoo-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or does not fit the model asked for."""


@dataclass
class Normalization:
    """How inputs were prepared in training: ``(x - mean) / std`` at ``size`` ([h, w])."""

    mean: list[float]
    std: list[float]
    size: list[int]
    crop: list[int] | None = None  # the training crop, when the augmentation crops
    image_size: list[int] | None = None  # the stored image size, when it differs from size
    pca: dict[str, Any] | None = None  # AlexNet colour augmentation's eigen-decomposition

    def __post_init__(self) -> None:
        # Callers pass tuples (image sizes); the header stores JSON lists.
        for name in ("mean", "std", "size", "crop", "image_size"):
            if isinstance(getattr(self, name), tuple):
                setattr(self, name, list(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckpointMeta:
    """The schema-versioned header of a checkpoint (see the module docstring)."""

    model: str
    model_kwargs: dict[str, Any]
    task: str
    data: str  # the data spec as given: "digits", "folder:/x"
    data_name: str
    num_classes: int
    class_names: list[str]
    in_chans: int
    normalize: Normalization
    config: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    best_score: float | None = None
    bad_epochs: int = 0
    position: dict[str, Any] | None = None  # where a mid-epoch checkpoint stopped
    init: dict[str, Any] | None = None  # the checkpoint fine-tuning started from
    engine: str = "torch"
    schema: int = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with every field; ``from_dict`` reads it back."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["normalize"] = self.normalize.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Any, source: object = "checkpoint") -> CheckpointMeta:
        """Check and convert a header read from ``source`` (named in every error)."""
        if not isinstance(d, dict):
            raise CheckpointError(f"{source}: the checkpoint header is {type(d).__name__}, expected a JSON object")
        d = dict(d)
        fmt = d.pop("format", None)
        if fmt == LEGACY_FORMAT or (fmt is None and "schema" not in d and isinstance(d.get("model"), dict)):
            d = _from_legacy(d, source)
        elif fmt not in (None, FORMAT):
            raise CheckpointError(f"{source}: format {_show(fmt)} is not a cnnzoo checkpoint format ({FORMAT!r} or {LEGACY_FORMAT!r})")
        d = {f.name: _default(f) for f in fields(cls) if f.name not in d and f.name not in _REQUIRED} | d
        _check(d, source)
        norm = Normalization(**d.pop("normalize"))
        return cls(normalize=norm, **d)

    def validate(self, source: object = "checkpoint") -> None:
        """Raise :class:`CheckpointError` if any field is out of range (as ``from_dict`` would)."""
        _check(self.to_dict(), source)


# -- checks --------------------------------------------------------------------------------


def _default(f: Any) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _show(x: Any) -> str:
    # A corrupt header can hold huge values; the message stays one readable line.
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(source: object, name: str, what: str) -> CheckpointError:
    return CheckpointError(f"{source}: checkpoint field {name} {what}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _count(d: dict[str, Any], name: str, source: object, low: int, high: int | None = None) -> None:
    x = d[name]
    if not _is_int(x) or x < low or (high is not None and x > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise _fail(source, name, f"is {_show(x)}; expected an integer {bound}")


def _option(d: dict[str, Any], name: str, kind: type, source: object) -> None:
    if d.get(name) is not None and not isinstance(d[name], kind):
        raise _fail(source, name, f"is {type(d[name]).__name__}; expected {kind.__name__} or null")


_REQUIRED = ["schema"] + [f.name for f in fields(CheckpointMeta) if f.default is MISSING and f.default_factory is MISSING]
_KNOWN = {f.name for f in fields(CheckpointMeta)}


def _check(d: dict[str, Any], source: object) -> None:
    """Every rule of the header; the first broken one becomes the error."""
    if d.get("schema") is None:
        raise _fail(source, "schema", "is missing")
    if d.get("schema") != SCHEMA:
        raise _fail(source, "schema", f"is {_show(d.get('schema'))}; this cnnzoo reads schema {SCHEMA} (written by a newer cnnzoo?)")
    missing = [n for n in _REQUIRED if d.get(n) is None]
    if missing:
        raise _fail(source, missing[0], "is missing" + (f" (also missing: {', '.join(missing[1:])})" if missing[1:] else ""))
    unknown = sorted(set(d) - _KNOWN)
    if unknown:
        raise _fail(source, unknown[0], f"is not a field of schema {SCHEMA} (fields: {', '.join(sorted(_KNOWN))})")
    _check_identity(d, source)
    _check_normalize(d["normalize"], d["in_chans"], source)
    _check_progress(d, source)


def _check_identity(d: dict[str, Any], source: object) -> None:
    for name in ("model", "data", "data_name"):
        if not isinstance(d[name], str) or not d[name]:
            raise _fail(source, name, f"is {_show(d[name])}; expected a non-empty string")
    try:
        from cnnzoo.registry import get_model_info

        get_model_info(d["model"])
    except ValueError as e:
        raise _fail(source, "model", f"is not a registered model: {e}") from None
    if d["task"] not in TASKS:
        raise _fail(source, "task", f"is {_show(d['task'])}; expected one of {', '.join(TASKS)}")
    _count(d, "num_classes", source, 1, MAX_CLASSES)
    _count(d, "in_chans", source, 1)
    kwargs = d["model_kwargs"]
    if not isinstance(kwargs, dict):
        raise _fail(source, "model_kwargs", f"is {type(kwargs).__name__}; expected an object of keyword arguments")
    for name in ("num_classes", "in_chans"):
        if kwargs.get(name) != d[name]:
            raise _fail(source, f"model_kwargs.{name}", f"is {_show(kwargs.get(name))} but {name} is {d[name]!r}; they must agree")
    names = d["class_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _fail(source, "class_names", "must be a list of strings")
    # A detector's num_classes may count the background, which has no name.
    allowed = {0, d["num_classes"]} | ({d["num_classes"] - 1} if d["task"] == "detection" else set())
    if len(names) not in allowed:
        raise _fail(source, "class_names", f"has {len(names)} names for num_classes {d['num_classes']}")
    if d["engine"] not in ENGINES:
        raise _fail(source, "engine", f"is {_show(d['engine'])}; expected one of {', '.join(ENGINES)}")


def _check_size(value: Any, name: str, source: object) -> None:
    if not isinstance(value, list) or len(value) != 2 or not all(_is_int(v) and v > 0 for v in value):
        raise _fail(source, name, f"is {_show(value)}; expected [height, width], two positive integers")


def _all_finite(x: Any) -> bool:
    if isinstance(x, dict):
        return all(_all_finite(v) for v in x.values())
    if isinstance(x, list):
        return all(_all_finite(v) for v in x)
    return _is_number(x)


def _check_normalize(norm: Any, in_chans: int, source: object) -> None:
    if not isinstance(norm, dict):
        raise _fail(source, "normalize", f"is {type(norm).__name__}; expected an object with mean, std and size")
    known = {f.name for f in fields(Normalization)}
    wrong = sorted((set(norm) ^ known) - {"crop", "image_size", "pca"})
    if wrong:
        raise _fail(source, f"normalize.{wrong[0]}", "is missing" if wrong[0] in known else "is not a known field")
    for name in ("mean", "std"):
        values = norm[name]
        if not isinstance(values, list) or len(values) != in_chans:
            raise _fail(source, f"normalize.{name}", f"is {_show(values)}; expected {in_chans} numbers, one per input channel (in_chans)")
        if not all(_is_number(v) for v in values):
            raise _fail(source, f"normalize.{name}", f"is {_show(values)}; every value must be a finite number")
    if not all(v > 0 for v in norm["std"]):
        raise _fail(source, "normalize.std", f"is {_show(norm['std'])}; every value must be positive")
    _check_size(norm["size"], "normalize.size", source)
    for name in ("crop", "image_size"):
        if norm.get(name) is not None:
            _check_size(norm[name], f"normalize.{name}", source)
    pca = norm.get("pca")
    if pca is not None and (not isinstance(pca, dict) or not _all_finite(pca)):
        raise _fail(source, "normalize.pca", "must be an object of finite numbers")


def _check_progress(d: dict[str, Any], source: object) -> None:
    for name in ("epoch", "step", "bad_epochs"):
        _count(d, name, source, 0)
    for name in ("config", "metrics"):
        if not isinstance(d[name], dict):
            raise _fail(source, name, f"is {type(d[name]).__name__}; expected an object")
    best = d.get("best_score")
    if best is not None and not _is_number(best):
        raise _fail(source, "best_score", f"is {_show(best)}; expected a finite number or null")
    _option(d, "position", dict, source)
    _option(d, "init", dict, source)


# -- the first on-disk format ----------------------------------------------------------------


def _from_legacy(d: dict[str, Any], source: object) -> dict[str, Any]:
    """A ``cnnzoo-checkpoint/1`` header (model and data as objects, ``best_acc``) in schema 2."""
    model, data = d.get("model"), d.get("data")
    if not isinstance(model, dict) or not isinstance(data, dict):
        raise _fail(source, "model", f"and data must be objects in a {LEGACY_FORMAT} header")
    kwargs = dict(model.get("kwargs") or {})
    num_classes = data.get("num_classes", kwargs.get("num_classes"))
    in_chans = data.get("in_chans", kwargs.get("in_chans"))
    kwargs.setdefault("num_classes", num_classes)
    kwargs.setdefault("in_chans", in_chans)
    config = d.get("config") or {}
    best = d.get("best_acc")
    return {
        "schema": SCHEMA, "model": model.get("name"), "model_kwargs": kwargs,
        "task": data.get("task", "classification"), "data": str(config.get("data") or data.get("name") or ""),
        "data_name": data.get("name"), "num_classes": num_classes, "class_names": data.get("class_names") or [],
        "in_chans": in_chans, "normalize": d.get("normalize"), "config": config,
        "epoch": d.get("epoch", 0), "step": d.get("step", 0), "metrics": d.get("metrics") or {},
        # format 1 wrote -1.0 before any score existed
        "best_score": best if _is_number(best) and best >= 0 else None,
        "bad_epochs": d.get("bad_epochs", 0), "position": d.get("position"), "init": d.get("init"),
        "engine": "numpy" if str(d.get("engine", "torch")).startswith("numpy") else "torch",
    }  # fmt: skip
