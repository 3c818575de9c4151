"""Linear, dropout and flatten, forward and backward."""

from __future__ import annotations

import numpy as np

__all__ = [
    "linear_forward", "linear_backward",
    "dropout_forward", "dropout_backward",
    "flatten_forward", "flatten_backward",
]  # fmt: skip


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """Fully connected layer: ``out = x Wᵀ + b``.

    Args:
        x: ``(N, D_in)``; w: ``(D_out, D_in)`` (torch's layout); b: ``(D_out,)`` or None.

    Returns:
        ``out`` ``(N, D_out)``; cache.
    """
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(
            f"linear: input (N, D_in) and weight (D_out, D_in) must agree on D_in; "
            f"got input {tuple(x.shape)}, weight {tuple(w.shape)}"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"linear: bias shape {tuple(b.shape)} must be ({w.shape[0]},) for weight {tuple(w.shape)}")
    out = x @ w.T
    if b is not None:
        out += b
    return out, (x, w, b is not None)


def linear_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``dx = δ W`` ``(N, D_in)``, ``dW = δᵀ x`` ``(D_out, D_in)``, ``db = Σ_n δ`` ``(D_out,)``."""
    x, w, has_bias = cache
    return dout @ w, dout.T @ x, (dout.sum(axis=0) if has_bias else None)


def dropout_forward(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    rng: np.random.Generator | None = None,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout (Srivastava et al. 2014).

    Training: ``m ~ Bernoulli(1 - p)`` per element, ``out = x · m / (1 - p)``, so the
    expected activation is unchanged and evaluation needs no rescaling; evaluation:
    ``out = x``.

    Args:
        x: any shape; p: drop probability in ``[0, 1)``; rng: source of the mask;
        mask: a given ``{0, 1}`` mask of ``x``'s shape (to replay a forward pass).

    Returns:
        ``out`` (shape of ``x``); cache (the scaled mask, or None in evaluation).
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1); got {p}")
    if not training or p == 0.0:
        return x, None
    if mask is None:
        rng = np.random.default_rng() if rng is None else rng
        mask = rng.random(x.shape) >= p
    elif mask.shape != x.shape:
        raise ValueError(f"dropout: mask shape {tuple(mask.shape)} must equal input shape {tuple(x.shape)}")
    scaled = (mask / (1.0 - p)).astype(x.dtype, copy=False)
    return x * scaled, scaled


def dropout_backward(dout: np.ndarray, cache: np.ndarray | None) -> np.ndarray:
    """``dx = δ · m / (1 - p)`` in training, ``dx = δ`` in evaluation."""
    return dout if cache is None else dout * cache


def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """``(N, d1, d2, ...) -> (N, d1·d2·...)``."""
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """``(N, d1·d2·...) -> (N, d1, d2, ...)``."""
    return dout.reshape(cache)
