"""Region Proposal Network: anchors, their labels, the RPN loss and the proposals.

Ren, He, Girshick, Sun, "Faster R-CNN: Towards Real-Time Object Detection with
Region Proposal Networks", NIPS 2015, arXiv:1506.01497, §3.1.

*Head* (§3.1, figure 3): a 3×3 convolution over the shared feature map (512
maps for VGG-16) and ReLU, then two sibling 1×1 convolutions: ``2k`` objectness
scores (the paper's two-class softmax, object / not object) and ``4k`` box
offsets for the ``k`` anchors of each position. With ``k = 9`` the output
layers hold ``512 × (4 + 2) × 9 ≈ 2.8 × 10⁴`` weights (§3.1.1). New layers start
from N(0, 0.01) and zero biases (§3.1.3).

*Anchors* (§3.1.1): every position of a stride-``s`` map gets anchors of
3 scales (128², 256², 512² pixels) × 3 width:height ratios (1:1, 1:2, 2:1),
from :func:`cnnzoo.detection.anchors.grid_anchors` with ``all_pairs=True``.

*Labels* (§3.1.2, :func:`label_anchors`): an anchor is positive if its IoU with
some ground-truth box is higher than 0.7, or if it has the highest IoU of all
anchors with some ground-truth box (every anchor that ties for it, as the
released code does); negative if its IoU is lower than 0.3 with every box;
otherwise ignored. Anchors that cross the image boundary are ignored in training
(§3.3). The released code (py-faster-rcnn) writes ``≥ 0.7``; we follow the text.

*Sampling* (§3.1.3, :func:`sample_anchors`): 256 anchors per image, up to half
positive, the rest negative.

*Loss* (eq. 1): ``L = 1/N_cls Σ L_cls(p_i, p*_i) + λ 1/N_reg Σ p*_i L_reg(t_i, t*_i)``,
log loss over the two classes and smooth L1 over the R-CNN box offsets of the
positives. The paper takes ``N_cls = 256``, ``N_reg ≈ 2,400`` anchor locations and
``λ = 10``; we normalise both terms by the number of sampled anchors with
``λ = 1``, as the released code and torchvision do — the same weight to within
10%, and it does not depend on the image size. The smooth L1 is the released
code's (``σ = 3``: quadratic below 1/9).

*Proposals* (§3.3, :func:`propose`): decode the offsets of every anchor, clip
to the image, drop boxes smaller than ``min_size``, keep the ``pre_nms_top_n``
best, NMS at IoU 0.7, keep the ``post_nms_top_n`` best (2,000 in training and
300 at test time in the paper). Proposals carry no gradient: the paper's
*approximate joint training* (§3.2) ignores the derivative with respect to the
proposal boxes' coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnzoo.detection.anchors import anchor_shapes, grid_anchors
from cnnzoo.detection.box_coder import decode_boxes, encode_boxes
from cnnzoo.detection.boxes import box_iou, clip_boxes_to_image
from cnnzoo.detection.nms import nms

__all__ = [
    "RPN_RATIOS",
    "RPN_SIZES",
    "RPNHead",
    "RegionProposalNetwork",
    "label_anchors",
    "propose",
    "rpn_loss",
    "sample_anchors",
]

RPN_SIZES = (128.0, 256.0, 512.0)  # sqrt of the anchor areas 128², 256², 512² (§3.1.1)
RPN_RATIOS = (1.0, 0.5, 2.0)  # width:height 1:1, 1:2, 2:1
RPN_BOX_BETA = 1.0 / 9  # smooth L1 of the released RPN code (σ = 3)


class RPNHead(nn.Module):
    """The RPN's layers: ``(N, C, H, W) -> objectness (N, 2k, H, W), offsets (N, 4k, H, W)``.

    Args:
        in_channels: channels of the shared feature map.
        mid_channels: maps of the 3×3 convolution (512 for VGG-16, 256 for ZF).
        num_anchors: ``k``, anchors per position.
    """

    def __init__(self, in_channels: int, mid_channels: int, num_anchors: int) -> None:
        super().__init__()
        for name, v in (
            ("in_channels", in_channels),
            ("mid_channels", mid_channels),
            ("num_anchors", num_anchors),
        ):
            if v < 1:
                raise ValueError(f"RPNHead: {name} must be a positive integer; got {v}")
        self.num_anchors = num_anchors
        self.conv = nn.Conv2d(in_channels, mid_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(mid_channels, 2 * num_anchors, 1)
        self.bbox_pred = nn.Conv2d(mid_channels, 4 * num_anchors, 1)
        for conv in (self.conv, self.cls_logits, self.bbox_pred):
            nn.init.normal_(conv.weight, 0.0, 0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        t = F.relu(self.conv(x))
        return self.cls_logits(t), self.bbox_pred(t)


def _per_anchor(t: Tensor, num_anchors: int, width: int) -> Tensor:
    # (N, k·width, H, W) -> (N, H·W·k, width): position-major, the k anchors of a position
    # consecutive, the order of grid_anchors.
    n, _, h, w = t.shape
    return (
        t.reshape(n, num_anchors, width, h, w)
        .permute(0, 3, 4, 1, 2)
        .reshape(n, h * w * num_anchors, width)
    )


def _inside(anchors: Tensor, image_size: tuple[int, int]) -> Tensor:
    h, w = image_size
    return (anchors[:, 0] >= 0) & (anchors[:, 1] >= 0) & (anchors[:, 2] <= w) & (anchors[:, 3] <= h)


def label_anchors(
    anchors: Tensor,
    gt_boxes: Tensor,
    image_size: tuple[int, int] | None = None,
    pos_iou: float = 0.7,
    neg_iou: float = 0.3,
) -> tuple[Tensor, Tensor]:
    """Label each anchor positive (1), negative (0) or ignored (−1), §3.1.2.

    Args:
        anchors: ``(A, 4)`` corner boxes in pixels.
        gt_boxes: ``(G, 4)`` ground-truth boxes (``G`` may be 0: all negative).
        image_size: ``(height, width)``; anchors crossing it are ignored
            (``None``: keep every anchor).
        pos_iou, neg_iou: positive above, negative below.

    Returns:
        ``(labels (A,) int64, matched (A,) int64)``: the label, and the index of
        the ground-truth box each anchor overlaps most (0 when ``G = 0``).
    """
    if not 0.0 <= neg_iou <= pos_iou <= 1.0:
        raise ValueError(
            f"need 0 <= neg_iou <= pos_iou <= 1; got neg_iou={neg_iou}, pos_iou={pos_iou}"
        )
    n = anchors.shape[0]
    labels = torch.full((n,), -1, dtype=torch.long, device=anchors.device)
    matched = torch.zeros(n, dtype=torch.long, device=anchors.device)
    usable = (
        torch.ones(n, dtype=torch.bool, device=anchors.device)
        if image_size is None
        else _inside(anchors, image_size)
    )
    if gt_boxes.shape[0] == 0:
        labels[usable] = 0
        return labels, matched
    iou = box_iou(anchors, gt_boxes.to(anchors.dtype))
    iou[~usable] = -1.0  # a crossing anchor is never the best one for a box either
    best, matched = iou.max(dim=1)
    labels[usable & (best < neg_iou)] = 0
    # The anchors with the highest IoU for each box (ties included), if they touch it at all.
    per_gt = iou.max(dim=0).values
    top = ((iou == per_gt[None, :]) & (per_gt[None, :] > 0)).any(dim=1)
    labels[top] = 1
    labels[best > pos_iou] = 1
    return labels, matched


def sample_anchors(
    labels: Tensor,
    batch_size: int = 256,
    positive_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``labels`` with all but a random ``batch_size`` of them set to −1 (ignored), §3.1.3.

    Up to ``positive_fraction · batch_size`` positives are kept; negatives fill
    the rest of the sample. Returns a new ``(A,)`` tensor.
    """
    if batch_size < 1 or not 0.0 < positive_fraction <= 1.0:
        raise ValueError(
            f"need batch_size >= 1 and positive_fraction in (0, 1]; got {batch_size}, {positive_fraction}"
        )
    out = labels.clone()
    pos = (labels == 1).nonzero().squeeze(1)
    num_pos = min(pos.numel(), int(batch_size * positive_fraction))
    _drop_all_but(out, pos, num_pos, generator)
    neg = (labels == 0).nonzero().squeeze(1)
    _drop_all_but(out, neg, min(neg.numel(), batch_size - num_pos), generator)
    return out


def _drop_all_but(
    labels: Tensor, idx: Tensor, keep: int, generator: torch.Generator | None
) -> None:
    if idx.numel() > keep:
        perm = torch.randperm(idx.numel(), generator=generator, device="cpu").to(idx.device)
        labels[idx[perm[keep:]]] = -1


def rpn_loss(
    objectness: Tensor,
    deltas: Tensor,
    anchors: Tensor,
    targets: Sequence[dict[str, Tensor]],
    image_size: tuple[int, int],
    *,
    batch_size: int = 256,
    positive_fraction: float = 0.5,
    pos_iou: float = 0.7,
    neg_iou: float = 0.3,
    box_weight: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """The RPN's ``(classification, box)`` losses for a batch (eq. 1; normalisation in the module docstring).

    Shapes: ``objectness (N, A, 2)``, ``deltas (N, A, 4)``, ``anchors (A, 4)``;
    one ``{"boxes", ...}`` target per image.
    """
    cls_logits, cls_labels, box_pred, box_target = [], [], [], []
    for obj, dl, t in zip(objectness, deltas, targets, strict=True):
        gt = t["boxes"].to(anchors.dtype)
        labels, matched = label_anchors(anchors, gt, image_size, pos_iou, neg_iou)
        labels = sample_anchors(labels, batch_size, positive_fraction, generator)
        used = labels >= 0
        cls_logits.append(obj[used])
        cls_labels.append(labels[used])
        pos = labels == 1
        box_pred.append(dl[pos])
        if pos.any():
            box_target.append(encode_boxes(gt[matched[pos]], anchors[pos]))
        else:
            box_target.append(dl.new_zeros(0, 4))
    logits, labels = torch.cat(cls_logits), torch.cat(cls_labels)
    sampled = max(labels.numel(), 1)
    loss_cls = F.cross_entropy(logits, labels, reduction="sum") / sampled
    loss_box = (
        F.smooth_l1_loss(
            torch.cat(box_pred), torch.cat(box_target), beta=RPN_BOX_BETA, reduction="sum"
        )
        / sampled
    )
    return loss_cls, box_weight * loss_box


@torch.no_grad()
def propose(
    objectness: Tensor,
    deltas: Tensor,
    anchors: Tensor,
    image_size: tuple[int, int],
    *,
    pre_nms_top_n: int,
    post_nms_top_n: int,
    nms_threshold: float = 0.7,
    min_size: float = 16.0,
) -> list[Tensor]:
    """Proposals per image (§3.3): ``(R_i, 4)`` boxes by decreasing objectness, without gradient.

    Shapes: ``objectness (N, A, 2)`` logits, ``deltas (N, A, 4)``, ``anchors (A, 4)``.
    """
    scores = objectness.softmax(dim=-1)[..., 1]
    out = []
    for s, d in zip(scores, deltas, strict=True):
        boxes = clip_boxes_to_image(decode_boxes(d, anchors), image_size)
        wh = boxes[:, 2:] - boxes[:, :2]
        big = (wh >= min_size).all(dim=1).nonzero().squeeze(1)
        boxes, s_i = boxes[big], s[big]
        top = s_i.topk(min(pre_nms_top_n, s_i.numel())).indices
        boxes, s_i = boxes[top], s_i[top]
        keep = nms(boxes, s_i, nms_threshold)[:post_nms_top_n]
        out.append(boxes[keep])
    return out


class RegionProposalNetwork(nn.Module):
    """The RPN: its head, its anchors and its training and proposal settings.

    Args:
        in_channels, mid_channels: see :class:`RPNHead`.
        stride: pixels per feature-map cell (16 for VGG-16's conv5_3).
        sizes, ratios: anchor scales (pixels) and width:height ratios; all pairs.
        pre_nms_top_n, post_nms_top_n: ``(training, testing)`` boxes kept before
            and after NMS (the released code: 12,000/2,000 and 6,000/300).
        nms_threshold: IoU of the proposals' NMS (0.7).
        min_size: smallest proposal side in pixels.
        batch_size, positive_fraction: anchors sampled per image (256, 0.5).
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int = 512,
        *,
        stride: int = 16,
        sizes: Sequence[float] = RPN_SIZES,
        ratios: Sequence[float] = RPN_RATIOS,
        pre_nms_top_n: tuple[int, int] = (12000, 6000),
        post_nms_top_n: tuple[int, int] = (2000, 300),
        nms_threshold: float = 0.7,
        min_size: float = 16.0,
        batch_size: int = 256,
        positive_fraction: float = 0.5,
    ) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"RPN stride must be a positive integer; got {stride}")
        self.stride, self.sizes, self.ratios = stride, tuple(sizes), tuple(ratios)
        self.num_anchors = len(anchor_shapes(self.sizes, self.ratios, all_pairs=True))
        self.head = RPNHead(in_channels, mid_channels, self.num_anchors)
        self.pre_nms_top_n, self.post_nms_top_n = tuple(pre_nms_top_n), tuple(post_nms_top_n)
        self.nms_threshold, self.min_size = nms_threshold, min_size
        self.batch_size, self.positive_fraction = batch_size, positive_fraction

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, C, H, W) -> objectness (N, H·W·k, 2), deltas (N, H·W·k, 4)``."""
        obj, dl = self.head(features)
        return _per_anchor(obj, self.num_anchors, 2), _per_anchor(dl, self.num_anchors, 4)

    def anchors(self, feature_size: tuple[int, int], device: torch.device | None = None) -> Tensor:
        """``(H·W·k, 4)`` anchors in input pixels for a feature map of ``feature_size``."""
        return grid_anchors(
            feature_size, self.stride, self.sizes, self.ratios, all_pairs=True, device=device
        )

    def loss(self, objectness: Tensor, deltas: Tensor, anchors: Tensor, targets: Sequence[dict[str, Tensor]],
             image_size: tuple[int, int]) -> tuple[Tensor, Tensor]:  # fmt: skip
        """``(classification, box)`` losses; see :func:`rpn_loss`."""
        return rpn_loss(objectness, deltas, anchors, targets, image_size,
                        batch_size=self.batch_size, positive_fraction=self.positive_fraction)  # fmt: skip

    def proposals(
        self, objectness: Tensor, deltas: Tensor, anchors: Tensor, image_size: tuple[int, int]
    ) -> list[Tensor]:
        """Proposals per image, with the training or testing counts by ``self.training``."""
        i = 0 if self.training else 1
        return propose(objectness.detach(), deltas.detach(), anchors, image_size,
                       pre_nms_top_n=self.pre_nms_top_n[i], post_nms_top_n=self.post_nms_top_n[i],
                       nms_threshold=self.nms_threshold, min_size=self.min_size)  # fmt: skip
