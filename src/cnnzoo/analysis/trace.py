"""One forward pass, watched at two levels: module hooks and every ATen op.

Module forward hooks give each op its place in the model (the qualified name
of the innermost module running it); a ``TorchDispatchMode`` sees every ATen
op underneath, including the functional ones a ``forward`` calls directly
(``torch.cat``, ``+``, ``F.interpolate``, ``@``), so nothing escapes the count.
Each op is counted (``macs.count``), its output's receptive field derived from
its inputs' (``receptive_field``), and its output bytes recorded. The forward
runs on meta tensors, so no arithmetic is done and no activation memory is
allocated; an op without a meta kernel runs once on zeros on the CPU instead,
and is listed as a fallback.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from cnnzoo.analysis import receptive_field as rfm
from cnnzoo.analysis.fast_meta import fast_output
from cnnzoo.analysis.macs import count, op_name
from cnnzoo.analysis.report import LayerReport, ReceptiveField

__all__ = ["Tracer"]

_RF = "_cnnzoo_rf"

# Views and bookkeeping: never a row of their own in the table.
_HIDDEN = frozenset(
    str.split(
        "view _unsafe_view reshape _reshape_alias flatten unflatten squeeze unsqueeze t "
        "transpose permute expand expand_as contiguous clone copy _to_copy to detach alias "
        "lift_fresh lift_fresh_copy empty empty_like empty_strided new_empty new_empty_strided "
        "zeros zeros_like ones ones_like full full_like new_zeros new_ones new_full fill zero "
        "arange scalar_tensor as_strided _local_scalar_dense set_ select slice index split "
        "split_with_sizes unbind chunk narrow _has_compatible_shallow_copy_type dropout "
        "_assert_tensor_metadata"
    )
)
_NAMES: dict[Any, str] = {}
_ALIASES = frozenset(("detach", "alias", "lift_fresh"))
_CONVS = ("convolution", "_convolution", "convolution_overrideable")
_WINDOWS = (
    "max_pool1d", "max_pool2d_with_indices", "max_pool3d_with_indices",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
)  # fmt: skip
_MATMULS = ("addmm", "mm")
_GEOMETRY = frozenset((*_CONVS, *_WINDOWS, *_MATMULS))
_FACTORIES = frozenset(
    str.split(
        "empty empty_strided zeros ones full arange scalar_tensor new_empty new_empty_strided "
        "new_zeros new_ones new_full"
    )
)


def _tensors(obj: Any) -> list[Tensor]:
    """The tensors in ``obj`` (a tensor, or nested lists, tuples and dicts), in order."""
    if isinstance(obj, Tensor):
        return [obj]
    found: list[Tensor] = []
    _collect(obj, found)
    return found


def _collect(obj: Any, found: list[Tensor]) -> None:
    if isinstance(obj, (list, tuple)):
        for o in obj:
            if isinstance(o, Tensor):
                found.append(o)
            elif isinstance(o, (list, tuple, dict)):
                _collect(o, found)
    elif isinstance(obj, dict):
        _collect(list(obj.values()), found)
    elif isinstance(obj, Tensor):
        found.append(obj)


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


def _on_cpu(obj: Any) -> Any:
    if isinstance(obj, Tensor) and obj.is_meta:
        return torch.zeros(obj.shape, dtype=obj.dtype)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_cpu(o) for o in obj)
    return obj


def _to_meta(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return torch.empty(obj.shape, dtype=obj.dtype, device="meta")
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_meta(o) for o in obj)
    return obj


def _normalize(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Positional arguments in schema order, with keyword arguments and defaults filled in."""
    if not kwargs:
        return args
    full = list(args)
    for a in func._schema.arguments[len(args) :]:
        if a.name in kwargs:
            full.append(kwargs[a.name])
        elif a.has_default_value():
            full.append(a.default_value)
        else:
            break
    return tuple(full)


class _Frame:
    __slots__ = ("row", "leaf")

    def __init__(self, row: LayerReport, leaf: bool) -> None:
        self.row = row
        self.leaf = leaf


class Tracer(TorchDispatchMode):
    """Dispatch mode plus module hooks that fill one :class:`LayerReport` per call.

    Args:
        model: the module whose calls become rows.
        spatial_dims: number of spatial dimensions of the input (2 for images).
        names: qualified name of every module (``model.named_modules()``).
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # By default PyTorch wraps __torch_dispatch__ in torch._dynamo.disable,
        # which imports torch._dynamo (seconds) on the first op and adds a
        # wrapper to every call; this mode never runs under torch.compile.
        return False

    def __init__(
        self,
        model: nn.Module,
        spatial_dims: int,
        modules: list[tuple[str, nn.Module]] | None = None,
    ) -> None:
        super().__init__()
        self.n = spatial_dims
        self.rows: list[LayerReport] = []
        self.unknown: dict[str, list[str]] = {}
        self.fallback_ops: list[str] = []
        self.warnings: list[str] = []
        self._stack: list[_Frame] = []
        self._handles: list[Any] = []
        self._info: dict[int, list[Any]] = {}
        self._register(modules if modules is not None else list(model.named_modules()))
        # Two global hooks cost less than two per module (a ResNet-152 has 500
        # modules); calls of modules outside ``model`` are ignored.
        self._handles.append(register_module_forward_pre_hook(self._enter))
        self._handles.append(register_module_forward_hook(self._exit))

    def _register(self, modules: list[tuple[str, nn.Module]]) -> None:
        # Each module's own parameters, then summed up the tree (children
        # before parents). A parameter shared by two modules would be counted
        # twice by a plain sum; then every ancestor counts distinct ids instead.
        order: list[tuple[str, nn.Module, list[Any]]] = []
        seen: set[int] = set()
        shared = False
        for qname, m in modules:
            info = [qname, not m._modules, 0, 0, 0, 0]
            self._info[id(m)] = info
            for pname, p in m._parameters.items():
                if p is None:
                    continue
                shared = shared or id(p) in seen
                seen.add(id(p))
                n = p.numel()
                info[2] += n
                info[3] += n if p.requires_grad else 0
                info[5 if pname.startswith("bias") else 4] += n
            order.append((qname, m, info))
        if not shared:
            for _, m, info in reversed(order):  # named_modules is pre-order
                for child in m._modules.values():
                    c = self._info.get(id(child)) if child is not None else None
                    if c is not None and c is not info:
                        for i in (2, 3, 4, 5):
                            info[i] += c[i]
            return
        for _, m, info in order:
            if m._modules:
                distinct = {id(p): (n, p) for n, p in m.named_parameters()}
                info[2] = sum(p.numel() for _, p in distinct.values())
                info[3] = sum(p.numel() for _, p in distinct.values() if p.requires_grad)
                info[5] = sum(
                    p.numel()
                    for n, p in distinct.values()
                    if n.rsplit(".", 1)[-1].startswith("bias")
                )
                info[4] = info[2] - info[5]

    # --- module level -------------------------------------------------------

    def remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        info = self._info.get(id(module))
        if info is None:
            return
        qname, leaf, n_all, n_train, n_w, n_b = info
        depth = qname.count(".") + 1 if qname else 0
        row = LayerReport(
            name=qname or type(module).__name__,
            type=type(module).__name__,
            depth=depth,
            kind="module" if leaf else "container",
            input_shapes=[args[0].shape]
            if len(args) == 1 and isinstance(args[0], Tensor)
            else [t.shape for t in _tensors(args)],
            params=n_all,
            trainable_params=n_train,
            weights=n_w,
            biases=n_b,
        )
        self.rows.append(row)
        self._stack.append(_Frame(row, leaf))

    def _exit(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if id(module) not in self._info:
            return
        frame = self._stack.pop()
        row = frame.row
        outs = [output] if isinstance(output, Tensor) else list(_tensors(output))
        row.output_shapes = [t.shape for t in outs]
        if frame.leaf:
            row.activation_bytes = sum(_nbytes(t) for t in outs)
        # (a container's bytes are the sum of the outputs inside it, added up below)
        if outs:
            row.receptive_field = getattr(outs[0], _RF, None)
        if self._stack:
            parent = self._stack[-1].row
            parent.macs += row.macs
            parent.other_ops += row.other_ops
            parent.activation_bytes += row.activation_bytes

    # --- op level -----------------------------------------------------------

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        name = _NAMES.get(func)
        if name is None:
            name = _NAMES[func] = op_name(func)
        out = self._run(func, name, args, kwargs)
        if not self._stack:
            return out
        if name in _ALIASES:
            # Autograd's own detach/alias calls: same tensor, same field, no cost.
            rf = getattr(args[0], _RF, None)
            if rf is not None and isinstance(out, Tensor):
                setattr(out, _RF, rf)
            return out
        if name in _FACTORIES:
            # New tensors (batch norm's placeholders, torch.zeros in a forward):
            # no inputs, no cost, no field.
            return out
        args = _normalize(func, args, kwargs)
        frame = self._stack[-1]
        counted = count(name, args, out)
        function_row = None
        if not frame.leaf and name not in _HIDDEN:
            # An op called by a container's own forward (a residual add, an
            # Inception concat) gets a row of its own.
            parent = frame.row
            function_row = LayerReport(
                name=f"{parent.name}.{name}" if parent.depth else name,
                type=name,
                depth=parent.depth + 1,
                kind="function",
                input_shapes=[
                    t.shape for t in (args[0] if name in ("cat", "stack") else _tensors(args))
                ],
            )
            self.rows.append(function_row)
        row = function_row or frame.row
        if counted is None:
            if name not in row.unknown_ops:
                row.unknown_ops.append(name)
            self.unknown.setdefault(name, [])
            if row.name not in self.unknown[name]:
                self.unknown[name].append(row.name)
        else:
            macs, other = counted
            row.macs += macs
            row.other_ops += other
            if function_row is not None:
                frame.row.macs += macs
                frame.row.other_ops += other
        if name in _GEOMETRY and row.kernel is None and row.kind != "container":
            self._layer_geometry(row, name, args, out)
        self._receptive_field(name, args, out, row)
        if function_row is not None:
            outs = list(_tensors(out))
            function_row.output_shapes = [tuple(t.shape) for t in outs]
            function_row.activation_bytes = sum(_nbytes(t) for t in outs)
            frame.row.activation_bytes += function_row.activation_bytes
            if outs:
                function_row.receptive_field = getattr(outs[0], _RF, None)
        return out

    def _run(self, func: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        out = fast_output(func, name, args, kwargs)
        if out is not None:
            return out
        try:
            return func(*args, **kwargs)
        except NotImplementedError:
            if not any(t.is_meta for t in _tensors(args)):
                raise
        # No meta kernel: run this one op on zeros on the CPU and keep only the shapes.
        if name not in self.fallback_ops:
            self.fallback_ops.append(name)
        if self._stack:
            row = self._stack[-1].row
            if name not in row.fallback_ops:
                row.fallback_ops.append(name)
        out = func(*_on_cpu(args), **{k: _on_cpu(v) for k, v in kwargs.items()})
        return _to_meta(out)

    def _layer_geometry(self, row: LayerReport, name: str, args: tuple[Any, ...], out: Any) -> None:
        if name in _CONVS:
            w = args[1]
            m = w.dim() - 2
            row.kernel = tuple(w.shape[2:])
            row.stride = tuple(rfm._as_list(args[3], m))
            row.count = w.shape[1] * int(args[8]) if bool(args[6]) else w.shape[0]
        elif name in _WINDOWS and len(args[1]) == self.n:
            kernel = tuple(args[1])
            row.kernel = kernel
            stride = args[2] if len(args) > 2 and args[2] else kernel
            row.stride = tuple(rfm._as_list(stride, len(kernel)))
        elif name in _MATMULS and row.count is None:
            row.count = int(out.shape[-1])

    def _receptive_field(
        self, name: str, args: tuple[Any, ...], out: Any, row: LayerReport
    ) -> None:
        if isinstance(out, Tensor):
            outs = [out]
        else:
            outs = list(_tensors(out))
            if not outs:
                return
        x = args[0] if args else None
        if isinstance(x, Tensor) and (
            len(args) == 1 or not isinstance(args[1], (Tensor, list, tuple))
        ):
            # One tensor input: the common case (activations, pooling, views).
            main_rf = getattr(x, _RF, None)
            if main_rf is None:
                return
            inputs = [(x, main_rf)]
        else:
            flat = (
                args[0]
                if name in ("cat", "stack") and isinstance(args[0], (list, tuple))
                else _tensors(args)
            )
            inputs = []
            for t in flat:
                f = getattr(t, _RF, None)
                if f is not None:
                    inputs.append((t, f))
            if not inputs:
                return
        main, main_rf = inputs[0]
        out_shape = outs[0].shape
        rf: ReceptiveField | None = None
        if name in rfm.SPATIAL_OPS:
            rf = rfm.propagate(name, args, main, tuple(out_shape), main_rf, self.n)
        if rf is None:
            if (
                len(inputs) == 1
                and main.shape[-self.n :] == out_shape[-self.n :]
                and (main.dim() > self.n) == (len(out_shape) > self.n)
            ):
                rf = main_rf
            else:
                n = self.n
                spatial = out_shape[-n:] if len(out_shape) > n else None
                channel_cat = (
                    name == "cat"
                    and spatial is not None
                    and (args[1] if len(args) > 1 else 0) % len(out_shape) < len(out_shape) - n
                )
                if channel_cat or (
                    spatial is not None
                    and all(
                        t.dim() == len(out_shape) and t.shape[-n:] == spatial for t, _ in inputs
                    )
                ):
                    # (a concatenation along a non-spatial dim has equal spatial shapes by definition)
                    # A merge of maps of one spatial shape (residual add, concatenation).
                    rf, warning = rfm.merge([f for _, f in inputs])
                else:
                    rf, warning = rfm.elementwise(
                        [(f, tuple(t.shape)) for t, f in inputs], tuple(out_shape), n
                    )
                if warning:
                    msg = f"{row.name}: {warning}"
                    row.notes.append(warning)
                    if msg not in self.warnings:
                        self.warnings.append(msg)
        for o in outs:
            setattr(o, _RF, rf)
