"""Why initialisation scale matters: activation variance through a deep stack.

Push a batch of unit-variance inputs through ``depth`` fully connected layers of
``width`` units (no bias, no normalisation) and record the variance of each
layer's activations. With ``Var(w) = s²`` each layer multiplies the pre-activation
variance by about ``width · s² · c`` (``c = 1/2`` after ReLU, ``≈ 1`` for tanh near 0):

* too small (``N(0, 0.01²)``): the signal vanishes geometrically;
* too large (``N(0, 1)``): it explodes (ReLU) or saturates (tanh, gradients die);
* Xavier keeps tanh stacks alive, He keeps ReLU stacks at a constant variance;
  Xavier under ReLU halves the variance at every layer.
"""

from __future__ import annotations

import numpy as np

from cnnzoo.scratch import init as initializers

__all__ = ["INITS", "ACTIVATIONS", "activation_variance_through_depth", "init_variance_table"]

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
