"""Output shapes of the most frequent ops, computed directly on the meta device.

PyTorch's meta kernels for convolution, batch norm, pooling and elementwise
arithmetic are Python decompositions that cost 50 µs to 1 ms a call; a
ResNet-152 makes about a thousand of them. For these ops the output shape is a
formula (the ones in ``shared/REFERENCE.md``), so we allocate the meta output
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


def _empty(shape: Sequence[int], like: Tensor) -> Tensor:
    # torch.empty is ten times faster than torch.empty_like on meta (no
    # Python stride logic); outputs are contiguous, as for a plain NCHW model.
    return torch.empty(shape, dtype=like.dtype, device="meta")


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
    return _empty(shape, x), torch.empty(shape, dtype=torch.int64, device="meta")


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


_UNARY = frozenset(
    str.split(
        "relu relu6 sigmoid tanh hardtanh hardswish hardsigmoid silu gelu mish leaky_relu elu "
        "softplus neg abs exp sqrt rsqrt reciprocal clamp clamp_min clamp_max threshold"
    )
)
_BINARY = frozenset(str.split("add sub mul div rsub maximum minimum pow"))


def fast_output(func: Any, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The op's meta output(s) from a shape formula, or ``None`` to run the real meta kernel."""
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
            shape = torch.broadcast_shapes(x.shape, other.shape)
            dtype = torch.result_type(x, other)
        else:
            shape, dtype = x.shape, torch.result_type(x, other)
        if in_place:
            return x if shape == x.shape else None
        return torch.empty(shape, dtype=dtype, device="meta")
    if kwargs:
        return None
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
    return None
