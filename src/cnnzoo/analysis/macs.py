"""Counting rules, one per ATen op: ``(macs, other_ops)`` for each call.

``macs`` (multiply-accumulates) holds the products of weights and activations
that papers count as "FLOPs" or "multiply-adds"; ``other_ops`` holds the rest,
one count per elementary operation, so it can be compared with tools that add
it in.

Rules (``N`` batch, ``numel`` the number of output elements unless stated):

* convolution: ``N · prod(out_spatial) · C_out · (C_in / groups) · prod(k)``
  MACs; dilation and stride change only the output size. Transposed
  convolution scatters every input element to ``(C_out / groups) · prod(k)``
  outputs: ``N · prod(in_spatial) · C_in · (C_out / groups) · prod(k)``.
  A bias adds ``numel`` other ops.
* linear, ``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``matmul``: ``M · K · N`` MACs
  per product (times the batch for ``bmm``); the added term of
  ``addmm``/``baddbmm`` (a linear bias) is ``numel`` other ops.
* batch norm: 2 per element (normalise, then scale and shift; at inference
  both fold into one multiply-add). Layer, group and instance norm: 5 per
  element (mean, variance, normalise, scale, shift).
* LRN has no ATen op of its own: PyTorch computes it from ``mul``,
  ``avg_pool3d``, ``add``, ``pow`` and ``div``, and each is counted.
* pooling with a window: ``prod(k)`` per output element (comparisons or
  additions); adaptive pooling and ``mean``/``sum``/``amax`` reductions: one per
  input element.
* activations and elementwise arithmetic (``add``, ``mul``, ``relu``,
  ``sigmoid``, ``hardswish``, …): 1 per output element; softmax 3 (exp, sum, divide).
* interpolation: nearest 0 (a copy), linear ``2^m``, cubic ``4^m`` per output
  element for ``m`` spatial dims.
* concatenation, views, copies, padding, indexing, dropout at inference: 0.

Any op without a rule is *unknown*: it is reported by name on its layer and
in ``AnalysisReport.unknown_ops`` instead of being counted as zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

__all__ = ["conv_macs", "count", "op_name"]

Count = tuple[int, int]


def op_name(func: Any) -> str:
    """``aten.relu_.default`` → ``"relu"`` (in-place ops count as their functional twin)."""
    name = func.overloadpacket.__name__
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name


def conv_macs(
    in_chans: int,
    out_chans: int,
    kernel: Sequence[int],
    out_spatial: Sequence[int],
    groups: int = 1,
    batch: int = 1,
    transposed: bool = False,
    in_spatial: Sequence[int] | None = None,
) -> int:
    """MACs of one convolution (formula in the module docstring)."""
    k = math.prod(kernel)
    if transposed:
        assert in_spatial is not None
        return batch * math.prod(in_spatial) * in_chans * (out_chans // groups) * k
    return batch * math.prod(out_spatial) * out_chans * (in_chans // groups) * k


def _numel(out: Any) -> int:
    if isinstance(out, Tensor):
        return out.numel()
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0].numel()
    return 0


def _conv(args: Sequence[Any], out: Any) -> Count:
    x, w, bias = args[0], args[1], args[2]
    transposed = bool(args[6]) if len(args) > 6 else False
    groups = int(args[8]) if len(args) > 8 else 1
    y = out
    if transposed:
        # weight: (C_in, C_out / groups, *k)
        macs = conv_macs(
            w.shape[0],
            w.shape[1] * groups,
            w.shape[2:],
            y.shape[2:],
            groups,
            x.shape[0],
            True,
            x.shape[2:],
        )
    else:
        # weight: (C_out, C_in / groups, *k)
        macs = conv_macs(
            w.shape[1] * groups, w.shape[0], w.shape[2:], y.shape[2:], groups, x.shape[0]
        )
    return macs, (y.numel() if bias is not None else 0)


def _addmm(args: Sequence[Any], out: Any) -> Count:
    m1, m2 = args[1], args[2]
    return m1.shape[0] * m1.shape[1] * m2.shape[1], out.numel()


def _mm(args: Sequence[Any], out: Any) -> Count:
    a, b = args[0], args[1]
    return a.shape[0] * a.shape[1] * b.shape[1], 0


def _bmm(args: Sequence[Any], out: Any) -> Count:
    a, b = args[0], args[1]
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], 0


def _baddbmm(args: Sequence[Any], out: Any) -> Count:
    a, b = args[1], args[2]
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], out.numel()


def _mv(args: Sequence[Any], out: Any) -> Count:
    return args[0].numel(), 0


def _dot(args: Sequence[Any], out: Any) -> Count:
    return args[0].numel(), 0


def _sdpa(args: Sequence[Any], out: Any) -> Count:
    # Q·Kᵀ and softmax·V: two products of (L × E)·(E × S) per batch and head.
    q, k = args[0], args[1]
    batch = math.prod(q.shape[:-2])
    length, embed, source = q.shape[-2], q.shape[-1], k.shape[-2]
    return 2 * batch * length * embed * source, 3 * batch * length * source


def _per_element(n: int) -> Callable[[Sequence[Any], Any], Count]:
    def rule(args: Sequence[Any], out: Any) -> Count:
        return 0, n * _numel(out)

    return rule


def _window(kernel_arg: int) -> Callable[[Sequence[Any], Any], Count]:
    def rule(args: Sequence[Any], out: Any) -> Count:
        return 0, _numel(out) * math.prod(args[kernel_arg])

    return rule


def _per_input(args: Sequence[Any], out: Any) -> Count:
    return 0, args[0].numel()


def _interp(taps_per_dim: int) -> Callable[[Sequence[Any], Any], Count]:
    def rule(args: Sequence[Any], out: Any) -> Count:
        m = max(out.dim() - 2, 1)
        return 0, out.numel() * taps_per_dim**m

    return rule


def _zero(args: Sequence[Any], out: Any) -> Count:
    return 0, 0


_RULES: dict[str, Callable[[Sequence[Any], Any], Count]] = {
    "convolution": _conv,
    "_convolution": _conv,
    "convolution_overrideable": _conv,
    "addmm": _addmm,
    "mm": _mm,
    "bmm": _bmm,
    "baddbmm": _baddbmm,
    "mv": _mv,
    "addmv": _mv,
    "dot": _dot,
    "_scaled_dot_product_flash_attention_for_cpu": _sdpa,
    "_scaled_dot_product_efficient_attention": _sdpa,
    "_scaled_dot_product_flash_attention": _sdpa,
    "_scaled_dot_product_cudnn_attention": _sdpa,
    "native_batch_norm": _per_element(2),
    "_native_batch_norm_legit": _per_element(2),
    "_native_batch_norm_legit_no_training": _per_element(2),
    "_native_batch_norm_legit_functional": _per_element(2),
    "native_layer_norm": _per_element(5),
    "native_group_norm": _per_element(5),
    "_softmax": _per_element(3),
    "_log_softmax": _per_element(3),
    "_safe_softmax": _per_element(3),
    "max_pool1d": _window(1),
    "max_pool2d_with_indices": _window(1),
    "max_pool3d_with_indices": _window(1),
    "avg_pool1d": _window(1),
    "avg_pool2d": _window(1),
    "avg_pool3d": _window(1),
    "_adaptive_avg_pool2d": _per_input,
    "_adaptive_avg_pool3d": _per_input,
    "adaptive_avg_pool1d": _per_input,
    "adaptive_max_pool2d": _per_input,
    "adaptive_max_pool3d": _per_input,
    "adaptive_max_pool1d": _per_input,
    "mean": _per_input,
    "sum": _per_input,
    "amax": _per_input,
    "amin": _per_input,
    "max": _per_input,
    "min": _per_input,
    "var": _per_input,
    "var_mean": _per_input,
    "std": _per_input,
    "upsample_nearest1d": _zero,
    "upsample_nearest2d": _zero,
    "upsample_nearest3d": _zero,
    "_upsample_nearest_exact1d": _zero,
    "_upsample_nearest_exact2d": _zero,
    "_upsample_nearest_exact3d": _zero,
    "upsample_linear1d": _interp(2),
    "upsample_bilinear2d": _interp(2),
    "_upsample_bilinear2d_aa": _interp(2),
    "upsample_trilinear3d": _interp(2),
    "upsample_bicubic2d": _interp(4),
    "_upsample_bicubic2d_aa": _interp(4),
}

# One elementary operation per output element.
_ELEMENTWISE = str.split(
    "add sub rsub mul div neg abs sign reciprocal sqrt rsqrt exp exp2 expm1 log log2 log1p "
    "pow relu relu6 gelu silu mish sigmoid tanh hardtanh hardswish hardsigmoid leaky_relu "
    "elu selu celu prelu _prelu_kernel rrelu_with_noise softplus softsign threshold clamp "
    "clamp_min clamp_max maximum minimum where erf addcmul addcdiv lerp logical_not "
    "logical_and logical_or eq ne lt le gt ge bitwise_and native_dropout bernoulli "
    "glu hardshrink softshrink logit square floor ceil round trunc frac fmod remainder"
)

# Data movement, views, creation and bookkeeping: known, and free.
_FREE = str.split(
    "view _unsafe_view reshape _reshape_alias flatten unflatten squeeze unsqueeze t transpose "
    "permute expand expand_as contiguous clone copy _to_copy to detach alias lift_fresh "
    "lift_fresh_copy slice select index index_select gather narrow split split_with_sizes "
    "unbind chunk cat stack constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d "
    "replication_pad1d replication_pad2d replication_pad3d pad empty empty_like empty_strided "
    "new_empty new_empty_strided zeros zeros_like ones ones_like full full_like new_zeros "
    "new_ones new_full fill zero arange scalar_tensor channel_shuffle pixel_shuffle "
    "pixel_unshuffle roll flip repeat tile as_strided dropout feature_dropout alpha_dropout "
    "_local_scalar_dense masked_fill index_put scatter unfold im2col col2im set_ "
    "_has_compatible_shallow_copy_type resize _assert_tensor_metadata"
)

for _n in _ELEMENTWISE:
    _RULES.setdefault(_n, _per_element(1))
for _n in _FREE:
    _RULES.setdefault(_n, _zero)

# Ops whose outputs are views or copies of their input: their rows are not
# shown in the per-layer table.
FREE_OPS = frozenset(_FREE)


def count(name: str, args: Sequence[Any], out: Any) -> Count | None:
    """``(macs, other_ops)`` of one call of the ATen op ``name``; ``None`` if it has no rule."""
    rule = _RULES.get(name)
    if rule is None:
        return None
    return rule(args, out)
