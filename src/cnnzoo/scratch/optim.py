"""Optimizers, each written as its update equations read.

Notation: ``θ`` a parameter, ``g_t = ∂L/∂θ`` at step ``t = 1, 2, …``, ``η`` the learning
rate, ``λ`` the weight decay. Except in :class:`AdamW`, weight decay is the L2 penalty
``λ/2 ‖θ‖²`` folded into the gradient: ``g_t ← g_t + λ θ``. Every update is done in
place on ``param.data`` from ``param.grad``; the equations and default values are
torch's (``torch.optim``), which the tests check step for step, except AdaBound,
which torch does not have (checked against the rule in Luo et al. 2019).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from cnnzoo.scratch.layers import Parameter

__all__ = [
    "Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam",
    "AdaBound", "OPTIMIZERS", "create_optimizer",
]  # fmt: skip


class Optimizer:
    """Holds the parameters, a per-parameter state dict and the step count ``t``."""

    def __init__(self, params: Iterable[Parameter], lr: float, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if lr < 0 or weight_decay < 0:
            raise ValueError(f"lr and weight_decay must be >= 0; got lr={lr}, weight_decay={weight_decay}")
        self.lr, self.weight_decay = lr, weight_decay
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        self.t += 1
        for p, state in zip(self.params, self.state, strict=True):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            self._update(p, g, state)

    def _update(self, p: Parameter, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    def _zeros(self, state: dict, name: str, like: np.ndarray) -> np.ndarray:
        if name not in state:
            state[name] = np.zeros_like(like)
        return state[name]


class SGD(Optimizer):
    """Stochastic gradient descent, with (heavy-ball) momentum or Nesterov momentum.

    Plain: ``θ ← θ - η g``.
    Momentum (Polyak 1964; Sutskever et al. 2013 form): ``b_t = μ b_{t-1} + (1 - τ) g_t``
    (``b_1 = g_1``), ``θ ← θ - η b_t``; ``τ`` is the dampening.
    Nesterov: the step looks ahead along the momentum, ``θ ← θ - η (g_t + μ b_t)``.
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum, self.dampening, self.nesterov = momentum, dampening, nesterov

    def _update(self, p, g, state):
        if self.momentum:
            if "b" not in state:
                state["b"] = g.copy()
            else:
                state["b"] = self.momentum * state["b"] + (1 - self.dampening) * g
            g = g + self.momentum * state["b"] if self.nesterov else state["b"]
        p.data -= self.lr * g


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al. 2011): per-coordinate rates from the sum of squared gradients.

    ``G_t = G_{t-1} + g_t²``;  ``θ ← θ - η_t g_t / (√G_t + ε)``,  ``η_t = η / (1 + (t - 1)·lr_decay)``.
    Rates only shrink: a coordinate with large past gradients learns slowly forever.
    """

    def __init__(self, params, lr: float = 0.01, lr_decay: float = 0.0, eps: float = 1e-10,
                 weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay)
        self.lr_decay, self.eps = lr_decay, eps

    def _update(self, p, g, state):
        s = self._zeros(state, "sum", g)
        s += g * g
        lr_t = self.lr / (1 + (self.t - 1) * self.lr_decay)
        p.data -= lr_t * g / (np.sqrt(s) + self.eps)


class Adadelta(Optimizer):
    """AdaDelta (Zeiler 2012, arXiv:1212.5701): AdaGrad's sum replaced by decaying averages,
    and the units fixed by the RMS of past updates.

    ``E[g²]_t = ρ E[g²]_{t-1} + (1 - ρ) g_t²``;  ``Δ_t = √(E[Δ²]_{t-1} + ε) / √(E[g²]_t + ε) · g_t``;
    ``E[Δ²]_t = ρ E[Δ²]_{t-1} + (1 - ρ) Δ_t²``;  ``θ ← θ - η Δ_t`` (``η = 1`` in the paper).
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay)
        self.rho, self.eps = rho, eps

    def _update(self, p, g, state):
        sq, acc = self._zeros(state, "square_avg", g), self._zeros(state, "acc_delta", g)
        sq[...] = self.rho * sq + (1 - self.rho) * g * g
        delta = np.sqrt(acc + self.eps) / np.sqrt(sq + self.eps) * g
        acc[...] = self.rho * acc + (1 - self.rho) * delta * delta
        p.data -= self.lr * delta


class RMSprop(Optimizer):
    """RMSProp (Hinton, Coursera lecture 6e):

    ``S_t = α S_{t-1} + (1 - α) g_t²``;  ``θ ← θ - η g_t / (√S_t + ε)``.
    Centered: ``ḡ_t = α ḡ_{t-1} + (1 - α) g_t`` and ``S_t - ḡ_t²`` (a variance) under the root.
    With momentum ``μ``: ``b_t = μ b_{t-1} + g_t / (√S_t + ε)``, ``θ ← θ - η b_t``.
    """

    def __init__(self, params, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay)
        self.alpha, self.eps, self.momentum, self.centered = alpha, eps, momentum, centered

    def _update(self, p, g, state):
        s = self._zeros(state, "square_avg", g)
        s[...] = self.alpha * s + (1 - self.alpha) * g * g
        v = s
        if self.centered:
            gbar = self._zeros(state, "grad_avg", g)
            gbar[...] = self.alpha * gbar + (1 - self.alpha) * g
            v = s - gbar * gbar
        step = g / (np.sqrt(v) + self.eps)
        if self.momentum:
            b = self._zeros(state, "momentum", g)
            b[...] = self.momentum * b + step
            step = b
        p.data -= self.lr * step


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, arXiv:1412.6980): momentum plus RMSProp, bias-corrected.

    ``m_t = β₁ m_{t-1} + (1 - β₁) g_t``;  ``v_t = β₂ v_{t-1} + (1 - β₂) g_t²``;
    ``m̂_t = m_t / (1 - β₁ᵗ)``;  ``v̂_t = v_t / (1 - β₂ᵗ)``;  ``θ ← θ - η m̂_t / (√v̂_t + ε)``.

    AMSGrad (Reddi et al. 2018): ``v_t^max = max(v_{t-1}^max, v_t)`` replaces ``v_t`` in ``v̂_t``,
    so the effective step size never grows.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps, self.amsgrad = eps, amsgrad

    def _update(self, p, g, state):
        b1, b2, t = self.beta1, self.beta2, self.t
        m, v = self._zeros(state, "m", g), self._zeros(state, "v", g)
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        if self.amsgrad:
            vmax = self._zeros(state, "v_max", g)
            np.maximum(vmax, v, out=vmax)
            v = vmax
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, arXiv:1711.05101):
    ``θ ← θ (1 - ηλ)`` before the Adam step, instead of adding ``λθ`` to the gradient."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, 0.0, amsgrad)
        self.decoupled_weight_decay = weight_decay

    def _update(self, p, g, state):
        p.data *= 1 - self.lr * self.decoupled_weight_decay
        super()._update(p, g, state)


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, §7.1): Adam with the L∞ norm in place of the L2.

    ``m_t = β₁ m_{t-1} + (1 - β₁) g_t``;  ``u_t = max(β₂ u_{t-1}, |g_t| + ε)``;
    ``θ ← θ - (η / (1 - β₁ᵗ)) · m_t / u_t``.
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def _update(self, p, g, state):
        m, u = self._zeros(state, "m", g), self._zeros(state, "u", g)
        m[...] = self.beta1 * m + (1 - self.beta1) * g
        np.maximum(self.beta2 * u, np.abs(g) + self.eps, out=u)
        p.data -= self.lr / (1 - self.beta1**self.t) * m / u


class NAdam(Optimizer):
    """NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"): Adam with a
    Nesterov look-ahead and a warming momentum schedule (as torch implements it).

    ``μ_t = β₁ (1 - ½ · 0.96^{tψ})`` (``ψ`` = momentum_decay);
    ``m_t = β₁ m_{t-1} + (1 - β₁) g_t``;  ``v_t = β₂ v_{t-1} + (1 - β₂) g_t²``;
    ``m̂_t = μ_{t+1} m_t / (1 - Π_{i≤t+1} μ_i) + (1 - μ_t) g_t / (1 - Π_{i≤t} μ_i)``;
    ``v̂_t = v_t / (1 - β₂ᵗ)``;  ``θ ← θ - η m̂_t / (√v̂_t + ε)``.
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps, self.momentum_decay = eps, momentum_decay
        self.mu_product = 1.0

    def _mu(self, t: int) -> float:
        return self.beta1 * (1 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def step(self) -> None:
        self.mu_product *= self._mu(self.t + 1)  # Π_{i ≤ t} μ_i, shared by every parameter
        super().step()

    def _update(self, p, g, state):
        b1, b2, t = self.beta1, self.beta2, self.t
        mu, mu_next = self._mu(t), self._mu(t + 1)
        m, v = self._zeros(state, "m", g), self._zeros(state, "v", g)
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        m_hat = mu_next * m / (1 - self.mu_product * mu_next) + (1 - mu) * g / (1 - self.mu_product)
        v_hat = v / (1 - b2**t)
        p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdaBound(Optimizer):
    """AdaBound (Luo et al. 2019, "Adaptive Gradient Methods with Dynamic Bound of Learning
    Rate", ICLR, arXiv:1902.09843): Adam whose per-coordinate step size is clipped into
    bounds that both converge to ``η*`` (``final_lr``), so it turns into SGD over time.
    A schedule that changes ``lr`` scales ``η*`` by the same factor, as the authors' code does.

    ``m_t, v_t`` as in Adam;  ``η_l(t) = η* (1 - 1/(γt + 1))``,  ``η_u(t) = η* (1 + 1/(γt))``;
    ``η̂_t = Clip(η √(1 - β₂ᵗ) / (1 - β₁ᵗ) / (√v_t + ε), η_l(t), η_u(t))``;  ``θ ← θ - η̂_t ⊙ m_t``.

    This is the rule of the authors' released code (bias-corrected like Adam). The
    paper's Algorithm 2 writes it without bias correction and with a further ``1/√t``
    (``η_t = η̂_t / √t``) that its regret bound needs; ``sqrt_t_decay=True`` adds that factor.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), final_lr: float = 0.1,
                 gamma: float = 1e-3, eps: float = 1e-8, weight_decay: float = 0.0,
                 sqrt_t_decay: bool = False) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.final_lr, self.gamma, self.eps, self.sqrt_t_decay = final_lr, gamma, eps, sqrt_t_decay
        self.base_lr = lr

    def _update(self, p, g, state):
        b1, b2, t = self.beta1, self.beta2, self.t
        m, v = self._zeros(state, "m", g), self._zeros(state, "v", g)
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        final_lr = self.final_lr * self.lr / self.base_lr  # a schedule on η moves η* with it
        lower = final_lr * (1 - 1 / (self.gamma * t + 1))
        upper = final_lr * (1 + 1 / (self.gamma * t))
        step = self.lr * math.sqrt(1 - b2**t) / (1 - b1**t) / (np.sqrt(v) + self.eps)
        step = np.clip(step, lower, upper)
        if self.sqrt_t_decay:
            step = step / math.sqrt(t)
        p.data -= step * m


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "momentum": SGD, "nesterov": SGD, "adagrad": Adagrad, "adadelta": Adadelta,
    "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adamax": Adamax, "nadam": NAdam,
    "amsgrad": Adam, "adabound": AdaBound,
}  # fmt: skip


def create_optimizer(name: str, params: Iterable[Parameter], lr: float | None = None, weight_decay: float = 0.0) -> Optimizer:
    """An optimizer by name (``sgd``, ``momentum`` (0.9), ``nesterov`` (0.9), ``adagrad``, ``adadelta``,
    ``rmsprop``, ``adam``, ``adamw``, ``adamax``, ``nadam``, ``amsgrad``, ``adabound``); ``lr`` None = its default."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}")
    kwargs: dict = {"weight_decay": weight_decay}
    if lr is not None:
        kwargs["lr"] = lr
    if key in ("momentum", "nesterov"):
        kwargs.update(momentum=0.9, nesterov=key == "nesterov")
    if key == "amsgrad":
        kwargs["amsgrad"] = True
    return OPTIMIZERS[key](params, **kwargs)
