"""Learning-rate schedules chosen by name, stepped once per optimizer step.

==========  =================================================================
constant    the base learning rate throughout
step        divide by 10 every ``step_epochs`` epochs
multistep   divide by 10 at 50% and 75% of training (ResNet's CIFAR recipe)
exponential multiply by ``gamma`` every epoch
cosine      half-cosine from the base rate to zero (Loshchilov & Hutter 2017)
onecycle    linear warm-up to the base rate for 30% of training, cosine down
==========  =================================================================

Every schedule accepts ``warmup_epochs``: a linear ramp from 0 at the start.
They are ``LambdaLR`` factors of the step, so their state is the step count
alone and resumes exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["SCHEDULES", "build_schedule", "lr_factor"]

SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine", "onecycle")


def lr_factor(
    name: str,
    total_steps: int,
    steps_per_epoch: int,
    *,
    warmup_epochs: float = 0.0,
    step_epochs: int = 30,
    gamma: float = 0.95,
) -> Callable[[int], float]:
    """The multiplier of the base learning rate at optimizer step ``t`` (0-based)."""
    name = name.lower()
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; accepted: {', '.join(SCHEDULES)}")
    total = max(1, total_steps)
    warm = int(warmup_epochs * steps_per_epoch)

    def base(t: int) -> float:
        frac = min(t / total, 1.0)
        epoch = t // max(1, steps_per_epoch)
        if name == "constant":
            return 1.0
        if name == "step":
            return 0.1 ** (epoch // step_epochs)
        if name == "multistep":
            return 0.1 ** ((frac >= 0.5) + (frac >= 0.75))
        if name == "exponential":
            return gamma**epoch
        if name == "cosine":
            return 0.5 * (1 + math.cos(math.pi * frac))
        # onecycle
        if frac < 0.3:
            return 0.04 + 0.96 * frac / 0.3
        return 0.5 * (1 + math.cos(math.pi * (frac - 0.3) / 0.7))

    def factor(t: int) -> float:
        ramp = min(1.0, (t + 1) / warm) if warm > 0 else 1.0
        return ramp * base(t)

    return factor


def build_schedule(
    name: str, optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int, **kwargs: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` following the schedule called ``name``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(name, total_steps, steps_per_epoch, **kwargs))
