"""Importing a checkpoint file: choose the source entry, build the model, load, write a run.

``load_weights`` returns the cnnzoo model with the source's tensors (the
front door ``cnnzoo.create(name, weights=PATH)`` calls it); ``import_weights``
also writes an ordinary cnnzoo run directory (``checkpoint-best``) whose header
carries the source's normalisation, input size and ImageNet class names, so
``eval``, ``predict``, ``export``, ``summary`` and ``train --init`` use it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from cnnzoo.weights.catalog import REFUSED, SOURCES, SourceModel, find_source
from cnnzoo.weights.errors import WeightsError
from cnnzoo.weights.mapping import load_manifest, transfer
from cnnzoo.weights.readers import Checkpoint, read_checkpoint

__all__ = ["ImportResult", "import_weights", "load_weights"]

SOURCE_NAMES = ("torchvision", "timm", "keras")


@dataclass
class ImportResult:
    """What ``import_weights`` wrote: the checkpoint stem, the source entry and the time taken."""

    checkpoint: Path
    entry: SourceModel
    seconds: float


def _matches_names(ckpt: Checkpoint, entry: SourceModel) -> bool:
    # Tensor *names* (not shapes) tell vgg16 from vgg16_bn; v1 and v1.5 are never told apart this way.
    return {n for n, _, _ in load_manifest(entry.key) if not n.endswith("num_batches_tracked")} <= set(ckpt.tensors)


def _choose(ckpt: Checkpoint, model: str | None, source: str | None) -> SourceModel:
    source = source or ckpt.source
    if source is None:
        raise WeightsError(f"{ckpt.path}: cannot tell which library wrote it; pass --source torchvision or timm")
    if source not in SOURCE_NAMES:
        raise WeightsError(f"--source is {source!r}; expected one of {', '.join(SOURCE_NAMES)}")
    if ckpt.arch is not None:
        entry = find_source(source, ckpt.arch)
        if model is not None and model not in (entry.model, entry.name):
            raise WeightsError(f"{ckpt.path} holds {source} {ckpt.arch}, which imports into cnnzoo {entry.model}, not {model}")
        return entry
    if model is None:
        raise WeightsError(f"{ckpt.path}: the file does not name its architecture; pass --model NAME")
    if f"{source}-{model}" in REFUSED:
        return find_source(source, model)  # raises, saying why
    candidates = [e for e in SOURCES.values() if e.source == source and model in (e.model, e.name)]
    fitting = [e for e in candidates if _matches_names(ckpt, e)]
    if len(fitting) == 1:
        return fitting[0]
    if f"{source}-{model}" in SOURCES:
        return SOURCES[f"{source}-{model}"]  # the import names the tensors that do not fit
    if not candidates:
        return find_source(source, model)  # raises: unsupported, listing what is
    names = ", ".join(e.name for e in candidates)
    raise WeightsError(f"{ckpt.path}: its tensor names match {'none' if not fitting else 'several'} of the {source} models for cnnzoo {model} ({names})")


def _preprocessing(entry: SourceModel, cfg: dict[str, Any]) -> SourceModel:
    """The entry with the mean, std and input size of a timm folder's ``pretrained_cfg``, where it gives them.

    One architecture can carry weights fed differently: timm's AdvProp
    EfficientNets (``tf_efficientnet_b0.ap_in1k``) expect mean = std = 0.5.
    """
    changes: dict[str, Any] = {}
    for key in ("mean", "std"):
        v = cfg.get(key)
        if isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v):
            changes[key] = tuple(float(x) for x in v)
    size = cfg.get("input_size")
    if isinstance(size, list) and len(size) == 3 and size[1] == size[2] and isinstance(size[1], int):
        changes["size"] = size[1]
    return replace(entry, **changes)


def _build(entry: SourceModel, kwargs: dict[str, Any]) -> nn.Module:
    from cnnzoo.registry import create

    for k, v in entry.kwargs.items():
        if k in kwargs and kwargs[k] != v:
            raise WeightsError(f"{entry.source} {entry.name} weights need {k}={v!r} ({entry.note or 'the source network'}); got {k}={kwargs[k]!r}")
    kwargs.pop("num_classes", None)  # the source's 1000 classes first; load_weights resets the head after
    return create(entry.model, **{**kwargs, **entry.kwargs, "num_classes": 1000})


def load_weights(path: str | Path, model: str | None = None, source: str | None = None, **kwargs: Any) -> tuple[nn.Module, SourceModel]:
    """The cnnzoo model holding the weights in ``path``, in eval mode, and the source entry.

    ``num_classes`` other than 1000 replaces the classifier after loading
    (``reset_classifier``), for fine-tuning.
    """
    if source == "keras" or str(path).lower().endswith(".h5"):
        from cnnzoo.weights.keras import load_keras

        net, entry = load_keras(path, model, **kwargs)
    else:
        ckpt = read_checkpoint(path)
        entry = _preprocessing(_choose(ckpt, model, source), ckpt.config)
        net = _build(entry, dict(kwargs))
        transfer(ckpt.tensors, entry, net, str(ckpt.path))
    num_classes = kwargs.get("num_classes", 1000)
    if num_classes != 1000:
        net.reset_classifier(num_classes)
    return net.eval(), entry


def _meta(entry: SourceModel, model: nn.Module, path: Path) -> Any:
    from cnnzoo.train.meta import CheckpointMeta, Normalization
    from cnnzoo.weights.classes import imagenet_class_names

    kwargs = {**entry.kwargs, "num_classes": 1000, "in_chans": 3}
    return CheckpointMeta(
        model=entry.model, model_kwargs=kwargs, task="classification", data=entry.source, data_name="imagenet",
        num_classes=1000, class_names=imagenet_class_names(), in_chans=3,
        normalize=Normalization(list(entry.mean), list(entry.std), [entry.size, entry.size]),
        init={"imported_from": str(path), "source": entry.source, "source_model": entry.name},
    )  # fmt: skip


def import_weights(path: str | Path, out: str | Path, model: str | None = None, source: str | None = None, overwrite: bool = False) -> ImportResult:
    """Import ``path`` and write the run directory ``out`` (``overwrite``: replace a previous run there)."""
    from cnnzoo.train.checkpoint import save_checkpoint
    from cnnzoo.train.rundir import RunDirectory

    start = time.perf_counter()
    net, entry = load_weights(path, model, source)
    with RunDirectory.open(out, "overwrite" if overwrite else "new") as run:
        stem = save_checkpoint(run.path / "checkpoint-best", net, _meta(entry, net, Path(path)))
    return ImportResult(Path(stem), entry, time.perf_counter() - start)
