"""The training loop: data → model → optimizer → checkpoint, one epoch at a time.

Reads top to bottom: :func:`train` sets up the run and calls
:func:`train_one_epoch` and :func:`evaluate` per epoch; after each epoch it
logs a metrics row and writes ``checkpoint-last`` (and ``checkpoint-best``
when the test accuracy improved), atomically. ``--resume`` restores the model,
optimizer, schedule and RNG states and continues at the next epoch. The order
of the training data and the augmentation draws are seeded per epoch, so a
resumed run follows the same path as an uninterrupted one.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from cnnzoo.data import DataBundle, build_data
from cnnzoo.data.augment import build_augment
from cnnzoo.registry import create, get_model_info
from cnnzoo.train.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.metrics import confusion_matrix, mean_iou, topk_correct
from cnnzoo.train.optim import DEFAULT_LR, build_optimizer
from cnnzoo.train.rundir import RunLogger
from cnnzoo.train.schedules import build_schedule

__all__ = ["TrainingDiverged", "TrainResult", "evaluate", "train", "train_one_epoch"]

IGNORE_INDEX = 255  # segmentation pixels without a label


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    rows: list[dict[str, Any]]
    best_acc: float
    final: dict[str, Any] = field(default_factory=dict)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def channel_stats(dataset: Any, limit: int = 10_000) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of the training images (VGG §3.2)."""
    n = min(len(dataset), limit)
    x = torch.stack([dataset[i][0] for i in range(n)]).double()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean.tolist(), std.tolist()


class InputPipeline:
    """Per-batch work on the device: augmentation, resizing up to the model's size, normalisation."""

    def __init__(self, mean: list[float], std: list[float], size: tuple[int, int] | None, device: torch.device) -> None:
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.size = size

    def __call__(self, x: Tensor, augment: Any = None) -> Tensor:
        if augment is not None:
            x = augment(x)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std


def _split_outputs(out: Any) -> tuple[Tensor, list[Tensor]]:
    if isinstance(out, (tuple, list)):
        return out[0], list(out[1:])
    return out, []


def _loss(logits: Tensor, target: Tensor, task: str, label_smoothing: float) -> Tensor:
    if task == "segmentation":
        if logits.shape[-2:] != target.shape[-2:]:
            logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        return F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing)


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    pipeline: InputPipeline,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
    *,
    task: str = "classification",
    augment: Any = None,
    label_smoothing: float = 0.0,
    aux_weight: float = 0.3,
    progress: Any = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss, accuracy and images/s."""
    model.train()
    total_loss, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x = pipeline(x, augment)
        logits, aux = _split_outputs(model(x))
        loss = _loss(logits, y, task, label_smoothing)
        for a in aux:
            loss = loss + aux_weight * _loss(a, y, task, label_smoothing)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {loss.item()} at step {schedule.last_epoch}; "
                "lower --lr or check the data. The last good checkpoint is kept."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        n = y.shape[0]
        total_loss += loss.item() * n
        if task != "segmentation":
            correct += int((logits.argmax(1) == y).sum())
        seen += n
        if progress is not None:
            progress(n)
    seconds = time.perf_counter() - start
    row = {"train_loss": total_loss / seen, "images_per_s": seen / max(seconds, 1e-9)}
    if task != "segmentation":
        row["train_acc"] = correct / seen
    return row


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    pipeline: InputPipeline,
    device: torch.device,
    *,
    task: str = "classification",
    num_classes: int,
) -> dict[str, float]:
    """Loss, top-1 and top-5 accuracy (classification) or pixel accuracy and mean IoU (segmentation)."""
    model.eval()
    total_loss, seen, top1, top5 = 0.0, 0, 0, 0
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits, _ = _split_outputs(model(pipeline(x)))
        total_loss += _loss(logits, y, task, 0.0).item() * y.shape[0]
        seen += y.shape[0]
        if task == "segmentation":
            if logits.shape[-2:] != y.shape[-2:]:
                logits = F.interpolate(logits, size=y.shape[-2:], mode="bilinear", align_corners=False)
            cm += confusion_matrix(logits.argmax(1).cpu(), y.cpu(), num_classes, IGNORE_INDEX)
        else:
            hits = topk_correct(logits, y, (1, 5))
            top1, top5 = top1 + hits[1], top5 + hits[5]
    if task == "segmentation":
        total = int(cm.sum())
        return {"loss": total_loss / seen, "acc": float(cm.diagonal().sum()) / max(total, 1), "miou": mean_iou(cm)}
    return {"loss": total_loss / seen, "acc": top1 / seen, "acc_top5": top5 / seen}


def _rng_states() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }


def _set_rng_states(s: dict[str, Any]) -> None:
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npv = s["numpy"]
    np.random.set_state((npv[0], np.array(npv[1], dtype=np.uint32), *npv[2:]))
    torch.set_rng_state(s["torch"])


def _progress_bar(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.model`` on ``config.data``; returns the run directory and metrics."""
    config.validate()
    if config.resume:
        return _resume(config)
    _seed_everything(config.seed)
    return _run(config, start_epoch=1, ckpt=None)


def _resume(config: TrainConfig) -> TrainResult:
    run_dir = Path(config.resume)  # type: ignore[arg-type]
    stem = resolve_checkpoint(run_dir / "checkpoint-last" if run_dir.is_dir() else run_dir)
    ckpt = load_checkpoint(stem)
    saved = TrainConfig(**ckpt["meta"]["config"])
    # The saved recipe decides; only the epoch budget, device and display may change.
    saved.epochs, saved.device, saved.progress = config.epochs if config.epochs != TrainConfig.epochs else saved.epochs, config.device, config.progress
    saved.resume, saved.out = str(run_dir), str(stem.parent)
    return _run(saved, start_epoch=ckpt["meta"]["epoch"] + 1, ckpt=ckpt)


def _run(config: TrainConfig, start_epoch: int, ckpt: dict[str, Any] | None) -> TrainResult:
    device = _device(config.device)
    bundle: DataBundle = build_data(config.data)
    info = get_model_info(config.model)
    model_kwargs = {"num_classes": bundle.num_classes, "in_chans": bundle.in_chans, **config.model_kwargs}
    model = create(config.model, **model_kwargs).to(device)

    train_set = bundle.train if config.limit_train is None else Subset(bundle.train, range(min(config.limit_train, len(bundle.train))))
    eval_set, eval_name = (bundle.val, "val") if bundle.val is not None else (bundle.test, "test")
    if ckpt is not None:
        mean, std = ckpt["meta"]["normalize"]["mean"], ckpt["meta"]["normalize"]["std"]
    else:
        mean, std = channel_stats(train_set)
    h, w = bundle.image_size
    min_size = info.min_size or 1
    size = (max(h, min_size), max(w, min_size)) if min(h, w) < min_size else None
    pipeline = InputPipeline(mean, std, size, device)

    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    optimizer = build_optimizer(config.optimizer, model.parameters(), config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    schedule = build_schedule(config.schedule, optimizer, config.epochs * steps_per_epoch, steps_per_epoch, warmup_epochs=config.warmup_epochs)
    aug_name = config.aug if config.aug != "auto" else bundle.meta.get("aug", "digits" if bundle.name == "digits" else "none")

    out = Path(config.out or f"runs/{config.model}-{bundle.name}")
    logger = RunLogger(out, resume=ckpt is not None, resume_epoch=start_epoch - 1)
    best_acc = -1.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["states"]["optimizer"])
        schedule.load_state_dict(ckpt["states"]["schedule"])
        _set_rng_states(ckpt["states"]["rng"])
        best_acc = ckpt["meta"].get("best_acc", -1.0)
    resolved = config.to_dict() | {"lr": config.lr or DEFAULT_LR[config.optimizer.lower()], "aug": aug_name}
    logger.write_config(resolved | {"model_kwargs": model_kwargs, "data_info": {"name": bundle.name, "num_classes": bundle.num_classes, "in_chans": bundle.in_chans, "image_size": list(bundle.image_size), "train": len(train_set), eval_name: len(eval_set)}})

    eval_loader = DataLoader(eval_set, batch_size=max(256, config.batch_size), shuffle=False, num_workers=config.num_workers)
    meta_base = {
        "model": {"name": config.model, "kwargs": model_kwargs},
        "config": config.to_dict(),
        "normalize": {"mean": mean, "std": std, "size": list(size or bundle.image_size)},
        "data": {"name": bundle.name, "num_classes": bundle.num_classes, "class_names": bundle.class_names, "task": bundle.task},
    }
    final: dict[str, Any] = {}
    with _progress_bar(config.progress) as bar:
        task_id = bar.add_task(config.model, total=config.epochs * len(train_set), status="", completed=(start_epoch - 1) * len(train_set))
        for epoch in range(start_epoch, config.epochs + 1):
            start = time.perf_counter()
            # The data order and augmentation of epoch e depend on (seed, e) only.
            order = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
            aug_gen = torch.Generator().manual_seed(config.seed * 100_019 + epoch)
            loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=order, num_workers=config.num_workers, drop_last=False)
            augment = build_augment(aug_name, aug_gen) if aug_name != "none" else None
            row_train = train_one_epoch(
                model, loader, pipeline, optimizer, schedule, device, task=bundle.task, augment=augment,
                label_smoothing=config.label_smoothing, aux_weight=config.aux_weight,
                progress=lambda n: bar.advance(task_id, n),
            )
            ev = evaluate(model, eval_loader, pipeline, device, task=bundle.task, num_classes=bundle.num_classes)
            row = {"epoch": epoch, **row_train}
            row |= {f"{eval_name}_{k}": v for k, v in ev.items()}
            row["lr"] = optimizer.param_groups[0]["lr"]
            row["seconds"] = time.perf_counter() - start
            # Drawing costs ~0.2 s, more than an epoch of LeNet-5: about ten redraws a run.
            logger.log_epoch(row, plot=epoch == config.epochs or epoch % max(1, config.epochs // 10) == 0)
            score = ev["miou"] if bundle.task == "segmentation" else ev["acc"]
            improved = score > best_acc
            best_acc = max(best_acc, score)
            meta = meta_base | {"epoch": epoch, "step": schedule.last_epoch, "metrics": row, "best_acc": best_acc}
            states = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "rng": _rng_states()}
            save_checkpoint(out / "checkpoint-last", model, meta, states)
            if improved:
                save_checkpoint(out / "checkpoint-best", model, meta, states)
            acc_key = "miou" if bundle.task == "segmentation" else "acc"
            bar.update(task_id, status=f"epoch {epoch}/{config.epochs} loss {row['train_loss']:.3f} {eval_name} {acc_key} {ev[acc_key]:.4f}")
            final = row
    return TrainResult(run_dir=out, rows=logger.rows, best_acc=best_acc, final=final)
