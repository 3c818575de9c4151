"""What hangs off the training loop: stopping rules, checkpoints, metric logs, plots, progress.

A callback sees the run after each optimizer step (``on_step_end``) and after
each epoch (``on_epoch_end``, with the epoch's metrics row); it stops the loop
by setting ``run.state.stop_reason``. The default set, in the order they run:

==================  =============================================================
StoppingRules       ``--max-steps``, ``--patience`` (early stopping), ``--stop-at``
Checkpointer        ``checkpoint-last`` every epoch (and every ``--checkpoint-every``
                    steps, and when a step limit or Ctrl-C stops an epoch midway);
                    ``checkpoint-best`` when the score improved
MetricsLogger       one row per epoch in ``metrics.jsonl`` and ``metrics.csv``
TensorBoardLogger   the same rows as scalars (``--logger tensorboard``)
CurvePlotter        ``curves.png`` at the end (and at most every 5 minutes on the way)
ProgressBar         a rich progress bar with the last epoch's loss and score
==================  =============================================================
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cnnzoo.train.checkpoint import NonFiniteCheckpointError, save_checkpoint
from cnnzoo.train.state import TrainingDiverged

if TYPE_CHECKING:
    from cnnzoo.train.fit import EpochProgress
    from cnnzoo.train.run import Run

__all__ = [
    "Callback", "CallbackList", "Checkpointer", "CurvePlotter", "MetricsLogger", "ProgressBar",
    "StoppingRules", "TensorBoardLogger", "default_callbacks",
]  # fmt: skip

# A drawing takes 0.2–2 s, more than an epoch of LeNet-5 on the digits: a run redraws its curves
# at most this often (under 1% of its time), and once at the end.
PLOT_EVERY_S = 300.0


class Callback:
    """Does nothing; subclasses override the hooks they need."""

    def on_fit_start(self, run: Run) -> None: ...

    def on_step_end(self, run: Run, progress: EpochProgress, batch_size: int) -> None: ...

    def on_epoch_end(self, run: Run, row: dict[str, Any], improved: bool) -> None: ...

    def on_fit_end(self, run: Run) -> None: ...


class CallbackList(Callback):
    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_fit_start(self, run: Run) -> None:
        for cb in self.callbacks:
            cb.on_fit_start(run)

    def on_step_end(self, run: Run, progress: EpochProgress, batch_size: int) -> None:
        for cb in self.callbacks:
            cb.on_step_end(run, progress, batch_size)

    def on_epoch_end(self, run: Run, row: dict[str, Any], improved: bool) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(run, row, improved)

    def on_fit_end(self, run: Run) -> None:
        for cb in self.callbacks:
            cb.on_fit_end(run)


class StoppingRules(Callback):
    """``--max-steps`` (mid-epoch too), ``--patience`` epochs without improvement, ``--stop-at`` a score."""

    def on_step_end(self, run: Run, progress: EpochProgress, batch_size: int) -> None:
        limit = run.config.max_steps
        if limit is not None and run.state.step >= limit and progress.batch < run.steps_per_epoch:
            run.state.stop_reason = run.state.stop_reason or "max_steps"

    def on_epoch_end(self, run: Run, row: dict[str, Any], improved: bool) -> None:
        c, s = run.config, run.state
        score = row[f"{run.eval_name}_{run.task.score_key}"]
        if s.stop_reason:
            return
        if c.max_steps is not None and s.step >= c.max_steps:
            s.stop_reason = "max_steps"
        elif c.patience is not None and s.bad_epochs >= c.patience:
            s.stop_reason = "patience"
        elif c.stop_at is not None and score >= c.stop_at:
            s.stop_reason = "stop_at"


class Checkpointer(Callback):
    """Writes ``checkpoint-last`` and ``checkpoint-best``; only finite weights are ever written."""

    def on_step_end(self, run: Run, progress: EpochProgress, batch_size: int) -> None:
        every, stop = run.config.checkpoint_every, run.state.stop_reason
        due = stop is not None or (bool(every) and run.state.step % every == 0)
        # At an epoch's last step the epoch-end checkpoint follows, unless Ctrl-C stops the epoch there.
        if due and (progress.batch < run.steps_per_epoch or stop == "interrupted"):
            run.state.position = progress.position()
            self._save(run, best=False)
            run.state.position = None

    def on_epoch_end(self, run: Run, row: dict[str, Any], improved: bool) -> None:
        self._save(run, best=improved)

    def _save(self, run: Run, *, best: bool) -> None:
        if run.run_dir is None:
            return
        meta, states = run.checkpoint_meta(), run.state_dict()
        try:
            for name in ("checkpoint-last", "checkpoint-best") if best else ("checkpoint-last",):
                save_checkpoint(run.run_dir.path / name, run.module, meta, states)
        except NonFiniteCheckpointError as e:
            kept = run.state.saved or "none was written before"
            raise TrainingDiverged(
                f"the weights became NaN or infinite by step {run.state.step} ({e}); lower --lr (or use "
                f"--clip-grad-norm) or check the data. The last good checkpoint is kept: {kept}"
            ) from None
        s = run.state
        when = f"within epoch {s.position.epoch}" if s.position else f"after epoch {s.epoch}"
        s.saved = f"{run.run_dir.path / 'checkpoint-last'} ({when}, step {s.step})"


class MetricsLogger(Callback):
    """One row per epoch: appended to ``metrics.jsonl``, ``metrics.csv`` rewritten from it."""

    def on_epoch_end(self, run: Run, row: dict[str, Any], improved: bool) -> None:
        if run.run_dir is not None:
            run.run_dir.append_row(row)


class TensorBoardLogger(Callback):
    """Each epoch's numbers as TensorBoard scalars under ``RUN_DIR/tensorboard`` (``pip install cnnzoo[tensorboard]``)."""

    def __init__(self) -> None:
        self.writer: Any = None

    def on_fit_start(self, run: Run) -> None:
        if run.run_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError("--logger tensorboard needs the tensorboard package: pip install 'cnnzoo[tensorboard]'") from None
        self.writer = SummaryWriter(log_dir=str(run.run_dir.path / "tensorboard"), purge_step=run.state.epoch + 1)

    def on_epoch_end(self, run: Run, row: dict[str, Any], improved: bool) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                split, _, metric = key.partition("_")
                self.writer.add_scalar(f"{metric}/{split}" if metric else key, value, row["epoch"])
        self.writer.flush()

    def on_fit_end(self, run: Run) -> None:
        if self.writer is not None:
            self.writer.close()


class CurvePlotter(Callback):
    """``curves.png``: loss and the task's score by epoch, train against validation or test."""

    def __init__(self) -> None:
        self.last, self.stale = time.perf_counter(), False

    def on_epoch_end(self, run: Run, row: dict[str, Any], improved: bool) -> None:
        self.stale = True
        if row["epoch"] == run.config.epochs or time.perf_counter() - self.last >= PLOT_EVERY_S:
            self._draw(run)

    def on_fit_end(self, run: Run) -> None:
        if self.stale:
            self._draw(run)

    def _draw(self, run: Run) -> None:
        from cnnzoo.train.plots import plot_curves

        if run.run_dir is not None and run.run_dir.rows:
            plot_curves(run.run_dir.rows, run.run_dir.path / "curves.png", metric=run.task.score_key, label=run.task.score_label)
        self.last, self.stale = time.perf_counter(), False


class ProgressBar(Callback):
    """A rich progress bar over all images of all epochs, with the last epoch's numbers."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar, self.task_id = enabled, None, None

    def on_fit_start(self, run: Run) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), disable=not (self.enabled and run.is_main), transient=False,
        )  # fmt: skip
        per_epoch = len(run.train_loader.sampler)
        done = run.state.epoch * per_epoch + (run.state.position.seen if run.state.position else 0)
        self.task_id = self.bar.add_task(run.name, total=run.config.epochs * per_epoch, status="", completed=done)
        self.bar.start()

    def on_step_end(self, run: Run, progress: EpochProgress, batch_size: int) -> None:
        self.bar.advance(self.task_id, batch_size)

    def on_epoch_end(self, run: Run, row: dict[str, Any], improved: bool) -> None:
        key = f"{run.eval_name}_{run.task.score_key}"
        status = f"epoch {row['epoch']}/{run.config.epochs} loss {row['train_loss']:.3f} {run.eval_name} {run.task.score_key} {row[key]:.4f}"
        self.bar.update(self.task_id, status=status)

    def on_fit_end(self, run: Run) -> None:
        if self.bar is not None:
            self.bar.stop()


def default_callbacks(run: Run) -> list[Callback]:
    """The callbacks ``cnnzoo train`` uses, as ``config`` asks for them."""
    callbacks: list[Callback] = [StoppingRules(), Checkpointer(), MetricsLogger()]
    if "tensorboard" in [name.strip() for name in run.config.logger.split(",")]:
        callbacks.append(TensorBoardLogger())
    return callbacks + [CurvePlotter(), ProgressBar(run.config.progress)]
