"""Output shapes of the most frequent ops, computed directly on the meta device.

PyTorch's meta kernels for convolution, batch norm, pooling and elementwise
arithmetic are Python decompositions that cost 50 µs to 1 ms a call; a
ResNet-152 makes about a thousand of them. For these ops the output shape is a
formula (the ones in PyTorch's ``nn.Conv2d`` and pooling docs), so we allocate the meta output
ourselves and skip the kernel. Anything unusual (unbatched input, symbolic
sizes, mixed devices) returns ``None`` and goes through the real meta kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["conv_output_size", "fast_output", "pool_output_size"]


def conv_output_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """``floor((H + 2p − d(k−1) − 1) / s) + 1``."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def transposed_output_size(size: int, k: int, s: int, p: int, d: int, op: int) -> int:
    """``(H − 1)s − 2p + d(k − 1) + output_padding + 1``."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def pool_output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Pooling output size; with ``ceil_mode`` the last window must start inside the input or left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _ints(v: Any, n: int) -> list[int] | None:
    if isinstance(v, int):
        return [v] * n
    if not isinstance(v, (list, tuple)) or not all(isinstance(i, int) for i in v):
        return None
    if len(v) == 1:
        return list(v) * n
    return list(v) if len(v) == n else None


def _broadcast(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """NumPy broadcasting (torch.broadcast_shapes lazily imports torch._refs: half a second)."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for i, j in zip(a, b, strict=True):
        if i != j and i != 1 and j != 1:
            return None
        out.append(j if i == 1 else i)
    return tuple(out)


# A device object, not the string "meta": parsing the string costs as much as
# allocating the meta tensor itself, and a trace allocates thousands.
_META = torch.device("meta")


def _empty(shape: Sequence[int], like: Tensor) -> Tensor:
    # torch.empty is ten times faster than torch.empty_like on meta (no
    # Python stride logic); outputs are contiguous, as for a plain NCHW model.
    return torch.empty(shape, dtype=like.dtype, device=_META)


def _conv(args: Sequence[Any]) -> Tensor | None:
    x, w = args[0], args[1]
    m = w.dim() - 2
    if x.dim() != m + 2 or len(args) < 9:
        return None
    stride, padding, dilation = _ints(args[3], m), _ints(args[4], m), _ints(args[5], m)
    transposed, groups = bool(args[6]), int(args[8])
    if stride is None or padding is None or dilation is None:
        return None
    k = w.shape[2:]
    if transposed:
        out_pad = _ints(args[7], m)
        if out_pad is None:
            return None
        c_out = w.shape[1] * groups
        sizes = [
            transposed_output_size(
                x.shape[2 + i], k[i], stride[i], padding[i], dilation[i], out_pad[i]
            )
            for i in range(m)
        ]
    else:
        c_out = w.shape[0]
        sizes = [
            conv_output_size(x.shape[2 + i], k[i], stride[i], padding[i], dilation[i])
            for i in range(m)
        ]
    if any(s <= 0 for s in sizes) or x.shape[1] != (
        w.shape[0] if transposed else w.shape[1] * groups
    ):
        return None  # let the real kernel raise its own error
    return _empty((x.shape[0], c_out, *sizes), x)


def _max_pool(args: Sequence[Any]) -> tuple[Tensor, Tensor] | None:
    x = args[0]
    kernel = list(args[1])
    m = len(kernel)
    if x.dim() != m + 2:
        return None
    stride = _ints(args[2], m) if len(args) > 2 and args[2] else kernel
    padding = _ints(args[3], m) if len(args) > 3 else [0] * m
    dilation = _ints(args[4], m) if len(args) > 4 else [1] * m
    ceil_mode = bool(args[5]) if len(args) > 5 else False
    if stride is None or padding is None or dilation is None:
        return None
    sizes = [
        pool_output_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode)
        for i in range(m)
    ]
    if any(s <= 0 for s in sizes):
        return None
    shape = (*x.shape[:2], *sizes)
    return _empty(shape, x), torch.empty(shape, dtype=torch.int64, device=_META)


def _avg_pool(args: Sequence[Any]) -> Tensor | None:
    x = args[0]
    kernel = list(args[1])
    m = len(kernel)
    if x.dim() != m + 2:
        return None
    stride = _ints(args[2], m) if len(args) > 2 and args[2] else kernel
    padding = _ints(args[3], m) if len(args) > 3 else [0] * m
    ceil_mode = bool(args[4]) if len(args) > 4 else False
    if stride is None or padding is None:
        return None
    sizes = [
        pool_output_size(x.shape[2 + i], kernel[i], stride[i], padding[i], 1, ceil_mode)
        for i in range(m)
    ]
    if any(s <= 0 for s in sizes):
        return None
    return _empty((*x.shape[:2], *sizes), x)


def _batch_norm(name: str, args: Sequence[Any]) -> tuple[Tensor, Tensor, Tensor] | None:
    x = args[0]
    if x.dim() < 2:
        return None
    stats = (0,) if name == "_native_batch_norm_legit_no_training" else (x.shape[1],)
    return _empty(x.shape, x), _empty(stats, x), _empty(stats, x)


def _addmm(args: Sequence[Any]) -> Tensor | None:
    m1, m2 = args[1], args[2]
    if m1.dim() != 2 or m2.dim() != 2 or m1.shape[1] != m2.shape[0]:
        return None
    return _empty((m1.shape[0], m2.shape[1]), m1)


def _reduce(args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor | None:
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = bool(args[2]) if len(args) > 2 else bool(kwargs.get("keepdim", False))
    if (len(args) > 3 and args[3] is not None) or kwargs.get("dtype") is not None:
        return None
    nd = x.dim()
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        dims = list(range(nd))
    elif isinstance(dims, int):
        dims = [dims]
    if nd == 0 or not all(isinstance(d, int) and -nd <= d < nd for d in dims):
        return None
    reduced = {d % nd for d in dims}
    shape = [1 if i in reduced else n for i, n in enumerate(x.shape) if keepdim or i not in reduced]
    return _empty(shape, x)


def _cat(args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor | None:
    tensors = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not isinstance(tensors, (list, tuple)) or not tensors or kwargs.keys() - {"dim"}:
        return None
    first = tensors[0]
    nd = first.dim()
    if nd == 0 or not isinstance(dim, int) or not -nd <= dim < nd:
        return None
    dim %= nd
    total = 0
    head, tail = first.shape[:dim], first.shape[dim + 1 :]
    for t in tensors:
        if not isinstance(t, Tensor) or not t.is_meta or t.dtype != first.dtype:
            return None
        shape = t.shape
        if len(shape) != nd or shape[:dim] != head or shape[dim + 1 :] != tail:
            return None
        total += shape[dim]
    shape = list(first.shape)
    shape[dim] = total
    return _empty(shape, first)


def _stack(args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor | None:
    tensors = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not isinstance(tensors, (list, tuple)) or not tensors or kwargs.keys() - {"dim"}:
        return None
    first = tensors[0]
    nd = first.dim() + 1
    if not isinstance(dim, int) or not -nd <= dim < nd:
        return None
    for t in tensors:
        if (
            not isinstance(t, Tensor)
            or not t.is_meta
            or t.shape != first.shape
            or t.dtype != first.dtype
        ):
            return None
    shape = list(first.shape)
    shape.insert(dim % nd, len(tensors))
    return _empty(shape, first)


def _layer_norm(args: Sequence[Any]) -> tuple[Tensor, Tensor, Tensor] | None:
    x, normalized = args[0], list(args[1])
    k = len(normalized)
    if list(x.shape[x.dim() - k :]) != normalized:
        return None
    stats = (*x.shape[: x.dim() - k], *([1] * k))
    return _empty(x.shape, x), _empty(stats, x), _empty(stats, x)


_UNARY = frozenset(
    str.split(
        "relu relu6 sigmoid tanh hardtanh hardswish hardsigmoid silu gelu mish leaky_relu elu "
        "softplus neg abs exp sqrt rsqrt reciprocal clamp clamp_min clamp_max threshold"
    )
)
_BINARY = frozenset(str.split("add sub mul div rsub maximum minimum pow"))


def fast_output(func: Any, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The op's meta output(s) from a shape formula, or ``None`` to run the real meta kernel."""
    if name == "cat" and args:
        return _cat(args, kwargs)
    if name == "stack" and args:
        return _stack(args, kwargs)
    if not args or not isinstance(args[0], Tensor) or not args[0].is_meta:
        return None
    x: Tensor = args[0]
    in_place = func.overloadpacket.__name__.endswith("_")
    if name in _UNARY:
        return x if in_place else _empty(x.shape, x)
    if name in _BINARY and len(args) >= 2:
        other = args[1]
        if isinstance(other, Tensor):
            if not other.is_meta:
                return None
            shape = x.shape if x.shape == other.shape else _broadcast(x.shape, other.shape)
            if shape is None:
                return None
            dtype = torch.result_type(x, other)
        else:
            shape, dtype = x.shape, torch.result_type(x, other)
        if in_place:
            return x if shape == x.shape else None
        return torch.empty(shape, dtype=dtype, device=_META)
    if name in ("mean", "sum", "amax", "amin"):
        return _reduce(args, kwargs)
    if kwargs:
        return None
    if name in ("_softmax", "_log_softmax", "_safe_softmax"):
        return _empty(x.shape, x)
    if name == "native_layer_norm":
        return _layer_norm(args)
    if name == "convolution":
        return _conv(args)
    if name in (
        "native_batch_norm",
        "_native_batch_norm_legit_no_training",
        "_native_batch_norm_legit",
    ):
        return _batch_norm(name, args)
    if name in ("max_pool2d_with_indices", "max_pool3d_with_indices"):
        return _max_pool(args)
    if name in ("avg_pool2d", "avg_pool3d"):
        return _avg_pool(args)
    if name == "addmm":
        return _addmm(args)
    if (
        name == "mm"
        and len(args) == 2
        and x.dim() == 2
        and args[1].dim() == 2
        and x.shape[1] == args[1].shape[0]
    ):
        return _empty((x.shape[0], args[1].shape[1]), x)
    if name == "bmm" and len(args) == 2 and x.dim() == 3 and args[1].dim() == 3:
        b = args[1]
        if x.shape[0] == b.shape[0] and x.shape[2] == b.shape[1]:
            return _empty((x.shape[0], x.shape[1], b.shape[2]), x)
    return None
