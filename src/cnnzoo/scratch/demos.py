"""Why initialisation scale matters: activation variance through a deep stack.

Push a batch of unit-variance inputs through ``depth`` fully connected layers of
``width`` units (no bias, no normalisation) and record the variance of each
layer's activations. With ``Var(w) = s²`` each layer multiplies the pre-activation
variance by about ``width · s² · c`` (``c = 1/2`` after ReLU, ``≈ 1`` for tanh near 0):

* too small (``N(0, 0.01²)``): the signal vanishes geometrically;
* too large (``N(0, 1)``): it explodes (ReLU) or saturates (tanh, gradients die);
* Xavier keeps tanh stacks alive, He keeps ReLU stacks at a constant variance;
  Xavier under ReLU halves the variance at every layer.

Why cross-entropy, not squared error, follows a sigmoid or softmax (Goodfellow et al.
2016, *Deep Learning*, §6.2.2; Nielsen 2015, *Neural Networks and Deep Learning*, ch. 3):
for ``a = σ(z)`` and target ``y`` the quadratic cost ``½(a - y)²`` has
``∂C/∂z = σ'(z)(a - y)``, and ``σ'(z) = σ(z)(1 - σ(z))`` vanishes when the unit
saturates, even when it is confidently wrong (``z = -10``, ``y = 1``:
``∂C/∂z ≈ -4.5e-5``); cross-entropy's ``∂C/∂z = a - y ≈ -1`` does not, because its
``log`` undoes the ``exp`` of the sigmoid.
"""

from __future__ import annotations

import numpy as np

from cnnzoo.scratch import init as initializers
from cnnzoo.scratch.activations import (
    sigmoid_backward,
    sigmoid_forward,
    softmax_backward,
    softmax_forward,
)
from cnnzoo.scratch.losses import mse_loss, sigmoid_bce_loss, softmax_cross_entropy_loss

__all__ = [
    "INITS", "ACTIVATIONS", "activation_variance_through_depth", "init_variance_table",
    "saturation_gradients", "softmax_saturation_gradients", "saturation_table",
]  # fmt: skip

INITS = ("normal-0.01", "normal-1", "xavier", "kaiming")
ACTIVATIONS = ("tanh", "relu")


def _weight(init: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if init == "normal-0.01":
        return initializers.normal(shape, 0.01, rng, np.float64)
    if init == "normal-1":
        return initializers.normal(shape, 1.0, rng, np.float64)
    if init == "xavier":
        return initializers.xavier_normal(shape, 1.0, rng, np.float64)
    if init == "kaiming":
        return initializers.kaiming_normal(shape, rng=rng, dtype=np.float64)
    raise ValueError(f"init must be one of {INITS}; got {init!r}")


def activation_variance_through_depth(
    init: str, activation: str = "relu", depth: int = 20, width: int = 256, batch: int = 256, seed: int = 0
) -> list[float]:
    """Variance of the activations after each of ``depth`` layers (index 0 = the first layer).

    Args:
        init: one of ``INITS``; activation: ``"tanh"`` or ``"relu"``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be positive; got depth={depth}, width={width}")
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((batch, width))
    variances = []
    for _ in range(depth):
        z = h @ _weight(init, (width, width), rng).T
        h = np.tanh(z) if activation == "tanh" else np.maximum(z, 0)
        variances.append(float(h.var()))
    return variances


def init_variance_table(depth: int = 20, width: int = 256, seed: int = 0) -> list[dict[str, object]]:
    """One row per (activation, init): variance after layer 1, ``depth // 2`` and ``depth``."""
    rows = []
    for act in ACTIVATIONS:
        for init in INITS:
            v = activation_variance_through_depth(init, act, depth, width, seed=seed)
            rows.append({"activation": act, "init": init, "layer_1": v[0], "layer_mid": v[depth // 2 - 1] if depth > 1 else v[0], "layer_last": v[-1]})
    return rows


def saturation_gradients(z: float = -10.0, target: float = 1.0) -> dict[str, float]:
    """One sigmoid unit ``a = σ(z)``: the gradient each cost sends back to the logit ``z``.

    Computed with the engine's own ops: the quadratic cost is ``½(a - y)²`` (half the
    :func:`~cnnzoo.scratch.losses.mse_loss` of one output) back-propagated through
    ``sigmoid_backward``; cross-entropy is :func:`~cnnzoo.scratch.losses.sigmoid_bce_loss`.
    """
    zz, t = np.array([[z]], dtype=np.float64), np.array([[target]], dtype=np.float64)
    a, cache = sigmoid_forward(zz)
    mse, da = mse_loss(a, t)
    ce, ce_dz = sigmoid_bce_loss(zz, t)
    return {
        "z": z, "output": float(a[0, 0]),
        "quadratic_loss": 0.5 * mse, "quadratic_grad": float(sigmoid_backward(0.5 * da, cache)[0, 0]),
        "cross_entropy_loss": ce, "cross_entropy_grad": float(ce_dz[0, 0]),
    }  # fmt: skip


def softmax_saturation_gradients(z_target: float = -10.0, num_classes: int = 10) -> dict[str, float]:
    """The same for a softmax over ``num_classes`` logits, all 0 but the target's ``z_target``:
    the gradient on the target's logit under ``½‖p - onehot‖²`` and under cross-entropy
    (``p_y - 1``)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2; got {num_classes}")
    z = np.zeros((1, num_classes))
    z[0, 0] = z_target
    onehot = np.eye(num_classes)[:1]
    p, cache = softmax_forward(z, axis=1)
    mse, dp = mse_loss(p, onehot)  # mean over the K outputs: ½‖p - t‖² = (K/2)·MSE
    ce, ce_dz = softmax_cross_entropy_loss(z, np.array([0]))
    quad_dz = softmax_backward(dp * num_classes / 2, cache)
    return {
        "z": z_target, "output": float(p[0, 0]),
        "quadratic_loss": mse * num_classes / 2, "quadratic_grad": float(quad_dz[0, 0]),
        "cross_entropy_loss": ce, "cross_entropy_grad": float(ce_dz[0, 0]),
    }  # fmt: skip


def saturation_table(zs: tuple[float, ...] = (-10.0, -5.0, -2.0, 0.0, 2.0, 5.0)) -> list[dict[str, float]]:
    """:func:`saturation_gradients` for target 1 at each logit in ``zs``: the quadratic cost's
    gradient is largest near ``z = 0`` and vanishes as the unit saturates wrong (``z → -∞``)."""
    return [saturation_gradients(z, 1.0) for z in zs]
