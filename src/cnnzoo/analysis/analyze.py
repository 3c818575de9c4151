"""``cnnzoo.analyze``: shapes, parameters, MACs, receptive fields and memory of any module."""

from __future__ import annotations

import contextlib
import copy
import gc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from cnnzoo.analysis import receptive_field as rfm
from cnnzoo.analysis.memory import SavedTensorMeter
from cnnzoo.analysis.report import AnalysisReport
from cnnzoo.analysis.trace import _RF, Tracer, _tensors

__all__ = ["analyze", "parse_input_size"]


def parse_input_size(input_size: Sequence[int]) -> tuple[int, ...]:
    """``(C, H, W)`` (or ``(C, L)``, ``(C, D, H, W)``) as a tuple of positive ints; a ``ValueError`` otherwise."""
    try:
        dims = tuple(int(d) for d in input_size)
    except (TypeError, ValueError):
        raise ValueError(
            f"input_size must be a sequence of integers (C, H, W), e.g. (3, 224, 224); got {input_size!r}"
        ) from None
    if (
        len(dims) < 2
        or any(d <= 0 for d in dims)
        or any(d != v for d, v in zip(dims, input_size, strict=True))
    ):
        raise ValueError(
            f"input_size must be positive integers C x H x W (at least one spatial dimension), "
            f"e.g. (3, 224, 224); got {tuple(input_size)!r}"
        )
    return dims


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if not isinstance(e, ValueError) else text


def _model_name(model: nn.Module) -> str:
    spec = getattr(model, "cnnzoo_spec", None)
    if isinstance(spec, dict) and "name" in spec:
        return str(spec["name"])
    return type(model).__name__


def analyze(
    model: nn.Module | str,
    input_size: Sequence[int] | None = None,
    *,
    batch_size: int = 1,
    **model_kwargs: Any,
) -> AnalysisReport:
    """Analyse ``model`` for one input of ``input_size`` ``(C, H, W)``, without real compute.

    Args:
        model: any ``nn.Module`` (its weights are not touched and nothing is
            computed with them), or a registered name, built on the meta device
            as ``create(name, **model_kwargs)`` builds it.
        input_size: ``(C, H, W)``; for a registered name, defaults to the
            entry's ``input_size``.
        batch_size: batch dimension of the traced input (MACs and bytes scale with it).

    Returns:
        An :class:`~cnnzoo.analysis.report.AnalysisReport`.

    Raises:
        ValueError: a malformed ``input_size``, an input the model rejects (too
            small), or a model that fails both on meta tensors and in a real forward.

    Example::

        >>> import cnnzoo
        >>> r = cnnzoo.analyze(cnnzoo.create("lenet5"), (1, 32, 32))
        >>> r.params, r.macs
        (61706, 416520)
    """
    module, name, input_size, build_real = _resolve(model, input_size, model_kwargs)
    if input_size is None:
        raise ValueError("input_size is required for a module, e.g. analyze(model, (3, 224, 224))")
    size = parse_input_size(input_size)
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")

    try:
        with _no_cyclic_gc():
            return _trace(module, name, size, batch_size, meta=True)
    except ValueError as e:
        # The model's own check of its input (too small, wrong channels).
        raise ValueError(f"{name} at input {'x'.join(map(str, size))}: {_one_line(e)}") from None
    except Exception as meta_error:  # noqa: BLE001 - any failure on meta falls back
        reason = _one_line(meta_error)
    try:
        report = _trace(build_real(), name, size, batch_size, meta=False)
    except Exception as e:  # noqa: BLE001
        raise ValueError(
            f"cannot analyse {name} at input {'x'.join(map(str, size))}: {_one_line(e)}"
        ) from None
    report.fallback = f"real forward on the CPU (the meta-tensor pass failed: {reason})"
    report.warnings.insert(0, f"fallback: {report.fallback}")
    return report


def _resolve(
    model: nn.Module | str, input_size: Sequence[int] | None, model_kwargs: dict[str, Any]
) -> tuple[nn.Module, str, Sequence[int] | None, Callable[[], nn.Module]]:
    """The module to trace (a name built on meta), its name, the input size, and how to build it for real."""
    if isinstance(model, str):
        from cnnzoo.registry import create, get_model_info

        info = get_model_info(model)
        kwargs = dict(model_kwargs)
        module = _build_on_meta(create, model, kwargs)
        return module, model, info.input_size if input_size is None else input_size, lambda: create(model, **kwargs)
    if isinstance(model, nn.Module):
        if model_kwargs:
            raise TypeError(f"unexpected keyword arguments {sorted(model_kwargs)} for a module")
        return model, _model_name(model), input_size, lambda: _real_copy(model)
    raise TypeError(
        f"analyze() takes an nn.Module or a registered model name; got {type(model).__name__}"
    )


def _real_copy(model: nn.Module) -> nn.Module:
    """``model`` itself, or a CPU copy filled with zeros where it lives on the meta device."""
    if not any(t.is_meta for t in _state(model)):
        return model
    real = copy.deepcopy(model).to_empty(device="cpu")
    for t in _state(real):
        if t.is_floating_point():
            t.data.zero_()
    return real


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the pass.

    A trace allocates thousands of short-lived objects (rows, meta tensors,
    autograd nodes) that reference counting frees; the collector's passes over
    them cost a sixth of the analysis of a DenseNet-201 and most of its variance.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_INIT_OPS = frozenset(
    str.split(
        "normal_ uniform_ fill_ zero_ erfinv_ exponential_ log_normal_ cauchy_ geometric_ random_"
    )
)


class _SkipInitOnMeta(TorchFunctionMode):
    """Random initialisation of meta tensors is a no-op; skip it without dispatching.

    PyTorch implements ``normal_`` and friends for meta tensors in Python
    behind a lazy import of ``torch._dynamo`` (seconds, once per process) and
    a wrapper per call; a model built for analysis has no values to draw.
    """

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in _INIT_OPS:
            # torch.nn.init passes the tensor by keyword, Tensor methods by position.
            target = args[0] if args else kwargs.get("tensor")
            if isinstance(target, Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


def _build_on_meta(create: Any, name: str, kwargs: dict[str, Any]) -> nn.Module:
    with torch.device("meta"), _SkipInitOnMeta():
        return create(name, **kwargs)


def _state(model: nn.Module) -> list[Tensor]:
    return [*model.parameters(), *model.buffers()]


class _StandIns:
    """One pass over the modules, undone by :meth:`restore`.

    It counts parameters (each once), switches every module to inference mode
    (the papers count without auxiliary heads and dropout) and, for a real
    model on the meta pass, puts meta stand-ins in place of its weights so
    that nothing is computed and nothing real is touched. (This is what
    ``torch.func.functional_call`` does, at a fraction of its cost.)
    """

    def __init__(self, named: list[tuple[str, nn.Module]], meta: bool) -> None:
        self.params = self.trainable = 0
        self.dtype: torch.dtype | None = None
        self._swapped: list[tuple[dict[str, Any], str, Tensor]] = []
        self._modes = [(m, m.training) for _, m in named]
        stand_ins: dict[int, Tensor] = {}
        for _, m in named:
            m.__dict__["training"] = False  # skips Module.__setattr__
            for store, is_param in ((m._parameters, True), (m._buffers, False)):
                for key, t in store.items():
                    if t is None:
                        continue
                    stand = stand_ins.get(id(t))
                    if stand is None:
                        stand = stand_ins[id(t)] = self._first_sight(t, is_param, meta)
                    if stand is not t:
                        self._swapped.append((store, key, t))
                        store[key] = stand
        self.weights = list(stand_ins.values())

    def _first_sight(self, t: Tensor, is_param: bool, meta: bool) -> Tensor:
        """Count ``t`` and return what stands in for it during the pass."""
        if is_param:
            self.params += t.numel()
            self.trainable += t.numel() if t.requires_grad else 0
            if self.dtype is None and t.is_floating_point():
                self.dtype = t.dtype
        if not meta or t.is_meta:
            return t
        stand = torch.empty(t.shape, dtype=t.dtype, device=_META)
        return stand.requires_grad_(t.requires_grad)

    def restore(self) -> None:
        for store, key, t in self._swapped:
            store[key] = t
        for m, training in self._modes:
            m.__dict__["training"] = training


_META = torch.device("meta")  # parsed once, not per weight


def _trace(
    model: nn.Module, name: str, size: tuple[int, ...], batch_size: int, meta: bool
) -> AnalysisReport:
    named = list(model.named_modules())
    state = _StandIns(named, meta)
    dtype = state.dtype or torch.float32
    x = torch.zeros(batch_size, *size, dtype=dtype, device="meta" if meta else "cpu")
    setattr(x, _RF, rfm.identity(len(size) - 1))
    try:
        tracer = Tracer(model, len(size) - 1, named)
        meter = SavedTensorMeter(exclude=state.weights)
        try:
            with torch.enable_grad(), meter, tracer:
                out = model(x)
        finally:
            tracer.remove_hooks()
    finally:
        state.restore()
    rows = tracer.rows
    layers = rows[1:] if rows[0].kind == "container" else rows
    outs = list(_tensors(out))
    return AnalysisReport(
        model=name,
        input_size=size,
        batch_size=batch_size,
        layers=layers,
        params=state.params,
        trainable_params=state.trainable,
        macs=rows[0].macs,
        other_ops=rows[0].other_ops,
        activation_bytes=sum(r.activation_bytes for r in layers if r.kind != "container"),
        training_bytes=meter.bytes,
        receptive_field=getattr(outs[0], _RF, None) if outs else None,
        output_shapes=[tuple(t.shape) for t in outs],
        unknown_ops=dict(tracer.unknown),
        warnings=_warnings(tracer),
        dtype_bytes=torch.empty((), dtype=dtype).element_size(),
    )


def _warnings(tracer: Tracer) -> list[str]:
    """The tracer's warnings, then the ops it could not count and those it ran for real."""
    warnings = list(tracer.warnings)
    if tracer.unknown:
        warnings.append(
            "ops without a counting rule (not counted): "
            + ", ".join(f"{op} in {', '.join(where[:3])}" for op, where in tracer.unknown.items())
        )
    if tracer.fallback_ops:
        warnings.append(
            "ops without a meta kernel, run once on zeros on the CPU: "
            + ", ".join(tracer.fallback_ops)
        )
    return warnings
