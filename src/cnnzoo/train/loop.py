"""The training loop: data → model → optimizer → checkpoint, one epoch at a time.

Reads top to bottom: :func:`train` sets up the run (data, model, optimizer,
schedule, run directory; DDP under torchrun) and calls :func:`train_one_epoch`
and :func:`evaluate` per epoch; after each epoch it logs a metrics row and
writes ``checkpoint-last`` (and ``checkpoint-best`` when the validation or
test score improved), atomically, and ``checkpoint-last`` also every
``checkpoint_every`` steps within an epoch.

Exact resume: the order of the training data is a permutation seeded by
``(seed, epoch)``, each batch's augmentation is seeded by ``(seed, epoch,
batch)``, and a checkpoint stores the model, optimizer, schedule, scaler and
RNG states and how many batches of the current epoch are done. ``--resume``
restores all of it and skips those batches, so on CPU a resumed run ends with
the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from cnnzoo.data import DataBundle, build_data
from cnnzoo.data.augment import build_augment, rgb_eigen, train_crop
from cnnzoo.registry import create, get_model_info
from cnnzoo.train import distributed as D
from cnnzoo.train.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.losses import build_loss, l1_penalty
from cnnzoo.train.metrics import confusion_matrix, mean_iou, per_class_accuracy, topk_correct
from cnnzoo.train.optim import DEFAULT_LR, build_optimizer
from cnnzoo.train.rundir import RunLogger, plot_confusion, plot_curves
from cnnzoo.train.schedules import build_schedule, plateau_factor

__all__ = ["InputPipeline", "TrainingDiverged", "TrainResult", "channel_stats", "evaluate", "train", "train_one_epoch"]

IGNORE_INDEX = 255  # segmentation pixels without a label
ORDER_SEED, AUG_SEED = 100_003, 100_019
PLOT_EVERY_S = 30.0


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    rows: list[dict[str, Any]]
    best_acc: float
    final: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None  # the trained model (unwrapped from DDP and torch.compile)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _device(name: str, info: D.DistInfo | None = None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
    if name == "cuda" and info is not None and info.enabled:
        return torch.device("cuda", info.local_rank)
    return torch.device(name)


def channel_stats(dataset: Any, limit: int = 10_000) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of the training images (VGG §3.2)."""
    n = min(len(dataset), limit)
    x = torch.stack([dataset[i][0] for i in range(n)]).double()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean.tolist(), std.tolist()


class InputPipeline:
    """Per-batch work on the device: augmentation, resizing up to the model's size, normalisation.

    ``crop``: without augmentation (evaluation), take the central ``crop`` of
    each image, the size the training augmentation cut out (AlexNet, VGG,
    Inception train on 224 crops of 256 images and test on the centre 224).
    """

    def __init__(
        self,
        mean: list[float],
        std: list[float],
        size: tuple[int, int] | None,
        device: torch.device,
        crop: tuple[int, int] | None = None,
        channels_last: bool = False,
    ) -> None:
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.size, self.crop, self.channels_last = size, crop, channels_last

    def __call__(self, x: Tensor, augment: Any = None) -> Tensor:
        if augment is not None:
            x = augment(x)
        elif self.crop is not None and tuple(x.shape[-2:]) != self.crop:
            top, left = (x.shape[-2] - self.crop[0]) // 2, (x.shape[-1] - self.crop[1]) // 2
            x = x[..., top : top + self.crop[0], left : left + self.crop[1]]
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def _split_outputs(out: Any) -> tuple[Tensor, list[Tensor]]:
    if isinstance(out, (tuple, list)):
        return out[0], list(out[1:])
    return out, []


def _loss(logits: Tensor, target: Tensor, task: str, label_smoothing: float) -> Tensor:
    if task == "segmentation":
        if logits.shape[-2:] != target.shape[-2:]:
            logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        return F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    # Mixed precision only on CUDA: on CPU the flag is accepted and ignored.
    if dtype is None or device.type != "cuda":
        return nullcontext()
    return torch.autocast("cuda", dtype=dtype)


def _correct(logits: Tensor, y: Tensor, task: str, threshold: float) -> Tensor:
    if task == "multilabel":  # fraction of each sample's label decisions that are right
        return ((logits.sigmoid() > threshold) == (y > 0.5)).float().mean(1).sum()
    return (logits.argmax(1) == y).sum()


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
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    l1: float = 0.0,
    clip_grad_norm: float | None = None,
    autocast_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    threshold: float = 0.5,
    reseed: Callable[[int], None] | None = None,
    start_batch: int = 0,
    sums: dict[str, float] | None = None,
    on_step: Callable[[int, dict[str, float]], bool] | None = None,
    check_every: int = 1,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss, accuracy and images/s.

    ``reseed(b)`` is called before batch ``b`` (so augmentation depends on the
    batch index only); ``start_batch`` and ``sums`` continue an epoch a
    checkpoint interrupted; ``on_step(b, sums)`` runs after each optimizer step
    and returns True to stop the epoch there (the row then has ``stopped``).
    The loss is checked for NaN/inf every ``check_every`` steps and at the end.
    """
    model.train()
    # Sums stay on the device: reading them every step would wait for the GPU.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.float64, device=device)
    seen, start, stopped = 0, time.perf_counter(), False
    prior = dict(sums or {"loss_sum": 0.0, "correct": 0.0, "seen": 0})
    fn = loss_fn or (lambda z, t: _loss(z, t, task, label_smoothing))
    batch = start_batch

    def totals() -> dict[str, float]:
        return {"loss_sum": prior["loss_sum"] + float(loss_sum), "correct": prior["correct"] + float(correct), "seen": prior["seen"] + seen}

    def check(step_loss: Tensor) -> None:
        if not torch.isfinite(loss_sum):
            raise TrainingDiverged(
                f"the loss became {float(step_loss.detach())} by step {schedule.last_epoch}; "
                "lower --lr (or use --clip-grad-norm) or check the data. The last good checkpoint is kept."
            )

    for x, y in loader:
        if reseed is not None:
            reseed(batch)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x = pipeline(x, augment)
        with _autocast(device, autocast_dtype):
            logits, aux = _split_outputs(model(x))
            loss = fn(logits, y)
            for a in aux:
                loss = loss + aux_weight * fn(a, y)
        if l1:
            loss = loss + l1 * l1_penalty(model)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip_grad_norm:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip_grad_norm:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
        schedule.step()
        n = y.shape[0]
        loss_sum += loss.detach().double() * n
        if task != "segmentation":
            correct += _correct(logits.detach().float(), y, task, threshold)
        seen += n
        batch += 1
        if check_every <= 1 or batch % check_every == 0:
            check(loss)
        if progress is not None:
            progress(n)
        if on_step is not None:
            check(loss)
            if on_step(batch, totals()):
                stopped = True
                break
    if seen:
        check(loss)
    seconds = time.perf_counter() - start
    t = totals()
    row: dict[str, float] = {"train_loss": t["loss_sum"] / max(t["seen"], 1), "images_per_s": seen / max(seconds, 1e-9)}
    if task != "segmentation":
        row["train_acc"] = t["correct"] / max(t["seen"], 1)
    row["_sums"] = t  # type: ignore[assignment]
    if stopped:
        row["stopped"] = True
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
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    threshold: float = 0.5,
    autocast_dtype: torch.dtype | None = None,
    dist: D.DistInfo | None = None,
    return_confusion: bool = False,
) -> dict[str, Any]:
    """Loss and accuracy of ``model`` on ``loader``.

    Classification: ``acc`` (top-1), ``acc_top5``; segmentation: ``acc``
    (pixel accuracy) and ``miou``; multi-label: ``acc`` (fraction of label
    decisions right at ``threshold``), macro ``precision``, ``recall``, ``f1``
    and their per-label lists. With ``return_confusion`` the confusion matrix
    is under ``"confusion"`` (and ``per_class_acc``). Under DDP each process
    evaluates its shard and the counts are summed.
    """
    model.eval()
    info = dist or D.DistInfo()
    fn = loss_fn or (lambda z, t: _loss(z, t, task, 0.0))
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss_sum, seen, top1 or correct, top5
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    counts = torch.zeros(3, num_classes, dtype=torch.float64, device=device)  # multi-label tp, fp, fn
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with _autocast(device, autocast_dtype):
            logits, _ = _split_outputs(model(pipeline(x)))
        logits = logits.float()
        totals[0] += float(fn(logits, y)) * y.shape[0]
        totals[1] += y.shape[0]
        if task == "segmentation":
            if logits.shape[-2:] != y.shape[-2:]:
                logits = F.interpolate(logits, size=y.shape[-2:], mode="bilinear", align_corners=False)
            cm += confusion_matrix(logits.argmax(1), y, num_classes, IGNORE_INDEX).to(device)
        elif task == "multilabel":
            pred, truth = logits.sigmoid() > threshold, y > 0.5
            totals[2] += (pred == truth).double().mean(1).sum()
            counts[0] += (pred & truth).sum(0)
            counts[1] += (pred & ~truth).sum(0)
            counts[2] += (~pred & truth).sum(0)
        else:
            hits = topk_correct(logits, y, (1, 5))
            totals[2] += hits[1]
            totals[3] += hits[5]
            if return_confusion:
                cm += confusion_matrix(logits.argmax(1), y, num_classes).to(device)
    for t in (totals, cm, counts):
        D.all_reduce_sum(t, info)
    seen = max(float(totals[1]), 1.0)
    out: dict[str, Any] = {"loss": float(totals[0]) / seen}
    if task == "segmentation":
        cm = cm.cpu()
        total = int(cm.sum())
        return out | {"acc": float(cm.diagonal().sum()) / max(total, 1), "miou": mean_iou(cm)}
    if task == "multilabel":
        tp, fp, fn_ = counts.cpu().double()
        precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp_min(1), torch.zeros_like(tp))
        recall = torch.where(tp + fn_ > 0, tp / (tp + fn_).clamp_min(1), torch.zeros_like(tp))
        f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp_min(1e-12), torch.zeros_like(tp))
        return out | {
            "acc": float(totals[2]) / seen, "precision": float(precision.mean()), "recall": float(recall.mean()),
            "f1": float(f1.mean()), "precision_per_label": precision.tolist(), "recall_per_label": recall.tolist(),
        }  # fmt: skip
    out |= {"acc": float(totals[2]) / seen, "acc_top5": float(totals[3]) / seen}
    if return_confusion:
        out["confusion"] = cm.cpu()
        out["per_class_acc"] = [None if math.isnan(a) else a for a in per_class_accuracy(cm.cpu()).tolist()]
    return out


def _rng_states() -> dict[str, Any]:
    np_state = np.random.get_state()
    states = {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def _set_rng_states(s: dict[str, Any]) -> None:
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npv = s["numpy"]
    np.random.set_state((npv[0], np.array(npv[1], dtype=np.uint32), *npv[2:]))
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state(s["cuda"])


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
    """Train ``config.model`` on ``config.data``; returns the run directory and metrics.

    Under ``torchrun`` every process calls this; rank 0 writes the run directory.
    """
    config.validate()
    info = D.init_distributed(config.device)
    try:
        if config.resume:
            return _resume(config, info)
        _seed_everything(config.seed)
        return _run(config, start_epoch=1, ckpt=None, info=info)
    finally:
        D.cleanup(info)


def _resume(config: TrainConfig, info: D.DistInfo) -> TrainResult:
    run_dir = Path(config.resume)  # type: ignore[arg-type]
    stem = resolve_checkpoint(run_dir / "checkpoint-last" if run_dir.is_dir() else run_dir)
    ckpt = load_checkpoint(stem)
    known = set(TrainConfig.__dataclass_fields__)
    saved = TrainConfig(**{k: v for k, v in ckpt["meta"]["config"].items() if k in known})
    # The saved recipe decides; only the epoch budget, the step limit, the device and display may change.
    if config.epochs != TrainConfig.epochs:
        saved.epochs = config.epochs
    saved.device, saved.progress, saved.max_steps, saved.num_workers = config.device, config.progress, config.max_steps, config.num_workers
    saved.resume, saved.out = str(run_dir), str(stem.parent)
    return _run(saved, start_epoch=ckpt["meta"]["epoch"] + 1, ckpt=ckpt, info=info)


def _prepare_data(config: TrainConfig) -> DataBundle:
    from cnnzoo.data.split import carve_validation, select_classes

    # folder: and csv: call it image_size; the embedded digits call it size.
    options = {"image_size": config.image_size, "size": config.image_size} if config.image_size else {}
    bundle = build_data(config.data, **options)
    if config.classes:
        bundle = select_classes(bundle, config.classes)
    if config.val_split > 0:
        bundle = carve_validation(bundle, config.val_split, config.seed)
    return bundle


def _macs_per_image(model: nn.Module, input_size: tuple[int, int, int]) -> int | None:
    """Multiply-accumulates of one forward pass, if ``cnnzoo.analyze`` can count them."""
    try:
        from cnnzoo import analyze

        return int(analyze(model, input_size=input_size).macs)
    except Exception:  # analysis is optional here; MFU is then left out
        return None


# Dense bf16 tensor-core peaks in TFLOP/s (vendor data sheets), for MFU.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "V100": 125.0}


def _peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given:
        return given
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def _run(config: TrainConfig, start_epoch: int, ckpt: dict[str, Any] | None, info: D.DistInfo) -> TrainResult:
    device = _device(config.device, info)
    main = info.is_main
    bundle = _prepare_data(config)
    task = bundle.task
    info_model = get_model_info(config.model)
    model_kwargs = {"num_classes": bundle.num_classes, "in_chans": bundle.in_chans, **config.model_kwargs}
    module = create(config.model, **model_kwargs)
    heads: list[str] = []
    if config.init and ckpt is None:
        from cnnzoo.train.finetune import load_backbone

        heads = load_backbone(module, config.init, config.model, bundle.num_classes)
    elif config.init:
        from cnnzoo.train.finetune import head_prefixes

        heads = head_prefixes(module, bundle.num_classes)
    module = module.to(device)
    use_cl = config.channels_last and device.type == "cuda"
    if use_cl:
        module = module.to(memory_format=torch.channels_last)

    train_set = bundle.train if config.limit_train is None else Subset(bundle.train, range(min(config.limit_train, len(bundle.train))))
    eval_set, eval_name = (bundle.val, "val") if bundle.val is not None else (bundle.test, "test")
    if ckpt is not None:
        mean, std = ckpt["meta"]["normalize"]["mean"], ckpt["meta"]["normalize"]["std"]
    elif config.init:
        # The copied layers expect inputs normalised as they were trained (d2l §14.2 uses ImageNet's statistics).
        from cnnzoo.train.checkpoint import load_checkpoint as _load

        norm = _load(config.init)["meta"].get("normalize") or {}
        mean, std = norm.get("mean"), norm.get("std")
        if mean is None or len(mean) != bundle.in_chans:
            mean, std = channel_stats(train_set)
    else:
        mean, std = channel_stats(train_set)
    aug_name = config.aug if config.aug != "auto" else bundle.meta.get("aug", "digits" if bundle.name == "digits" else "none")
    pca = None
    if aug_name == "alexnet" and bundle.in_chans == 3:
        pca = ckpt["meta"]["normalize"]["pca"] if ckpt is not None else rgb_eigen(torch.stack([train_set[i][0] for i in range(min(len(train_set), 2000))]))
    h, w = bundle.image_size
    crop = train_crop(aug_name, (h, w))
    ch, cw = crop or (h, w)
    # A model built with other options (U-Net with padding) may take smaller inputs than the registry's default.
    min_size = getattr(module, "min_size", None) or info_model.min_size or 1
    size = (max(ch, min_size), max(cw, min_size)) if min(ch, cw) < min_size else None
    pipeline = InputPipeline(mean, std, size, device, crop=crop, channels_last=use_cl)
    input_size = (bundle.in_chans, *(size or (ch, cw)))
    macs = _macs_per_image(module, input_size)
    peak = _peak_tflops(device, config.peak_tflops)

    model = D.wrap_model(module, info, device, config.sync_bn)
    if config.compile:
        model = torch.compile(model)

    lr = config.lr or DEFAULT_LR[config.optimizer.lower()]
    if heads:
        from cnnzoo.train.finetune import param_groups

        params: Any = param_groups(module, heads, lr, backbone_lr_mult=config.backbone_lr_mult, freeze_backbone=config.freeze == "backbone")
    else:
        params = module.parameters()
    steps_per_epoch = D.steps_per_epoch(len(train_set), config.batch_size, info)
    optimizer = build_optimizer(config.optimizer, params, lr, momentum=config.momentum, weight_decay=config.weight_decay)
    schedule = build_schedule(config.schedule, optimizer, config.epochs * steps_per_epoch, steps_per_epoch, warmup_epochs=config.warmup_epochs, patience=config.plateau_patience)
    plateau = plateau_factor(schedule)
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
    scaler = torch.amp.GradScaler("cuda") if config.precision == "fp16" and device.type == "cuda" else None
    if config.loss == "auto":
        loss_name = "bce" if task == "multilabel" else "cross_entropy"
    else:
        loss_name = config.loss
    if task == "multilabel" and loss_name != "bce":
        raise ValueError(f"multi-label data needs --loss bce (sigmoid per label); got {loss_name}")
    if task == "classification" and loss_name == "bce":
        raise ValueError("--loss bce is for multi-label data; single-label data takes cross_entropy, hinge or focal")
    loss_fn = None if task == "segmentation" else build_loss(loss_name, label_smoothing=config.label_smoothing)

    out = Path(config.out or f"runs/{config.model}-{bundle.name}")
    logger = RunLogger(out, resume=ckpt is not None, resume_epoch=start_epoch - 1) if main else None
    best_acc, bad_epochs, position = -1.0, 0, None
    if ckpt is not None:
        module.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["states"]["optimizer"])
        schedule.load_state_dict(ckpt["states"]["schedule"])
        if scaler is not None and ckpt["states"].get("scaler"):
            scaler.load_state_dict(ckpt["states"]["scaler"])
        _set_rng_states(ckpt["states"]["rng"])
        best_acc = ckpt["meta"].get("best_acc", -1.0)
        bad_epochs = ckpt["meta"].get("bad_epochs", 0)
        pos = ckpt["meta"].get("position")
        position = pos if pos and pos["epoch"] == start_epoch else None
    resolved = config.to_dict() | {"lr": lr, "aug": aug_name, "loss": loss_name}
    if logger is not None:
        data_info = {"name": bundle.name, "task": task, "num_classes": bundle.num_classes, "in_chans": bundle.in_chans, "image_size": list(bundle.image_size), "train": len(train_set), eval_name: len(eval_set)}
        logger.write_config(resolved | {"model_kwargs": model_kwargs, "data_info": data_info, "world_size": info.world_size, "macs_per_image": macs})

    pin = config.pin_memory and device.type == "cuda"
    workers = config.num_workers
    sampler = D.ResumableDistributedSampler(train_set, info, seed=config.seed * ORDER_SEED)
    # The loader gets its own generator, so making an iterator never draws from
    # the global RNG (whose state a checkpoint stores for dropout).
    loader = DataLoader(
        train_set, batch_size=config.batch_size, sampler=sampler, num_workers=workers, pin_memory=pin,
        persistent_workers=config.persistent_workers and workers > 0, generator=torch.Generator(), drop_last=False,
    )  # fmt: skip
    eval_sampler = D.ShardSampler(len(eval_set), info) if info.enabled else None
    eval_loader = DataLoader(eval_set, batch_size=max(256, config.batch_size), sampler=eval_sampler, shuffle=False, num_workers=workers, pin_memory=pin)
    aug_gen = torch.Generator()
    augment = build_augment(aug_name, aug_gen, in_chans=bundle.in_chans, image_size=(h, w), pca=pca) if aug_name != "none" else None
    meta_base = {
        "model": {"name": config.model, "kwargs": model_kwargs},
        "config": config.to_dict(),
        "normalize": {"mean": mean, "std": std, "size": list(size or (ch, cw))} | ({"crop": list(crop), "image_size": [h, w]} if crop else {}) | ({"pca": pca} if pca else {}),
        "data": {"name": bundle.name, "num_classes": bundle.num_classes, "class_names": bundle.class_names, "task": task, "in_chans": bundle.in_chans},
    }
    if config.init:
        meta_base["init"] = {"checkpoint": config.init, "heads": heads}

    def save(epoch_done: int, metrics: dict[str, Any], *, best: bool, position: dict[str, Any] | None = None) -> None:
        if not main:
            return
        meta = meta_base | {"epoch": epoch_done, "step": schedule.last_epoch, "metrics": metrics, "best_acc": best_acc, "bad_epochs": bad_epochs}
        if position is not None:
            meta["position"] = position
        states = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "rng": _rng_states()}
        if scaler is not None:
            states["scaler"] = scaler.state_dict()
        save_checkpoint(out / "checkpoint-last", module, meta, states)
        if best:
            save_checkpoint(out / "checkpoint-best", module, meta, states)

    final: dict[str, Any] = {}
    stopped = False
    score_key = {"segmentation": "miou", "multilabel": "f1"}.get(task, "acc")
    check_every = 1 if device.type == "cpu" else 25
    last_plot, plotted = time.perf_counter(), False
    with _progress_bar(config.progress and main) as bar:
        per_epoch = len(sampler) if info.enabled else len(train_set)
        done_before = (start_epoch - 1) * per_epoch + (position["seen"] if position else 0)
        task_id = bar.add_task(config.model, total=config.epochs * per_epoch, status="", completed=done_before)
        for epoch in range(start_epoch, config.epochs + 1):
            start = time.perf_counter()
            start_batch = position["batch"] if position else 0
            sums = {k: position[k] for k in ("loss_sum", "correct", "seen")} if position else None
            position = None
            # The data order of epoch e depends on (seed, e), and a batch's augmentation on (seed, e, batch).
            sampler.set_epoch(epoch, start_batch * config.batch_size)
            aug_base = (config.seed * AUG_SEED + epoch) * 1_000_003

            def on_step(batch: int, totals: dict[str, float], epoch: int = epoch) -> bool:
                at_limit = config.max_steps is not None and schedule.last_epoch >= config.max_steps
                due = config.checkpoint_every and schedule.last_epoch % config.checkpoint_every == 0
                if (at_limit or due) and batch < steps_per_epoch:
                    # The metrics of the last finished epoch, read when the step happens.
                    save(epoch - 1, final, best=False, position={"epoch": epoch, "batch": batch, **totals})  # noqa: B023
                return at_limit

            row_train = train_one_epoch(
                model, loader, pipeline, optimizer, schedule, device, task=task, augment=augment,
                label_smoothing=config.label_smoothing, aux_weight=config.aux_weight, loss_fn=loss_fn, l1=config.l1,
                clip_grad_norm=config.clip_grad_norm, autocast_dtype=autocast_dtype, scaler=scaler, threshold=config.threshold,
                reseed=lambda b, base=aug_base: aug_gen.manual_seed(base + b), start_batch=start_batch, sums=sums,
                on_step=on_step, check_every=check_every,
                progress=lambda n: bar.advance(task_id, n),
            )  # fmt: skip
            sums_now = row_train.pop("_sums")
            if row_train.pop("stopped", False) and schedule.last_epoch < (epoch * steps_per_epoch):
                stopped = True  # --max-steps reached mid-epoch; the checkpoint holds the position
                break
            if info.enabled:
                t = torch.tensor([sums_now["loss_sum"], sums_now["correct"], sums_now["seen"], row_train["images_per_s"]], dtype=torch.float64, device=device)
                D.all_reduce_sum(t, info)
                row_train["train_loss"] = float(t[0] / t[2])
                if "train_acc" in row_train:
                    row_train["train_acc"] = float(t[1] / t[2])
                row_train["images_per_s"] = float(t[3])
            ev = evaluate(model, eval_loader, pipeline, device, task=task, num_classes=bundle.num_classes, loss_fn=loss_fn, threshold=config.threshold, autocast_dtype=autocast_dtype, dist=info)
            row = {"epoch": epoch, **row_train}
            row |= {f"{eval_name}_{k}": v for k, v in ev.items() if not isinstance(v, (list, Tensor))}
            row["lr"] = optimizer.param_groups[-1]["lr"]
            if macs:
                row["tflops"] = row["images_per_s"] * 6 * macs / 1e12  # forward 2·MACs, backward about twice that
                if peak:
                    row["mfu"] = row["tflops"] / peak
            row["seconds"] = time.perf_counter() - start
            if logger is not None:
                # Drawing takes 0.2–2 s, often more than an epoch of LeNet-5 on digits:
                # redraw at most every 30 s, and at the end of the run.
                redraw = epoch == config.epochs or time.perf_counter() - last_plot >= PLOT_EVERY_S
                logger.log_epoch(row, plot=redraw)
                last_plot = time.perf_counter() if redraw else last_plot
                plotted = redraw
            score = ev[score_key]
            improved = score > best_acc
            best_acc = max(best_acc, score)
            bad_epochs = 0 if improved else bad_epochs + 1
            if plateau is not None:
                plateau.observe(score)
            save(epoch, row, best=improved)
            bar.update(task_id, status=f"epoch {epoch}/{config.epochs} loss {row['train_loss']:.3f} {eval_name} {score_key} {score:.4f}")
            final = row
            if config.max_steps is not None and schedule.last_epoch >= config.max_steps:
                stopped = True
                break
            if config.patience is not None and bad_epochs >= config.patience:
                final = row | {"early_stopped": True}
                break
            if config.stop_at is not None and score >= config.stop_at:
                final = row | {"reached": config.stop_at}
                break
    if logger is not None and logger.rows and not plotted:  # stopped early: draw the curves once more
        plot_curves(logger.rows, logger.dir / "curves.png")
    if not stopped and final:
        final = _final_test(config, model, bundle, pipeline, device, loss_fn, autocast_dtype, info, eval_name, final, logger, workers)
    D.barrier(info)
    return TrainResult(run_dir=out, rows=logger.rows if logger else [], best_acc=best_acc, final=final, model=module)


def _final_test(config, model, bundle, pipeline, device, loss_fn, autocast_dtype, info, eval_name, final, logger, workers) -> dict[str, Any]:
    """Evaluate the final model on the test set; write ``evaluation.json`` and ``confusion.png``."""
    if bundle.task == "segmentation":
        return final
    sampler = D.ShardSampler(len(bundle.test), info) if info.enabled else None
    loader = DataLoader(bundle.test, batch_size=max(256, config.batch_size), sampler=sampler, num_workers=workers)
    ev = evaluate(model, loader, pipeline, device, task=bundle.task, num_classes=bundle.num_classes, loss_fn=loss_fn, threshold=config.threshold, autocast_dtype=autocast_dtype, dist=info, return_confusion=True)
    cm = ev.pop("confusion", None)
    if eval_name == "val":
        final = final | {f"test_{k}": v for k, v in ev.items() if not isinstance(v, list)}
    if logger is not None:
        import json

        from cnnzoo.train.checkpoint import atomic_write_bytes

        report = {"split": "test", "epoch": final.get("epoch"), "class_names": bundle.class_names} | ev
        if cm is not None:
            report["confusion"] = cm.tolist()
            plot_confusion(cm, bundle.class_names, logger.dir / "confusion.png")
        atomic_write_bytes(logger.dir / "evaluation.json", (json.dumps(report, indent=2) + "\n").encode())
    return final
