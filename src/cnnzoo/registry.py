"""The model registry: one small dictionary from names to builders.

Each entry carries the facts a user (and the test suite) needs next to the
builder: which paper it comes from, the input it was designed for, the smallest
input it accepts, and the parameter and multiply-accumulate counts the paper
prints, as printed. ``tests/models/test_registry_models.py``
builds every entry and checks our counts against those numbers.

    >>> import cnnzoo
    >>> cnnzoo.list_models("lenet*")
    ['lenet5']
    >>> m = cnnzoo.create("lenet5", num_classes=10)
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from torch import nn

__all__ = [
    "ModelArgumentError",
    "ModelInfo",
    "ReferenceCount",
    "create",
    "get_model_info",
    "list_models",
    "parse_count",
    "register_model",
]

_SUFFIX = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9}
TASKS = ("classification", "segmentation", "detection")  # what a model's output is: one vector per image, one per pixel, or boxes (a DetectorOutput)


@dataclass(frozen=True)
class ReferenceCount:
    """A count as a paper prints it, with the tolerance that printing implies.

    ``"25.6M"`` means 25.6 million to within half of the last printed digit
    (±0.05M); ``"61,706"`` is exact. ``rtol`` overrides the printed precision
    where a paper's own tables disagree with its text (stated in the entry).
    """

    text: str
    value: float
    tol: float

    def matches(self, count: float) -> bool:
        return abs(count - self.value) <= self.tol + 1e-9 * self.value


def parse_count(text: str, rtol: float | None = None) -> ReferenceCount:
    """Parse ``"25.6M"``, ``"61,706"``, ``"0.72G"`` or ``"569M"`` into value and tolerance."""
    s = text.strip().replace(",", "").replace("~", "").replace("≈", "")
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?\s*([KMGB]?)", s)
    if not m:
        raise ValueError(f"cannot read the count {text!r}; expected e.g. '25.6M', '61,706', '1.5G'")
    whole, frac, suffix = m.group(1), m.group(2) or "", m.group(3)
    scale = _SUFFIX[suffix]
    value = float(f"{whole}.{frac}" if frac else whole) * scale
    if rtol is not None:
        tol = rtol * value
    elif suffix == "" and not frac:
        tol = 0.0
    else:
        tol = 0.5 * 10 ** (-len(frac)) * scale
    return ReferenceCount(text, value, tol)


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model besides how to build it.

    Attributes:
        name: registry name, lower case (``"resnet50"``).
        builder: function ``(**kwargs) -> nn.Module``.
        family: family name as the literature uses it (``"ResNet"``).
        paper: short citation, e.g. ``"He et al. 2016, arXiv:1512.03385"``.
        table: where in the paper ``params``/``macs`` are printed
            (``"table 1"``, ``"§4.2"``); ``None`` where the entry gives none.
        year: publication year.
        input_size: the ``(C, H, W)`` the paper trains at.
        min_size: smallest square side the model accepts (``None``: not checked).
        params: parameter count the paper prints, with its precision.
        macs: multiply-accumulates the paper prints, at ``input_size``.
            Both hold for ``create(name)`` with no keyword arguments: an entry
            has no keyword defaults of its own, so the network counted here,
            the one ``create`` builds and the one training builds are one.
        test_size: a small ``(C, H, W)`` used by the test suite's forward and
            backward pass; defaults to ``(C, min_size, min_size)``.
        task: ``"classification"`` (output ``(N, num_classes)``) or
            ``"segmentation"`` (output ``(N, num_classes, H', W')``).
        no_reference: why a model has no printed parameter count, if it has none.
    """

    name: str
    builder: Callable[..., nn.Module]
    family: str
    paper: str
    year: int
    input_size: tuple[int, int, int] = (3, 224, 224)
    min_size: int | None = None
    params: ReferenceCount | None = None
    macs: ReferenceCount | None = None
    table: str | None = None
    test_size: tuple[int, int, int] | None = None
    task: str = "classification"
    no_reference: str | None = None


_REGISTRY: dict[str, ModelInfo] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(
    *,
    family: str,
    paper: str,
    year: int,
    input_size: tuple[int, int, int] = (3, 224, 224),
    min_size: int | None = None,
    params: str | None = None,
    params_rtol: float | None = None,
    macs: str | None = None,
    macs_rtol: float | None = None,
    table: str | None = None,
    test_size: tuple[int, int, int] | None = None,
    task: str = "classification",
    no_reference: str | None = None,
    name: str | None = None,
) -> Callable[[F], F]:
    """Register a model builder under its function name (or ``name``).

    ``params`` and ``macs`` are the paper's printed counts, written as the
    paper prints them (``"25.6M"``, ``"3.8G"``); the test suite checks our count
    to that precision, or to ``params_rtol``/``macs_rtol`` where given.
    """

    def decorator(fn: F) -> F:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        if task not in TASKS:  # setup compares it with the data's task
            raise ValueError(f"model {key!r}: task must be one of {', '.join(TASKS)}; got {task!r}")
        _REGISTRY[key] = ModelInfo(
            name=key,
            builder=fn,
            family=family,
            paper=paper,
            year=year,
            input_size=input_size,
            min_size=min_size,
            params=parse_count(params, params_rtol) if params else None,
            macs=parse_count(macs, macs_rtol) if macs else None,
            table=table,
            test_size=test_size,
            task=task,
            no_reference=no_reference,
        )
        return fn

    return decorator


def _ensure_loaded() -> None:
    # Importing the models package registers every model file in it.
    from cnnzoo import models  # noqa: F401


def natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key that counts as people do: resnet18 before resnet34 before resnet101."""
    # Each part is tagged (0: number, 1: text) so that numbers and text never compare with each other.
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name.lower()) if p]


def list_models(pattern: str = "*") -> list[str]:
    """Registry names matching a shell-style ``pattern`` (``"resnet*"``), sorted as people count."""
    _ensure_loaded()
    return sorted((n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern.lower())), key=natural_key)


def _unknown(name: str) -> ValueError:
    close = difflib.get_close_matches(name.lower(), list(_REGISTRY), n=5, cutoff=0.5)
    prefix = [n for n in sorted(_REGISTRY) if n.startswith(name.lower()[:4])][:5]
    hints = close or prefix
    msg = f"unknown model {name!r}"
    if hints:
        msg += f"; did you mean: {', '.join(hints)}?"
    msg += " (`cnnzoo list` shows all names)"
    return ValueError(msg)


def get_model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; a ``ValueError`` with close names if unknown."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise _unknown(name) from None


def create(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model: ``create("resnet50", num_classes=10, in_chans=1)``.

    Keyword arguments go to the builder (``num_classes``, ``in_chans`` and the
    paper's own knobs). The model keeps its name and keyword arguments in
    ``model.cnnzoo_spec`` so that checkpoints can rebuild it.
    """
    info = get_model_info(name)
    check_model_kwargs(info, kwargs)
    try:
        model = info.builder(**kwargs)
    except TypeError as e:
        if "keyword argument" not in str(e):
            raise
        raise ValueError(f"{name}: {e.args[0].split(') ', 1)[-1] if ') ' in e.args[0] else e}") from None
    model.cnnzoo_spec = {"name": name, "kwargs": dict(kwargs)}  # type: ignore[assignment]
    return model


# ---------------------------------------------------------------- typed keyword arguments


class ModelArgumentError(ValueError):
    """A builder keyword argument of the wrong type, e.g. ``width_mult='abc'``."""


def check_model_kwargs(info: ModelInfo, kwargs: dict[str, Any]) -> None:
    """Refuse a keyword whose value does not fit the builder's annotation, naming it and the type it takes.

    A builder that forwards ``**kwargs`` to its model class is followed to that
    class's ``__init__``. Unannotated keywords and types other than int, float,
    bool, str, ``Literal`` and their ``None``-able forms are left to the builder.
    """
    hints = _keyword_hints(info.builder)
    for key, value in kwargs.items():
        hint = hints.get(key)
        if hint is not None and not _fits(value, hint):
            raise ModelArgumentError(f"{info.name}: {key} must be {_type_words(hint)}; got {value!r}")


def _keyword_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    seen: set[Any] = set()
    while fn is not None and fn not in seen:
        seen.add(fn)
        try:
            own = typing.get_type_hints(fn)
            params = inspect.signature(fn).parameters
        except (NameError, TypeError, ValueError):  # annotations that do not resolve: nothing to check
            return hints
        for key in params:
            if key in own and key not in hints:
                hints[key] = own[key]
        forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        target = own.get("return") if forwards else None
        fn = target.__init__ if inspect.isclass(target) else None  # type: ignore[misc]
    return hints


def _options(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _fits(value: Any, hint: Any) -> bool:
    for option in _options(hint):
        if option is type(None) and value is None:
            return True
        if typing.get_origin(option) is Literal and value in typing.get_args(option):
            return True
        if option is bool and isinstance(value, bool):
            return True
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if option is int and is_int:
            return True
        if option is float and (is_int or isinstance(value, float)):  # an int is a fine float
            return True
        if option is str and isinstance(value, str):
            return True
        if option not in (int, float, bool, str, type(None)) and typing.get_origin(option) is not Literal:
            return True  # a type not checked here (tuple, module, callable): the builder decides
    return False


def _type_words(hint: Any) -> str:
    words = {int: "an integer", float: "a number", bool: "True or False", str: "a string", type(None): "None"}
    parts = []
    for option in _options(hint):
        if typing.get_origin(option) is Literal:
            parts.append("one of " + ", ".join(repr(v) for v in typing.get_args(option)))
        else:
            parts.append(words.get(option, getattr(option, "__name__", str(option))))
    return " or ".join(parts)
