"""LeNet-5 from the NumPy layers: the architecture of :mod:`cnnzoo.models.lenet`.

``1@32×32 → C1 6@28×28 → S2 6@14×14 → C3 16@10×10 → S4 16@5×5 → C5 120@1×1 → F6 84 → 10``,
with full C3 connections and a linear output layer: 61,706 parameters (the
textbook table). Layer names match the torch model (``c1``, ``s2``, … ``output``), so weights
move between the two.

Defaults here are ``activation="relu"``, ``pool="max"``: on the embedded digits they
train to 97 % in fewer epochs than the paper's tanh and average pooling (which stay
available), and He initialisation (the default of our layers) suits ReLU.
"""

from __future__ import annotations

import numpy as np

from cnnzoo.scratch.layers import (
    AvgPool2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)

__all__ = ["lenet5", "ACTIVATIONS", "POOLS", "TORCH_NAMES", "torch_state_dict_names"]

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}
POOLS = {"max": MaxPool2d, "avg": AvgPool2d}

# Where each layer sits in ``cnnzoo.models.lenet.LeNet5`` (``features`` / ``classifier``).
TORCH_NAMES = {
    "c1": "features.c1", "c3": "features.c3", "c5": "features.c5",
    "f6": "classifier.f6", "output": "classifier.output",
}  # fmt: skip


def torch_state_dict_names(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename ``c1.weight`` → ``features.c1.weight`` etc.: the keys of the torch model's
    ``state_dict`` (the arrays have the same layout there), so a NumPy-trained LeNet-5
    loads into ``cnnzoo.create("lenet5", activation=..., pool=...)``."""
    out = {}
    for name, arr in state.items():
        layer, _, leaf = name.partition(".")
        if layer not in TORCH_NAMES:
            raise ValueError(f"{name!r} is not a LeNet-5 parameter (layers: {sorted(TORCH_NAMES)})")
        out[f"{TORCH_NAMES[layer]}.{leaf}"] = arr
    return out


def lenet5(
    num_classes: int = 10,
    in_chans: int = 1,
    activation: str = "relu",
    pool: str = "max",
    seed: int | None = 0,
    dtype=np.float32,
) -> Sequential:
    """LeNet-5 as a :class:`~cnnzoo.scratch.layers.Sequential`: ``(N, in_chans, 32, 32) -> (N, num_classes)``.

    Args:
        activation: ``"relu"`` (default), ``"tanh"`` (the paper) or ``"sigmoid"``.
        pool: ``"max"`` (default) or ``"avg"`` (the paper's subsampling, without its
            trainable coefficients).
        seed: seed of the weight initialisation (He uniform for ReLU, Xavier otherwise).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {sorted(POOLS)}; got {pool!r}")
    rng = np.random.default_rng(seed)
    act, pool_cls = ACTIVATIONS[activation], POOLS[pool]
    init = "kaiming" if activation == "relu" else "xavier"
    nl = activation
    layers = {
        "c1": Conv2d(in_chans, 6, 5, init=init, nonlinearity=nl, rng=rng, dtype=dtype),  # N x 6 x 28 x 28
        "act1": act(),
        "s2": pool_cls(2, 2),  # N x 6 x 14 x 14
        "c3": Conv2d(6, 16, 5, init=init, nonlinearity=nl, rng=rng, dtype=dtype),  # N x 16 x 10 x 10
        "act3": act(),
        "s4": pool_cls(2, 2),  # N x 16 x 5 x 5
        "c5": Conv2d(16, 120, 5, init=init, nonlinearity=nl, rng=rng, dtype=dtype),  # N x 120 x 1 x 1
        "act5": act(),
        "flatten": Flatten(),
        "f6": Linear(120, 84, init=init, nonlinearity=nl, rng=rng, dtype=dtype),
        "act6": act(),
        "output": Linear(84, num_classes, init="xavier", nonlinearity="linear", rng=rng, dtype=dtype),
    }
    return Sequential(*layers.values(), names=list(layers))
