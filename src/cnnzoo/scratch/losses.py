"""Losses: each ``*_loss(scores, targets, ...)`` returns ``(loss, dscores)``.

As in cs231n, a loss is the end of the graph: it returns the scalar (averaged over
the batch, as torch's ``reduction="mean"``) and its gradient with respect to the
scores in one call, so the backward pass starts from ``dscores``.
"""

from __future__ import annotations

import numpy as np

from cnnzoo.scratch.activations import log_softmax, sigmoid

__all__ = ["softmax_cross_entropy_loss", "multiclass_hinge_loss", "sigmoid_bce_loss", "focal_loss", "mse_loss"]


def _check_class_targets(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if x.ndim != 2:
        raise ValueError(f"{what}: scores must be (N, K); got shape {tuple(x.shape)}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{what}: labels shape {tuple(y.shape)} must be ({x.shape[0]},) for scores {tuple(x.shape)}")
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError(f"{what}: labels must lie in [0, {x.shape[1]}); got range [{y.min()}, {y.max()}]")


def softmax_cross_entropy_loss(
    x: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy with optional label smoothing (Szegedy et al. 2016, §7).

    ``q = (1 - ε)·onehot(y) + ε/K``; ``L = -(1/N) Σ_n Σ_k q_{nk} log softmax(x_n)_k``.
    ``log softmax`` subtracts the row maximum first, so large scores do not overflow.
    ``∂L/∂x = (softmax(x) - q) / N``.

    Args:
        x: scores ``(N, K)``; y: int labels ``(N,)`` in ``[0, K)``; label_smoothing: ``ε ∈ [0, 1]``.

    Returns:
        ``(loss, dx)`` with ``dx`` ``(N, K)``.
    """
    _check_class_targets(x, y, "softmax_cross_entropy_loss")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; got {label_smoothing}")
    n, k = x.shape
    logp = log_softmax(x, axis=1)
    q = np.full_like(logp, label_smoothing / k)
    q[np.arange(n), y] += 1.0 - label_smoothing
    loss = float(-(q * logp).sum() / n)
    dx = (np.exp(logp) - q) / n
    return loss, dx


def multiclass_hinge_loss(x: np.ndarray, y: np.ndarray, margin: float = 1.0) -> tuple[float, np.ndarray]:
    """Multi-class hinge (SVM) loss, Weston & Watkins 1999 / cs231n form.

    ``L = (1/N) Σ_n Σ_{j ≠ y_n} max(0, x_{nj} - x_{n,y_n} + Δ)``, ``Δ = margin``.
    ``∂L/∂x_{nj} = 1[margin_j > 0]/N`` for ``j ≠ y_n`` and ``-(Σ_j 1[margin_j > 0])/N`` at ``y_n``.
    (torch's ``multi_margin_loss`` also divides by ``K``.)

    Returns:
        ``(loss, dx)`` with ``dx`` ``(N, K)``.
    """
    _check_class_targets(x, y, "multiclass_hinge_loss")
    n = x.shape[0]
    rows = np.arange(n)
    margins = x - x[rows, y][:, None] + margin
    margins[rows, y] = 0.0
    active = (margins > 0).astype(x.dtype)
    loss = float(np.maximum(margins, 0).sum() / n)
    dx = active.copy()
    dx[rows, y] = -active.sum(axis=1)
    return loss, dx / n


def _check_multilabel(x: np.ndarray, t: np.ndarray, what: str) -> None:
    if x.shape != t.shape:
        raise ValueError(f"{what}: targets shape {tuple(t.shape)} must equal the scores shape {tuple(x.shape)}")


def _bce_elementwise(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    # -t log σ(x) - (1-t) log(1-σ(x)) = max(x, 0) - x·t + log(1 + e^{-|x|}): no overflow either way
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def sigmoid_bce_loss(x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """Sigmoid binary cross-entropy for multi-label outputs (one sigmoid per class).

    ``L = (1/M) Σ [ -t log σ(x) - (1 - t) log(1 - σ(x)) ] = (1/M) Σ [ max(x, 0) - x·t + log(1 + e^{-|x|}) ]``
    over all ``M`` elements; ``∂L/∂x = (σ(x) - t) / M``.

    Args:
        x: scores, any shape (usually ``(N, K)``); t: targets in ``[0, 1]``, same shape.
    """
    _check_multilabel(x, t, "sigmoid_bce_loss")
    m = x.size
    return float(_bce_elementwise(x, t).sum() / m), (sigmoid(x) - t) / m


def focal_loss(
    x: np.ndarray, t: np.ndarray, gamma: float = 2.0, alpha: float | None = 0.25
) -> tuple[float, np.ndarray]:
    """Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection", arXiv:1708.02002).

    With ``p = σ(x)``, ``p_t = p·t + (1 - p)(1 - t)``, ``α_t = α·t + (1 - α)(1 - t)``
    (``α_t = 1`` when ``alpha`` is None) and ``CE = BCE(x, t)``:
    ``FL = (1/M) Σ α_t (1 - p_t)^γ CE``. It is the BCE down-weighted on easy examples
    (``p_t → 1``); ``γ = 0``, ``alpha=None`` gives :func:`sigmoid_bce_loss`.

    ``∂FL/∂x = α_t [ (1 - p_t)^γ (p - t) - γ (1 - p_t)^{γ-1} p(1 - p)(2t - 1) CE ] / M``.

    Args:
        x: scores; t: targets in ``[0, 1]`` (same shape); gamma ≥ 0; alpha in ``[0, 1]`` or None.
    """
    _check_multilabel(x, t, "focal_loss")
    if gamma < 0:
        raise ValueError(f"focal_loss: gamma must be >= 0; got {gamma}")
    m = x.size
    p = sigmoid(x)
    ce = _bce_elementwise(x, t)
    pt = p * t + (1 - p) * (1 - t)
    a_t = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    mod = (1 - pt) ** gamma
    loss = float((a_t * mod * ce).sum() / m)
    dmod = 0.0 if gamma == 0 else -gamma * (1 - pt) ** (gamma - 1) * p * (1 - p) * (2 * t - 1)
    dx = a_t * (mod * (p - t) + dmod * ce) / m
    return loss, dx


def mse_loss(x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error: ``L = (1/M) Σ (x - t)²`` over all ``M`` elements (torch's ``mse_loss``);
    ``∂L/∂x = 2 (x - t) / M``.

    After a sigmoid or softmax it learns slowly from confident mistakes: the gradient
    reaching the logit carries the factor ``σ'(z)``, which vanishes at saturation, while
    cross-entropy's does not (:func:`cnnzoo.scratch.demos.saturation_gradients`).

    Args:
        x: predictions, any shape; t: targets, same shape.
    """
    _check_multilabel(x, t, "mse_loss")
    diff = x - t
    return float((diff**2).sum() / x.size), 2.0 * diff / x.size
