"""``cnnzoo scratch``: the NumPy engine from the command line.

``cnnzoo scratch train`` trains the NumPy LeNet-5 (every backward pass written by
hand, :mod:`cnnzoo.scratch`) on the embedded digits into the same run directory
as ``cnnzoo train`` (:func:`cnnzoo.train.scratch_run.run_scratch` does the work;
this module parses options and prints), so ``cnnzoo eval RUN_DIR --data digits``
and ``cnnzoo.load(RUN_DIR)`` work on a NumPy-trained network.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from cnnzoo.cli.app import app, console, fail

scratch_app = typer.Typer(
    help="The NumPy engine: CNNs with every forward and backward pass written by hand.",
    no_args_is_help=True,
)
app.add_typer(scratch_app, name="scratch")


@scratch_app.command("train")
def train_command(
    model: str = typer.Option("lenet5", "--model", help="Network to build from NumPy layers: lenet5."),
    optimizer: str = typer.Option("adam", "--optimizer", help="sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw, adamax, nadam, amsgrad, adabound."),
    epochs: int = typer.Option(10, "--epochs", help="Number of epochs."),
    batch_size: int = typer.Option(32, "--batch-size", help="Mini-batch size."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default: the optimizer's own; Adam 1e-3)."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="L2 weight decay."),
    schedule: str = typer.Option("cosine", "--schedule", help="constant or cosine (annealed to 0 over --epochs)."),
    activation: str = typer.Option("relu", "--activation", help="relu, tanh (the paper) or sigmoid."),
    pool: str = typer.Option("max", "--pool", help="max or avg (the paper)."),
    target_acc: float = typer.Option(None, "--target-acc", help="Stop after the first epoch with at least this test accuracy (a fraction)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the weights and the data order."),
    out: Path = typer.Option(None, "--out", help="Run directory, new or empty (default: runs/scratch-MODEL-digits)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run already in --out."),
    threads: int = typer.Option(1, "--threads", help="BLAS threads; LeNet-sized matrices run fastest on one."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a NumPy CNN on the embedded digits; write metrics, curves and checkpoints to --out."""
    from cnnzoo.scratch.optim import OPTIMIZERS
    from cnnzoo.scratch.train import ScratchConfig
    from cnnzoo.train.scratch_run import MODELS

    if model not in MODELS:
        fail(f"unknown model {model!r}; the NumPy engine builds: {', '.join(MODELS)}")
    if optimizer.lower() not in OPTIMIZERS:
        fail(f"unknown optimizer {optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        fail(f"--lr must be a finite number > 0; got {lr}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        fail(f"--weight-decay must be a finite number >= 0; got {weight_decay}")
    if threads < 1:
        fail(f"--threads must be at least 1; got {threads}")
    if target_acc is not None and not 0 < target_acc <= 1:
        fail(f"--target-acc is a fraction in (0, 1]; got {target_acc}")
    try:
        cfg = ScratchConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer.lower(), lr=lr,
                            weight_decay=weight_decay, schedule=schedule, seed=seed, target_acc=target_acc)  # fmt: skip
    except ValueError as e:
        fail(str(e))
    run_dir = out or Path("runs") / f"scratch-{model}-digits"
    _train(cfg, run_dir, "overwrite" if overwrite else "new", model, activation, pool, threads, quiet)


def _train(cfg, run_dir: Path, mode: str, model: str, activation: str, pool: str, threads: int, quiet: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cnnzoo.train.scratch_run import run_scratch

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[status]}")]
    with Progress(*columns, console=console, disable=quiet, transient=False) as progress:
        task = progress.add_task(f"{model} (NumPy)", total=None, status="")

        def status(row: dict) -> None:
            progress.update(task, status=f"epoch {row['epoch']}: loss {row['train_loss']:.3f}, test {row['test_acc']:.1%}")

        try:
            result = run_scratch(
                cfg, run_dir, model=model, activation=activation, pool=pool, mode=mode, threads=threads,
                on_start=lambda total: progress.update(task, total=total),
                on_batch=lambda n: progress.advance(task, n), on_epoch=status,
            )  # fmt: skip
        except ValueError as e:  # bad options, a used or locked --out, a full disk
            fail(str(e))
    final = result.rows[-1]
    note = f"; reached {cfg.target_acc:.0%} in {result.reached_seconds:.1f} s" if result.reached_seconds is not None else ""
    console.print(
        f"[bold]{model}[/] (NumPy engine) on digits: test accuracy [bold green]{final['test_acc']:.2%}[/] "
        f"after {final['epoch']} epochs (best {result.best_score:.2%} at epoch {result.best_epoch}), "
        f"{result.seconds:.1f} s{note}; run directory {result.run_dir}",
        highlight=False,
    )


@scratch_app.command("init-variance")
def init_variance_command(
    depth: int = typer.Option(20, "--depth", help="Number of fully connected layers."),
    width: int = typer.Option(256, "--width", help="Units per layer."),
    seed: int = typer.Option(0, "--seed", help="Seed for inputs and weights."),
) -> None:
    """Why initialisation matters: activation variance through a deep stack, per initialiser."""
    from rich.table import Table

    from cnnzoo.scratch.demos import init_variance_table

    if depth < 1 or width < 1:
        fail(f"--depth and --width must be positive; got {depth}, {width}")
    table = Table(title=f"activation variance through {depth} layers of {width} units", header_style="bold")
    for col in ("activation", "init", "layer 1", f"layer {max(depth // 2, 1)}", f"layer {depth}"):
        table.add_column(col, justify="left" if col in ("activation", "init") else "right")
    for row in init_variance_table(depth, width, seed):
        table.add_row(row["activation"], row["init"], *(f"{row[k]:.3g}" for k in ("layer_1", "layer_mid", "layer_last")))
    console.print(table)


@scratch_app.command("saturation")
def saturation_command() -> None:
    """Why cross-entropy follows a sigmoid: the gradient each cost sends to a saturated logit."""
    from rich.table import Table

    from cnnzoo.scratch.demos import saturation_table

    table = Table(title="∂C/∂z of a sigmoid unit, target 1", header_style="bold")
    for col in ("z", "σ(z)", "quadratic ½(a−y)²", "cross-entropy"):
        table.add_column(col, justify="right")
    for r in saturation_table():
        table.add_row(f"{r['z']:g}", f"{r['output']:.3g}", f"{r['quadratic_grad']:.3g}", f"{r['cross_entropy_grad']:.3g}")
    console.print(table)
