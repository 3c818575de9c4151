"""Learning-rate schedules chosen by name, stepped once per optimizer step.

==========  =================================================================
constant    the base learning rate throughout
step        divide by 10 every ``step_epochs`` epochs
multistep   divide by 10 at 50% and 75% of training (ResNet's CIFAR recipe)
exponential multiply by ``gamma`` every epoch
cosine      half-cosine from the base rate to zero (Loshchilov & Hutter 2017)
onecycle    linear warm-up to the base rate for 30% of training, cosine down
plateau     divide by 10 when the validation accuracy has not improved for
            ``patience`` epochs (AlexNet §5); the loop reports it each epoch
==========  =================================================================

Every schedule accepts ``warmup_epochs``: a linear ramp from 0 at the start.
They are ``LambdaLR`` factors of the step, so their state is the step count
alone and resumes exactly; ``plateau``'s factor is a :class:`PlateauFactor`
object whose fields ``LambdaLR.state_dict`` saves with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["SCHEDULES", "PlateauFactor", "build_schedule", "lr_factor", "plateau_factor"]

SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine", "onecycle", "plateau")


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
        if name in ("constant", "plateau"):
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


class PlateauFactor:
    """A learning-rate factor divided by ``1/factor`` when a score stops improving.

    ``observe(score)`` once per epoch (higher is better): after ``patience``
    epochs without an improvement larger than ``threshold`` the factor is
    multiplied by ``factor`` (0.1: AlexNet's "divide the learning rate by 10
    when the validation error rate stopped improving"). A plain callable
    object, so ``LambdaLR.state_dict()`` saves its fields and a resumed run
    continues with the same factor, best score and count.
    """

    def __init__(self, warmup: int = 0, factor: float = 0.1, patience: int = 2, threshold: float = 1e-4) -> None:
        self.warmup, self.factor, self.patience, self.threshold = warmup, factor, patience, threshold
        self.scale, self.best, self.bad_epochs = 1.0, float("-inf"), 0

    def observe(self, score: float) -> None:
        if score > self.best + self.threshold:
            self.best, self.bad_epochs = score, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.scale *= self.factor
            self.bad_epochs = 0

    def __call__(self, t: int) -> float:
        ramp = min(1.0, (t + 1) / self.warmup) if self.warmup > 0 else 1.0
        return ramp * self.scale


def plateau_factor(schedule: torch.optim.lr_scheduler.LRScheduler) -> PlateauFactor | None:
    """The :class:`PlateauFactor` driving ``schedule``, or ``None`` for the other schedules."""
    lambdas = getattr(schedule, "lr_lambdas", [])
    return lambdas[0] if lambdas and isinstance(lambdas[0], PlateauFactor) else None


def build_schedule(
    name: str, optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int, **kwargs: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` following the schedule called ``name``."""
    if name.lower() == "plateau":
        warm = int(float(kwargs.get("warmup_epochs", 0.0)) * steps_per_epoch)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, PlateauFactor(warm, patience=int(kwargs.get("patience", 2))))
    kwargs = {k: v for k, v in kwargs.items() if k != "patience"}
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(name, total_steps, steps_per_epoch, **kwargs))
