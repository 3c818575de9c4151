"""The Fast R-CNN detection head: RoI sampling, RoI pooling, class scores and box offsets, loss and detections.

Girshick, "Fast R-CNN", ICCV 2015, arXiv:1504.08083, as Faster R-CNN uses it
(Ren et al. 2015, arXiv:1506.01497, §3.2).

*Sampling* (§2.3, :func:`sample_rois`): the ground-truth boxes join the
proposals (as in the released code), then 128 RoIs per image are drawn: up to
25% foreground — IoU ≥ 0.5 with a ground-truth box, labelled with its class —
and background from IoU in ``[0.1, 0.5)``, labelled 0. The lower bound 0.1 is
the paper's heuristic for hard examples; an image without objects has nothing
to be near, so there every proposal is a background candidate.

*Head* (§2.1–2.2, figure 1): each RoI is pooled to a fixed grid (RoI pooling
7×7 for VGG-16, or RoI align of He et al. 2017, arXiv:1703.06870, with
``roi_op="align"``), passed through the network's "fully connected" layers
(VGG-16's fc6 and fc7; ResNet's conv5_x), then two siblings: ``K + 1`` class
scores (softmax) and ``4K`` class-specific box offsets. Initialisation
N(0, 0.01) and N(0, 0.001), biases 0 (§2.3).

*Loss* (eq. 1–3): log loss of the true class ``u`` plus ``[u ≥ 1]`` smooth L1
(quadratic below 1) of class ``u``'s offsets, averaged over the sampled RoIs,
λ = 1. Offsets are R-CNN's, normalised by the standard deviations
``(0.1, 0.1, 0.2, 0.2)`` of the released code.

*Detections* (Fast R-CNN §3; thresholds of the released code): softmax, each class's
offsets applied to the RoI, clipped to the image, scores below the detector's
``score_threshold`` dropped, non-maximum suppression per class at
``nms_threshold``, the ``max_detections`` best kept per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnzoo.detection.box_coder import decode_boxes, encode_boxes
from cnnzoo.detection.boxes import box_iou, clip_boxes_to_image
from cnnzoo.detection.nms import batched_nms
from cnnzoo.detection.roi import RoIAlign, RoIPool

__all__ = ["ROI_BOX_STDS", "RoIHeads", "sample_rois"]

ROI_BOX_STDS = (0.1, 0.1, 0.2, 0.2)  # BBOX_NORMALIZE_STDS of the released code
ROI_OPS = ("pool", "align")


def sample_rois(
    proposals: Tensor,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    *,
    batch_size: int = 128,
    fg_fraction: float = 0.25,
    fg_iou: float = 0.5,
    bg_iou_low: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Fast R-CNN's RoI sample for one image (§2.3).

    Args:
        proposals: ``(R, 4)`` boxes; ``gt_boxes (G, 4)`` are appended to them.
        gt_labels: ``(G,)`` classes ``0 … K − 1``.

    Returns:
        ``(rois (S, 4), labels (S,), targets (S, 4))``: foreground first;
        labels are class + 1 and 0 for background; targets are the normalised
        offsets to the matched box (zero for background). ``S ≤ batch_size``.
    """
    if batch_size < 1 or not 0.0 <= fg_fraction <= 1.0 or not 0.0 <= bg_iou_low <= fg_iou <= 1.0:
        raise ValueError(
            f"need batch_size >= 1, fg_fraction in [0, 1], 0 <= bg_iou_low <= fg_iou <= 1; "
            f"got {batch_size}, {fg_fraction}, {bg_iou_low}, {fg_iou}"
        )
    gt_boxes = gt_boxes.to(proposals.dtype)
    rois = torch.cat((proposals, gt_boxes))
    if gt_boxes.shape[0]:
        best, matched = box_iou(rois, gt_boxes).max(dim=1)
        bg = (best < fg_iou) & (best >= bg_iou_low)
    else:
        best = rois.new_zeros(rois.shape[0])
        matched = torch.zeros(rois.shape[0], dtype=torch.long, device=rois.device)
        bg = torch.ones(rois.shape[0], dtype=torch.bool, device=rois.device)
    fg_idx = _choose(
        (best >= fg_iou).nonzero().squeeze(1), round(batch_size * fg_fraction), generator
    )
    bg_idx = _choose(bg.nonzero().squeeze(1), batch_size - fg_idx.numel(), generator)
    keep = torch.cat((fg_idx, bg_idx))
    labels = torch.zeros(keep.numel(), dtype=torch.long, device=rois.device)
    targets = rois.new_zeros(keep.numel(), 4)
    if fg_idx.numel():
        labels[: fg_idx.numel()] = gt_labels[matched[fg_idx]].long() + 1
        targets[: fg_idx.numel()] = encode_boxes(
            gt_boxes[matched[fg_idx]], rois[fg_idx], stds=ROI_BOX_STDS
        )
    return rois[keep], labels, targets


def _choose(idx: Tensor, count: int, generator: torch.Generator | None) -> Tensor:
    if idx.numel() <= count:
        return idx
    return idx[
        torch.randperm(idx.numel(), generator=generator, device="cpu")[:count].to(idx.device)
    ]


class RoIHeads(nn.Module):
    """RoI pooling, the per-region network and the two sibling outputs.

    ``(features (N, C, H, W), rois per image) -> scores (R, K + 1), deltas (R, 4K)``.

    Args:
        box_head: the per-region layers, ``(R, C, P, P) -> (R, representation)``.
        representation: width of ``box_head``'s output.
        num_classes: ``K``, object classes (background is added).
        pool_size: ``P``, RoI output grid (7 for VGG-16).
        spatial_scale: feature cells per pixel (1/16 for VGG-16).
        roi_op: ``"pool"`` (Fast R-CNN) or ``"align"`` (Mask R-CNN).
        sampling_ratio: RoI align's sample points per bin and axis (Mask R-CNN: 2).
        batch_size, fg_fraction, fg_iou, bg_iou_low: see :func:`sample_rois`.
    """

    def __init__(
        self,
        box_head: nn.Module,
        representation: int,
        num_classes: int,
        *,
        pool_size: int = 7,
        spatial_scale: float = 1 / 16,
        roi_op: str = "pool",
        sampling_ratio: int = 2,
        batch_size: int = 128,
        fg_fraction: float = 0.25,
        fg_iou: float = 0.5,
        bg_iou_low: float = 0.1,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer; got {num_classes}")
        if roi_op not in ROI_OPS:
            raise ValueError(f"roi_op must be one of {ROI_OPS}; got {roi_op!r}")
        self.num_classes = num_classes
        self.roi = (
            RoIPool(pool_size, spatial_scale)
            if roi_op == "pool"
            else RoIAlign(pool_size, spatial_scale, sampling_ratio, aligned=True)
        )
        self.box_head = box_head
        self.cls_score = nn.Linear(representation, num_classes + 1)
        self.bbox_pred = nn.Linear(representation, 4 * num_classes)
        nn.init.normal_(self.cls_score.weight, 0.0, 0.01)
        nn.init.normal_(self.bbox_pred.weight, 0.0, 0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)
        self.sampling = {
            "batch_size": batch_size,
            "fg_fraction": fg_fraction,
            "fg_iou": fg_iou,
            "bg_iou_low": bg_iou_low,
        }

    def forward(self, features: Tensor, rois: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        x = self.box_head(self.roi(features, list(rois)))  # R x representation
        return self.cls_score(x), self.bbox_pred(x)

    def loss(
        self, features: Tensor, proposals: Sequence[Tensor], targets: Sequence[dict[str, Tensor]]
    ) -> tuple[Tensor, Tensor]:
        """``(classification, box)`` losses over the RoIs sampled from ``proposals`` (eq. 1)."""
        samples = [
            sample_rois(p, t["boxes"], t["labels"], **self.sampling)
            for p, t in zip(proposals, targets, strict=True)
        ]
        scores, deltas = self(features, [s[0] for s in samples])
        labels = torch.cat([s[1] for s in samples])
        box_targets = torch.cat([s[2] for s in samples])
        n = max(labels.numel(), 1)
        loss_cls = F.cross_entropy(scores, labels, reduction="sum") / n
        fg = (labels > 0).nonzero().squeeze(1)
        own = deltas.reshape(-1, self.num_classes, 4)[fg, labels[fg] - 1]  # class u's offsets
        loss_box = F.smooth_l1_loss(own, box_targets[fg], beta=1.0, reduction="sum") / n
        return loss_cls, loss_box

    @torch.no_grad()
    def detect(
        self, features: Tensor, proposals: Sequence[Tensor], image_size: tuple[int, int],
        score_threshold: float, nms_threshold: float, max_detections: int,
    ) -> list[dict[str, Tensor]]:  # fmt: skip
        """One ``{"boxes", "scores", "labels"}`` per image, labels ``0 … K − 1``."""
        scores, deltas = self(features, proposals)
        probs = scores.softmax(dim=1)[:, 1:]  # R x K
        counts = [len(r) for r in proposals]
        out = []
        for rois, p, d in zip(proposals, probs.split(counts), deltas.split(counts), strict=True):
            d = d.reshape(-1, self.num_classes, 4)
            boxes = decode_boxes(d, rois[:, None, :].expand_as(d), stds=ROI_BOX_STDS)
            boxes = clip_boxes_to_image(boxes, image_size).reshape(-1, 4)
            labels = torch.arange(self.num_classes, device=p.device).repeat(len(rois))
            s = p.reshape(-1)
            wh = boxes[:, 2:] - boxes[:, :2]
            keep = ((s > score_threshold) & (wh > 1e-2).all(dim=1)).nonzero().squeeze(1)
            boxes, s, labels = boxes[keep], s[keep], labels[keep]
            keep = batched_nms(boxes, s, labels, nms_threshold)[:max_detections]
            out.append({"boxes": boxes[keep], "scores": s[keep], "labels": labels[keep]})
        return out
