"""``Run``: everything one training run is made of, built by :func:`cnnzoo.train.setup.setup`.

The loop (:func:`cnnzoo.train.fit.fit`) reads and advances a ``Run``; callbacks
observe it. ``run.state_dict()`` is what a checkpoint holds besides the header
``run.checkpoint_meta()``: the model's weights, the optimizer, schedule and
gradient scaler states, and the RNG states.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from cnnzoo.data import DataBundle
from cnnzoo.train import distributed as D
from cnnzoo.train.checkpoint import Checkpoint
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.meta import CheckpointMeta
from cnnzoo.train.pipeline import InputPipeline
from cnnzoo.train.rundir import RunDirectory
from cnnzoo.train.schedules import PlateauFactor
from cnnzoo.train.state import Position, TrainState, rng_states, set_rng_states
from cnnzoo.train.tasks.base import Task

__all__ = ["Run"]


@dataclass
class Run:
    """A training run, set up and ready for :func:`~cnnzoo.train.fit.fit`."""

    config: TrainConfig
    dist: D.DistInfo
    device: torch.device
    data: DataBundle
    task: Task
    module: nn.Module  # the model itself
    model: nn.Module  # what runs it: ``module``, or it wrapped by DDP / torch.compile
    pipeline: InputPipeline
    augment: Callable[[Tensor], Tensor] | None
    aug_seed: Callable[[int, int], None]  # (epoch, batch) -> seeds the augmentation of that batch
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    plateau: PlateauFactor | None
    scaler: torch.amp.GradScaler | None
    loss: Callable[[Any, Any], Tensor]
    train_loader: DataLoader
    eval_loader: DataLoader
    eval_name: str  # "val" when a validation split is carved out, else "test"
    steps_per_epoch: int
    meta: CheckpointMeta  # the header, without the progress fields that state adds
    run_dir: RunDirectory | None  # None on processes other than rank 0 under torchrun
    state: TrainState
    autocast_dtype: torch.dtype | None = None
    macs_per_image: int | None = None
    peak_tflops: float | None = None

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def name(self) -> str:
        return self.meta.model

    def autocast(self):
        # Mixed precision only on CUDA: on CPU the flag is accepted and ignored.
        if self.autocast_dtype is None or self.device.type != "cuda":
            return nullcontext()
        return torch.autocast("cuda", dtype=self.autocast_dtype)

    def checkpoint_meta(self) -> CheckpointMeta:
        """The header of a checkpoint written now."""
        s = self.state
        return replace(
            self.meta, epoch=s.epoch, step=s.step, metrics=dict(s.last_row), best_score=s.best_score if s.best_score > -1e300 else None,
            bad_epochs=s.bad_epochs, position=s.position.to_dict() if s.position else None,
        )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """Optimizer, schedule, scaler and RNG states (the weights are written from ``module``)."""
        states: dict[str, Any] = {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(), "rng": rng_states()}
        if self.scaler is not None:
            states["scaler"] = self.scaler.state_dict()
        return states

    def load_state_dict(self, ckpt: Checkpoint) -> None:
        """Continue from ``ckpt``: weights, optimizer, schedule, scaler, RNG and the loop's state."""
        self.module.load_state_dict(ckpt.model)
        self.optimizer.load_state_dict(ckpt.states["optimizer"])
        self.schedule.load_state_dict(ckpt.states["schedule"])
        if self.scaler is not None and ckpt.states.get("scaler"):
            self.scaler.load_state_dict(ckpt.states["scaler"])
        set_rng_states(ckpt.states["rng"])
        m = ckpt.meta
        position = Position.from_dict(m.position)
        self.state = TrainState(
            epoch=m.epoch, step=m.step, best_score=-float("inf") if m.best_score is None else m.best_score,
            bad_epochs=m.bad_epochs, position=position if position and position.epoch == m.epoch + 1 else None,
            last_row=dict(m.metrics or {}),
        )  # fmt: skip
