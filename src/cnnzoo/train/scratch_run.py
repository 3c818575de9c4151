"""``cnnzoo scratch train`` as a library function: the NumPy LeNet-5 trained into a run directory.

The network and its every backward pass come from :mod:`cnnzoo.scratch` (which
never imports torch); this module gives its training the same run directory as
``cnnzoo train``: ``config.json``, ``metrics.jsonl``, ``metrics.csv``,
``curves.png``, ``checkpoint-last`` and ``checkpoint-best``, locked and written
by :class:`~cnnzoo.train.rundir.RunDirectory` and the one checkpoint writer.
The weights are stored under the torch LeNet-5's names, so ``cnnzoo eval
RUN_DIR`` and ``cnnzoo.load(RUN_DIR)`` work on a NumPy-trained network.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cnnzoo.scratch.train import ScratchConfig, ScratchDiverged
from cnnzoo.train.meta import CheckpointMeta, Normalization
from cnnzoo.train.rundir import RunDirectory

__all__ = ["MODELS", "ScratchRunResult", "run_scratch", "scratch_meta"]

MODELS = ("lenet5",)
PLOT_EVERY = 5  # drawing curves.png costs more than a NumPy epoch of LeNet-5: every 5th epoch and the last


@dataclass
class ScratchRunResult:
    """What a NumPy run did; accuracies are fractions in [0, 1]."""

    run_dir: Path
    rows: list[dict[str, Any]]
    best_score: float | None = None  # the best test accuracy
    best_epoch: int = 0
    seconds: float = 0.0
    reached_seconds: float | None = None  # when config.target_acc was first reached


def scratch_meta(config: ScratchConfig, model: str = "lenet5", activation: str = "relu", pool: str = "max") -> CheckpointMeta:
    """The checkpoint header of a NumPy LeNet-5 on the embedded digits (before any epoch)."""
    return CheckpointMeta(
        model=model, model_kwargs={"activation": activation, "pool": pool, "num_classes": 10, "in_chans": 1},
        task="classification", data="digits", data_name="digits", num_classes=10,
        class_names=[str(i) for i in range(10)], in_chans=1,
        # trained on the raw [0, 1] pixels: the identity normalisation
        normalize=Normalization(mean=[0.0], std=[1.0], size=[32, 32]),
        config=asdict(config) | {"model": model, "data": "digits"}, engine="numpy",
    )  # fmt: skip


class _EpochEnd:
    """After each epoch: the metrics row, the curves, checkpoint-last and (if better) checkpoint-best."""

    def __init__(self, run_dir: RunDirectory, net: Any, meta: CheckpointMeta, config: ScratchConfig, steps_per_epoch: int) -> None:
        self.run_dir, self.net, self.meta, self.config = run_dir, net, meta, config
        self.steps_per_epoch = steps_per_epoch
        self.start = time.perf_counter()
        self.result = ScratchRunResult(run_dir=run_dir.path, rows=[])
        self.bad_epochs = 0
        self.on_epoch: Callable[[dict[str, Any]], None] | None = None

    def __call__(self, row: dict[str, Any]) -> None:
        from cnnzoo.train.plots import plot_curves

        c, r = self.config, self.result
        row = dict(row) | {"elapsed": time.perf_counter() - self.start}
        reached = c.target_acc is not None and row["test_acc"] >= c.target_acc
        self.run_dir.append_row(row)
        if reached or row["epoch"] == c.epochs or row["epoch"] % PLOT_EVERY == 0:
            plot_curves(self.run_dir.rows, self.run_dir.path / "curves.png")
        improved = r.best_score is None or row["test_acc"] > r.best_score
        if improved:
            r.best_score, r.best_epoch = row["test_acc"], row["epoch"]
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        self._save(row, improved)
        if reached and r.reached_seconds is None:
            r.reached_seconds = row["elapsed"]
        if self.on_epoch is not None:
            self.on_epoch(row)

    def _save(self, row: dict[str, Any], best: bool) -> None:
        import numpy as np
        import torch

        from cnnzoo.scratch.lenet import torch_state_dict_names
        from cnnzoo.train.checkpoint import save_tensors_checkpoint

        r = self.result
        meta = replace(self.meta, epoch=row["epoch"], step=row["epoch"] * self.steps_per_epoch, metrics=row,
                       best_score=r.best_score, bad_epochs=self.bad_epochs)  # fmt: skip
        names = torch_state_dict_names(self.net.state_dict())
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in names.items()}
        for name in ("checkpoint-last", "checkpoint-best") if best else ("checkpoint-last",):
            save_tensors_checkpoint(self.run_dir.checkpoint_stem(name), tensors, meta)


def _diverged(e: ScratchDiverged, run_dir: RunDirectory) -> ValueError:
    """The torch trainer's divergence error: what happened, what to do, which checkpoint is kept."""
    from cnnzoo.train.state import TrainingDiverged

    done = run_dir.rows[-1]["epoch"] if run_dir.rows else 0
    kept = f"{run_dir.path / 'checkpoint-last'} (after epoch {done})" if done else "none was written before"
    return TrainingDiverged(f"{e}; lower --lr or choose another --optimizer. The last good checkpoint is kept: {kept}")


def run_scratch(
    config: ScratchConfig,
    out: str | os.PathLike[str],
    *,
    model: str = "lenet5",
    activation: str = "relu",
    pool: str = "max",
    mode: str = "new",
    threads: int = 1,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> ScratchRunResult:
    """Train the NumPy ``model`` on the digits into the run directory ``out`` ("new" or "overwrite").

    ``on_start(total images)``, ``on_batch(images)`` and ``on_epoch(row)`` report progress.
    Bad options and an unusable directory raise ``ValueError`` subclasses before training starts.
    """
    from threadpoolctl import threadpool_limits

    from cnnzoo.data.digits import load_digits_arrays
    from cnnzoo.scratch.lenet import lenet5
    from cnnzoo.scratch.train import fit

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; the NumPy engine builds: {', '.join(MODELS)}")
    if mode not in ("new", "overwrite"):
        raise ValueError(f"the NumPy engine cannot resume; mode must be 'new' or 'overwrite', got {mode!r}")
    net = lenet5(activation=activation, pool=pool, seed=config.seed)
    meta = scratch_meta(config, model, activation, pool)
    data = load_digits_arrays(size=32)
    with RunDirectory.open(out, mode, resume_hint=False) as run_dir:
        run_dir.write_config(meta.config | {"engine": meta.engine, "model_kwargs": meta.model_kwargs})
        epoch_end = _EpochEnd(run_dir, net, meta, config, math.ceil(len(data.x_train) / config.batch_size))
        epoch_end.on_epoch = on_epoch
        if on_start is not None:
            on_start(config.epochs * len(data.x_train))
        with threadpool_limits(limits=threads):
            try:
                fit(net, data.x_train, data.y_train, data.x_test, data.y_test, config, on_epoch=epoch_end, on_batch=on_batch)
            except ScratchDiverged as e:
                raise _diverged(e, run_dir) from None
    result = epoch_end.result
    result.rows = list(run_dir.rows)
    result.seconds = time.perf_counter() - epoch_end.start
    return result
