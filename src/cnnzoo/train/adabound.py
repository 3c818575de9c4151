"""AdaBound (Luo, Xiong, Liu & Sun, ICLR 2019, arXiv:1902.09843), Algorithm 2.

Adam whose per-coordinate step size ``α / √v̂`` is clipped into
``[η_l(t), η_u(t)]``, bounds that start wide (Adam-like) and converge to the
final SGD learning rate ``final_lr``:

    η_l(t) = final_lr · (1 − 1/(γ t + 1)),   η_u(t) = final_lr · (1 + 1/(γ t))

As in the authors' code, ``final_lr`` is scaled with the current learning rate
(so a schedule moves the bounds too) and weight decay is L2 added to the
gradient. With ``amsbound=True`` the maximum of past ``v`` is used (AMSBound).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["AdaBound"]


class AdaBound(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsbound: bool = False,
    ) -> None:
        if not lr > 0 or not final_lr > 0:
            raise ValueError(f"lr and final_lr must be positive; got {lr}, {final_lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must be in [0, 1); got {betas}")
        defaults = dict(lr=lr, betas=betas, final_lr=final_lr, gamma=gamma, eps=eps, weight_decay=weight_decay, amsbound=amsbound)
        super().__init__(params, defaults)
        self.base_lrs = [g["lr"] for g in self.param_groups]

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        sd["base_lrs"] = list(self.base_lrs)
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        self.base_lrs = list(state_dict.pop("base_lrs", self.base_lrs))
        super().load_state_dict(state_dict)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, base_lr in zip(self.param_groups, self.base_lrs, strict=True):
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    if group["amsbound"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = int(state["step"])
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                if group["amsbound"]:
                    torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                    v = state["max_exp_avg_sq"]
                step_size = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                final_lr = group["final_lr"] * group["lr"] / base_lr
                lower = final_lr * (1 - 1 / (group["gamma"] * t + 1))
                upper = final_lr * (1 + 1 / (group["gamma"] * t))
                eta = torch.full_like(v, step_size).div_(v.sqrt().add_(group["eps"])).clamp_(lower, upper)
                p.add_(-eta * m)
        return loss
