"""Semantic segmentation: a class per pixel, label 255 for pixels without one.

Loss: per-pixel cross-entropy over the labelled pixels (``focal``: the focal
loss; ``unet_weighted``: weighted by U-Net's eq. 2 map, see
:func:`weighted_pixel_loss`); score maps smaller
than the label map (a network that predicts at a stride) are first resized to
it bilinearly, as FCN upsamples its coarse scores (Long, Shelhamer & Darrell
2015, arXiv:1411.4038, §3.3). Training score: pixel accuracy. Evaluation: the
four metrics of FCN §5 (pixel accuracy, mean accuracy, mean IU, frequency-
weighted IU) from one confusion matrix over all pixels, and mean Dice;
``detailed`` adds per-class accuracy, IoU and Dice and the confusion matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix

from cnnzoo.data.seg_augment import joint_augment
from cnnzoo.data.seg_weights import batch_weight_maps
from cnnzoo.layers.upsample import resize_to
from cnnzoo.train.metrics import fcn_scores
from cnnzoo.train.plots import plot_confusion, plot_per_class
from cnnzoo.train.tasks.base import Meter, SumMeter, Task, TaskError, main_output, register_task
from cnnzoo.train.tasks.report import fmt

__all__ = ["IGNORE_INDEX", "SegmentationTask"]

IGNORE_INDEX = 255  # pixels without a label (VOC's object borders, padding)
JOINT_PRESETS = ("none", "digits", "elastic")  # image presets that augment_batch replays on the label map


def scores_at(logits: Tensor, target: Tensor) -> Tensor:
    """``logits`` resized to the label map's size (a no-op when they match)."""
    return resize_to(logits, target.shape[-2:])


def pixel_focal_loss(scores: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Mean over labelled pixels of ``−(1 − p_y)^γ log p_y`` (Lin et al. 2017, arXiv:1708.02002, eq. 4).

    The many easy background pixels then weigh little next to the few digit
    pixels that are still wrong: the imbalance a per-pixel cross-entropy suffers from.
    """
    labelled = target != IGNORE_INDEX
    logp = F.log_softmax(scores.float(), 1).gather(1, target.where(labelled, 0)[:, None]).squeeze(1)
    per_pixel = -(1 - logp.exp()).pow(gamma) * logp
    return per_pixel[labelled].sum() / labelled.sum().clamp_min(1)


def weighted_pixel_loss(scores: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """``Σ w(x) · −log p_ℓ(x)(x)`` over labelled pixels, divided by their number (U-Net eq. 1).

    Ronneberger, Fischer & Brox 2015 (arXiv:1505.04597, §3) sum the weighted
    log-likelihood; dividing by the labelled pixels keeps the loss's scale
    independent of the batch and the image size, as the unweighted mean is.
    Pixels labelled 255 get weight 0 and do not count.
    """
    labelled = target != IGNORE_INDEX
    nll = F.cross_entropy(scores.float(), target, ignore_index=IGNORE_INDEX, reduction="none")
    return (weight * nll)[labelled].sum() / labelled.sum().clamp_min(1)


class PixelMeter(SumMeter):
    """Running pixel accuracy over the labelled pixels of the training batches."""

    names = ("correct", "labelled")

    def update(self, outputs: Any, target: Tensor) -> None:
        pred = scores_at(main_output(outputs).detach(), target).argmax(1)
        labelled = target != IGNORE_INDEX
        self.add(((pred == target) & labelled).sum(), labelled.sum())

    def compute(self) -> dict[str, float]:
        t = self.totals()
        return {"acc": t["correct"] / max(t["labelled"], 1.0)}


class SegmentationMeter(Meter):
    """One confusion matrix over every labelled pixel; the FCN metrics from it."""

    def __init__(self, num_classes: int, device: torch.device, detailed: bool) -> None:
        self.detailed = detailed
        self.cm = MulticlassConfusionMatrix(num_classes, ignore_index=IGNORE_INDEX, validate_args=False).to(device)

    def update(self, outputs: Any, target: Tensor) -> None:
        pred = scores_at(main_output(outputs).detach().float(), target).argmax(1)
        self.cm.update(pred, target)

    def compute(self) -> dict[str, Any]:
        cm = self.cm.compute().cpu().long()
        scores = fcn_scores(cm)
        if not self.detailed:
            return {k: v for k, v in scores.items() if k != "per_class"}
        return scores | {"confusion": cm.tolist()}


@register_task
class SegmentationTask(Task):
    """A class per pixel: cross-entropy ignoring label 255, mean IoU."""

    name = "segmentation"
    score_key = "miou"
    score_label = "mean IoU"

    def resolve_loss(self, name: str) -> str:
        if name in ("auto", "cross_entropy"):
            return "cross_entropy"
        if name in ("focal", "unet_weighted"):
            return name
        raise TaskError(f"--loss {name!r} does not fit segmentation; expected cross_entropy, focal, unet_weighted or auto (per-pixel cross-entropy)")

    def criterion(self) -> Callable[[Tensor, Tensor], Tensor]:
        smoothing, name, k = self.ctx.label_smoothing, self.loss_name, self.ctx.num_classes

        def loss(logits: Tensor, target: Tensor) -> Tensor:
            scores = scores_at(logits, target)
            if name == "focal":
                return pixel_focal_loss(scores, target)
            if name == "unet_weighted":  # the map of the (augmented) masks of this batch, eq. 2
                return weighted_pixel_loss(scores, target, batch_weight_maps(target, k))
            return F.cross_entropy(scores, target, ignore_index=IGNORE_INDEX, label_smoothing=smoothing)

        return loss

    def augment_batch(self, augment: Callable[[Tensor], Tensor], x: Tensor, target: Any) -> tuple[Tensor, Any]:
        """Move the label map with the image: one draw, bilinear for pixels, nearest for labels."""
        joint = joint_augment(augment)
        if joint is None:
            # Crops and flips drawn inside kornia cannot be replayed on the label map.
            raise TaskError(f"--aug: {type(augment).__name__} cannot move a label map with its image; segmentation accepts {', '.join(JOINT_PRESETS)}")
        return joint(x, target)

    def train_meter(self, device: torch.device) -> Meter:
        return PixelMeter(device)

    def eval_meter(self, device: torch.device, *, detailed: bool = False) -> Meter:
        return SegmentationMeter(self.ctx.num_classes, device, detailed)

    def write_report(self, result: dict[str, Any], out_dir: Path, *, title: str) -> list[Path]:
        names = result.get("class_names") or self.ctx.class_names
        written = []
        if "confusion" in result:
            plot_confusion(result["confusion"], names, out_dir / "confusion.png", title=f"{title} (pixels)")
            written.append(out_dir / "confusion.png")
        if "per_class" in result:
            plot_per_class(result["per_class"]["iou"], names, out_dir / "iou.png", title=f"{title}: mean IoU {fmt(result['miou'])}", ylabel="IoU")
            written.append(out_dir / "iou.png")
        return written

    def headline(self, result: dict[str, Any]) -> str:
        return (
            f"mean IoU {result['miou']:.2%}, pixel accuracy {result['acc']:.2%}, mean accuracy {result['mean_acc']:.2%}, "
            f"frequency-weighted IoU {result['fwiou']:.2%}"
        )

    def per_class_table(self, result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
        pc = result.get("per_class")
        if not pc:
            return [], []
        names = result.get("class_names") or self.ctx.class_names or [str(i) for i in range(len(pc["iou"]))]
        cols = ["class", "accuracy", "IoU", "Dice", "pixels"]
        rows = [[str(n), fmt(a), fmt(i), fmt(d), str(p)] for n, a, i, d, p in zip(names, pc["acc"], pc["iou"], pc["dice"], pc["pixels"])]
        return cols, rows
