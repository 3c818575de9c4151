"""Optimizers chosen by name.

``build_optimizer("sgd", params, lr=0.01, momentum=0.9, weight_decay=5e-4)``.
Names and what they are:

==========  =================================================================
sgd         SGD with momentum (AlexNet §5: momentum 0.9, weight decay 5e-4)
nesterov    SGD with Nesterov momentum
adagrad     AdaGrad (Duchi et al. 2011)
adadelta    AdaDelta (Zeiler 2012)
rmsprop     RMSProp (Tieleman & Hinton 2012)
adam        Adam (Kingma & Ba 2015); L2 weight decay added to the gradient
adamw       Adam with decoupled weight decay (Loshchilov & Hutter 2019)
amsgrad     Adam with the AMSGrad maximum (Reddi et al. 2018)
adamax      Adamax (Kingma & Ba 2015, §7.1)
nadam       Nesterov-accelerated Adam (Dozat 2016)
adabound    Adam with step sizes clipped towards SGD's (Luo et al. 2019)
==========  =================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["OPTIMIZERS", "DEFAULT_LR", "build_optimizer"]

OPTIMIZERS = ("sgd", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "amsgrad", "adamax", "nadam", "adabound")

# Learning rates that are sensible starting points for each method.
DEFAULT_LR = {
    "sgd": 0.05, "nesterov": 0.05, "adagrad": 0.01, "adadelta": 1.0, "rmsprop": 1e-3,
    "adam": 1e-3, "adamw": 5e-3, "amsgrad": 1e-3, "adamax": 2e-3, "nadam": 2e-3, "adabound": 1e-3,
}  # fmt: skip


def build_optimizer(
    name: str,
    params: Iterable[Any],
    lr: float | None = None,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """The optimizer called ``name`` over ``params`` (tensors or param-group dicts)."""
    name = name.lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; accepted: {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if not lr > 0:
        raise ValueError(f"the learning rate must be positive; got {lr}")
    wd = weight_decay
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, weight_decay=wd)
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=wd, amsgrad=name == "amsgrad")
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "adamax":
        return torch.optim.Adamax(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "adabound":
        from cnnzoo.train.adabound import AdaBound

        return AdaBound(params, lr=lr, betas=betas, weight_decay=wd)
    return torch.optim.NAdam(params, lr=lr, betas=betas, weight_decay=wd)
