"""``cnnzoo scratch``: the NumPy engine from the command line.

``cnnzoo scratch train`` trains the NumPy LeNet-5 (every backward pass written by
hand, :mod:`cnnzoo.scratch`) on the embedded digits and writes the same run
directory as ``cnnzoo train``: ``config.json``, ``metrics.jsonl``, ``metrics.csv``,
``curves.png``, ``checkpoint-last`` and ``checkpoint-best``. The checkpoints are in
the torch format with the torch layer names, so ``cnnzoo eval RUN_DIR --data digits``
and ``cnnzoo.load(RUN_DIR)`` work on a NumPy-trained network.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from cnnzoo.cli.app import app, console, fail

scratch_app = typer.Typer(
    help="The NumPy engine: CNNs with every forward and backward pass written by hand.",
    no_args_is_help=True,
)
app.add_typer(scratch_app, name="scratch")

MODELS = ("lenet5",)


def _save_checkpoint(stem: Path, model, meta: dict) -> None:
    """Weights as ``model.<torch name>`` arrays in safetensors, the sidecar in its header and beside it."""
    import hashlib

    import numpy as np
    from safetensors.numpy import save

    from cnnzoo.scratch.lenet import torch_state_dict_names
    from cnnzoo.train.checkpoint import FORMAT, atomic_write_bytes, checkpoint_paths

    arrays = {f"model.{k}": np.ascontiguousarray(v) for k, v in torch_state_dict_names(model.state_dict()).items()}
    header = {"format": FORMAT, **meta, "states": {}}
    data = save(arrays, metadata={"cnnzoo": json.dumps(header)})
    weights_path, json_path = checkpoint_paths(stem)
    sidecar = {k: v for k, v in header.items() if k != "states"} | {"weights_sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_bytes(weights_path, data)
    atomic_write_bytes(json_path, (json.dumps(sidecar, indent=2) + "\n").encode())


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
    out: Path = typer.Option(None, "--out", help="Run directory (default: runs/scratch-MODEL-digits)."),
    threads: int = typer.Option(1, "--threads", help="BLAS threads; LeNet-sized matrices run fastest on one."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a NumPy CNN on the embedded digits; write metrics, curves and checkpoints to --out."""
    from cnnzoo.scratch.optim import OPTIMIZERS
    from cnnzoo.scratch.train import TrainConfig

    if model not in MODELS:
        fail(f"unknown model {model!r}; the NumPy engine builds: {', '.join(MODELS)}")
    if optimizer.lower() not in OPTIMIZERS:
        fail(f"unknown optimizer {optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")
    if lr is not None and lr <= 0:
        fail(f"--lr must be positive; got {lr}")
    if threads < 1:
        fail(f"--threads must be at least 1; got {threads}")
    if target_acc is not None and not 0 < target_acc <= 1:
        fail(f"--target-acc is a fraction in (0, 1]; got {target_acc}")
    try:
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer.lower(), lr=lr,
                          weight_decay=weight_decay, schedule=schedule, seed=seed, target_acc=target_acc)  # fmt: skip
        from cnnzoo.scratch.lenet import lenet5

        net = lenet5(activation=activation, pool=pool, seed=seed)
        from cnnzoo.train.rundir import RunLogger

        run_dir = out or Path("runs") / f"scratch-{model}-digits"
        logger = RunLogger(run_dir)
    except ValueError as e:
        fail(str(e))
    _train(net, cfg, logger, model, activation, pool, threads, quiet)


def _train(net, cfg, logger, model: str, activation: str, pool: str, threads: int, quiet: bool) -> None:
    from dataclasses import asdict

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from threadpoolctl import threadpool_limits

    from cnnzoo.data.digits import load_digits_arrays
    from cnnzoo.scratch.train import fit

    data = load_digits_arrays(size=32)
    model_spec = {"name": model, "kwargs": {"activation": activation, "pool": pool, "num_classes": 10, "in_chans": 1}}
    meta_base = {
        "engine": "numpy (cnnzoo.scratch)",
        "model": model_spec,
        "config": asdict(cfg) | {"model": model, "data": "digits"},
        # trained on the raw [0, 1] pixels: the identity normalisation
        "normalize": {"mean": [0.0], "std": [1.0], "size": [32, 32]},
        "data": {"name": "digits", "num_classes": 10, "class_names": [str(i) for i in range(10)],
                 "task": "classification", "in_chans": 1},
    }  # fmt: skip
    logger.write_config(meta_base["config"] | {"engine": meta_base["engine"], "model_kwargs": model_spec["kwargs"]})
    best = {"acc": -1.0, "epoch": 0}
    start = time.perf_counter()
    reached: dict[str, float] = {}

    def on_epoch(row: dict) -> None:
        row = dict(row) | {"elapsed": time.perf_counter() - start}
        last = row["epoch"] == cfg.epochs or (cfg.target_acc is not None and row["test_acc"] >= cfg.target_acc)
        # drawing curves.png costs more than a NumPy epoch here: every 5th epoch and the last
        logger.log_epoch(row, plot=last or row["epoch"] % 5 == 0)
        meta = meta_base | {"epoch": row["epoch"], "metrics": row}
        is_best = row["test_acc"] > best["acc"]
        if is_best:
            best.update(acc=row["test_acc"], epoch=row["epoch"])
        meta["best_acc"] = best["acc"]
        _save_checkpoint(logger.dir / "checkpoint-last", net, meta)
        if is_best:
            _save_checkpoint(logger.dir / "checkpoint-best", net, meta)
        if cfg.target_acc is not None and row["test_acc"] >= cfg.target_acc and not reached:
            reached["seconds"] = row["elapsed"]
        if bar is not None:
            bar.update(task, status=f"epoch {row['epoch']}: loss {row['train_loss']:.3f}, test {row['test_acc']:.1%}")

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[status]}")]
    per_epoch = len(data.x_train)
    with threadpool_limits(limits=threads), Progress(*columns, console=console, disable=quiet, transient=False) as progress:
        bar = None if quiet else progress
        task = progress.add_task(f"{model} (NumPy)", total=cfg.epochs * per_epoch, status="")
        history = fit(net, data.x_train, data.y_train, data.x_test, data.y_test, cfg, on_epoch=on_epoch,
                      on_batch=lambda n: progress.advance(task, n))  # fmt: skip
    final = history[-1]
    wall = time.perf_counter() - start
    note = f"; reached {cfg.target_acc:.0%} in {reached['seconds']:.1f} s" if reached else ""
    console.print(
        f"[bold]{model}[/] (NumPy engine) on digits: test accuracy [bold green]{final['test_acc']:.2%}[/] "
        f"after {final['epoch']} epochs (best {best['acc']:.2%} at epoch {best['epoch']}), {wall:.1f} s{note}; "
        f"run directory {logger.dir}",
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
