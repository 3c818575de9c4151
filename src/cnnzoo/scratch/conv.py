"""2-D convolution and transposed convolution, forward and backward, by hand.

"Convolution" here is what every deep-learning library computes: cross-correlation
(Goodfellow, Bengio, Courville, *Deep Learning*, 2016, §9.1), the kernel is not flipped::

    out[n, o, y, x] = b[o] + Σ_{c, i, j} w[o, c, i, j] · x_pad[n, g·C_g + c, y·s_h + i·d_h, x·s_w + j·d_w]

where ``g = o // (O / groups)`` is the group of output map ``o`` and ``C_g = C / groups``.
The output size along each axis is ``floor((H + 2p - d(k - 1) - 1) / s) + 1``.

Two implementations of the same formula:

* ``conv2d_forward_naive`` / ``conv2d_backward_naive``: four nested loops, one dot
  product per output pixel. Read these first; they are slow.
* ``conv2d_forward`` / ``conv2d_backward``: im2col + GEMM. The input windows are
  laid out as the columns of a matrix (a strided *view* of the padded input, no
  copy until the matrix product), so the convolution is one matrix product per
  group; the backward pass is two matrix products and a col2im scatter-add.

Backward, for ``L`` the loss and ``δ = ∂L/∂out``:

* ``∂L/∂b[o] = Σ_{n,y,x} δ[n, o, y, x]``
* ``∂L/∂w[o, c, i, j] = Σ_{n,y,x} δ[n, o, y, x] · x_pad[n, g·C_g + c, y·s_h + i·d_h, x·s_w + j·d_w]``
  (a correlation of the input with the output gradient)
* ``∂L/∂x_pad[n, g·C_g + c, y·s_h + i·d_h, x·s_w + j·d_w] += Σ_o w[o, c, i, j] · δ[n, o, y, x]``
  (a "full" convolution of δ with the kernel: the transposed convolution), then
  the padding is cropped away.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnzoo.scratch._checks import Pair, check_ndim, out_size, pair

__all__ = [
    "conv2d_forward_naive",
    "conv2d_backward_naive",
    "conv2d_forward",
    "conv2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "im2col",
    "col2im",
]


class ConvGeometry(NamedTuple):
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int
    out_hw: Pair


def _geometry(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: int | Pair,
    padding: int | Pair,
    dilation: int | Pair,
    groups: int,
    what: str = "conv2d",
) -> ConvGeometry:
    check_ndim(x, 4, f"{what} input", "(N, C, H, W)")
    check_ndim(w, 4, f"{what} weight", "(C_out, C_in / groups, kH, kW)")
    s = pair(stride, f"{what} stride", minimum=1)
    p = pair(padding, f"{what} padding", minimum=0)
    d = pair(dilation, f"{what} dilation", minimum=1)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{what} groups must be a positive int; got {groups!r}")
    c, o, cg = x.shape[1], w.shape[0], w.shape[1]
    if c % groups or o % groups:
        raise ValueError(
            f"{what}: groups={groups} must divide the input channels ({c}, input shape "
            f"{tuple(x.shape)}) and the output channels ({o}, weight shape {tuple(w.shape)})"
        )
    if cg * groups != c:
        raise ValueError(
            f"{what}: input shape {tuple(x.shape)} has {c} channels but weight shape "
            f"{tuple(w.shape)} with groups={groups} expects {cg * groups}"
        )
    if b is not None and tuple(b.shape) != (o,):
        raise ValueError(f"{what}: bias shape {tuple(b.shape)} must be ({o},) for weight {tuple(w.shape)}")
    try:
        hw = tuple(
            out_size(x.shape[2 + a], w.shape[2 + a], s[a], p[a], d[a], what=what) for a in range(2)
        )
    except ValueError as e:
        raise ValueError(f"{e}; input shape {tuple(x.shape)}, weight shape {tuple(w.shape)}") from None
    return ConvGeometry(s, p, d, int(groups), hw)  # type: ignore[arg-type]


def _pad(x: np.ndarray, padding: Pair, value: float = 0.0) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def im2col(
    x_pad: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair
) -> np.ndarray:
    """A read-only view ``cols`` of shape ``(N, C, kH, kW, H_out, W_out)`` with
    ``cols[n, c, i, j, y, x] = x_pad[n, c, y·s_h + i·d_h, x·s_w + j·d_w]``.

    No data is copied: the six strides are built from the four of ``x_pad``.
    Reshaped to ``(C·kH·kW, N·H_out·W_out)`` it is the im2col matrix.
    """
    n, c = x_pad.shape[:2]
    sn, sc, sh, sw = x_pad.strides
    return as_strided(
        x_pad,
        shape=(n, c, kernel[0], kernel[1], out_hw[0], out_hw[1]),
        strides=(sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1]),
        writeable=False,
    )


def col2im(
    cols: np.ndarray,
    padded_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The adjoint of :func:`im2col`: scatter-add ``cols`` ``(N, C, kH, kW, H_out, W_out)``
    back into an array of ``padded_shape`` ``(N, C, H_pad, W_pad)`` (or into ``out``).

    ``x_pad[n, c, y·s_h + i·d_h, x·s_w + j·d_w] += cols[n, c, i, j, y, x]`` — windows overlap
    when the stride is smaller than the kernel, so one strided add per kernel tap.
    """
    kh, kw, ho, wo = cols.shape[2:]
    if out is None:
        out = np.zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):
        y0 = i * dilation[0]
        for j in range(kw):
            x0 = j * dilation[1]
            out[:, :, y0 : y0 + stride[0] * (ho - 1) + 1 : stride[0],
                x0 : x0 + stride[1] * (wo - 1) + 1 : stride[1]] += cols[:, :, i, j]  # fmt: skip
    return out


# ---------------------------------------------------------------- naive loops


def conv2d_forward_naive(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    dilation: int | Pair = 1,
    groups: int = 1,
) -> tuple[np.ndarray, tuple]:
    """Convolution (cross-correlation) with one dot product per output pixel.

    ``out[n, o, y, x] = b[o] + Σ_{c,i,j} w[o, c, i, j] · x_pad[n, g·C_g + c, y·s_h + i·d_h, x·s_w + j·d_w]``

    Args:
        x: input ``(N, C, H, W)``.
        w: kernels ``(O, C / groups, kH, kW)``.
        b: bias ``(O,)`` or None.
        stride, padding, dilation: int or ``(h, w)`` pair; zero padding.
        groups: input and output channels are split into this many groups;
            output group ``g`` sees only input group ``g``.

    Returns:
        ``out`` ``(N, O, H_out, W_out)`` with ``H_out = floor((H + 2p_h - d_h(kH-1) - 1)/s_h) + 1``,
        and the cache for :func:`conv2d_backward_naive`.
    """
    geo = _geometry(x, w, b, stride, padding, dilation, groups)
    (sh, sw), (dh, dw), (ho, wo) = geo.stride, geo.dilation, geo.out_hw
    o, cg, kh, kw = w.shape
    og = o // geo.groups
    x_pad = _pad(x, geo.padding)
    out = np.zeros((x.shape[0], o, ho, wo), dtype=np.result_type(x, w))
    for n in range(x.shape[0]):
        for f in range(o):
            c0 = (f // og) * cg
            for y in range(ho):
                for xx in range(wo):
                    window = x_pad[n, c0 : c0 + cg,
                                   y * sh : y * sh + dh * (kh - 1) + 1 : dh,
                                   xx * sw : xx * sw + dw * (kw - 1) + 1 : dw]  # fmt: skip
                    out[n, f, y, xx] = np.sum(window * w[f])
    if b is not None:
        out += b[None, :, None, None]
    return out, (x, w, b, geo)


def conv2d_backward_naive(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward of :func:`conv2d_forward_naive`, one output pixel at a time.

    For every output pixel ``(n, o, y, x)`` with window ``W = x_pad[n, group, y·s_h + i·d_h, x·s_w + j·d_w]``:
    ``dw[o] += δ[n, o, y, x] · W`` and ``dx_pad[window] += δ[n, o, y, x] · w[o]``;
    ``db[o] = Σ_{n,y,x} δ[n, o, y, x]``.

    Args:
        dout: ``(N, O, H_out, W_out)``.

    Returns:
        ``dx`` ``(N, C, H, W)``, ``dw`` ``(O, C/groups, kH, kW)``, ``db`` ``(O,)`` (None if no bias).
    """
    x, w, b, geo = cache
    (sh, sw), (dh, dw_), (ho, wo) = geo.stride, geo.dilation, geo.out_hw
    o, cg, kh, kw = w.shape
    og = o // geo.groups
    x_pad = _pad(x, geo.padding)
    dx_pad = np.zeros_like(x_pad, dtype=np.result_type(dout, x))
    dw = np.zeros_like(w, dtype=np.result_type(dout, w))
    for n in range(x.shape[0]):
        for f in range(o):
            c0 = (f // og) * cg
            for y in range(ho):
                for xx in range(wo):
                    idx = (n, slice(c0, c0 + cg),
                           slice(y * sh, y * sh + dh * (kh - 1) + 1, dh),
                           slice(xx * sw, xx * sw + dw_ * (kw - 1) + 1, dw_))  # fmt: skip
                    dw[f] += dout[n, f, y, xx] * x_pad[idx]
                    dx_pad[idx] += dout[n, f, y, xx] * w[f]
    ph, pw = geo.padding
    dx = dx_pad[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    db = dout.sum(axis=(0, 2, 3)) if b is not None else None
    return dx, dw, db


# ------------------------------------------------------------- im2col + GEMM


def _conv_gemm(x_pad: np.ndarray, w: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """``out[n, o, y, x] = Σ_{c,i,j} w[o, c, i, j] · cols[n, g·C_g + c, i, j, y, x]`` (no bias)."""
    o, cg, kh, kw = w.shape
    og, n = o // geo.groups, x_pad.shape[0]
    cols = im2col(x_pad, (kh, kw), geo.stride, geo.dilation, geo.out_hw)
    out = np.empty((n, o, *geo.out_hw), dtype=np.result_type(x_pad, w))
    for g in range(geo.groups):
        # (O_g, C_g·kH·kW) @ (C_g·kH·kW, N·Ho·Wo): one GEMM per group; the reshape is the
        # only copy of the input windows (channel-major, so it reads long contiguous runs)
        cols_g = cols[:, g * cg : (g + 1) * cg].transpose(1, 2, 3, 0, 4, 5).reshape(cg * kh * kw, -1)
        prod = w[g * og : (g + 1) * og].reshape(og, -1) @ cols_g
        out[:, g * og : (g + 1) * og] = prod.reshape(og, n, *geo.out_hw).transpose(1, 0, 2, 3)
    return out


def _conv_grad_weight(x_pad: np.ndarray, dout: np.ndarray, w_shape: tuple, geo_like) -> np.ndarray:
    """``dw[o, c, i, j] = Σ_{n,y,x} δ[n, o, y, x] · cols[n, g·C_g + c, i, j, y, x]``; H_out from ``dout``."""
    o, cg, kh, kw = w_shape
    og, groups = o // geo_like.groups, geo_like.groups
    cols = im2col(x_pad, (kh, kw), geo_like.stride, geo_like.dilation, dout.shape[2:])
    dw = np.empty(w_shape, dtype=np.result_type(x_pad, dout))
    for g in range(groups):
        cols_g = cols[:, g * cg : (g + 1) * cg].transpose(1, 2, 3, 0, 4, 5).reshape(cg * kh * kw, -1)
        d_g = dout[:, g * og : (g + 1) * og].transpose(1, 0, 2, 3).reshape(og, -1)
        dw[g * og : (g + 1) * og] = (d_g @ cols_g.T).reshape(og, cg, kh, kw)
    return dw


def _conv_grad_input(dout: np.ndarray, w: np.ndarray, padded_shape: tuple, geo_like) -> np.ndarray:
    """``dx_pad = col2im(Σ_o w[o, c, i, j] · δ[n, o, y, x])``; H_out from ``dout``."""
    o, cg, kh, kw = w.shape
    og, groups = o // geo_like.groups, geo_like.groups
    n, ho, wo = dout.shape[0], dout.shape[2], dout.shape[3]
    dx_pad = np.zeros(padded_shape, dtype=np.result_type(dout, w))
    for g in range(groups):
        # (C_g·kH·kW, O_g) @ (O_g, N·Ho·Wo), scattered back tap by tap (col2im reads a view)
        d_g = dout[:, g * og : (g + 1) * og].transpose(1, 0, 2, 3).reshape(og, -1)
        prod = w[g * og : (g + 1) * og].reshape(og, -1).T @ d_g
        dcols = prod.reshape(cg, kh, kw, n, ho, wo).transpose(3, 0, 1, 2, 4, 5)
        col2im(dcols, padded_shape, geo_like.stride, geo_like.dilation, out=dx_pad[:, g * cg : (g + 1) * cg])
    return dx_pad


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    dilation: int | Pair = 1,
    groups: int = 1,
) -> tuple[np.ndarray, tuple]:
    """Convolution by im2col + GEMM: the same formula as :func:`conv2d_forward_naive`.

    ``out[n, o, y, x] = b[o] + Σ_{c,i,j} w[o, c, i, j] · x_pad[n, g·C_g + c, y·s_h + i·d_h, x·s_w + j·d_w]``

    With ``cols`` the ``(C_g·kH·kW, N·H_out·W_out)`` matrix of input windows of group ``g``,
    ``out_g = W_g · cols_g`` with ``W_g`` the ``(O_g, C_g·kH·kW)`` kernel matrix.

    Args:
        x: ``(N, C, H, W)``; w: ``(O, C / groups, kH, kW)``; b: ``(O,)`` or None.
        stride, padding, dilation: int or ``(h, w)``; groups: divides C and O.

    Returns:
        ``out`` ``(N, O, H_out, W_out)``, ``H_out = floor((H + 2p_h - d_h(kH-1) - 1)/s_h) + 1``; cache.
    """
    geo = _geometry(x, w, b, stride, padding, dilation, groups)
    x_pad = _pad(x, geo.padding)
    out = _conv_gemm(x_pad, w, geo)
    if b is not None:
        out += b[None, :, None, None]
    return out, (x_pad, x.shape, w, b is not None, geo)


def conv2d_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward of :func:`conv2d_forward`.

    ``db[o] = Σ_{n,y,x} δ[n,o,y,x]``; ``dW_g = δ_g · cols_gᵀ`` ``(O_g, C_g·kH·kW)``;
    ``dcols_g = W_gᵀ · δ_g`` then ``dx = crop(col2im(dcols))``.

    Args:
        dout: ``(N, O, H_out, W_out)``.

    Returns:
        ``dx`` ``(N, C, H, W)``, ``dw`` ``(O, C/groups, kH, kW)``, ``db`` ``(O,)`` or None.
    """
    x_pad, x_shape, w, has_bias, geo = cache
    if dout.shape != (x_shape[0], w.shape[0], *geo.out_hw):
        raise ValueError(
            f"conv2d backward: dout shape {tuple(dout.shape)} does not match the forward "
            f"output shape {(x_shape[0], w.shape[0], *geo.out_hw)}"
        )
    dw = _conv_grad_weight(x_pad, dout, w.shape, geo)
    dx_pad = _conv_grad_input(dout, w, x_pad.shape, geo)
    ph, pw = geo.padding
    dx = dx_pad[:, :, ph : ph + x_shape[2], pw : pw + x_shape[3]]
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db


# --------------------------------------------------------- transposed conv


def conv_transpose2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    output_padding: int | Pair = 0,
    dilation: int | Pair = 1,
    groups: int = 1,
) -> tuple[np.ndarray, tuple]:
    """Transposed convolution ("deconvolution"): the adjoint of :func:`conv2d_forward` in ``x``.

    Every input pixel scatters a weighted copy of the kernel into the output::

        out_pad[n, g·O_g + o, y·s_h + i·d_h, x·s_w + j·d_w] += x[n, g·C_g + c, y, x] · w[g·C_g + c, o, i, j]
        out = out_pad[..., p_h : p_h + H_out, p_w : p_w + W_out] + b

    ``H_out = (H - 1)·s_h - 2p_h + d_h(kH - 1) + output_padding_h + 1``. It is exactly the
    input-gradient of a convolution with the same ``w``, stride, padding and dilation.

    Args:
        x: ``(N, C_in, H, W)``; w: ``(C_in, C_out / groups, kH, kW)`` (torch's layout);
        b: ``(C_out,)`` or None; output_padding: extra rows/columns at the end, smaller
        than the stride or the dilation.

    Returns:
        ``out`` ``(N, C_out, H_out, W_out)``; cache.
    """
    what = "conv_transpose2d"
    check_ndim(x, 4, f"{what} input", "(N, C_in, H, W)")
    check_ndim(w, 4, f"{what} weight", "(C_in, C_out / groups, kH, kW)")
    s = pair(stride, f"{what} stride", minimum=1)
    p = pair(padding, f"{what} padding", minimum=0)
    op = pair(output_padding, f"{what} output_padding", minimum=0)
    d = pair(dilation, f"{what} dilation", minimum=1)
    if not isinstance(groups, (int, np.integer)) or groups < 1 or x.shape[1] % groups:
        raise ValueError(f"{what}: groups={groups!r} must be a positive divisor of C_in={x.shape[1]}")
    if w.shape[0] != x.shape[1]:
        raise ValueError(
            f"{what}: input shape {tuple(x.shape)} has {x.shape[1]} channels but weight shape "
            f"{tuple(w.shape)} expects {w.shape[0]}"
        )
    if any(op[a] >= max(s[a], d[a]) for a in range(2)):
        raise ValueError(f"{what}: output_padding {op} must be smaller than stride {s} or dilation {d}")
    c_out = w.shape[1] * groups
    if b is not None and tuple(b.shape) != (c_out,):
        raise ValueError(f"{what}: bias shape {tuple(b.shape)} must be ({c_out},)")
    hw = tuple((x.shape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * (w.shape[2 + a] - 1) + op[a] + 1 for a in range(2))
    if min(hw) < 1:
        raise ValueError(f"{what}: padding {p} leaves no output for input shape {tuple(x.shape)}, weight {tuple(w.shape)}")
    geo = ConvGeometry(s, p, d, int(groups), hw)  # type: ignore[arg-type]  (out_hw: the output here)
    padded = (x.shape[0], c_out, hw[0] + 2 * p[0], hw[1] + 2 * p[1])
    out_pad = _conv_grad_input(x, w, padded, geo)
    out = out_pad[:, :, p[0] : p[0] + hw[0], p[1] : p[1] + hw[1]]
    if b is not None:
        out = out + b[None, :, None, None]
    return np.ascontiguousarray(out), (x, w, b is not None, geo)


def conv_transpose2d_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward of :func:`conv_transpose2d_forward`.

    The transposed convolution is ``out = Aᵀx`` with ``A`` the convolution by ``w``, so
    ``dx = A δ`` — an ordinary convolution of ``δ`` (zero-padded by ``p``) with ``w`` —
    and ``dw[c, o, i, j] = Σ_{n,y,x} x[n, c, y, x] · δ_pad[n, o, y·s_h + i·d_h, x·s_w + j·d_w]``;
    ``db[o] = Σ δ[n, o, ·, ·]``.

    Returns:
        ``dx`` ``(N, C_in, H, W)``, ``dw`` ``(C_in, C_out/groups, kH, kW)``, ``db`` or None.
    """
    x, w, has_bias, geo = cache
    dout_pad = _pad(dout, geo.padding)
    conv_geo = ConvGeometry(geo.stride, geo.padding, geo.dilation, geo.groups, tuple(x.shape[2:]))  # type: ignore[arg-type]
    dx = _conv_gemm(dout_pad, w, conv_geo)
    dw = _conv_grad_weight(dout_pad, x, w.shape, conv_geo)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db
