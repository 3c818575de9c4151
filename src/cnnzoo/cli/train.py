"""``cnnzoo train``: train a registered model on a data set, with checkpoints and curves."""

from __future__ import annotations

from pathlib import Path

import typer

from cnnzoo.cli.app import app, console, fail, parse_kwargs
from cnnzoo.train.config import TrainConfig

_DATA_HELP = "digits (embedded), mnist:DIR, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, csv:FILE."


def _int_list(text: str | None, name: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        fail(f"{name} must be comma-separated class indices such as 0,1,2; got {text!r}")


@app.command("train")
def train_command(
    model: str = typer.Argument("lenet5", help="Registered model name (see `cnnzoo list`)."),
    data: str = typer.Option("digits", "--data", help=_DATA_HELP),
    model_args: list[str] = typer.Option(None, "--arg", "-a", help="Builder keyword argument NAME=VALUE (repeatable), e.g. padding=True."),
    epochs: int = typer.Option(TrainConfig.epochs, "--epochs", help="Number of epochs."),
    batch_size: int = typer.Option(TrainConfig.batch_size, "--batch-size", help="Mini-batch size (per process under torchrun)."),
    optimizer: str = typer.Option(TrainConfig.optimizer, "--optimizer", help="sgd, nesterov, adagrad, adadelta, rmsprop, adam, adamw, amsgrad, adamax, nadam, adabound."),
    lr: float = typer.Option(None, "--lr", help="Base learning rate [default: the optimizer's own]."),
    momentum: float = typer.Option(TrainConfig.momentum, "--momentum", help="Momentum of sgd/nesterov."),
    weight_decay: float = typer.Option(TrainConfig.weight_decay, "--weight-decay", help="L2 weight decay."),
    l1: float = typer.Option(0.0, "--l1", help="L1 penalty λ·Σ|w| over conv and linear weights."),
    schedule: str = typer.Option(TrainConfig.schedule, "--schedule", help="constant, step, multistep, exponential, cosine, onecycle, plateau."),
    warmup_epochs: float = typer.Option(0.0, "--warmup-epochs", help="Linear learning-rate warm-up."),
    plateau_patience: int = typer.Option(TrainConfig.plateau_patience, "--plateau-patience", help="--schedule plateau: epochs without improvement before the rate is divided by 10."),
    loss: str = typer.Option("auto", "--loss", help="cross_entropy, hinge, focal, bce; auto: bce for multi-label data, else cross_entropy."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="ε of label smoothing (Inception v3 uses 0.1)."),
    aux_weight: float = typer.Option(TrainConfig.aux_weight, "--aux-weight", help="Weight of auxiliary classifiers' losses (GoogLeNet: 0.3)."),
    clip_grad_norm: float = typer.Option(None, "--clip-grad-norm", help="Clip the gradient's global L2 norm to this value."),
    patience: int = typer.Option(None, "--patience", help="Early stopping: stop after this many epochs without a better validation score."),
    stop_at: float = typer.Option(None, "--stop-at", help="Stop once the validation (or test) accuracy reaches this fraction."),
    aug: str = typer.Option("auto", "--aug", help="none, digits, alexnet, vgg, inception, cifar, d2l; auto picks the data set's own."),
    val_split: float = typer.Option(0.0, "--val-split", help="Fraction of the training set held out (per class, seeded) for validation."),
    classes: str = typer.Option(None, "--classes", help="Train on these classes only, e.g. 0,1,2,3,4 (relabelled 0..k-1)."),
    image_size: int = typer.Option(None, "--image-size", help="folder:/csv: resize the shorter side to this and centre-crop a square."),
    threshold: float = typer.Option(TrainConfig.threshold, "--threshold", help="Multi-label: predict a label when its sigmoid exceeds this."),
    init: Path = typer.Option(None, "--init", help="Fine-tune: start from this checkpoint's weights, all but the output layer."),
    freeze: str = typer.Option(None, "--freeze", help="With --init: 'backbone' trains only the new output layer."),
    backbone_lr_mult: float = typer.Option(1.0, "--backbone-lr-mult", help="With --init: learning-rate multiplier of the copied layers (e.g. 0.1)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16 autocast (CUDA; ignored on CPU)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory layout (CUDA; ignored on CPU)."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the model."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes."),
    peak_tflops: float = typer.Option(None, "--peak-tflops", help="The device's peak TFLOP/s, for model FLOPs utilisation (known GPUs are looked up)."),
    checkpoint_every: int = typer.Option(0, "--checkpoint-every", help="Also write checkpoint-last every N optimizer steps."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after this many optimizer steps (a checkpoint is written; --resume continues)."),
    sync_bn: bool = typer.Option(False, "--sync-bn", help="Under torchrun: SyncBatchNorm across processes."),
    out: Path = typer.Option(None, "--out", help="Run directory [default: runs/MODEL-DATA]."),
    resume: Path = typer.Option(None, "--resume", help="Continue the run in this directory from its last checkpoint."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, data order and augmentation."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    limit_train: int = typer.Option(None, "--limit-train", help="Use only the first N training samples (quick checks)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train MODEL on --data; write checkpoints, metrics and curves to --out; print the test accuracy.

    Under `torchrun --nproc_per_node=N -m cnnzoo train …` it trains with DistributedDataParallel.
    """
    from cnnzoo.data.datasets import DataError, parse_data_spec
    from cnnzoo.registry import get_model_info
    from cnnzoo.train.checkpoint import CheckpointError
    from cnnzoo.train.loop import TrainingDiverged, train

    cfg = TrainConfig(
        model=model, data=data, model_kwargs=parse_kwargs(model_args), epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, momentum=momentum,
        weight_decay=weight_decay, l1=l1, schedule=schedule, warmup_epochs=warmup_epochs, plateau_patience=plateau_patience,
        loss=loss, label_smoothing=label_smoothing, aux_weight=aux_weight, clip_grad_norm=clip_grad_norm, patience=patience, stop_at=stop_at,
        aug=aug, val_split=val_split, classes=_int_list(classes, "--classes"), image_size=image_size, threshold=threshold,
        init=str(init) if init else None, freeze=freeze, backbone_lr_mult=backbone_lr_mult, precision=precision,
        channels_last=channels_last, compile=compile_model, num_workers=workers, peak_tflops=peak_tflops,
        checkpoint_every=checkpoint_every, max_steps=max_steps, sync_bn=sync_bn, out=str(out) if out else None,
        resume=str(resume) if resume else None, seed=seed, device=device, limit_train=limit_train, progress=not quiet,
    )  # fmt: skip
    try:
        cfg.validate()
        get_model_info(model)
        parse_data_spec(data)
        from cnnzoo.data.augment import AUGMENTATIONS
        from cnnzoo.train.losses import LOSSES
        from cnnzoo.train.optim import OPTIMIZERS
        from cnnzoo.train.schedules import SCHEDULES

        if optimizer.lower() not in OPTIMIZERS:
            fail(f"unknown optimizer {optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")
        if schedule.lower() not in SCHEDULES:
            fail(f"unknown schedule {schedule!r}; accepted: {', '.join(SCHEDULES)}")
        if aug != "auto" and aug not in AUGMENTATIONS:
            fail(f"unknown augmentation {aug!r}; accepted: auto, {', '.join(AUGMENTATIONS)}")
        if loss != "auto" and loss not in LOSSES:
            fail(f"unknown loss {loss!r}; accepted: auto, {', '.join(LOSSES)}")
        if resume is not None and not (resume / "checkpoint-last.safetensors").exists() and not resume.is_file():
            fail(f"--resume {resume}: no checkpoint-last.safetensors there (expected a run directory)")
        if cfg.out:
            from cnnzoo.train.rundir import prepare_run_dir

            prepare_run_dir(cfg.out)
        result = train(cfg)
    except (ValueError, DataError, CheckpointError, TrainingDiverged) as e:
        fail(str(e))
    final = result.final
    if not result.rows:  # a rank other than 0 under torchrun, or stopped before an epoch ended
        if final == {} and cfg.max_steps:
            console.print(f"stopped after {cfg.max_steps} steps; checkpoint in {result.run_dir} (continue with --resume)")
        return
    if not final or "epoch" not in final:
        console.print(f"stopped after {cfg.max_steps} steps; checkpoint in {result.run_dir} (continue with --resume {result.run_dir})")
        return
    key = "val" if "val_acc" in final else "test"
    metric = "miou" if f"{key}_miou" in final else "acc"
    console.print(
        f"[bold]{model}[/] on {data}: {key} {'mean IoU' if metric == 'miou' else 'accuracy'} "
        f"[bold green]{final[f'{key}_{metric}']:.2%}[/] after {final['epoch']} epochs "
        f"(best {result.best_acc:.2%}); run directory {result.run_dir}",
        highlight=False,
    )
    if key == "val" and "test_acc" in final:
        console.print(f"test accuracy of the final model: {final['test_acc']:.2%}", highlight=False)
