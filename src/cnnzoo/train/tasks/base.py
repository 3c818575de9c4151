"""What a task owns, so that the training loop never branches on a task's name.

A task turns a data set's samples into batches (``collate``), moves its targets
to the device, computes the loss of a model's outputs against the targets,
accumulates metrics over batches (training: a cheap running score; evaluation:
the full report), and writes its report (``evaluation.json`` and plots). The
loop calls only these methods; a new task (detection, with a variable number
of boxes per image) plugs in by subclassing :class:`Task` and registering it.

Auxiliary classifiers (Szegedy et al. 2014, GoogLeNet, arXiv:1409.4842, §5;
Inception v3, arXiv:1512.00567, §4) make a model return ``(main, aux, ...)``
in training mode; :meth:`Task.loss_fn` adds ``aux_weight × loss(aux)`` for
each, once, here, so a task only defines the loss of one output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import default_collate

__all__ = [
    "Meter",
    "SumMeter",
    "TASKS",
    "Task",
    "TaskContext",
    "TaskError",
    "build_task",
    "main_output",
    "register_task",
    "split_outputs",
    "summed_over_processes",
]


class TaskError(ValueError):
    """A recipe that does not fit the task (a loss it cannot train with, an unknown task)."""


@dataclass
class TaskContext:
    """What a task needs to know about the data and the recipe."""

    num_classes: int
    class_names: list[str] = field(default_factory=list)
    loss: str = "auto"  # a name from cnnzoo.train.losses.LOSSES, or auto: the task's own
    label_smoothing: float = 0.0
    aux_weight: float = 0.3  # GoogLeNet §5: auxiliary classifiers' losses weighted 0.3
    threshold: float = 0.5  # multi-label: a label is predicted when its sigmoid exceeds this


def split_outputs(outputs: Any) -> tuple[Any, list[Any]]:
    """``(main, [aux, ...])`` of what a model returned (a tuple in training mode for GoogLeNet, Inception v3)."""
    if isinstance(outputs, (tuple, list)):
        return outputs[0], list(outputs[1:])
    return outputs, []


def main_output(outputs: Any) -> Any:
    """The main output of a model (auxiliary outputs dropped)."""
    return split_outputs(outputs)[0]


class Meter(ABC):
    """Accumulates a metric over batches; ``compute()`` returns plain numbers (and lists)."""

    @abstractmethod
    def update(self, outputs: Any, target: Any) -> None: ...

    @abstractmethod
    def compute(self) -> dict[str, Any]: ...

    def state(self) -> dict[str, float]:
        """The running sums, for a checkpoint taken mid-epoch (empty: nothing to keep)."""
        return {}

    def load_state(self, state: dict[str, float]) -> None:  # noqa: B027 (optional: a meter without sums ignores it)
        """Continue from :meth:`state` of an interrupted epoch."""


def summed_over_processes(t: Tensor) -> Tensor:
    """A copy of ``t`` summed over all processes when ``torch.distributed`` is initialised (all must call)."""
    t = t.clone()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
    return t


class SumMeter(Meter):
    """Named running sums kept in one float64 tensor on the device, ratios on ``compute()``.

    ``update`` only adds on the device, so a training step never waits for the
    GPU; ``compute()`` reads the sums once, summed over processes when
    ``torch.distributed`` is initialised (every process must call it).
    """

    names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(len(self.names), dtype=torch.float64, device=device)

    def add(self, *values: Tensor | float) -> None:
        for i, v in enumerate(values):
            self.sums[i] += v

    def totals(self) -> dict[str, float]:
        return dict(zip(self.names, summed_over_processes(self.sums).tolist()))

    def state(self) -> dict[str, float]:
        return dict(zip(self.names, self.sums.tolist()))

    def load_state(self, state: dict[str, float]) -> None:
        for i, name in enumerate(self.names):
            self.sums[i] = float(state.get(name, 0.0))


class Task(ABC):
    """One kind of prediction: targets, loss, metrics, report."""

    name: ClassVar[str]
    score_key: ClassVar[str]  # the metric that decides "best" and early stopping (higher is better)
    score_label: ClassVar[str]  # how the CLI names it: "accuracy", "mean IoU", "F1"
    supports_tta: ClassVar[bool] = False  # test-time views averaging class scores (cnnzoo.train.tta)

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.loss_name = self.resolve_loss(ctx.loss)  # a loss that does not fit fails here

    # -- batches ---------------------------------------------------------------------------
    def collate(self, samples: Sequence[tuple[Tensor, Any]]) -> tuple[Tensor, Any]:
        return default_collate(samples)

    def to_device(self, target: Any, device: torch.device) -> Any:
        return target.to(device, non_blocking=True)

    def batch_size(self, target: Any) -> int:
        return len(target)

    def augment_batch(self, augment: Callable[[Tensor], Tensor], x: Tensor, target: Any) -> tuple[Tensor, Any]:
        """Apply a training augmentation; the target is unchanged (class labels do not move)."""
        return augment(x), target

    # -- training --------------------------------------------------------------------------
    @abstractmethod
    def resolve_loss(self, name: str) -> str:
        """The loss ``name`` resolves to (``auto``: the task's own); a :class:`TaskError` if it does not fit."""

    @abstractmethod
    def criterion(self) -> Callable[[Tensor, Any], Tensor]:
        """``loss(output, target)`` of one output tensor."""

    def loss_fn(self) -> Callable[[Any, Any], Tensor]:
        """``loss(outputs, target)``; auxiliary outputs add ``aux_weight ×`` their loss (GoogLeNet §5).

        A task whose model returns a structured tuple rather than ``(main, aux, ...)``
        (a detector's anchors, class and box predictions) overrides this.
        """
        one, weight = self.criterion(), self.ctx.aux_weight

        def loss(outputs: Any, target: Any) -> Tensor:
            main, aux = split_outputs(outputs)
            total = one(main, target)
            for a in aux:
                total = total + weight * one(a, target)
            return total

        return loss

    @abstractmethod
    def train_meter(self, device: torch.device) -> Meter:
        """A cheap running score of the training batches (kept on the device)."""

    # -- evaluation ------------------------------------------------------------------------
    @abstractmethod
    def eval_meter(self, device: torch.device, *, detailed: bool = False) -> Meter:
        """Evaluation metrics; ``detailed`` adds per-class tables and curves for the report."""

    def write_report(self, result: dict[str, Any], out_dir: Path, *, title: str) -> list[Path]:
        """Write plots of a detailed evaluation into ``out_dir``; return the files written."""
        return []

    def headline(self, result: dict[str, Any]) -> str:
        """One line of the main numbers, for the CLI."""
        return f"{self.score_label} {result[self.score_key]:.2%}"

    def per_class_table(self, result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
        """``(column names, rows)`` of the per-class numbers of a detailed evaluation."""
        return [], []


TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    TASKS[cls.name] = cls
    return cls


def build_task(name: str, ctx: TaskContext) -> Task:
    if name not in TASKS:
        raise TaskError(f"task {name!r} is unknown; expected one of {', '.join(sorted(TASKS))}")
    return TASKS[name](ctx)
