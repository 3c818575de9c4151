"""Where a run stands: epochs and steps done, the best score, how it stopped, and the RNG states.

Exact resume needs every source of randomness back where it was: Python's,
NumPy's and torch's global generators (dropout, stochastic depth) are saved in
each checkpoint; the data order and the augmentation draw from generators
seeded by ``(seed, epoch, batch)``, so they need no state at all.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["Position", "TrainState", "TrainingDiverged", "TrainingInterrupted", "rng_states", "seed_everything", "set_rng_states"]


class TrainingDiverged(ValueError):
    """The loss or the weights became NaN or infinite; the last finite checkpoint is kept."""


class TrainingInterrupted(Exception):
    """Ctrl-C (SIGINT) or SIGTERM: a mid-epoch checkpoint was written; ``--resume`` continues."""


@dataclass
class Position:
    """Where a mid-epoch checkpoint stopped: the epoch under way, batches done, the running sums."""

    epoch: int
    batch: int
    loss_sum: float
    seen: int
    meter: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Position | None:
        if not d:
            return None
        return cls(int(d["epoch"]), int(d["batch"]), float(d["loss_sum"]), int(d["seen"]), dict(d.get("meter") or {}))


@dataclass
class TrainState:
    """What the loop knows besides the weights; saved in every checkpoint's header."""

    epoch: int = 0  # epochs finished
    step: int = 0  # optimizer steps taken
    best_score: float = -math.inf
    bad_epochs: int = 0  # epochs since the score last improved (early stopping)
    position: Position | None = None  # set while an epoch is under way
    last_row: dict[str, Any] = field(default_factory=dict)  # the last epoch's metrics
    stop_reason: str | None = None  # "max_steps", "patience", "stop_at", "interrupted"
    saved: str | None = None  # the last checkpoint written: "runs/x/checkpoint-last (epoch 3, step 120)"
    interrupt_requested: bool = False  # set by the signal handler, acted on between steps

    def take_interrupt(self) -> None:
        """Turn a pending Ctrl-C into a stop, at a point where the loop's state is consistent."""
        if self.interrupt_requested and not self.stop_reason:
            self.stop_reason = "interrupted"

    def observe(self, score: float) -> bool:
        """Record an epoch's score; True when it is the best so far."""
        improved = score > self.best_score
        self.best_score = max(self.best_score, score)
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        return improved

    @property
    def finished_training(self) -> bool:
        """Training ended by itself (all epochs, or early stopping), so the final test is due."""
        return self.stop_reason in (None, "patience", "stop_at")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_states() -> dict[str, Any]:
    np_state = np.random.get_state()
    states = {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def set_rng_states(s: dict[str, Any]) -> None:
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npv = s["numpy"]
    np.random.set_state((npv[0], np.array(npv[1], dtype=np.uint32), *npv[2:]))
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state(s["cuda"])
