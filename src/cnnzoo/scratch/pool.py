"""Max, average and global average pooling, forward and backward.

Average pooling spreads each output gradient
evenly over its window, so the sum of gradients is unchanged; max pooling passes the
whole gradient to the one pixel that was the maximum (the "max id" recorded in the
forward pass) and zero to the others.
"""

from __future__ import annotations

import numpy as np

from cnnzoo.scratch._checks import Pair, check_ndim, out_size, pair
from cnnzoo.scratch.conv import _pad, col2im, im2col

__all__ = [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "global_avg_pool2d_forward",
    "global_avg_pool2d_backward",
]


def _pool_geometry(x, kernel_size, stride, padding, what):
    check_ndim(x, 4, f"{what} input", "(N, C, H, W)")
    k = pair(kernel_size, f"{what} kernel_size", minimum=1)
    s = pair(k if stride is None else stride, f"{what} stride", minimum=1)
    p = pair(padding, f"{what} padding", minimum=0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{what}: padding {p} must be at most half the kernel {k}")
    try:
        hw = tuple(out_size(x.shape[2 + a], k[a], s[a], p[a], 1, what=what) for a in range(2))
    except ValueError as e:
        raise ValueError(f"{e}; input shape {tuple(x.shape)}") from None
    return k, s, p, hw


def max_pool2d_forward(
    x: np.ndarray, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> tuple[np.ndarray, tuple]:
    """Max pooling: ``out[n, c, y, x] = max_{i,j} x_pad[n, c, y·s_h + i, x·s_w + j]``.

    Padding is with ``-inf`` (a padded pixel never wins). The arg-max of each window
    (the first one on ties, as torch does) is kept for the backward pass.

    Args:
        x: ``(N, C, H, W)``; kernel_size, stride (default: kernel_size), padding: int or pair.

    Returns:
        ``out`` ``(N, C, H_out, W_out)``, ``H_out = floor((H + 2p - k)/s) + 1``; cache.
    """
    k, s, p, hw = _pool_geometry(x, kernel_size, stride, padding, "max_pool2d")
    x_pad = _pad(x, p, value=-np.inf)
    cols = im2col(x_pad, k, s, (1, 1), hw)  # N, C, kH, kW, Ho, Wo
    flat = cols.transpose(0, 1, 4, 5, 2, 3).reshape(*x.shape[:2], *hw, k[0] * k[1])
    arg = flat.argmax(axis=-1)  # N, C, Ho, Wo: the "max id" of each window
    out = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    return out, (arg, x.shape, x_pad.shape, k, s, p)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """``dx[n, c, y·s_h + i*, x·s_w + j*] += δ[n, c, y, x]`` where ``(i*, j*)`` is the window's
    arg-max; every other pixel of the window gets nothing.

    Args:
        dout: ``(N, C, H_out, W_out)``.

    Returns:
        ``dx`` ``(N, C, H, W)``.
    """
    arg, x_shape, padded_shape, k, s, p = cache
    dx_pad = np.zeros(padded_shape, dtype=dout.dtype)
    ho, wo = dout.shape[2:]
    for i in range(k[0]):
        for j in range(k[1]):
            # the pixels at tap (i, j) receive the gradient of the windows whose max they were
            dx_pad[:, :, i : i + s[0] * (ho - 1) + 1 : s[0],
                   j : j + s[1] * (wo - 1) + 1 : s[1]] += np.where(arg == i * k[1] + j, dout, 0)  # fmt: skip
    return dx_pad[:, :, p[0] : p[0] + x_shape[2], p[1] : p[1] + x_shape[3]]


def avg_pool2d_forward(
    x: np.ndarray,
    kernel_size: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    count_include_pad: bool = True,
) -> tuple[np.ndarray, tuple]:
    """Average pooling: ``out[n, c, y, x] = (1/|R|) Σ_{(i,j)∈R} x_pad[n, c, y·s_h + i, x·s_w + j]``.

    ``|R| = kH·kW`` when ``count_include_pad`` (zero padding counts, torch's default),
    else the number of real (unpadded) pixels in the window.

    Args:
        x: ``(N, C, H, W)``; kernel_size, stride (default: kernel_size), padding: int or pair.

    Returns:
        ``out`` ``(N, C, H_out, W_out)``; cache.
    """
    k, s, p, hw = _pool_geometry(x, kernel_size, stride, padding, "avg_pool2d")
    x_pad = _pad(x, p)
    cols = im2col(x_pad, k, s, (1, 1), hw)
    if count_include_pad or p == (0, 0):
        count = np.full((1, 1, *hw), float(k[0] * k[1]))
    else:
        ones = _pad(np.ones((1, 1, *x.shape[2:])), p)
        count = im2col(ones, k, s, (1, 1), hw).sum(axis=(2, 3))
    out = (cols.sum(axis=(2, 3)) / count).astype(x.dtype, copy=False)
    return out, (x.shape, x_pad.shape, k, s, p, count)


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """``dx[n, c, y·s_h + i, x·s_w + j] += δ[n, c, y, x] / |R|`` for every ``(i, j)`` of the window.

    Returns:
        ``dx`` ``(N, C, H, W)``.
    """
    x_shape, padded_shape, k, s, p, count = cache
    share = (dout / count).astype(dout.dtype, copy=False)
    dcols = np.broadcast_to(share[:, :, None, None], (*dout.shape[:2], *k, *dout.shape[2:]))
    dx_pad = col2im(dcols, padded_shape, s, (1, 1))
    return dx_pad[:, :, p[0] : p[0] + x_shape[2], p[1] : p[1] + x_shape[3]]


def global_avg_pool2d_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Global average pooling (NiN, GoogLeNet): ``out[n, c] = (1/HW) Σ_{y,x} x[n, c, y, x]``.

    Shapes: ``(N, C, H, W) -> (N, C)``.
    """
    check_ndim(x, 4, "global_avg_pool2d input", "(N, C, H, W)")
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """``dx[n, c, y, x] = δ[n, c] / (HW)``. Shapes: ``(N, C) -> (N, C, H, W)``."""
    n, c, h, w = cache
    return np.broadcast_to((dout / (h * w))[:, :, None, None], cache).copy()
