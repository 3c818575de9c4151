"""Anchor boxes: generation, assignment of ground truth, and training targets.

Follows d2l.ai §14.4 ("Anchor Boxes"). For sizes ``s_1 … s_n`` (a
fraction of the image side) and width-to-height ratios ``r_1 … r_m``, each
pixel gets the ``n + m − 1`` anchors that contain ``s_1`` or ``r_1``::

    (s_1, r_1), (s_2, r_1), …, (s_n, r_1), (s_1, r_2), …, (s_1, r_m)

with width ``s·sqrt(r)`` and height ``s/sqrt(r)`` (in units of the image height;
widths are scaled by ``H/W`` so that a ratio-1 anchor is square on a
rectangular image). Ratios are width/height, as in d2l; torchvision's
``AnchorGenerator`` uses height/width.

Assignment (d2l's ``assign_anchor_to_bbox``): take the largest entry of the
anchor × ground-truth IoU matrix, assign that pair, discard its row and column,
repeat until every ground-truth box has an anchor (so each object gets at
least one, however poorly it overlaps); then every still-unassigned anchor
takes its best ground-truth box if that IoU reaches the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from cnnzoo.detection.box_coder import decode_boxes, encode_boxes
from cnnzoo.detection.boxes import box_iou, check_boxes
from cnnzoo.detection.nms import nms

__all__ = [
    "ANCHOR_STDS",
    "anchor_shapes",
    "assign_anchor_to_bbox",
    "grid_anchors",
    "multibox_detection",
    "multibox_prior",
    "multibox_target",
]

# d2l's offset_boxes multiplies centre offsets by 10 and log sizes by 5.
ANCHOR_STDS = (0.1, 0.1, 0.2, 0.2)


def _check_positive(values: Sequence[float], name: str) -> list[float]:
    vals = [float(v) for v in values]
    if not vals or any(not (v > 0 and math.isfinite(v)) for v in vals):
        raise ValueError(f"{name} must be a non-empty list of positive numbers; got {list(values)}")
    return vals


def anchor_shapes(
    sizes: Sequence[float], ratios: Sequence[float], all_pairs: bool = False
) -> list[tuple[float, float]]:
    """``(size, ratio)`` pairs per pixel: the ``n + m − 1`` of d2l, or all ``n·m``."""
    sizes = _check_positive(sizes, "sizes")
    ratios = _check_positive(ratios, "ratios")
    if all_pairs:
        return [(s, r) for r in ratios for s in sizes]
    return [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]


def multibox_prior(feature_map: Tensor, sizes: Sequence[float], ratios: Sequence[float]) -> Tensor:
    """Anchors centred on every pixel of ``feature_map``, normalised to [0, 1].

    Args:
        feature_map: any tensor whose last two dimensions are ``(H, W)``.
        sizes: anchor scales as fractions of the image (d2l: ``[0.75, 0.5, 0.25]``).
        ratios: width/height ratios (d2l: ``[1, 2, 0.5]``).

    Returns:
        ``(1, H·W·(n + m − 1), 4)`` corner boxes, pixel-major (row by row), the
        ``n + m − 1`` anchors of a pixel consecutive; reshape to
        ``(H, W, n + m − 1, 4)`` to index by pixel.
    """
    if not isinstance(feature_map, Tensor) or feature_map.dim() < 2:
        raise ValueError("feature_map must be a tensor whose last two dimensions are (H, W)")
    h, w = feature_map.shape[-2:]
    if h == 0 or w == 0:
        raise ValueError(f"feature_map must have a non-empty (H, W); got {(h, w)}")
    shapes = anchor_shapes(sizes, ratios)
    dtype = feature_map.dtype if feature_map.is_floating_point() else torch.float32
    kw = {"dtype": dtype, "device": feature_map.device}
    s = torch.tensor([p[0] for p in shapes], **kw)
    r = torch.tensor([p[1] for p in shapes], **kw)
    aw = s * torch.sqrt(r) * h / w  # keeps ratio-1 anchors square in pixels
    ah = s / torch.sqrt(r)
    cy = (torch.arange(h, **kw) + 0.5) / h
    cx = (torch.arange(w, **kw) + 0.5) / w
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")
    centres = torch.stack((cx, cy, cx, cy), dim=-1).reshape(-1, 1, 4)
    half = torch.stack((-aw, -ah, aw, ah), dim=-1) / 2  # A x 4
    return (centres + half).reshape(1, -1, 4)


def grid_anchors(
    feature_size: tuple[int, int],
    stride: int | tuple[int, int],
    sizes: Sequence[float],
    ratios: Sequence[float],
    *,
    all_pairs: bool = False,
    offset: float = 0.5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Anchors in image pixels for a feature map of any stride.

    Cell ``(i, j)`` of an ``H × W`` feature map computed with ``stride`` is
    centred on pixel ``((j + offset)·stride_x, (i + offset)·stride_y)``; each
    gets anchors of ``sizes`` (side in pixels, ``sqrt(area)``) and width/height
    ``ratios`` — d2l's ``n + m − 1`` shapes, or all ``n·m`` (Faster R-CNN's
    3 × 3) with ``all_pairs=True``.

    Returns ``(H·W·A, 4)`` corner boxes, in the same order as :func:`multibox_prior`.
    """
    fh, fw = feature_size
    sy, sx = (stride, stride) if isinstance(stride, int | float) else stride
    if fh <= 0 or fw <= 0 or sy <= 0 or sx <= 0:
        raise ValueError(
            f"feature_size and stride must be positive; got feature_size={feature_size}, stride={stride}"
        )
    shapes = anchor_shapes(sizes, ratios, all_pairs)
    kw = {"dtype": dtype, "device": device}
    s = torch.tensor([p[0] for p in shapes], **kw)
    r = torch.tensor([p[1] for p in shapes], **kw)
    aw, ah = s * torch.sqrt(r), s / torch.sqrt(r)
    cy = (torch.arange(fh, **kw) + offset) * sy
    cx = (torch.arange(fw, **kw) + offset) * sx
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")
    centres = torch.stack((cx, cy, cx, cy), dim=-1).reshape(-1, 1, 4)
    half = torch.stack((-aw, -ah, aw, ah), dim=-1) / 2
    return (centres + half).reshape(-1, 4)


def assign_anchor_to_bbox(ground_truth: Tensor, anchors: Tensor, iou_threshold: float = 0.5) -> Tensor:
    """Index of the ground-truth box each anchor is assigned to, ``-1`` for none.

    Shapes: ``ground_truth (G, 4)``, ``anchors (A, 4)`` → ``(A,)`` int64.
    Greedy first (each ground-truth box gets the anchor it overlaps most,
    largest IoU first, ties to the lowest index), then the threshold for the
    anchors left over. With no ground truth every anchor is ``-1``.
    """
    anchors = check_boxes(anchors, "anchors")
    ground_truth = check_boxes(ground_truth, "ground_truth")
    if anchors.dim() != 2 or ground_truth.dim() != 2:
        raise ValueError(
            f"anchors and ground_truth must be (A, 4) and (G, 4); got {tuple(anchors.shape)} "
            f"and {tuple(ground_truth.shape)}"
        )
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1]; got {iou_threshold}")
    num_anchors, num_gt = anchors.shape[0], ground_truth.shape[0]
    assigned = torch.full((num_anchors,), -1, dtype=torch.long, device=anchors.device)
    if num_anchors == 0 or num_gt == 0:
        return assigned
    iou = box_iou(anchors, ground_truth)
    best_iou, best_gt = iou.max(dim=1)
    jaccard = iou.clone()
    for _ in range(min(num_gt, num_anchors)):
        flat = int(torch.argmax(jaccard))
        a, g = divmod(flat, num_gt)
        assigned[a] = g
        jaccard[:, g] = -1.0
        jaccard[a, :] = -1.0
    rest = (assigned < 0) & (best_iou >= iou_threshold)
    assigned[rest] = best_gt[rest]
    return assigned


def multibox_target(
    anchors: Tensor,
    labels: Tensor,
    iou_threshold: float = 0.5,
    stds: Sequence[float] = ANCHOR_STDS,
) -> tuple[Tensor, Tensor, Tensor]:
    """Training targets for every anchor, as d2l's ``multibox_target``.

    Args:
        anchors: ``(1, A, 4)`` or ``(A, 4)`` corner boxes.
        labels: ``(B, G, 5)`` rows ``(class, x1, y1, x2, y2)``; rows with a
            negative class are padding and ignored.
        iou_threshold: threshold of :func:`assign_anchor_to_bbox`.
        stds: normalisation of the offsets (d2l's factors 10 and 5).

    Returns:
        ``(offsets (B, 4A), mask (B, 4A), classes (B, A))``: offsets of each
        anchor to its assigned box (:func:`encode_boxes`), zero for background;
        ``mask`` is 1 for the four offsets of an assigned anchor; ``classes``
        is the class + 1, 0 for background.
    """
    if anchors.dim() == 3:
        if anchors.shape[0] != 1:
            raise ValueError(f"anchors must be (1, A, 4) or (A, 4); got {tuple(anchors.shape)}")
        anchors = anchors[0]
    anchors = check_boxes(anchors, "anchors")
    if anchors.dim() != 2:
        raise ValueError(f"anchors must be (1, A, 4) or (A, 4); got {tuple(anchors.shape)}")
    if not isinstance(labels, Tensor) or labels.dim() != 3 or labels.shape[-1] != 5:
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must be (B, G, 5) rows of (class, x1, y1, x2, y2); got {shape}")
    offsets, masks, classes = [], [], []
    for label in labels.to(anchors.dtype):
        label = label[label[:, 0] >= 0]
        assigned = assign_anchor_to_bbox(label[:, 1:], anchors, iou_threshold)
        pos = assigned >= 0
        cls = torch.zeros(anchors.shape[0], dtype=torch.long, device=anchors.device)
        cls[pos] = label[assigned[pos], 0].long() + 1
        off = torch.zeros_like(anchors)
        if pos.any():
            off[pos] = encode_boxes(label[assigned[pos], 1:], anchors[pos], stds=stds)
        offsets.append(off.reshape(-1))
        masks.append(pos[:, None].expand(-1, 4).reshape(-1).to(anchors.dtype))
        classes.append(cls)
    return torch.stack(offsets), torch.stack(masks), torch.stack(classes)


def multibox_detection(
    cls_probs: Tensor,
    offset_preds: Tensor,
    anchors: Tensor,
    nms_threshold: float = 0.5,
    pos_threshold: float = 0.009999999,
    stds: Sequence[float] = ANCHOR_STDS,
) -> Tensor:
    """Predicted boxes from anchor scores and offsets, as d2l's ``multibox_detection``.

    Args:
        cls_probs: ``(B, 1 + C, A)`` class probabilities, background first.
        offset_preds: ``(B, 4A)`` predicted offsets (the encoding of :func:`multibox_target`).
        anchors: ``(1, A, 4)`` or ``(A, 4)``.
        nms_threshold: IoU threshold of the (class-agnostic) NMS.
        pos_threshold: predictions less confident than this become background.

    Returns:
        ``(B, A, 6)`` rows ``(class, confidence, x1, y1, x2, y2)``: the boxes NMS
        keeps first, by decreasing confidence, then the others; class ``-1``
        marks a suppressed or background prediction (whose confidence is then
        ``1 − confidence`` if it fell below ``pos_threshold``, as in d2l).
    """
    if anchors.dim() == 3:
        anchors = anchors[0]
    anchors = check_boxes(anchors, "anchors")
    if cls_probs.dim() != 3 or cls_probs.shape[2] != anchors.shape[0]:
        raise ValueError(
            f"cls_probs must be (B, 1 + C, A) with A = {anchors.shape[0]} anchors; got {tuple(cls_probs.shape)}"
        )
    if offset_preds.shape != (cls_probs.shape[0], 4 * anchors.shape[0]):
        raise ValueError(
            f"offset_preds must be (B, 4A) = {(cls_probs.shape[0], 4 * anchors.shape[0])}; "
            f"got {tuple(offset_preds.shape)}"
        )
    out = []
    for probs, offsets in zip(cls_probs, offset_preds, strict=True):
        conf, class_id = probs[1:].max(dim=0)
        boxes = decode_boxes(offsets.reshape(-1, 4), anchors, stds=stds)
        keep = nms(boxes, conf, nms_threshold)
        dropped = torch.ones(anchors.shape[0], dtype=torch.bool, device=anchors.device)
        dropped[keep] = False
        order = torch.cat((keep, dropped.nonzero().squeeze(1)))
        class_id = torch.where(dropped, -1, class_id)[order].to(boxes.dtype)
        conf, boxes = conf[order], boxes[order]
        low = conf < pos_threshold
        class_id[low] = -1
        conf = torch.where(low, 1 - conf, conf)
        out.append(torch.cat((class_id[:, None], conf[:, None], boxes), dim=1))
    return torch.stack(out)
