"""Argument checks shared by the NumPy ops: bad input is a ValueError naming the shapes."""

from __future__ import annotations

import numpy as np

Pair = tuple[int, int]


def pair(value: int | tuple[int, int], name: str, *, minimum: int) -> Pair:
    """``3`` → ``(3, 3)``; ``(2, 1)`` stays; anything below ``minimum`` is a ValueError."""
    if isinstance(value, (int, np.integer)):
        out = (int(value), int(value))
    else:
        out = tuple(int(v) for v in value)
        if len(out) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints; got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    return out  # type: ignore[return-value]


def check_ndim(x: np.ndarray, ndim: int, name: str, layout: str) -> None:
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}; got shape {tuple(x.shape)}")


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int, *, what: str) -> int:
    """``floor((size + 2p - d(k-1) - 1) / s) + 1``, or a ValueError if the kernel does not fit."""
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(
            f"{what}: kernel extent {span} (kernel {kernel}, dilation {dilation}) is larger "
            f"than the padded input {size + 2 * padding} (size {size} + 2×padding {padding})"
        )
    return (size + 2 * padding - span) // stride + 1
