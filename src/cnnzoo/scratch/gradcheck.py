"""Finite-difference gradient checks for any functional op or layer.

``∂f/∂x_i ≈ (f(x + h e_i) - f(x - h e_i)) / 2h`` has error ``O(h²)``; in float64 with
``h = 1e-6`` an analytic gradient that is right agrees to about 1e-8 relative or
better, one that is wrong usually disagrees at 1e-2. Scalar losses are reduced
to one number with a random ``dout``: ``L = Σ out ⊙ dout``, so ``∂L/∂out = dout``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["rel_error", "numerical_gradient", "gradcheck", "GradcheckReport"]


def rel_error(x: np.ndarray | float, y: np.ndarray | float) -> float:
    """``max |x - y| / max(max |x|, max |y|)``: the worst difference relative to the
    largest magnitude (0 when both are zero). Shapes must match."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    scale = max(np.abs(x).max(), np.abs(y).max())
    return 0.0 if scale == 0 else float(np.abs(x - y).max() / scale)


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray | None = None, h: float = 1e-6
) -> np.ndarray:
    """Central differences of ``L(x) = Σ f(x) ⊙ dout`` with respect to every element of ``x``.

    ``x`` is perturbed in place (and restored), so ``f`` may ignore its argument and read
    ``x`` through a closure — that is how a layer's parameters are checked.

    Args:
        f: ``x -> out``; x: float64 array; dout: shape of ``out`` (default: ones, for
            scalar losses); h: step.

    Returns:
        ``∂L/∂x``, shape of ``x``.
    """
    if x.dtype != np.float64:
        raise ValueError(f"numerical_gradient needs float64 (float32 rounding swamps the differences); got {x.dtype}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.array(f(x), dtype=np.float64)  # a copy: f may return x itself
        x[i] = old - h
        minus = np.array(f(x), dtype=np.float64)
        x[i] = old
        d = np.ones_like(plus) if dout is None else dout
        grad[i] = np.sum((plus - minus) * d) / (2 * h)
    return grad


@dataclass
class GradcheckReport:
    """Relative error of each analytic gradient against finite differences."""

    errors: dict[str, float] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def passed(self, tol: float = 1e-6) -> bool:
        return self.max_error <= tol


def gradcheck(target, *inputs: np.ndarray, h: float = 1e-6, seed: int = 0, **kwargs) -> GradcheckReport:
    """Compare analytic and numerical gradients of a layer or a functional op.

    * A layer (anything with ``forward``, ``backward`` and ``named_parameters``): checks
      ``∂L/∂x`` for ``inputs[0]`` and ``∂L/∂p`` for every parameter. The layer must be
      float64 (``layer.astype(np.float64)``) and deterministic between calls.
    * A pair ``(op_forward, op_backward)`` from :mod:`cnnzoo.scratch.functional`: checks
      the gradient of every floating-point positional input that the backward returns
      one for; ``kwargs`` go to the forward.

    Returns:
        a :class:`GradcheckReport` with one relative error per checked array
        (``"x"``, ``"input1"``, … or the parameter names).
    """
    rng = np.random.default_rng(seed)
    report = GradcheckReport()
    if hasattr(target, "backward") and hasattr(target, "named_parameters"):
        x = inputs[0]
        params = dict(target.named_parameters())
        for name, arr in [("x", x)] + [(n, p.data) for n, p in params.items()]:
            if arr.dtype != np.float64:
                raise ValueError(f"gradcheck: {name} is {arr.dtype}; call layer.astype(np.float64) and pass float64 input")
        out = target.forward(x)
        dout = rng.standard_normal(out.shape)
        target.zero_grad()
        dx = target.backward(dout)
        analytic = {"x": dx} | {n: p.grad.copy() for n, p in params.items()}
        arrays = {"x": x} | {n: p.data for n, p in params.items()}
        for name, arr in arrays.items():
            num = numerical_gradient(lambda _: target.forward(x), arr, dout, h)
            report.errors[name] = rel_error(analytic[name], num)
        return report
    forward, backward = target
    out, cache = forward(*inputs, **kwargs)
    dout = rng.standard_normal(np.shape(out))
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    for i, (arr, g) in enumerate(zip(inputs, grads, strict=False)):
        if g is None or not isinstance(arr, np.ndarray) or arr.dtype != np.float64:
            continue
        num = numerical_gradient(lambda _: forward(*inputs, **kwargs)[0], arr, dout, h)
        report.errors["x" if i == 0 else f"input{i}"] = rel_error(g, num)
    return report
