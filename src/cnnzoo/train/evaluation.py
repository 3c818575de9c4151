"""Evaluation: the one function every caller uses, the report it writes, and checkpoints evaluated later.

* :func:`evaluate` runs a model over a loader and returns the loss and the
  task's metrics (per epoch in training, ``detailed`` for the final test and
  ``cnnzoo eval``). Under DDP each process evaluates its shard; torchmetrics
  and the loss sums are summed across processes.
* :func:`write_evaluation` writes ``evaluation.json`` and the task's plots; a
  plot that cannot be written is a one-line warning, never an exception.
* :func:`evaluate_checkpoint` rebuilds a run's model and its data as the run
  had them (data spec, class subset, validation split, image size; or another
  data set), and evaluates it, with test-time augmentation for classifiers.
* :func:`predict_files` gives the top classes of image files;
  :func:`predict_masks` segments them, writing palette PNG masks and overlays;
  :func:`predict_boxes` detects objects in them, drawing the boxes into PNGs.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from cnnzoo.data import DataBundle
from cnnzoo.data.images import decode_image
from cnnzoo.registry import get_model_info
from cnnzoo.train.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_model_and_meta,
    resolve_checkpoint,
)
from cnnzoo.train.meta import CheckpointMeta, Normalization
from cnnzoo.train.pipeline import InputPipeline
from cnnzoo.train.tasks import Task, TaskContext, build_task, main_output
from cnnzoo.train.tasks.base import summed_over_processes
from cnnzoo.train.tta import TTA_MODES, TTAClassifier, default_scales, dense_model

__all__ = ["evaluate", "evaluate_checkpoint", "jsonable", "normalizer", "predict_boxes", "predict_files", "predict_masks", "run_data", "write_evaluation"]


def _autocast(device: torch.device, dtype: torch.dtype | None):
    # Mixed precision only on CUDA: on CPU the flag is accepted and ignored.
    if dtype is None or device.type != "cuda":
        return nullcontext()
    return torch.autocast("cuda", dtype=dtype)


def _to_float(outputs: Any) -> Any:
    # A detector's DetectorOutput passes unchanged: its loss() and detections() upcast its half-precision tensors themselves.
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(_to_float(o) for o in outputs)
    return outputs.float() if isinstance(outputs, Tensor) and outputs.is_floating_point() else outputs


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    pipeline: Callable[[Tensor], Tensor],
    task: Task,
    device: torch.device | str,
    *,
    autocast_dtype: torch.dtype | None = None,
    detailed: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """``{"loss": mean loss, **task metrics}`` of ``model`` on ``loader``; plain floats and lists.

    ``pipeline(x)`` prepares each batch for the model (crop, resize,
    normalise); ``detailed`` asks the task for its full report (per-class
    tables, curves, confusion matrix). ``progress(n)`` is called after each
    batch of ``n`` samples. The model's train/eval mode is restored afterwards.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    meter, loss_fn = task.eval_meter(device, detailed=detailed), task.loss_fn()
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss × samples, samples
    try:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), task.to_device(y, device)
            with _autocast(device, autocast_dtype):
                outputs = model(pipeline(x))
            outputs = _to_float(outputs)
            n = task.batch_size(y)
            sums[0] += loss_fn(outputs, y).double() * n
            sums[1] += n
            meter.update(outputs, y)
            if progress is not None:
                progress(n)
    finally:
        model.train(was_training)
    loss_sum, seen = summed_over_processes(sums).tolist()
    if not seen:
        raise ValueError("evaluate: the loader yielded no samples; expected a non-empty evaluation split")
    return {"loss": loss_sum / seen} | meter.compute()


def jsonable(x: Any) -> Any:
    """``x`` with tensors as lists and NaN/inf as ``None``, so that ``json.dumps`` writes strict JSON."""
    if isinstance(x, Tensor):
        x = x.tolist()
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def write_evaluation(result: dict[str, Any], out_dir: str | os.PathLike[str], *, title: str, task: Task) -> list[Path]:
    """Write ``evaluation.json`` and the task's plots into ``out_dir``; return the files written.

    Nothing here raises for an unwritable place: each failure is a one-line
    ``RuntimeWarning`` and the files that could be written are returned, so a
    caller can always show the numbers it already has.
    """
    out = Path(out_dir)
    written: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _warn(f"could not create the report directory {out}: {e.strerror or e}; nothing written")
        return written
    try:
        atomic_write_bytes(out / "evaluation.json", (json.dumps(jsonable(result), indent=2) + "\n").encode())
        written.append(out / "evaluation.json")
    except OSError as e:
        _warn(f"could not write {out / 'evaluation.json'}: {e.strerror or e}")
    try:
        written += task.write_report(result, out, title=title)
    except Exception as e:  # a plot is never worth losing the evaluation for
        _warn(f"could not write the plots of {title} into {out}: {type(e).__name__}: {getattr(e, 'strerror', None) or e}")
    return written


def normalizer(meta: CheckpointMeta | Normalization | dict[str, Any], device: torch.device | str = "cpu") -> Callable[[Tensor], Tensor]:
    """``x -> (x − mean) / std`` with the training set's statistics stored in the checkpoint."""
    norm: Any = getattr(meta, "normalize", meta)
    if isinstance(norm, dict):
        norm = norm.get("normalize", norm)
        mean, std = norm["mean"], norm["std"]
    else:
        mean, std = norm.mean, norm.std
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    return lambda x: (x - m) / s


def _pipeline(norm: Normalization, device: torch.device) -> InputPipeline:
    crop = tuple(norm.crop) if norm.crop else None
    return InputPipeline(norm.mean, norm.std, tuple(norm.size), device, crop=crop)  # type: ignore[arg-type]


def run_data(meta: CheckpointMeta, data: str | None = None) -> DataBundle:
    """The data of a run as it trained on it: its spec, image size, class subset and validation split.

    With ``data``, that data set instead, at the run's image size, and with the
    run's class subset when the data set has more classes than the model.
    """
    from cnnzoo.data.split import carve_validation, prepare_data, select_classes

    cfg = meta.config or {}
    size, classes, val_split, seed = cfg.get("image_size"), cfg.get("classes"), cfg.get("val_split") or 0.0, cfg.get("seed", 0)
    default = get_model_info(meta.model).input_size[-1]  # as training chose it for folder:/csv: data
    if data is None:
        return prepare_data(meta.data, image_size=size, classes=classes, val_split=val_split, seed=seed, default_size=default)
    bundle = prepare_data(data, image_size=size, default_size=default)
    if classes and bundle.num_classes != meta.num_classes:  # another data set with the run's full label set
        bundle = select_classes(bundle, classes)
    return carve_validation(bundle, val_split, seed) if val_split > 0 else bundle


def _check_fits(meta: CheckpointMeta, bundle: DataBundle, where: object) -> None:
    if bundle.task != meta.task:
        raise CheckpointError(f"{where} holds a {meta.task} model; {bundle.name} is {bundle.task} data")
    if bundle.num_classes != meta.num_classes:
        raise CheckpointError(
            f"{where} was trained for {meta.num_classes} classes ({meta.data_name}); {bundle.name} has {bundle.num_classes}"
        )
    if bundle.in_chans != meta.in_chans:
        raise CheckpointError(f"{where} takes {meta.in_chans}-channel images; {bundle.name} has {bundle.in_chans}")


def _task(meta: CheckpointMeta) -> Task:
    cfg = meta.config or {}
    ctx = TaskContext(
        num_classes=meta.num_classes, class_names=list(meta.class_names), loss=cfg.get("loss") or "auto",
        label_smoothing=cfg.get("label_smoothing") or 0.0, aux_weight=cfg.get("aux_weight", 0.3),
        threshold=cfg.get("threshold", 0.5),
    )  # fmt: skip
    return build_task(meta.task, ctx)


def _identity(x: Tensor) -> Tensor:
    return x


def _evaluator(model: nn.Module, meta: CheckpointMeta, task: Task, tta: str, scales: Sequence[int] | None, device: torch.device):
    """``(network, pipeline, scales)``: the training pipeline for plain center evaluation, else a TTA wrapper."""
    if tta == "center" and not scales:
        return model, _pipeline(meta.normalize, device), None  # exactly as the run evaluated itself
    if not task.supports_tta:
        raise ValueError(f"tta={tta!r}, scales={list(scales or []) or None}: test-time views average class scores; a {meta.task} model is evaluated with tta='center' and no scales")
    crop = int(meta.normalize.size[0])
    dense = dense_model(model, crop, meta.in_chans) if tta == "dense" else None
    net = TTAClassifier(model, tta, crop, normalizer(meta, device), scales, dense)
    return net, _identity, list(scales or default_scales(tta, crop))


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    data: str | None = None,
    *,
    tta: str = "center",
    scales: Sequence[int] | None = None,
    batch_size: int = 128,
    device: str = "cpu",
    expect_model: str | None = None,
    progress: Callable[[int], None] | None = None,
    split: str = "test",
) -> dict[str, Any]:
    """The detailed evaluation (see :func:`evaluate`) of a checkpoint on its run's ``split`` (test or val).

    ``data``: evaluate on that data set instead of the run's own. ``tta``:
    ``center`` without ``scales`` is the run's own evaluation (its crop,
    resize and normalisation); ``10crop``, ``multiscale``, ``dense`` or
    explicit ``scales`` are the papers' test-time views (:mod:`cnnzoo.train.tta`).
    """
    if tta not in TTA_MODES:
        raise ValueError(f"tta: unknown evaluation mode {tta!r}; expected one of {', '.join(TTA_MODES)}")
    if split not in ("test", "val"):
        raise ValueError(f"split: {split!r}; expected test or val")
    stem = resolve_checkpoint(checkpoint)
    dev = torch.device(device)
    model, meta = load_model_and_meta(stem, dev)
    if expect_model is not None and expect_model != meta.model:
        raise CheckpointError(f"{checkpoint} holds a {meta.model}, not a {expect_model}")
    bundle = run_data(meta, data)
    _check_fits(meta, bundle, checkpoint)
    dataset = bundle.test if split == "test" else bundle.val
    if dataset is None:
        raise ValueError(f"split: 'val', but {checkpoint} was trained without a validation split (val_split 0)")
    task = _task(meta)
    net, pipeline, used = _evaluator(model, meta, task, tta, scales, dev)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=task.collate)
    result = evaluate(net, loader, pipeline, task, dev, detailed=True, progress=progress)
    head = {
        "model": meta.model, "task": meta.task, "checkpoint": str(stem), "epoch": meta.epoch, "data": data or meta.data,
        "data_name": bundle.name, "split": split, "mode": tta, "scales": used, "num_samples": len(dataset),  # type: ignore[arg-type]
        "class_names": list(bundle.class_names or meta.class_names or [str(i) for i in range(meta.num_classes)]),
    }  # fmt: skip
    return head | result


@torch.no_grad()
def predict_files(
    checkpoint: str | os.PathLike[str],
    paths: Sequence[str | os.PathLike[str]],
    *,
    topk: int = 5,
    invert: bool = False,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Top-``k`` classes with probabilities for each image file, prepared as the run's test images were.

    Each file is decoded at the run's image size (shorter side, central
    square) and goes through the run's crop, resize and normalisation.
    ``invert`` turns dark ink on white paper into the digits' white on black.
    """
    dev = torch.device(device)
    model, meta = load_model_and_meta(checkpoint, dev)
    if meta.task != "classification":
        raise ValueError(f"cnnzoo predict supports classification checkpoints only; {checkpoint} holds a {meta.task} model ({meta.model})")
    side = int((meta.normalize.image_size or meta.normalize.size)[0])
    pipeline, names = _pipeline(meta.normalize, dev), meta.class_names
    results = []
    for path in paths:
        x = decode_image(path, meta.in_chans, side)[None].to(dev)
        p = main_output(model(pipeline(1.0 - x if invert else x))).float().softmax(1)[0]
        vals, idx = p.topk(min(topk, p.numel()))
        top = [{"class": int(i), "name": names[int(i)] if int(i) < len(names) else str(int(i)), "probability": float(v)} for v, i in zip(vals, idx)]
        results.append({"file": str(path), "top": top})
    return results


@torch.no_grad()
def predict_boxes(
    checkpoint: str | os.PathLike[str],
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    score_threshold: float | None = None,
    nms_iou: float | None = None,
    max_detections: int | None = None,
    invert: bool = False,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Detect objects in each image file with a detection checkpoint; draw them into ``out_dir/STEM-boxes.png``.

    The returned list is also written to ``out_dir/detections.json``.

    Each image is resized (aspect ratio not kept, as the detection data are) to
    the run's input size and normalised as its training images were; the boxes
    are scaled back to the file's own pixels. ``score_threshold``, ``nms_iou``
    and ``max_detections`` go to ``Detector.set_postprocess`` (``None``: the
    detector's own). Returns ``[{"image", "boxes": [{"box": [x1, y1, x2, y2],
    "label", "class", "score"}]}]``, boxes by decreasing score.
    """
    from cnnzoo.layers.upsample import resize_to
    from cnnzoo.train.draw_boxes import draw_detections
    from cnnzoo.train.tasks.detection import detections_of

    dev = torch.device(device)
    model, meta = load_model_and_meta(checkpoint, dev)
    if meta.task != "detection":
        raise ValueError(f"predict_boxes needs a detection checkpoint; {checkpoint} holds a {meta.task} model ({meta.model})")
    if hasattr(model, "set_postprocess"):
        model.set_postprocess(score_threshold=score_threshold, nms_threshold=nms_iou, max_detections=max_detections)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    size, norm, names = tuple(int(v) for v in meta.normalize.size), normalizer(meta, dev), list(meta.class_names)
    results = []
    for path in paths:
        x = decode_image(path, meta.in_chans, None).to(dev)
        found = detections_of(model(norm(resize_to(1.0 - x if invert else x, size)[None])))[0]
        h, w = x.shape[-2:]
        scale = torch.tensor([w / size[1], h / size[0]] * 2, device=dev)
        boxes = (found["boxes"].float() * scale).clamp_min(0).minimum(torch.tensor([w, h, w, h], device=dev))
        order = found["scores"].float().argsort(descending=True).tolist()
        rows = [{"box": [round(v, 2) for v in boxes[i].tolist()], "label": int(found["labels"][i]),
                 "class": _class_name(names, int(found["labels"][i])), "score": float(found["scores"][i])} for i in order]  # fmt: skip
        drawing = draw_detections(x, [r["box"] for r in rows], [r["label"] for r in rows], [r["score"] for r in rows], names)
        drawing.save(out / f"{Path(path).stem}-boxes.png")
        results.append({"image": str(path), "boxes": rows})
    atomic_write_bytes(out / "detections.json", (json.dumps(results, indent=2) + "\n").encode())
    return results


def _class_name(names: Sequence[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else str(label)


OVERLAY_ALPHA = 0.5  # weight of the class colour over the image where a class is predicted


@torch.no_grad()
def predict_masks(
    checkpoint: str | os.PathLike[str],
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    invert: bool = False,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Segment each image file with a segmentation checkpoint; write ``STEM-mask.png`` and ``STEM-overlay.png``.

    The whole image is segmented at its own size (the networks are fully
    convolutional), normalised as the run's training images were; score maps
    at a stride are upsampled bilinearly to the image. A valid-convolution
    U-Net (``padding=False``), whose output is smaller than its input, segments
    it by U-Net's overlap-tile strategy (:func:`cnnzoo.train.overlap_tile.overlap_tile`). The mask is an 8-bit
    palette PNG of class indices in VOC's colours; the overlay blends those
    colours over the image where a class other than 0 is predicted.
    """
    from PIL import Image

    from cnnzoo.data.voc_seg import voc_palette
    from cnnzoo.layers.upsample import resize_to

    dev = torch.device(device)
    model, meta = load_model_and_meta(checkpoint, dev)
    if meta.task != "segmentation":
        raise ValueError(f"predict_masks needs a segmentation checkpoint; {checkpoint} holds a {meta.task} model ({meta.model})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    norm, palette, names = normalizer(meta, dev), voc_palette(), meta.class_names
    results = []
    for path in paths:
        x = decode_image(path, meta.in_chans, None)[None].to(dev)
        scores = _segment(model, norm(1.0 - x if invert else x))
        mask = resize_to(scores, x.shape[-2:]).argmax(1)[0].to(torch.uint8).cpu().numpy()
        stem = Path(path).stem
        image = Image.fromarray(mask, mode="P")
        image.putpalette(palette.flatten().tolist())
        files = {"mask": out / f"{stem}-mask.png", "overlay": out / f"{stem}-overlay.png"}
        image.save(files["mask"])
        _overlay(x[0].cpu(), mask, palette).save(files["overlay"])
        counts = {names[c] if c < len(names) else str(c): int(n) for c, n in enumerate(torch.bincount(torch.from_numpy(mask).flatten().long()).tolist()) if n}
        results.append({"file": str(path), "mask": str(files["mask"]), "overlay": str(files["overlay"]), "pixels": counts})
    return results


def _segment(model: torch.nn.Module, x: Tensor) -> Tensor:
    """Class scores of one normalised image batch; overlap-tile for a valid-convolution U-Net."""
    from cnnzoo.models.unet import UNet
    from cnnzoo.train.overlap_tile import overlap_tile

    if isinstance(model, UNet) and not model.padding:
        return overlap_tile(model, x).float()
    return main_output(model(x)).float()


def _overlay(image: Tensor, mask: Any, palette: Any):
    """An RGB PIL image: ``image`` with each predicted class's colour blended in (class 0 left as is)."""
    import numpy as np
    from PIL import Image

    rgb = image.expand(3, -1, -1).permute(1, 2, 0).numpy() * 255.0  # grey images as grey RGB
    colour = palette[mask].astype(np.float32)
    labelled = (mask > 0)[..., None]
    blended = np.where(labelled, (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colour, rgb)
    return Image.fromarray(blended.round().clip(0, 255).astype(np.uint8), mode="RGB")
