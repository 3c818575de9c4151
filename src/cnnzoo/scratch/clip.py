"""Gradient clipping, done in place on ``Parameter.grad`` between ``backward`` and ``step``.

Two remedies for exploding gradients (Goodfellow et al. 2016, *Deep Learning*, §10.11.1):

* by global norm (Pascanu et al. 2013, "On the difficulty of training recurrent neural
  networks", arXiv:1211.5063, algorithm 1): when ``‖g‖ = (Σ_params ‖g_p‖²)^{1/2}``
  exceeds ``max_norm``, scale every gradient by ``max_norm / ‖g‖`` — the direction of the
  step is kept, only its length is capped;
* by value: clamp each element to ``[-v, v]`` — cheaper, but it changes the direction.

Both behave as ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_`` do (the tests
check them on the same arrays), including torch's ``1e-6`` added to the norm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from cnnzoo.scratch.layers import Parameter

__all__ = ["clip_grad_norm", "clip_grad_value"]


def _as_list(params: Parameter | Iterable[Parameter]) -> list[Parameter]:
    return [params] if isinstance(params, Parameter) else list(params)


def clip_grad_norm(params: Parameter | Iterable[Parameter], max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients by ``min(1, max_norm / (‖g‖ + 1e-6))``, ``‖g‖`` the ``norm_type``-norm of
    all of them together (``math.inf``: the largest ``|g|``).

    Returns:
        ``‖g‖`` before clipping.
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be > 0; got {max_norm}")
    if not (norm_type == math.inf or norm_type > 0):
        raise ValueError(f"clip_grad_norm: norm_type must be > 0 or inf; got {norm_type}")
    grads = [p.grad for p in _as_list(params)]
    if not grads:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.abs(g).max(initial=0.0)) for g in grads)
    else:  # the norm of the per-parameter norms is the norm of all elements together
        norms = [np.linalg.norm(g.ravel().astype(np.float64), norm_type) for g in grads]
        total = float(np.linalg.norm(norms, norm_type))
    coef = min(1.0, max_norm / (total + 1e-6))
    if coef < 1.0:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value(params: Parameter | Iterable[Parameter], clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]``."""
    if not clip_value > 0:
        raise ValueError(f"clip_grad_value: clip_value must be > 0; got {clip_value}")
    for p in _as_list(params):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
