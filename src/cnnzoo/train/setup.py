"""``setup(config) -> Run``: data, task, model, input pipeline, optimizer, loaders and run directory.

Each piece is built by one small function, in the order a reader would build
them by hand. Everything that can be checked without loading data has been
(``config.validate()``); what needs the data (does ``--loss bce`` fit it, does
the model take its images) fails here, before any training step and before
the run directory is touched.

Resuming (``config.resume``): the saved recipe decides; only the epoch budget,
the step limit, the device, the workers and the display may change.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from cnnzoo.data import DataBundle
from cnnzoo.data.augment import build_augment, rgb_eigen, train_crop
from cnnzoo.data.split import prepare_data
from cnnzoo.registry import create, get_model_info
from cnnzoo.threads import apply_thread_policy
from cnnzoo.train import distributed as D
from cnnzoo.train.batches import loader
from cnnzoo.train.checkpoint import Checkpoint, CheckpointError, load_checkpoint, resolve_checkpoint
from cnnzoo.train.config import ConfigError, TrainConfig
from cnnzoo.train.finetune import load_backbone, param_groups
from cnnzoo.train.memory_budget import check_fits
from cnnzoo.train.memory_format import use_channels_last
from cnnzoo.train.meta import SCHEMA, CheckpointMeta, Normalization
from cnnzoo.train.optim import DEFAULT_LR, build_optimizer
from cnnzoo.train.pipeline import InputPipeline, channel_stats
from cnnzoo.train.recipe import apply_recipe
from cnnzoo.train.run import Run
from cnnzoo.train.rundir import RunDirectory
from cnnzoo.train.schedules import build_schedule, plateau_factor
from cnnzoo.train.state import TrainState, seed_everything
from cnnzoo.train.tasks import TaskContext, build_task

__all__ = ["resume_config", "setup"]

ORDER_SEED, AUG_SEED = 100_003, 100_019
PCA_SAMPLES = 2000  # images whose RGB covariance gives AlexNet's lighting noise (§4.1)


def setup(config: TrainConfig, dist: D.DistInfo | None = None) -> Run:
    """Build a :class:`Run` from ``config`` (or continue the run ``config.resume`` names)."""
    config.validate()
    dist = dist or D.DistInfo()
    ckpt = None
    if config.resume:
        config, ckpt = resume_config(config)
    else:
        seed_everything(config.seed)
    device = _device(config.device, dist)
    _check_memory_before_data(config, device)
    data = prepare_data(
        config.data, image_size=config.image_size, classes=config.classes, val_split=config.val_split,
        seed=config.seed, default_size=get_model_info(config.model).input_size[-1],  # folder:/csv: without --image-size
    )  # fmt: skip
    # The data's recipe fills settings left at their defaults; a resumed config already holds it.
    config, recipe = apply_recipe(config, data.meta.get("recipe")) if ckpt is None else (config, _saved_recipe(config))
    if dist.is_main:  # a refused --out fails here, before the model and the optimizer are built
        RunDirectory.check(*_run_dir_target(config, data, resumed=ckpt is not None))
    _check_model_fits_data(config, data)
    _check_memory(config, device, _model_kwargs(config, data), (data.in_chans, *data.image_size))
    train_set = data.train if config.limit_train is None else Subset(data.train, range(min(config.limit_train, len(data.train))))
    module, init = _build_model(config, data, resumed=ckpt is not None)
    norm, aug_name = _normalization(config, data, train_set, ckpt, _min_size(module, config.model)), _aug_name(config, data)
    task = build_task(data.task, TaskContext(
        num_classes=data.num_classes, class_names=data.class_names, loss=config.loss,
        label_smoothing=config.label_smoothing, aux_weight=config.aux_weight, threshold=config.threshold,
    ))  # fmt: skip
    loss = task.loss_fn()  # a loss that does not fit the data fails here, before any step
    module = module.to(device)
    channels_last = use_channels_last(config.channels_last, config.model, device)
    # Saved resolved, so a resumed run keeps its layout even if the measured table changes.
    config = replace(config, channels_last=channels_last)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    pipeline = InputPipeline(norm.mean, norm.std, _tuple(norm.size), device, crop=_tuple(norm.crop), channels_last=channels_last)
    steps = D.steps_per_epoch(len(train_set), config.batch_size, dist)
    optimizer, schedule = _optimization(config, module, init.get("heads", []), steps)
    train_loader, eval_loader, eval_name = _loaders(config, data, train_set, task, device, dist)
    meta = _meta(config, data, module, task.name, norm, init)
    run_dir = _open_run_dir(config, data, dist, resumed=ckpt is not None)
    aug_gen = torch.Generator()
    run = Run(
        config=config, dist=dist, device=device, data=data, task=task, module=module,
        model=_wrap(module, config, dist, device), pipeline=pipeline,
        augment=None if aug_name == "none" else build_augment(
            aug_name, aug_gen, in_chans=data.in_chans, image_size=data.image_size, pca=_pca(norm), mean=norm.mean, hflip=data.meta.get("hflip", True),
        ),
        aug_seed=lambda epoch, batch: aug_gen.manual_seed(((config.seed * AUG_SEED + epoch) * 1_000_003) + batch),
        optimizer=optimizer, schedule=schedule, plateau=plateau_factor(schedule),
        scaler=torch.amp.GradScaler("cuda") if config.precision == "fp16" and device.type == "cuda" else None,
        loss=loss, train_loader=train_loader, eval_loader=eval_loader, eval_name=eval_name, steps_per_epoch=steps,
        meta=meta, run_dir=run_dir, state=TrainState(),
        autocast_dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision),
        macs_per_image=_macs_per_image(module, (data.in_chans, *norm.size)), peak_tflops=_peak_tflops(device, config.peak_tflops),
    )  # fmt: skip
    if device.type == "cpu":  # one thread for small models: spinning OpenMP threads slow them on a busy CPU
        apply_thread_policy(run.macs_per_image, config.batch_size)
    if ckpt is not None:
        run.load_state_dict(ckpt)
    if run_dir is not None:
        run_dir.truncate_after(run.state.epoch)
        run_dir.write_config(_resolved_config(run, aug_name, len(train_set), recipe))
    return run


def resume_config(config: TrainConfig) -> tuple[TrainConfig, Checkpoint]:
    """The saved configuration of ``config.resume``, with what may change on resume taken from ``config``."""
    run_dir = Path(config.resume).expanduser()  # type: ignore[arg-type]
    if not run_dir.is_dir():
        raise CheckpointError(f"--resume {run_dir}: not a run directory")
    stem = resolve_checkpoint(run_dir / "checkpoint-last")
    ckpt = load_checkpoint(stem)
    saved = TrainConfig.from_dict({k: v for k, v in ckpt.meta.config.items() if k in TrainConfig.__dataclass_fields__})
    if config.model != TrainConfig.model and config.model != saved.model:
        raise CheckpointError(f"--resume {run_dir} holds a {saved.model} run; it cannot continue as {config.model}")
    changes: dict[str, Any] = {"device": config.device, "progress": config.progress, "max_steps": config.max_steps,
                               "num_workers": config.num_workers, "resume": str(run_dir), "out": str(run_dir), "overwrite": False}  # fmt: skip
    if config.epochs != TrainConfig.epochs:
        changes["epochs"] = config.epochs
    return replace(saved, **changes), ckpt


def _device(name: str, dist: D.DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
    if name == "cuda" and dist.enabled:
        return torch.device("cuda", dist.local_rank)
    return torch.device(name)


def _model_kwargs(config: TrainConfig, data: DataBundle) -> dict[str, Any]:
    # The data decides; an --arg num_classes that disagrees was refused by _check_model_fits_data.
    return {**config.model_kwargs, "num_classes": data.num_classes, "in_chans": data.in_chans}


def _check_model_fits_data(config: TrainConfig, data: DataBundle) -> None:
    """A segmentation or detection model needs that kind of data (and the reverse); an explicit num_classes must match the data."""
    wants = get_model_info(config.model).task
    has = data.task if data.task in ("segmentation", "detection") else "classification"  # multi-label: per-image outputs too
    if wants != has:
        per_image = {"classification": ("a label", ""), "segmentation": ("a mask", " (e.g. digits-seg)"), "detection": ("boxes", " (e.g. digits-det)")}
        needs, what = f"{per_image[wants][0]} per image{per_image[wants][1]}", per_image[has][0]
        raise ConfigError("data", f"{config.data} has {what} per image, but {config.model} is a {wants} model: it needs {needs}")
    given = config.model_kwargs.get("num_classes")
    if given is not None and given != data.num_classes:
        raise ConfigError(
            "model_kwargs", f"num_classes={given!r} disagrees with the data: {data.name} has {data.num_classes} classes; "
            "drop it (the data decides), or train on some of them with --classes",
        )  # fmt: skip


def _check_memory_before_data(config: TrainConfig, device: torch.device) -> None:
    """Refuse a size or a class count that cannot fit before any image is decoded at that size.

    The data's channels are not known yet: three (what folder: and csv: decode
    colour images to) at the asked image size; without one, only the weights
    (of an explicit num_classes) are checked, as the size comes with the data.
    """
    if config.resume or (config.image_size is None and "num_classes" not in config.model_kwargs):
        return
    info = get_model_info(config.model)
    side = config.image_size or info.min_size or 1
    chans = config.model_kwargs.get("in_chans", 3 if config.image_size else info.input_size[0])
    kwargs = {**config.model_kwargs, "in_chans": chans}
    _check_memory(config, device, kwargs, (chans, side, side), activations=config.image_size is not None)


def _check_memory(config: TrainConfig, device: torch.device, kwargs: dict[str, Any], size: tuple[int, ...], activations: bool = True) -> None:
    side = get_model_info(config.model).min_size or 1
    shape = (int(size[0]), max(int(size[1]), side), max(int(size[2]), side))
    hint = "--image-size, --batch-size or the model's size (--arg num_classes, width_mult, …)"
    half = config.precision != "fp32" and device.type == "cuda"  # autocast keeps activations in 16 bits
    check_fits(config.model, kwargs, shape, config.batch_size, device, hint, activation_bytes=2 if half else 4, activations=activations)


def _build_model(config: TrainConfig, data: DataBundle, *, resumed: bool) -> tuple[nn.Module, dict[str, Any]]:
    """The model for ``data``; with ``--init``, every weight but the output layers copied from that checkpoint."""
    module = create(config.model, **_model_kwargs(config, data))
    if not config.init:
        return module, {}
    heads = list(module.output_layers())
    if not resumed:  # on resume the checkpoint holds the fine-tuned weights already
        load_backbone(module, config.init, config.model)
    return module, {"checkpoint": str(config.init), "heads": heads}


def _aug_name(config: TrainConfig, data: DataBundle) -> str:
    if config.aug != "auto":
        return config.aug
    return data.meta.get("aug", "digits" if data.name == "digits" else "none")


def _min_size(module: nn.Module, name: str) -> int:
    # A model built with other options (U-Net with padding) may take smaller inputs than the registry's default.
    return getattr(module, "min_size", None) or get_model_info(name).min_size or 1


def _input_side(config: TrainConfig, data: DataBundle) -> int:
    """``--image-size`` for a data set that keeps its own size (the embedded canvases, whose labels are drawn
    at it): the model's input is resized up to it, the labels are not. 0 where the data took the size itself."""
    h, w = data.image_size
    if config.image_size is None or data.task == "detection" or max(h, w) >= config.image_size:
        return 0
    return config.image_size


def _normalization(config: TrainConfig, data: DataBundle, train_set: Dataset, ckpt: Checkpoint | None, min_size: int) -> Normalization:
    """Mean and std of the training images (VGG §3.2), the crop the augmentation cuts, the model's input size."""
    if ckpt is not None:
        return ckpt.meta.normalize
    mean = std = None
    if config.init:
        # The copied layers expect inputs normalised as they were trained (d2l §14.2 uses ImageNet's statistics).
        source = load_checkpoint(config.init).meta.normalize
        if len(source.mean) == data.in_chans:
            mean, std = source.mean, source.std
    if mean is None:
        mean, std = channel_stats(train_set)
    aug = _aug_name(config, data)
    h, w = data.image_size
    crop = train_crop(aug, (h, w))
    ch, cw = crop or (h, w)
    side = _input_side(config, data)
    size = (max(ch, min_size, side), max(cw, min_size, side))
    if data.task == "detection" and size != (ch, cw):  # boxes are in the data's pixels: the data's size is the model's input
        raise ConfigError("image_size", f"must be at least {min_size} for {config.model}, which detects at the data's own size; {data.name} images are {h}×{w}")
    pca = None
    if aug == "alexnet" and data.in_chans == 3:
        eigval, eigvec = rgb_eigen(torch.stack([train_set[i][0] for i in range(min(len(train_set), PCA_SAMPLES))]))
        pca = {"eigval": eigval, "eigvec": eigvec}
    return Normalization(
        mean=list(mean), std=list(std), size=list(size), crop=list(crop) if crop else None,
        image_size=[h, w] if crop else None, pca=pca,
    )  # fmt: skip


def _pca(norm: Normalization) -> tuple[list[float], list[list[float]]] | None:
    return (norm.pca["eigval"], norm.pca["eigvec"]) if norm.pca else None


def _tuple(v: list[int] | None) -> tuple[int, int] | None:
    return (int(v[0]), int(v[1])) if v else None


def _optimization(config: TrainConfig, module: nn.Module, heads: list[str], steps_per_epoch: int):
    lr = config.lr or DEFAULT_LR[config.optimizer.lower()]
    params: Any = module.parameters()
    if heads:
        params = param_groups(module, heads, lr, backbone_lr_mult=config.backbone_lr_mult, freeze_backbone=config.freeze == "backbone")
    optimizer = build_optimizer(config.optimizer, params, lr, momentum=config.momentum, weight_decay=config.weight_decay)
    schedule = build_schedule(
        config.schedule, optimizer, config.epochs * steps_per_epoch, steps_per_epoch,
        warmup_epochs=config.warmup_epochs, patience=config.plateau_patience,
    )  # fmt: skip
    return optimizer, schedule


def _loaders(config: TrainConfig, data: DataBundle, train_set: Dataset, task, device: torch.device, dist: D.DistInfo):
    pin = config.pin_memory and device.type == "cuda"
    workers = config.num_workers
    sampler = D.ResumableDistributedSampler(train_set, dist, seed=config.seed * ORDER_SEED)
    # The loader gets its own generator, so making an iterator never draws from
    # the global RNG (whose state a checkpoint stores for dropout).
    train_loader = loader(
        train_set, config.batch_size, sampler=sampler, collate=task.collate, num_workers=workers, pin_memory=pin,
        persistent_workers=config.persistent_workers and workers > 0, generator=torch.Generator(), drop_last=False,
    )  # fmt: skip
    eval_set, eval_name = (data.val, "val") if data.val is not None else (data.test, "test")
    eval_loader = eval_loader_for(eval_set, config, task, dist, pin)
    return train_loader, eval_loader, eval_name


def eval_loader_for(dataset: Dataset, config: TrainConfig, task, dist: D.DistInfo, pin: bool = False) -> DataLoader:
    """Evaluation batches: larger than training ones (no gradients), each process its shard under DDP."""
    sampler = D.ShardSampler(len(dataset), dist) if dist.enabled else None
    return loader(
        dataset, max(256, config.batch_size), sampler=sampler, collate=task.collate, shuffle=False,
        num_workers=config.num_workers, pin_memory=pin,
    )  # fmt: skip


def _meta(config: TrainConfig, data: DataBundle, module: nn.Module, task: str, norm: Normalization, init: dict[str, Any]) -> CheckpointMeta:
    kwargs = _model_kwargs(config, data)
    return CheckpointMeta(
        schema=SCHEMA, model=config.model, model_kwargs=kwargs, task=task, data=config.data, data_name=data.name,
        num_classes=data.num_classes, class_names=list(data.class_names or []), in_chans=data.in_chans,
        normalize=norm, config=config.to_dict(), init=init or None, engine="torch",
    )  # fmt: skip


def _run_dir_target(config: TrainConfig, data: DataBundle, *, resumed: bool) -> tuple[Path, str]:
    """The run directory and the mode it is opened in."""
    out = Path(config.out or f"runs/{config.model}-{data.name}").expanduser()
    return out, "resume" if resumed else ("overwrite" if config.overwrite else "new")


def _open_run_dir(config: TrainConfig, data: DataBundle, dist: D.DistInfo, *, resumed: bool) -> RunDirectory | None:
    return RunDirectory.open(*_run_dir_target(config, data, resumed=resumed)) if dist.is_main else None


def _wrap(module: nn.Module, config: TrainConfig, dist: D.DistInfo, device: torch.device) -> nn.Module:
    model = D.wrap_model(module, dist, device, config.sync_bn)
    return torch.compile(model) if config.compile else model


def _saved_recipe(config: TrainConfig) -> dict[str, Any]:
    """The recipe a resumed run's ``config.json`` records (``data_info.recipe``), so rewriting it keeps that."""
    import json

    try:
        saved = json.loads((Path(config.resume or "") / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return saved.get("data_info", {}).get("recipe", {}) if isinstance(saved, dict) else {}


def _resolved_config(run: Run, aug_name: str, n_train: int, recipe: dict[str, Any]) -> dict[str, Any]:
    """``config.json``: the configuration with every ``auto`` resolved, what the data turned out to be,
    and the data's recipe settings that were applied (``data_info.recipe``, when any were)."""
    c, d = run.config, run.data
    data_info = {"name": d.name, "task": d.task, "num_classes": d.num_classes, "in_chans": d.in_chans,
                 "image_size": list(d.image_size), "train": n_train, run.eval_name: len(run.eval_loader.dataset)}  # fmt: skip
    if recipe:
        data_info["recipe"] = recipe
    return c.to_dict() | {
        "lr": c.lr or DEFAULT_LR[c.optimizer.lower()], "aug": aug_name, "loss": run.task.loss_name,
        "model_kwargs": run.meta.model_kwargs, "data_info": data_info, "world_size": run.dist.world_size,
        "macs_per_image": run.macs_per_image,
    }


def _macs_per_image(model: nn.Module, input_size: tuple[int, ...]) -> int | None:
    """Multiply-accumulates of one forward pass, if ``cnnzoo.analyze`` can count them."""
    try:
        from cnnzoo import analyze

        return int(analyze(model, input_size=tuple(int(v) for v in input_size)).macs)
    except Exception:  # analysis is optional here; MFU is then left out
        return None


# Dense bf16 tensor-core peaks in TFLOP/s (vendor data sheets), for model FLOPs utilisation.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "V100": 125.0}


def _peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given:
        return given
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
