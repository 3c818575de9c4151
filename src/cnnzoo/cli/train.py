"""``cnnzoo train``: train a registered model on a data set, with checkpoints and curves."""

from __future__ import annotations

from pathlib import Path

import typer

from cnnzoo.cli.app import app, console, fail
from cnnzoo.train.config import TrainConfig


@app.command("train")
def train_command(
    model: str = typer.Argument("lenet5", help="Registered model name (see `cnnzoo list`)."),
    data: str = typer.Option("digits", "--data", help="digits (embedded), or NAME:PATH for data on disk."),
    epochs: int = typer.Option(TrainConfig.epochs, "--epochs", help="Number of epochs."),
    batch_size: int = typer.Option(TrainConfig.batch_size, "--batch-size", help="Mini-batch size."),
    optimizer: str = typer.Option(TrainConfig.optimizer, "--optimizer", help="sgd, nesterov, adagrad, adadelta, rmsprop, adam, adamw, amsgrad, adamax, nadam."),
    lr: float = typer.Option(None, "--lr", help="Base learning rate [default: the optimizer's own]."),
    weight_decay: float = typer.Option(TrainConfig.weight_decay, "--weight-decay", help="L2 weight decay."),
    schedule: str = typer.Option(TrainConfig.schedule, "--schedule", help="constant, step, multistep, exponential, cosine, onecycle."),
    warmup_epochs: float = typer.Option(0.0, "--warmup-epochs", help="Linear learning-rate warm-up."),
    aug: str = typer.Option("auto", "--aug", help="Augmentation preset; auto picks the data set's own."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="ε of label smoothing (Inception v3 uses 0.1)."),
    out: Path = typer.Option(None, "--out", help="Run directory [default: runs/MODEL-DATA]."),
    resume: Path = typer.Option(None, "--resume", help="Continue the run in this directory from its last checkpoint."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, data order and augmentation."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train MODEL on --data; write checkpoints, metrics and curves to --out; print the test accuracy."""
    from cnnzoo.data.datasets import DataError, parse_data_spec
    from cnnzoo.registry import get_model_info
    from cnnzoo.train.checkpoint import CheckpointError
    from cnnzoo.train.loop import TrainingDiverged, train

    cfg = TrainConfig(
        model=model, data=data, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
        weight_decay=weight_decay, schedule=schedule, warmup_epochs=warmup_epochs, aug=aug,
        label_smoothing=label_smoothing, out=str(out) if out else None, resume=str(resume) if resume else None,
        seed=seed, device=device, progress=not quiet,
    )  # fmt: skip
    try:
        cfg.validate()
        get_model_info(model)
        parse_data_spec(data)
        from cnnzoo.data.augment import AUGMENTATIONS
        from cnnzoo.train.optim import OPTIMIZERS
        from cnnzoo.train.schedules import SCHEDULES

        if optimizer.lower() not in OPTIMIZERS:
            fail(f"unknown optimizer {optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")
        if schedule.lower() not in SCHEDULES:
            fail(f"unknown schedule {schedule!r}; accepted: {', '.join(SCHEDULES)}")
        if aug != "auto" and aug not in AUGMENTATIONS:
            fail(f"unknown augmentation {aug!r}; accepted: auto, {', '.join(AUGMENTATIONS)}")
        if cfg.out:
            from cnnzoo.train.rundir import prepare_run_dir

            prepare_run_dir(cfg.out)
        result = train(cfg)
    except (ValueError, DataError, CheckpointError) as e:
        fail(str(e))
    except TrainingDiverged as e:
        fail(str(e))
    final = result.final
    key = "val" if "val_acc" in final else "test"
    metric = "miou" if f"{key}_miou" in final else "acc"
    console.print(
        f"[bold]{model}[/] on {data}: {key} {'mean IoU' if metric == 'miou' else 'accuracy'} "
        f"[bold green]{final[f'{key}_{metric}']:.2%}[/] after {final['epoch']} epochs "
        f"(best {result.best_acc:.2%}); run directory {result.run_dir}",
        highlight=False,
    )
