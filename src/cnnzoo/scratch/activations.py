"""Element-wise activations and softmax, forward and backward.

Each ``*_forward`` returns ``(out, cache)`` and each ``*_backward(dout, cache)``
returns ``dx`` (and the parameter gradient for PReLU). Shapes are unchanged: any
``x`` in, the same shape out.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "prelu_forward", "prelu_backward",
    "elu_forward", "elu_backward",
    "sigmoid", "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "softmax", "log_softmax", "softmax_forward", "softmax_backward",
]  # fmt: skip


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ReLU: ``out = max(0, x)``."""
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = δ · 1[x > 0]`` (the sub-gradient at 0 is taken as 0, as torch does)."""
    return dout * (cache > 0)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, tuple]:
    """Leaky ReLU (Maas et al. 2013): ``out = x if x > 0 else a·x``, ``a = negative_slope``."""
    return np.where(x > 0, x, negative_slope * x), (x, negative_slope)


def leaky_relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """``dx = δ · (1 if x > 0 else a)``."""
    x, a = cache
    return np.where(x > 0, dout, a * dout)


def prelu_forward(x: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, tuple]:
    """PReLU (He et al. 2015, arXiv:1502.01852): ``out = x if x > 0 else a_c·x``.

    Args:
        x: ``(N, C, ...)``; a: learned slopes, ``(C,)`` (one per channel) or ``(1,)`` (shared).
    """
    if a.ndim != 1 or (a.shape[0] != 1 and (x.ndim < 2 or a.shape[0] != x.shape[1])):
        raise ValueError(f"prelu: slope shape {tuple(a.shape)} must be (1,) or (C,) for input {tuple(x.shape)}")
    a_b = a.reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else a
    return np.where(x > 0, x, a_b * x), (x, a, a_b)


def prelu_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """``dx = δ · (1 if x > 0 else a_c)``; ``da_c = Σ_{x ≤ 0, channel c} δ · x``.

    Returns:
        ``dx`` (shape of ``x``), ``da`` (shape of ``a``).
    """
    x, a, a_b = cache
    dx = np.where(x > 0, dout, a_b * dout)
    contrib = np.where(x > 0, 0.0, dout * x)
    if a.shape[0] == 1:
        da = np.array([contrib.sum()], dtype=a.dtype)
    else:
        axes = (0,) + tuple(range(2, x.ndim))
        da = contrib.sum(axis=axes).astype(a.dtype, copy=False)
    return dx, da


def elu_forward(x: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, tuple]:
    """ELU (Clevert et al. 2016, arXiv:1511.07289): ``out = x if x > 0 else α(eˣ - 1)``."""
    neg = alpha * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, x, neg), (x, neg, alpha)


def elu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """``dx = δ · (1 if x > 0 else α eˣ = out + α)``."""
    x, neg, alpha = cache
    return np.where(x > 0, dout, dout * (neg + alpha))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``σ(x) = 1 / (1 + e^{-x})``, computed without overflow for large ``|x|``."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.result_type(x, np.float32), copy=False)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid: ``out = σ(x) = 1 / (1 + e^{-x})``."""
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = δ · σ(x)(1 - σ(x))`` — at most δ/4, the root of vanishing gradients in deep sigmoid nets."""
    return dout * cache * (1 - cache)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out = tanh(x) = (eˣ - e^{-x}) / (eˣ + e^{-x})``."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = δ · (1 - tanh²(x))``."""
    return dout * (1 - cache * cache)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log softmax(x)_k = x_k - m - log Σ_j e^{x_j - m}``, ``m = max_j x_j`` (no overflow)."""
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``softmax(x)_k = e^{x_k - m} / Σ_j e^{x_j - m}``, ``m = max_j x_j``."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_forward(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, tuple]:
    """Softmax along ``axis``; see :func:`softmax`."""
    out = softmax(x, axis)
    return out, (out, axis)


def softmax_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Jacobian ``∂p_k/∂x_j = p_k(1[k=j] - p_j)``, so ``dx_j = p_j (δ_j - Σ_k δ_k p_k)``."""
    p, axis = cache
    return p * (dout - (dout * p).sum(axis=axis, keepdims=True))
