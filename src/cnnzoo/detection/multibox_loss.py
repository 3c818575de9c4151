"""SSD's training objective: matching, offset encoding, hard negative mining, the MultiBox loss.

Liu, Anguelov, Erhan, Szegedy, Reed, Fu, Berg, "SSD: Single Shot MultiBox
Detector", ECCV 2016, arXiv:1512.02325, §2.2:

- *Matching strategy.* Each ground-truth box is matched to the default box
  with the best Jaccard overlap (as in MultiBox), so every object has one;
  then every default box is matched to any ground truth it overlaps by more
  than 0.5 (its best one). The released Caffe code counts an overlap of
  exactly 0.5 as well; the two differ only at that tie.
- *Training objective* (eq. 1–2)::

      L = (L_conf + α L_loc) / N

  ``N`` the number of matched (positive) default boxes, ``L = 0`` when
  ``N = 0``; ``L_loc`` the smooth L1 loss (Fast R-CNN, Girshick 2015) of the
  positives' offsets ``(g_cx, g_cy, g_w, g_h)`` (R-CNN's parametrisation,
  :mod:`cnnzoo.detection.box_coder`, divided by the released code's
  "variances" 0.1 and 0.2 = :data:`~cnnzoo.detection.anchors.ANCHOR_STDS`);
  ``L_conf`` the softmax cross-entropy over the classes plus background;
  ``α = 1``.
- *Hard negative mining.* Of the unmatched default boxes, only those with
  the highest confidence loss count, at most three negatives per positive
  (per image).

Everything is batched over default boxes; only the matching loops, over
images and over their ground-truth boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnzoo.detection.anchors import ANCHOR_STDS
from cnnzoo.detection.box_coder import encode_boxes
from cnnzoo.detection.boxes import box_iou, check_boxes

__all__ = ["hard_negative_mask", "match_default_boxes", "multibox_loss", "multibox_targets"]

Target = dict[str, Tensor]


def match_default_boxes(gt_boxes: Tensor, default_boxes: Tensor, iou_threshold: float = 0.5) -> Tensor:
    """Index of the ground-truth box each default box is matched to, ``-1`` for none (SSD §2.2).

    Shapes: ``gt_boxes (G, 4)``, ``default_boxes (A, 4)`` → ``(A,)`` int64.
    Default boxes overlapping some ground truth by more than ``iou_threshold``
    take the one they overlap most; then each ground-truth box takes its best
    default box whatever the overlap (ties to the lower index; when two
    objects share a best default box, the later object keeps it).
    """
    gt_boxes = check_boxes(gt_boxes, "gt_boxes")
    default_boxes = check_boxes(default_boxes, "default_boxes")
    matched = torch.full((default_boxes.shape[0],), -1, dtype=torch.long, device=default_boxes.device)
    if gt_boxes.shape[0] == 0 or default_boxes.shape[0] == 0:
        return matched
    iou = box_iou(gt_boxes, default_boxes)  # G x A
    best_iou, best_gt = iou.max(dim=0)
    matched = torch.where(best_iou > iou_threshold, best_gt, matched)
    for g, a in enumerate(iou.argmax(dim=1).tolist()):  # a loop over objects, not default boxes
        matched[a] = g
    return matched


def _check_target(t: Target, i: int, num_classes: int) -> tuple[Tensor, Tensor]:
    if not isinstance(t, dict) or "boxes" not in t or "labels" not in t:
        raise ValueError(f"targets[{i}] must be a dict with 'boxes' (N, 4) and 'labels' (N,)")
    boxes, labels = check_boxes(t["boxes"], f"targets[{i}]['boxes']").reshape(-1, 4), t["labels"].reshape(-1)
    if labels.shape[0] != boxes.shape[0]:
        raise ValueError(f"targets[{i}] has {boxes.shape[0]} boxes but {labels.shape[0]} labels")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"targets[{i}]['labels'] must be in 0…{num_classes - 1}; got {labels.tolist()}")
    return boxes, labels.long()


def multibox_targets(
    default_boxes: Tensor,
    targets: Sequence[Target],
    num_classes: int,
    iou_threshold: float = 0.5,
    stds: Sequence[float] = ANCHOR_STDS,
) -> tuple[Tensor, Tensor]:
    """Class and offset targets of every default box of every image.

    Args:
        default_boxes: ``(A, 4)`` corner boxes, in the targets' coordinates.
        targets: one ``{"boxes" (G, 4), "labels" (G,)}`` per image, labels ``0 … num_classes − 1``.

    Returns:
        ``(classes (B, A) int64, offsets (B, A, 4))``: the matched object's
        label + 1, 0 for background; the encoded offsets (zero for background).
    """
    classes, offsets = [], []
    for i, t in enumerate(targets):
        boxes, labels = _check_target(t, i, num_classes)
        boxes = boxes.to(default_boxes)
        matched = match_default_boxes(boxes, default_boxes, iou_threshold)
        pos = matched >= 0
        cls = torch.where(pos, labels.to(matched.device)[matched.clamp(min=0)] + 1, 0) if len(labels) else torch.zeros_like(matched)
        off = torch.zeros_like(default_boxes)
        if pos.any():
            off[pos] = encode_boxes(boxes[matched[pos]], default_boxes[pos], stds=stds)
        classes.append(cls)
        offsets.append(off)
    return torch.stack(classes), torch.stack(offsets)


def hard_negative_mask(conf_loss: Tensor, positive: Tensor, neg_pos_ratio: float = 3.0) -> Tensor:
    """The negatives that count: per image, the ``neg_pos_ratio × positives`` with the highest loss.

    Shapes: ``conf_loss (B, A)``, ``positive (B, A)`` bool → ``(B, A)`` bool,
    never true on a positive. Ties in loss go to the lower index.
    """
    if neg_pos_ratio < 0:
        raise ValueError(f"neg_pos_ratio must be >= 0; got {neg_pos_ratio}")
    loss = conf_loss.detach().masked_fill(positive, float("-inf"))  # positives rank last
    rank = loss.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    num_pos = positive.sum(dim=1, keepdim=True)
    num_neg = torch.minimum((neg_pos_ratio * num_pos).floor().long(), (~positive).sum(dim=1, keepdim=True))
    return rank < num_neg


def multibox_loss(
    cls_logits: Tensor,
    box_deltas: Tensor,
    default_boxes: Tensor,
    targets: Sequence[Target],
    *,
    iou_threshold: float = 0.5,
    neg_pos_ratio: float = 3.0,
    alpha: float = 1.0,
    stds: Sequence[float] = ANCHOR_STDS,
) -> dict[str, Tensor]:
    """SSD's loss (eq. 1) over a batch: ``{"loss", "loss_conf", "loss_loc"}`` (``loss = loss_conf + loss_loc``).

    Args:
        cls_logits: ``(B, A, 1 + C)`` class scores, background first.
        box_deltas: ``(B, A, 4)`` predicted offsets (the encoding of :func:`multibox_targets`).
        default_boxes: ``(A, 4)`` corner boxes in the targets' coordinates.
        targets: one ``{"boxes", "labels"}`` per image.
    """
    b, a, k = cls_logits.shape
    if box_deltas.shape != (b, a, 4) or default_boxes.shape != (a, 4) or len(targets) != b:
        raise ValueError(
            f"multibox_loss: cls_logits {tuple(cls_logits.shape)}, box_deltas {tuple(box_deltas.shape)}, "
            f"default_boxes {tuple(default_boxes.shape)} and {len(targets)} targets do not agree (B, A, 1 + C), (B, A, 4), (A, 4), B"
        )
    classes, offsets = multibox_targets(default_boxes, targets, k - 1, iou_threshold, stds)
    positive = classes > 0
    ce = F.cross_entropy(cls_logits.reshape(-1, k).float(), classes.reshape(-1), reduction="none").reshape(b, a)
    counted = positive | hard_negative_mask(ce, positive, neg_pos_ratio)
    n = positive.sum()
    if n == 0:  # SSD: L = 0; kept in the graph so that backward still runs
        zero = (cls_logits.sum() + box_deltas.sum()).float() * 0.0
        return {"loss": zero, "loss_conf": zero, "loss_loc": zero}
    conf = ce[counted].sum() / n
    loc = alpha * F.smooth_l1_loss(box_deltas[positive].float(), offsets[positive].float(), reduction="sum", beta=1.0) / n
    return {"loss": conf + loc, "loss_conf": conf, "loss_loc": loc}
