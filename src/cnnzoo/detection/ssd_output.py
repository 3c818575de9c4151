"""What an SSD-style detector returns: per-default-box scores and offsets, its loss and detections on request.

Detections follow SSD's test-time procedure (Liu et al. 2016, arXiv:1512.02325,
§3.7 "Inference time"): softmax over the classes, each
default box's offsets decoded into a box, boxes below a confidence of 0.01
dropped, non-maximum suppression with Jaccard overlap 0.45 per class, and
the 200 most confident detections kept per image. As the released Caffe
code does, at most ``top_k = 400`` boxes per class enter NMS, which bounds
its cost when many boxes pass the threshold (an untrained network). Boxes
are clipped to the image and returned in its pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from cnnzoo.detection.anchors import ANCHOR_STDS
from cnnzoo.detection.box_coder import decode_boxes
from cnnzoo.detection.boxes import clip_boxes_to_image
from cnnzoo.detection.detector import DetectorOutput, Target
from cnnzoo.detection.multibox_loss import multibox_loss
from cnnzoo.detection.nms import batched_nms

__all__ = ["SSDOutput", "ssd_detections"]

TOP_K_PER_CLASS = 400  # the released models' nms_param.top_k


def ssd_detections(
    cls_logits: Tensor,
    box_deltas: Tensor,
    default_boxes: Tensor,
    image_size: tuple[int, int],
    *,
    score_threshold: float = 0.01,
    nms_threshold: float = 0.45,
    max_detections: int = 200,
    top_k: int = TOP_K_PER_CLASS,
    stds: Sequence[float] = ANCHOR_STDS,
) -> list[Target]:
    """One ``{"boxes" (K, 4), "scores" (K,), "labels" (K,)}`` per image, by decreasing score.

    Shapes: ``cls_logits (B, A, 1 + C)`` (background first), ``box_deltas (B, A, 4)``,
    ``default_boxes (A, 4)`` in pixels of an image of ``image_size = (H, W)``.
    """
    probs = cls_logits.detach().float().softmax(dim=-1)[..., 1:]  # B x A x C
    boxes = decode_boxes(box_deltas.detach().float(), default_boxes.float().expand_as(box_deltas), stds=stds)
    boxes = clip_boxes_to_image(boxes, image_size)
    num_classes = probs.shape[-1]
    out = []
    for p, bx in zip(probs, boxes, strict=True):
        scores, idx = p.topk(min(top_k, p.shape[0]), dim=0)  # k x C: each class's best default boxes
        labels = torch.arange(num_classes, device=p.device).expand_as(idx)
        scores, idx, labels = scores.reshape(-1), idx.reshape(-1), labels.reshape(-1)
        cand = bx[idx]
        keep = (scores > score_threshold) & (cand[:, 2] > cand[:, 0]) & (cand[:, 3] > cand[:, 1])
        scores, labels, cand = scores[keep], labels[keep], cand[keep]
        kept = batched_nms(cand, scores, labels, nms_threshold)[:max_detections]
        out.append({"boxes": cand[kept], "scores": scores[kept], "labels": labels[kept]})
    return out


@dataclass
class SSDOutput(DetectorOutput):
    """An SSD forward pass: ``cls_logits (B, A, 1 + C)``, ``box_deltas (B, A, 4)``, ``default_boxes (A, 4)`` in input pixels.

    ``loss(targets)`` is SSD's MultiBox loss (:func:`~cnnzoo.detection.multibox_loss.multibox_loss`);
    ``detections()`` uses the post-processing settings the detector had at the forward pass.
    """

    cls_logits: Tensor
    box_deltas: Tensor
    default_boxes: Tensor
    image_size: tuple[int, int]
    score_threshold: float = 0.01
    nms_threshold: float = 0.45
    max_detections: int = 200

    def losses(self, targets: Sequence[Target]) -> dict[str, Tensor]:
        return multibox_loss(self.cls_logits, self.box_deltas, self.default_boxes, targets)

    def loss(self, targets: Sequence[Target]) -> Tensor:
        return self.losses(targets)["loss"]

    def detections(self) -> list[Target]:
        return ssd_detections(
            self.cls_logits, self.box_deltas, self.default_boxes, self.image_size,
            score_threshold=self.score_threshold, nms_threshold=self.nms_threshold, max_detections=self.max_detections,
        )  # fmt: skip

    def predictions(self) -> list[Tensor]:
        return [self.cls_logits, self.box_deltas]
