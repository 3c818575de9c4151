"""Receptive fields, followed through every op of a forward pass.

Per spatial dimension a tensor carries ``(r, j, s)``: the size ``r`` of one
unit's field in input pixels, the jump ``j`` between neighbouring units, and
the centre ``s`` of the first unit's field (input pixel ``i`` has centre ``i``).
The input starts at ``(1, 1, 0)``.

Sliding windows (convolution, pooling), with ``k_eff = d(k − 1) + 1``::

    r_out = r_in + (k_eff − 1) · j_in
    j_out = j_in · stride
    s_out = s_in + ((k_eff − 1) / 2 − p) · j_in

Transposed convolution divides the jump by the stride; each output unit reads
the input units whose taps land on it, at most ``ceil(k_eff / stride)`` of
them, so ``r_out = r_in + span · j_in`` with the largest such span.

Merges (residual ``+``, Inception and DenseNet ``cat``, any elementwise op on
several tensors of the same spatial shape): the field is the union of the
inputs' fields, i.e. the largest when they are centred alike; the jumps must
agree, and a warning is recorded when they do not. A tensor broadcast over
space (the channel gate of SE, GC or SK blocks, computed from a globally pooled
vector) does not widen the field: we follow the spatial path, and the gate
itself sees the whole image.

Reductions over space (global pooling, ``mean``, ``flatten`` followed by a
linear layer) collapse a dimension: the result sees the whole extent of what
it reduced, ``r + (n − 1) · j`` for ``n`` units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cnnzoo.analysis.report import ReceptiveField

__all__ = [
    "collapse",
    "identity",
    "merge",
    "sliding_window",
    "transposed_window",
]

_TOL = 1e-6


def identity(ndim: int) -> ReceptiveField:
    """The input: every unit sees itself."""
    return ReceptiveField((1.0,) * ndim, (1.0,) * ndim, (0.0,) * ndim)


def _tail(values: Sequence[int], n: int, fill: int) -> list[int]:
    # An op's kernel may cover more dims than we track (LRN pools over
    # channels with a 3-D window) or fewer (a 1-D op on 2-D data).
    values = list(values)
    if len(values) >= n:
        return values[len(values) - n :]
    return [fill] * (n - len(values)) + values


def sliding_window(
    rf: ReceptiveField,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> ReceptiveField:
    """Convolution or pooling over the last ``len(kernel)`` dims (the formulas above)."""
    if not rf.spatial:
        return rf
    n = len(rf.size)
    k, st, p, d = (
        _tail(v, n, f) for v, f in ((kernel, 1), (stride, 1), (padding, 0), (dilation, 1))
    )
    size, jump, start = [], [], []
    for i in range(n):
        k_eff = d[i] * (k[i] - 1) + 1
        size.append(rf.size[i] + (k_eff - 1) * rf.stride[i])
        start.append(rf.start[i] + ((k_eff - 1) / 2 - p[i]) * rf.stride[i])
        jump.append(rf.stride[i] * st[i])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def _transposed_span(k: int, s: int, d: int) -> int:
    """Largest distance (in input units) between two input units feeding one output unit."""
    span = 0
    for residue in range(s):
        taps = [t for t in range(k) if (residue - d * t) % s == 0]
        if len(taps) > 1:
            span = max(span, (taps[-1] - taps[0]) * d // s)
    return span


def transposed_window(
    rf: ReceptiveField,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> ReceptiveField:
    """Transposed convolution: output ``o`` reads input ``i`` where ``o = i·s − p + d·t``."""
    if not rf.spatial:
        return rf
    n = len(rf.size)
    k, st, p, d = (
        _tail(v, n, f) for v, f in ((kernel, 1), (stride, 1), (padding, 0), (dilation, 1))
    )
    size, jump, start = [], [], []
    for i in range(n):
        k_eff = d[i] * (k[i] - 1) + 1
        size.append(rf.size[i] + _transposed_span(k[i], st[i], d[i]) * rf.stride[i])
        # Output 0 sits at input coordinate (p − (k_eff − 1)/2) / s, midway through its taps.
        start.append(rf.start[i] + (p[i] - (k_eff - 1) / 2) / st[i] * rf.stride[i])
        jump.append(rf.stride[i] / st[i])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def adaptive_window(
    rf: ReceptiveField, in_shape: Sequence[int], out_shape: Sequence[int]
) -> ReceptiveField:
    """Adaptive pooling: output ``o`` of ``m`` pools input ``[floor(o·n/m), ceil((o+1)·n/m))``."""
    if not rf.spatial:
        return rf
    n = len(rf.size)
    ins, outs = _tail(in_shape, n, 1), _tail(out_shape, n, 1)
    size, jump, start = [], [], []
    for i in range(n):
        a, m = ins[i], outs[i]
        widest = max(math.ceil((o + 1) * a / m) - (o * a) // m for o in range(m))
        size.append(rf.size[i] + (widest - 1) * rf.stride[i])
        first = math.ceil(a / m)  # window of output 0 is [0, ceil(a/m))
        start.append(rf.start[i] + (first - 1) / 2 * rf.stride[i])
        jump.append(rf.stride[i] * a / m)
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def resample(
    rf: ReceptiveField, in_shape: Sequence[int], out_shape: Sequence[int], taps: int
) -> ReceptiveField:
    """Upsampling by ``f = out/in``: ``taps`` input units per output (1 nearest, 2 linear, 4 cubic)."""
    if not rf.spatial:
        return rf
    n = len(rf.size)
    ins, outs = _tail(in_shape, n, 1), _tail(out_shape, n, 1)
    size, jump, start = [], [], []
    for i in range(n):
        f = outs[i] / ins[i]
        size.append(rf.size[i] + (taps - 1) * rf.stride[i])
        jump.append(rf.stride[i] / f)
        # Output 0 samples input coordinate (0.5 / f − 0.5) (half-pixel centres).
        centre = 0.0 if taps == 1 else 0.5 / f - 0.5
        start.append(rf.start[i] + centre * rf.stride[i])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def shift(
    rf: ReceptiveField, offsets: Sequence[float], steps: Sequence[int] | None = None
) -> ReceptiveField:
    """Padding (negative offsets) or cropping/slicing (positive offsets, optional step)."""
    if not rf.spatial:
        return rf
    n = len(rf.size)
    steps = list(steps) if steps is not None else [1] * n
    start = tuple(rf.start[i] + offsets[i] * rf.stride[i] for i in range(n))
    jump = tuple(rf.stride[i] * steps[i] for i in range(n))
    return ReceptiveField(rf.size, jump, start)


def collapse(rf: ReceptiveField, extent: Sequence[int]) -> ReceptiveField:
    """Reduce the spatial dims away: the result sees all ``extent`` units of ``rf``."""
    if not rf.spatial:
        return rf
    n = len(rf.size)
    ext = _tail(extent, n, 1)
    size = tuple(rf.size[i] + (ext[i] - 1) * rf.stride[i] for i in range(n))
    start = tuple(rf.start[i] + (ext[i] - 1) / 2 * rf.stride[i] for i in range(n))
    jump = tuple(rf.stride[i] * ext[i] for i in range(n))
    return ReceptiveField(size, jump, start, spatial=False)


def merge(fields: Sequence[ReceptiveField]) -> tuple[ReceptiveField, str | None]:
    """Union of the inputs' fields at a merge; a warning if their jumps differ.

    Spatial fields win over collapsed ones (a gate broadcast over space does
    not widen the field of the path it scales).
    """
    spatial = [f for f in fields if f.spatial]
    pool = spatial or list(fields)
    if len(pool) == 1:
        return pool[0], None
    first = pool[0]
    if all(f.start == first.start and f.stride == first.stride for f in pool):
        # Centred alike (the usual case): the union is the largest.
        size = tuple(map(max, zip(*(f.size for f in pool), strict=True)))
        return ReceptiveField(size, first.stride, first.start, spatial=bool(spatial)), None
    n = len(pool[0].size)
    warning = None
    jump0 = pool[0].stride
    if spatial and any(
        f.stride != jump0
        and any(abs(f.stride[i] - jump0[i]) > _TOL * max(1.0, jump0[i]) for i in range(n))
        for f in pool
    ):
        jumps = sorted({tuple(f.stride) for f in pool})
        warning = f"merge of fields with different jumps {jumps}; the largest is kept"
    lo, hi, jmax = [math.inf] * n, [-math.inf] * n, [0.0] * n
    for f in pool:
        for i in range(n):
            half = (f.size[i] - 1) / 2
            lo[i] = min(lo[i], f.start[i] - half)
            hi[i] = max(hi[i], f.start[i] + half)
            jmax[i] = max(jmax[i], f.stride[i])
    size = tuple(hi[i] - lo[i] + 1 for i in range(n))
    start = tuple((hi[i] + lo[i]) / 2 for i in range(n))
    jump = tuple(jmax)
    return ReceptiveField(size, jump, start, spatial=bool(spatial)), warning


# --- ATen ops -------------------------------------------------------------

_POOLS = {
    # name: (kernel arg, stride arg, padding arg, dilation arg or None)
    "max_pool1d": (1, 2, 3, 4),
    "max_pool2d_with_indices": (1, 2, 3, 4),
    "max_pool3d_with_indices": (1, 2, 3, 4),
    "avg_pool1d": (1, 2, 3, None),
    "avg_pool2d": (1, 2, 3, None),
    "avg_pool3d": (1, 2, 3, None),
}
_ADAPTIVE = {
    "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
}  # fmt: skip
_RESAMPLE = {
    "upsample_nearest1d": 1, "upsample_nearest2d": 1, "upsample_nearest3d": 1,
    "_upsample_nearest_exact1d": 1, "_upsample_nearest_exact2d": 1,
    "_upsample_nearest_exact3d": 1, "upsample_linear1d": 2, "upsample_bilinear2d": 2,
    "_upsample_bilinear2d_aa": 2, "upsample_trilinear3d": 2, "upsample_bicubic2d": 4,
    "_upsample_bicubic2d_aa": 4,
}  # fmt: skip
_PADS = {
    "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
    "replication_pad1d", "replication_pad2d", "replication_pad3d",
}  # fmt: skip


SPATIAL_OPS = frozenset(
    (
        "convolution",
        "_convolution",
        "convolution_overrideable",
        "slice",
        *_POOLS,
        *_ADAPTIVE,
        *_RESAMPLE,
        *_PADS,
    )
)


def _as_list(v: object, n: int) -> list[int]:
    if isinstance(v, int):
        return [v] * n
    v = list(v)  # type: ignore[call-overload]
    return v * n if len(v) == 1 else v


def _spatial(shape: Sequence[int], n: int) -> tuple[int, ...] | None:
    return tuple(shape[-n:]) if len(shape) >= n + 1 else None


def propagate(
    name: str,
    args: Sequence[object],
    x: object,
    out_shape: Sequence[int],
    rf_in: ReceptiveField,
    n: int,
) -> ReceptiveField | None:
    """Field of an op's output from its main input's field, for ops that move in space.

    Returns ``None`` for ops without a spatial rule; the caller then treats
    them as elementwise (same spatial shape) or as a reduction.
    """
    in_shape = tuple(x.shape)  # type: ignore[attr-defined]
    if name in ("convolution", "_convolution", "convolution_overrideable"):
        w = args[1]
        m = w.dim() - 2  # type: ignore[attr-defined]
        kernel = list(w.shape[2:])  # type: ignore[attr-defined]
        stride, padding, dilation = (_as_list(args[i], m) for i in (3, 4, 5))
        if bool(args[6]):
            return transposed_window(rf_in, kernel, stride, padding, dilation)
        return sliding_window(rf_in, kernel, stride, padding, dilation)
    if name in _POOLS:
        ka, sa, pa, da = _POOLS[name]
        kernel = list(args[ka])  # type: ignore[call-overload]
        m = len(kernel)
        stride = _as_list(args[sa], m) if len(args) > sa and args[sa] else kernel
        padding = _as_list(args[pa], m) if len(args) > pa else [0] * m
        dilation = _as_list(args[da], m) if da is not None and len(args) > da else [1] * m
        return sliding_window(rf_in, kernel, stride, padding, dilation)
    if name in _ADAPTIVE:
        return adaptive_window(rf_in, in_shape, out_shape)
    if name in _RESAMPLE:
        return resample(rf_in, in_shape, out_shape, _RESAMPLE[name])
    if name in _PADS:
        pad = list(args[1])  # type: ignore[call-overload]
        # pad lists (before, after) pairs from the last dim backwards.
        before = [0] * n
        for i in range(min(len(pad) // 2, n)):
            before[n - 1 - i] = -pad[2 * i]
        return shift(rf_in, before)
    if name == "slice" and len(in_shape) >= n + 1:
        dim = int(args[1]) if len(args) > 1 else 0  # type: ignore[call-overload]
        dim = dim % len(in_shape)
        pos = dim - (len(in_shape) - n)
        if pos < 0:
            return None
        size = in_shape[dim]
        begin = args[2] if len(args) > 2 and args[2] is not None else 0
        begin = int(begin)  # type: ignore[call-overload]
        begin = max(0, min(size, begin + size if begin < 0 else begin))
        step = int(args[4]) if len(args) > 4 else 1  # type: ignore[call-overload]
        offsets = [0.0] * n
        steps = [1] * n
        offsets[pos], steps[pos] = begin, step
        return shift(rf_in, offsets, steps)
    return None


def elementwise(
    fields: Sequence[tuple[ReceptiveField, tuple[int, ...]]], out_shape: Sequence[int], n: int
) -> tuple[ReceptiveField | None, str | None]:
    """Any op without a spatial rule: merge the inputs of the output's spatial shape.

    Inputs whose spatial shape differs (a flatten, a reduction, a reshape that
    mixes space into channels) are collapsed first: the output may depend on
    every position they hold. Inputs broadcast over space (1×…×1) are gates.
    """
    out_sp = _spatial(out_shape, n)
    parts: list[ReceptiveField] = []
    for rf, shape in fields:
        sp = _spatial(shape, n)
        if out_sp is not None and sp == out_sp:
            parts.append(rf)
        elif sp is not None and out_sp is not None and all(s == 1 for s in sp):
            parts.append(rf if not rf.spatial else collapse(rf, sp))
        else:
            parts.append(collapse(rf, sp) if sp is not None else rf)
    if not parts:
        return None, None
    return merge(parts)
