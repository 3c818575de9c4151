"""Normalisation layers: batch, layer, group and instance norm, and LRN.

Batch, layer, group and instance norm differ only in the axes the mean and
variance are taken over (Wu & He 2018, figure 2): for ``x`` of shape ``(N, C, H, W)``,

* batch norm: over ``(N, H, W)``, one statistic per channel;
* layer norm: over ``(C, H, W)``, one per sample;
* group norm: over ``(C/G, H, W)``, one per sample and group;
* instance norm: over ``(H, W)``, one per sample and channel (group norm with G = C).

With ``x̂ = (x - μ)/√(σ² + ε)`` over ``m`` elements, ``y = γ x̂ + β``, the backward pass
(Ioffe & Szegedy 2015, arXiv:1502.03167, §3) collapses to::

    ∂L/∂x = (1/√(σ² + ε)) · ( g - mean(g) - x̂ · mean(g · x̂) ),   g = γ · ∂L/∂y

with the means over the same axes.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "batchnorm_forward", "batchnorm_backward",
    "layernorm_forward", "layernorm_backward",
    "groupnorm_forward", "groupnorm_backward",
    "instancenorm_forward", "instancenorm_backward",
    "lrn_forward", "lrn_backward",
]  # fmt: skip


def _normalize(x: np.ndarray, axes: tuple[int, ...], eps: float) -> tuple[np.ndarray, np.ndarray]:
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mu) * inv_std, inv_std


def _normalize_backward(g: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return inv_std * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.ndim - 2)


def _check_affine(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, shape: tuple[int, ...], what: str) -> None:
    if tuple(gamma.shape) != shape or tuple(beta.shape) != shape:
        raise ValueError(
            f"{what}: gamma {tuple(gamma.shape)} and beta {tuple(beta.shape)} must have shape "
            f"{shape} for input {tuple(x.shape)}"
        )


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, tuple]:
    """Batch normalisation (Ioffe & Szegedy 2015, arXiv:1502.03167, Algorithm 1).

    Training: ``μ_B, σ²_B`` over ``(N, H, W)`` of each channel; ``x̂ = (x - μ_B)/√(σ²_B + ε)``;
    ``y = γ x̂ + β``; and, in place, ``running_mean ← (1 - m)·running_mean + m·μ_B``,
    ``running_var ← (1 - m)·running_var + m·σ²_B·M/(M - 1)`` (unbiased, as torch; ``M = N·H·W``).
    Evaluation: ``y = γ (x - running_mean)/√(running_var + ε) + β`` — a fixed affine map.

    Args:
        x: ``(N, C)`` or ``(N, C, H, W)``; gamma, beta, running_mean, running_var: ``(C,)``.

    Returns:
        ``y`` (shape of ``x``); cache.
    """
    if x.ndim not in (2, 4):
        raise ValueError(f"batchnorm: input must be (N, C) or (N, C, H, W); got shape {tuple(x.shape)}")
    c = x.shape[1]
    _check_affine(x, gamma, beta, (c,), "batchnorm")
    if running_mean.shape != (c,) or running_var.shape != (c,):
        raise ValueError(f"batchnorm: running statistics must have shape ({c},) for input {tuple(x.shape)}")
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    cs = _channel_shape(x)
    if training:
        m = x.size // c
        if m < 2:
            raise ValueError(f"batchnorm: training needs more than one value per channel; got input {tuple(x.shape)}")
        xhat, inv_std = _normalize(x, axes, eps)
        mu = x.mean(axis=axes)
        var = x.var(axis=axes)
        running_mean *= 1 - momentum
        running_mean += momentum * mu
        running_var *= 1 - momentum
        running_var += momentum * var * m / (m - 1)
    else:
        inv_std = (1.0 / np.sqrt(running_var + eps)).reshape(cs)
        xhat = (x - running_mean.reshape(cs)) * inv_std
    out = gamma.reshape(cs) * xhat + beta.reshape(cs)
    return out.astype(x.dtype, copy=False), (xhat, inv_std, gamma, axes, training)


def batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of :func:`batchnorm_forward`.

    ``dβ = Σ δ``, ``dγ = Σ δ·x̂`` (over ``(N, H, W)``); training:
    ``dx = (1/√(σ²_B + ε))(g - mean(g) - x̂·mean(g·x̂))`` with ``g = γδ``; evaluation:
    ``dx = γδ/√(running_var + ε)``.

    Returns:
        ``dx`` (shape of ``x``), ``dgamma`` ``(C,)``, ``dbeta`` ``(C,)``.
    """
    xhat, inv_std, gamma, axes, training = cache
    cs = _channel_shape(xhat)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    g = dout * gamma.reshape(cs)
    dx = _normalize_backward(g, xhat, inv_std, axes) if training else g * inv_std
    return dx, dgamma, dbeta


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Layer normalisation (Ba et al. 2016, arXiv:1607.06450): statistics over all axes but the first.

    ``x̂ = (x - μ_n)/√(σ²_n + ε)``, ``y = γ ⊙ x̂ + β`` with ``γ, β`` of shape ``x.shape[1:]``
    (torch's ``layer_norm(x, x.shape[1:], γ, β)``).
    """
    if x.ndim < 2:
        raise ValueError(f"layernorm: input must be (N, ...); got shape {tuple(x.shape)}")
    _check_affine(x, gamma, beta, tuple(x.shape[1:]), "layernorm")
    axes = tuple(range(1, x.ndim))
    xhat, inv_std = _normalize(x, axes, eps)
    return gamma * xhat + beta, (xhat, inv_std, gamma, axes)


def layernorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dβ = Σ_n δ``, ``dγ = Σ_n δ·x̂``, ``dx = (1/√(σ²_n + ε))(g - mean(g) - x̂·mean(g·x̂))``, ``g = γδ``."""
    xhat, inv_std, gamma, axes = cache
    return _normalize_backward(dout * gamma, xhat, inv_std, axes), (dout * xhat).sum(axis=0), dout.sum(axis=0)


def groupnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, num_groups: int, eps: float = 1e-5
) -> tuple[np.ndarray, tuple]:
    """Group normalisation (Wu & He 2018, arXiv:1803.08494): statistics over each group of
    ``C/G`` channels and all spatial positions, per sample; ``y = γ_c x̂ + β_c``.

    Args:
        x: ``(N, C, ...)``; gamma, beta: ``(C,)``; num_groups: ``G``, divides ``C``.
    """
    if x.ndim < 2:
        raise ValueError(f"groupnorm: input must be (N, C, ...); got shape {tuple(x.shape)}")
    n, c = x.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise ValueError(f"groupnorm: num_groups={num_groups} must divide the {c} channels of input {tuple(x.shape)}")
    _check_affine(x, gamma, beta, (c,), "groupnorm")
    xg = x.reshape(n, num_groups, -1)
    xhat, inv_std = _normalize(xg, (2,), eps)
    cs = _channel_shape(x)
    out = gamma.reshape(cs) * xhat.reshape(x.shape) + beta.reshape(cs)
    return out, (xhat, inv_std, gamma, x.shape)


def groupnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dβ_c = Σ δ``, ``dγ_c = Σ δ·x̂`` (over N and space); ``dx`` by the shared formula per group."""
    xhat, inv_std, gamma, shape = cache
    axes = (0,) + tuple(range(2, len(shape)))
    xhat_full = xhat.reshape(shape)
    g = (dout * gamma.reshape(_channel_shape(dout))).reshape(xhat.shape)
    dx = _normalize_backward(g, xhat, inv_std, (2,)).reshape(shape)
    return dx, (dout * xhat_full).sum(axis=axes), dout.sum(axis=axes)


def instancenorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Instance normalisation (Ulyanov et al. 2016, arXiv:1607.08022): statistics over
    the spatial axes of each sample and channel; group norm with ``G = C``."""
    if x.ndim < 3:
        raise ValueError(f"instancenorm: input must be (N, C, H, W); got shape {tuple(x.shape)}")
    return groupnorm_forward(x, gamma, beta, x.shape[1], eps)


def instancenorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`groupnorm_backward` with ``G = C``."""
    return groupnorm_backward(dout, cache)


def _window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """``out[:, c] = Σ_{c' = c - before}^{c + after} a[:, c']`` with zeros outside ``[0, C)``."""
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    ap = np.pad(a, pad)
    return sum(ap[:, o : o + c] for o in range(before + after + 1))


def lrn_forward(
    x: np.ndarray, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
) -> tuple[np.ndarray, tuple]:
    """Local response normalisation across channels (Krizhevsky et al. 2012, §3.3).

    ``s_c = k + (α/n) Σ_{c' ∈ W(c)} x_{c'}²``, ``y_c = x_c / s_c^β``,
    ``W(c) = [c - ⌊n/2⌋, c + ⌊(n-1)/2⌋] ∩ [0, C)``, ``n = size``.

    The AlexNet paper writes ``α`` without the ``1/n``; Caffe and torch divide by ``n``
    and so do we: the paper's ``α = 1e-4`` is ``alpha = 5e-4`` here with ``size = 5``.
    Defaults are the paper's ``k = 2, n = 5, β = 0.75``.

    Args:
        x: ``(N, C, ...)``.
    """
    if x.ndim < 3:
        raise ValueError(f"lrn: input must be (N, C, H, W); got shape {tuple(x.shape)}")
    if size < 1:
        raise ValueError(f"lrn: size must be >= 1; got {size}")
    s = k + (alpha / size) * _window_sum(x * x, size // 2, (size - 1) // 2)
    out = x * s**-beta
    return out, (x, s, size, alpha, beta)


def lrn_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """``∂L/∂x_c = δ_c s_c^{-β} - (2αβ/n) x_c Σ_{c' : c ∈ W(c')} δ_{c'} x_{c'} s_{c'}^{-β-1}``."""
    x, s, size, alpha, beta = cache
    inner = dout * x * s ** (-beta - 1)
    # c ∈ W(c') exactly when c' ∈ [c - ⌊(n-1)/2⌋, c + ⌊n/2⌋]: the window, mirrored
    back = _window_sum(inner, (size - 1) // 2, size // 2)
    return dout * s**-beta - (2 * alpha * beta / size) * x * back
