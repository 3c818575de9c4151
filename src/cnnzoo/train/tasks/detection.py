"""Object detection: a variable number of boxes per image, scored by mean average precision.

Targets are one dict per image, ``{"boxes": (N, 4) xyxy, "labels": (N,)}``
(and, from the readers, ``difficult``, ``iscrowd``, ``area``), so a batch keeps
them as a list and :meth:`DetectionTask.collate` stacks only the images.

A detector's loss depends on its anchors and matching (SSD's hard negative
mining, Faster R-CNN's RPN and head losses), so the task does not compute it:
the model's output does. A model returns a :class:`DetectionOutput`: an
object with ``loss(targets)`` and ``detections()`` (a list per image of
``{"boxes", "scores", "labels"}``). The task also takes a model's plain list of
detections (evaluation only: its loss is NaN, undefined) or a loss it already
computed (a scalar tensor, or a dict of named losses that are summed, as
torchvision's detectors return in training mode).

Training augmentation moves the boxes with the pixels: ``--aug ssd``
(:class:`cnnzoo.data.det_augment.SSDAugment`, SSD's own, through its
``with_boxes`` method); presets that move the pixels alone are refused, as the
boxes would no longer match them. Images are not resized on the way to the
model (the data's size is the detector's input), so the boxes the data gives
are the boxes the detector sees.

Evaluation accumulates every image's detections and scores them with
:mod:`cnnzoo.detection.metrics`: Pascal VOC mAP at IoU 0.5, all-point
(VOC2010+, the score ``map50``) and 11-point (VOC2007), difficult boxes
ignored; and the twelve COCO numbers (AP@[.5:.95], AP50, AP75, AP
small/medium/large, AR at 1/10/100 detections, AR by size). ``detailed``
adds per-class AP and precision–recall curves, drawn by :meth:`write_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import torch.distributed as dist
from torch import Tensor

from cnnzoo.detection.metrics import COCO_KEYS, coco_evaluate, voc_evaluate
from cnnzoo.train.metrics import thin_curve
from cnnzoo.train.plots import plot_per_class, plot_pr
from cnnzoo.train.tasks.base import Meter, SumMeter, Task, TaskError, register_task
from cnnzoo.train.tasks.report import fmt

__all__ = ["DetectionOutput", "DetectionTask", "detections_of"]

Target = dict[str, Tensor]


@runtime_checkable
class DetectionOutput(Protocol):
    """What a detector returns: its own loss against the targets, and its detections."""

    def loss(self, targets: Sequence[Target]) -> Tensor: ...

    def detections(self) -> list[Target]: ...


def _is_detection_list(outputs: Any) -> bool:
    return isinstance(outputs, (list, tuple)) and all(isinstance(d, dict) and {"boxes", "scores", "labels"} <= d.keys() for d in outputs)


def _unknown(outputs: Any) -> TaskError:
    return TaskError(
        f"detection: the model returned {type(outputs).__name__}; expected a DetectionOutput (loss(targets), detections()), "
        "a list of {boxes, scores, labels} per image, or a loss"
    )


def detections_of(outputs: Any) -> list[Target]:
    """The per-image ``{"boxes", "scores", "labels"}`` of a model's output."""
    if isinstance(outputs, DetectionOutput):
        return outputs.detections()
    if _is_detection_list(outputs):
        return list(outputs)
    raise _unknown(outputs)


def model_loss(outputs: Any, target: Sequence[Target]) -> Tensor:
    """The loss a detector's output carries (NaN for plain detections, which carry none)."""
    if isinstance(outputs, DetectionOutput):
        return outputs.loss(target)
    if isinstance(outputs, Tensor) and outputs.dim() == 0:
        return outputs
    if isinstance(outputs, dict) and outputs and all(isinstance(v, Tensor) for v in outputs.values()):
        return torch.stack([v.reshape(()) for v in outputs.values()]).sum()
    if _is_detection_list(outputs):
        device = outputs[0]["boxes"].device if outputs else "cpu"
        return torch.full((), float("nan"), device=device)
    raise _unknown(outputs)


class ImagesMeter(SumMeter):
    """Training runs no matching (it would cost a decode and NMS per step): just the objects seen per image."""

    names = ("objects", "images")

    def update(self, outputs: Any, target: Sequence[Target]) -> None:
        self.add(sum(len(t["labels"]) for t in target), len(target))

    def compute(self) -> dict[str, float]:
        t = self.totals()
        return {"objects_per_image": t["objects"] / max(t["images"], 1.0)}


def _cpu(d: Target, keys: tuple[str, ...]) -> Target:
    return {k: d[k].detach().float().cpu() if k in ("boxes", "scores", "area") else d[k].detach().cpu() for k in keys if k in d}


def _gathered(items: list[Any]) -> list[Any]:
    if dist.is_available() and dist.is_initialized():
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, items)
        return [x for p in parts for x in p]
    return items


class DetectionMeter(Meter):
    """Keeps every image's detections and targets (on the CPU); the VOC and COCO metrics on ``compute()``."""

    def __init__(self, num_classes: int, detailed: bool) -> None:
        self.k, self.detailed = num_classes, detailed
        self.dets: list[Target] = []
        self.gts: list[Target] = []

    def update(self, outputs: Any, target: Sequence[Target]) -> None:
        dets = detections_of(outputs)
        if len(dets) != len(target):
            raise TaskError(f"detection: the model gave detections for {len(dets)} images of a batch of {len(target)}")
        self.dets += [_cpu(d, ("boxes", "scores", "labels")) for d in dets]
        self.gts += [_cpu(t, ("boxes", "labels", "difficult", "iscrowd", "area")) for t in target]

    def compute(self) -> dict[str, Any]:
        dets, gts = _gathered(self.dets), _gathered(self.gts)
        voc = voc_evaluate(dets, gts, self.k)
        voc07 = voc_evaluate(dets, gts, self.k, use_07_metric=True)
        coco = coco_evaluate(dets, gts)
        out: dict[str, Any] = {"map50": voc["map"], "map50_voc07": voc07["map"]}
        out |= {f"coco_{k}": coco[k] for k in COCO_KEYS}
        if self.detailed:
            curves = [thin_curve(torch.tensor(r, dtype=torch.float64), torch.tensor(p, dtype=torch.float64))
                      for r, p in zip(voc["pr"]["recall"], voc["pr"]["precision"])]  # fmt: skip
            out["per_class"] = {"ap": voc["ap"], "ap_voc07": voc07["ap"], "objects": voc["npos"]}
            out["pr"] = {"recall": [c[0] for c in curves], "precision": [c[1] for c in curves]}
        return out


@register_task
class DetectionTask(Task):
    """Boxes and classes per image: the detector's own loss, VOC mAP@0.5 and the COCO metrics."""

    name = "detection"
    score_key = "map50"
    score_label = "mAP@0.5"

    def resolve_loss(self, name: str) -> str:
        if name in ("auto", "model"):
            return "model"
        raise TaskError(f"--loss {name!r} does not fit detection; a detector computes its own loss (use --loss auto)")

    def criterion(self) -> Callable[[Tensor, Any], Tensor]:
        raise TaskError("detection has no per-output criterion: the detector's output computes its loss")

    def loss_fn(self) -> Callable[[Any, Any], Tensor]:
        return model_loss

    def collate(self, samples: Sequence[tuple[Tensor, Target]]) -> tuple[Tensor, list[Target]]:
        images = [s[0] for s in samples]
        sizes = {tuple(x.shape) for x in images}
        if len(sizes) > 1:
            raise TaskError(f"detection: a batch mixes image sizes {sorted(sizes)}; the data set must resize them to one size")
        return torch.stack(images), [dict(s[1]) for s in samples]

    def to_device(self, target: list[Target], device: torch.device) -> list[Target]:
        return [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in target]

    def batch_size(self, target: list[Target]) -> int:
        return len(target)

    def augment_batch(self, augment: Callable[[Tensor], Tensor], x: Tensor, target: Any) -> tuple[Tensor, Any]:
        """Augment images and boxes together (one draw per image); an augmentation that cannot move boxes is refused."""
        with_boxes = getattr(augment, "with_boxes", None)
        if with_boxes is None:
            raise TaskError(f"--aug: {type(augment).__name__} moves the pixels but not the boxes; detection trains with --aug ssd or none")
        return with_boxes(x, target)

    def train_meter(self, device: torch.device) -> Meter:
        return ImagesMeter(device)

    def eval_meter(self, device: torch.device, *, detailed: bool = False) -> Meter:
        return DetectionMeter(self.ctx.num_classes, detailed)

    def write_report(self, result: dict[str, Any], out_dir: Path, *, title: str) -> list[Path]:
        names = result.get("class_names") or self.ctx.class_names
        written = []
        if "pr" in result and "per_class" in result:
            ap = result["per_class"]["ap"]
            plot_pr(result["pr"]["recall"], result["pr"]["precision"], ap, names, out_dir / "pr.png", title=f"{title} (IoU 0.5)")
            plot_per_class(ap, names, out_dir / "ap.png", title=f"{title}: mAP@0.5 {fmt(result['map50'])}", ylabel="AP (VOC2010+)")
            written += [out_dir / "pr.png", out_dir / "ap.png"]
        return written

    def headline(self, result: dict[str, Any]) -> str:
        return (
            f"mAP@0.5 {fmt(result['map50'])} (VOC2007 11-point {fmt(result['map50_voc07'])}), "
            f"COCO AP {fmt(result['coco_AP'])}, AP50 {fmt(result['coco_AP50'])}, AP75 {fmt(result['coco_AP75'])}, AR100 {fmt(result['coco_AR100'])}"
        )

    def per_class_table(self, result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
        pc = result.get("per_class")
        if not pc:
            return [], []
        names = result.get("class_names") or self.ctx.class_names or [str(i) for i in range(len(pc["ap"]))]
        cols = ["class", "AP", "AP (VOC2007)", "objects"]
        return cols, [[str(n), fmt(a), fmt(b), str(o)] for n, a, b, o in zip(names, pc["ap"], pc["ap_voc07"], pc["objects"])]
