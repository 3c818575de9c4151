"""``train(config)``: set up a run, fit it, test the final model; what ``cnnzoo train`` calls.

    from cnnzoo.train import TrainConfig, train
    result = train(TrainConfig(model="lenet5", data="digits", epochs=30))
    print(result.summary())

The pieces, for those who want to drive them: :func:`cnnzoo.train.setup.setup`
builds a :class:`~cnnzoo.train.run.Run`, :func:`cnnzoo.train.fit.fit` trains it
with callbacks (:mod:`cnnzoo.train.callbacks`), and :func:`final_test` evaluates
the final model on the test split and writes ``evaluation.json`` and its plots.
Under ``torchrun`` every process calls :func:`train`; rank 0 writes the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from cnnzoo.train import distributed as D
from cnnzoo.train.callbacks import default_callbacks
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.evaluation import evaluate, write_evaluation
from cnnzoo.train.fit import fit
from cnnzoo.train.run import Run
from cnnzoo.train.setup import eval_loader_for, setup
from cnnzoo.train.state import TrainingDiverged, TrainingInterrupted

__all__ = ["TrainResult", "TrainingDiverged", "TrainingInterrupted", "final_test", "train"]


@dataclass
class TrainResult:
    """What a finished (or stopped) run reports."""

    run_dir: Path
    model_name: str
    data_name: str
    rows: list[dict[str, Any]]
    best_score: float
    final: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None  # the trained model (unwrapped from DDP and torch.compile)
    stop_reason: str | None = None
    step: int = 0
    score_key: str = "acc"
    score_label: str = "accuracy"
    is_main: bool = True  # False on the processes other than rank 0 under torchrun

    @property
    def best_acc(self) -> float:
        return self.best_score

    def summary(self) -> str:
        """One line: the run's own model and data, the score, where the run is."""

        def _count(n: int, noun: str) -> str:  # "1 epoch", "2 epochs"
            return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

        if "epoch" not in self.final:
            return f"{self.model_name}: stopped after {_count(self.step, 'step')}; checkpoint in {self.run_dir} (continue with --resume {self.run_dir})"
        f = self.final
        split = "val" if f"val_{self.score_key}" in f else "test"
        line = (
            f"{self.model_name} on {self.data_name}: {split} {self.score_label} {f[f'{split}_{self.score_key}']:.2%} "
            f"after {_count(f['epoch'], 'epoch')} (best {self.best_score:.2%}); run directory {self.run_dir}"
        )
        if split == "val" and f"test_{self.score_key}" in f:
            line += f"\ntest {self.score_label} of the final model: {f[f'test_{self.score_key}']:.2%}"
        if self.stop_reason == "max_steps":
            line += f"\nstopped after {_count(self.step, 'step')} (continue with --resume {self.run_dir})"
        return line


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.model`` on ``config.data``; returns the run directory and metrics.

    Raises :class:`TrainingInterrupted` after Ctrl-C (a checkpoint was written;
    the message gives the command that resumes) and :class:`TrainingDiverged`
    when the loss or the weights stop being finite.
    """
    config.validate()
    dist = D.init_distributed(config.device)
    try:
        run = setup(config, dist)
        try:
            state = fit(run, default_callbacks(run))
            if state.stop_reason == "interrupted":
                raise TrainingInterrupted(
                    f"interrupted at epoch {state.epoch + (1 if state.position or state.saved else 0)}, step {state.step}; "
                    f"checkpoint written: {state.saved}. Resume with: cnnzoo train --resume {run.run_dir.path if run.run_dir else config.out}"
                )
            final = final_test(run) if state.finished_training else {}
        finally:
            if run.run_dir is not None:
                run.run_dir.close()
        D.barrier(dist)
        return _result(run, final)
    finally:
        D.cleanup(dist)


def final_test(run: Run) -> dict[str, Any]:
    """Evaluate the final model on the test split; write ``evaluation.json`` and the task's plots."""
    final = dict(run.state.last_row)
    if not final:
        return final
    loader = eval_loader_for(run.data.test, run.config, run.task, run.dist)
    result = evaluate(run.model, loader, run.pipeline, run.task, run.device, autocast_dtype=run.autocast_dtype, detailed=True)
    if run.eval_name == "val":
        final |= {f"test_{k}": v for k, v in result.items() if isinstance(v, (int, float))}
    if run.state.stop_reason == "patience":
        final["early_stopped"] = True
    elif run.state.stop_reason == "stop_at":
        final["reached"] = run.config.stop_at
    if run.run_dir is not None:
        report = {"split": "test", "epoch": final.get("epoch"), "model": run.name, "data": run.meta.data,
                  "class_names": run.meta.class_names} | result  # fmt: skip
        write_evaluation(report, run.run_dir.path, title=f"{run.name} on {run.data.name}", task=run.task)
    return final


def _result(run: Run, final: dict[str, Any]) -> TrainResult:
    return TrainResult(
        run_dir=run.run_dir.path if run.run_dir else Path(run.config.out or "."), model_name=run.name,
        data_name=run.data.name, rows=list(run.run_dir.rows) if run.run_dir else [], best_score=run.state.best_score,
        final=final, model=run.module, stop_reason=run.state.stop_reason, step=run.state.step,
        score_key=run.task.score_key, score_label=run.task.score_label, is_main=run.is_main,
    )  # fmt: skip
