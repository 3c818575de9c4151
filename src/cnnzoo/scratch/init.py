"""Weight initialisers: normal, Xavier/Glorot and He/Kaiming.

The point of each (see :mod:`cnnzoo.scratch.demos`): keep the variance of the
activations (forward) and of the gradients (backward) the same from layer to layer,
so that a deep stack neither vanishes nor explodes.

* Xavier/Glorot (Glorot & Bengio 2010): ``Var(w) = 2 / (fan_in + fan_out)`` — the
  compromise between forward (``1/fan_in``) and backward (``1/fan_out``) for linear or
  tanh units.
* He/Kaiming (He et al. 2015, arXiv:1502.01852): ``Var(w) = 2 / fan_in`` — ReLU zeroes
  half of its inputs, halving the variance, so the weights make up a factor 2.

``fan_in`` of a linear weight ``(out, in)`` is ``in``; of a conv weight ``(O, C, kH, kW)``
it is ``C·kH·kW`` (and ``fan_out = O·kH·kW``). A ``gain`` scales the standard deviation
for the nonlinearity that follows (:func:`calculate_gain`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "fan_in_and_fan_out",
    "calculate_gain",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
]


def fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: ``(in, out)`` for ``(out, in)``, ``(C·kH·kW, O·kH·kW)`` for a conv."""
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a weight of at least 2 dimensions; got shape {tuple(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Standard-deviation gain: linear/sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2/(1 + a²))."""
    if nonlinearity in ("linear", "conv", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + a * a))
    raise ValueError(f"nonlinearity must be linear, sigmoid, tanh, relu or leaky_relu; got {nonlinearity!r}")


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng() if rng is None else rng


def normal(shape: tuple[int, ...], std: float = 0.01, rng: np.random.Generator | None = None, dtype=np.float32) -> np.ndarray:
    """``w ~ N(0, std²)``, a fixed scale whatever the layer's size (e.g. AlexNet's 0.01)."""
    return (std * _rng(rng).standard_normal(shape)).astype(dtype)


def xavier_uniform(shape: tuple[int, ...], gain: float = 1.0, rng: np.random.Generator | None = None, dtype=np.float32) -> np.ndarray:
    """``w ~ U(-a, a)``, ``a = gain · √(6 / (fan_in + fan_out))`` (variance ``gain² · 2/(fan_in + fan_out)``)."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _rng(rng).uniform(-a, a, shape).astype(dtype)


def xavier_normal(shape: tuple[int, ...], gain: float = 1.0, rng: np.random.Generator | None = None, dtype=np.float32) -> np.ndarray:
    """``w ~ N(0, σ²)``, ``σ = gain · √(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return (gain * math.sqrt(2.0 / (fan_in + fan_out)) * _rng(rng).standard_normal(shape)).astype(dtype)


def _kaiming_std(shape, mode, nonlinearity, a):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out'; got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform(
    shape: tuple[int, ...], a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu",
    rng: np.random.Generator | None = None, dtype=np.float32,
) -> np.ndarray:  # fmt: skip
    """``w ~ U(-b, b)``, ``b = √3 · gain / √fan`` (variance ``gain²/fan``; ``2/fan_in`` for ReLU)."""
    b = math.sqrt(3.0) * _kaiming_std(shape, mode, nonlinearity, a)
    return _rng(rng).uniform(-b, b, shape).astype(dtype)


def kaiming_normal(
    shape: tuple[int, ...], a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu",
    rng: np.random.Generator | None = None, dtype=np.float32,
) -> np.ndarray:  # fmt: skip
    """``w ~ N(0, σ²)``, ``σ = gain / √fan`` (``√(2/fan_in)`` for ReLU, He et al. 2015 eq. 10)."""
    return (_kaiming_std(shape, mode, nonlinearity, a) * _rng(rng).standard_normal(shape)).astype(dtype)
