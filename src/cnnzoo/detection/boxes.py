"""Bounding boxes: formats, area, IoU and GIoU, clipping, validation.

Boxes are ``(x1, y1, x2, y2)`` corners in continuous coordinates (torchvision's
``xyxy``): width is ``x2 - x1``, with no "+1" (the Pascal VOC devkit's pixel
convention adds one; Fast R-CNN onwards dropped it). ``cxcywh`` is centre,
width, height (d2l's ``box_corner_to_center``); ``xywh`` is top-left corner,
width, height (COCO).

Degenerate boxes (``x2 == x1`` or ``y2 == y1``) are allowed and have area 0.
Boxes with ``x2 < x1`` or ``y2 < y1``, or with NaN/inf coordinates, are a
``ValueError`` naming the first offending box: silently accepting them makes
the intersection formula return nonsense that no later step can detect.

Half-precision boxes (``float16``, ``bfloat16``) are computed in ``float32``,
as torchvision's ``_upcast`` does: a ``float16`` area above 65,504 (a
256×256 box) overflows to inf, and IoU then comes out 0 or NaN. Areas, IoU
and GIoU of half boxes are therefore returned in ``float32``.

Where the union (IoU) or the enclosing box (GIoU) has area 0 — two zero-area
boxes — we return 0 instead of torchvision's NaN, so that NMS and anchor
matching never see a NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "box_area",
    "box_center_to_corner",
    "box_convert",
    "box_corner_to_center",
    "box_iou",
    "check_boxes",
    "clip_boxes_to_image",
    "generalized_box_iou",
    "upcast_boxes",
]

_FORMATS = ("xyxy", "cxcywh", "xywh")


def check_boxes(boxes: Tensor, name: str = "boxes") -> Tensor:
    """Validate ``(..., 4)`` corner boxes; return them as a floating tensor.

    Raises ``ValueError`` for a wrong shape, non-finite coordinates, or a box
    with ``x2 < x1`` / ``y2 < y1`` (the message names the first such box).
    Integer boxes are converted to ``float32``. Under ``torch.jit.script``
    only the conversion remains: the checks read values back to Python, which
    an exported graph cannot do.
    """
    if not torch.jit.is_scripting():
        _validate_boxes(boxes, name)
    return boxes if boxes.is_floating_point() else boxes.float()


def _validate_boxes(boxes: Tensor, name: str) -> None:
    if not isinstance(boxes, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (..., 4); got {type(boxes).__name__}")
    if boxes.dim() == 0 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4) as (x1, y1, x2, y2); got {tuple(boxes.shape)}")
    if boxes.numel() == 0:
        return
    flat = (boxes if boxes.is_floating_point() else boxes.float()).reshape(-1, 4)
    if not torch.isfinite(flat).all():
        i = int((~torch.isfinite(flat)).any(1).nonzero()[0])
        raise ValueError(f"{name} must be finite; box {i} is {flat[i].tolist()}")
    bad = (flat[:, 2] < flat[:, 0]) | (flat[:, 3] < flat[:, 1])
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"{name} must satisfy x2 >= x1 and y2 >= y1 (format x1, y1, x2, y2); "
            f"box {i} is {flat[i].tolist()}"
        )


def upcast_boxes(boxes: Tensor) -> Tensor:
    """``boxes`` in ``float32`` if they are half precision (torchvision's ``_upcast``), else unchanged."""
    return boxes.float() if boxes.dtype == torch.float16 or boxes.dtype == torch.bfloat16 else boxes


def box_corner_to_center(boxes: Tensor) -> Tensor:
    """``(x1, y1, x2, y2) -> (cx, cy, w, h)``; shapes ``(..., 4) -> (..., 4)``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def box_center_to_corner(boxes: Tensor) -> Tensor:
    """``(cx, cy, w, h) -> (x1, y1, x2, y2)``; shapes ``(..., 4) -> (..., 4)``."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert between ``"xyxy"``, ``"cxcywh"`` and ``"xywh"`` (torchvision's names)."""
    for f in (in_fmt, out_fmt):
        if f not in _FORMATS:
            raise ValueError(f"box format must be one of {_FORMATS}; got {f!r}")
    if boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (..., 4); got {tuple(boxes.shape)}")
    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "cxcywh":
        boxes = box_center_to_corner(boxes)
    elif in_fmt == "xywh":
        x, y, w, h = boxes.unbind(-1)
        boxes = torch.stack((x, y, x + w, y + h), dim=-1)
    if out_fmt == "cxcywh":
        return box_corner_to_center(boxes)
    if out_fmt == "xywh":
        x1, y1, x2, y2 = boxes.unbind(-1)
        return torch.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)
    return boxes


def box_area(boxes: Tensor) -> Tensor:
    """Areas of ``(..., 4)`` corner boxes: ``(x2 - x1)(y2 - y1)``, shape ``(...)``."""
    boxes = upcast_boxes(check_boxes(boxes))
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    # The order of operations here is the one nms_reference uses, so that the
    # vectorised and the readable NMS agree bit for bit in float64.
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - inter
    return inter, union


def _pair(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    boxes1 = check_boxes(boxes1, "boxes1")
    boxes2 = check_boxes(boxes2, "boxes2")
    if not torch.jit.is_scripting():
        for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
            if b.dim() != 2:
                raise ValueError(f"{name} must have shape (N, 4); got {tuple(b.shape)}")
    dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    return upcast_boxes(boxes1.to(dtype)), upcast_boxes(boxes2.to(dtype))


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    # num / den where den > 0, else 0 (no NaN). Dividing by 1 where den <= 0
    # instead of clamping to finfo.tiny keeps this scriptable (finfo is not).
    positive = den > 0
    return torch.where(positive, num / torch.where(positive, den, torch.ones_like(den)), torch.zeros_like(num))


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection over union: ``(N, 4), (M, 4) -> (N, M)``.

    ``IoU = |A ∩ B| / |A ∪ B|``, in [0, 1]; 0 where the union is empty.

        >>> box_iou(torch.tensor([[0., 0, 2, 2]]), torch.tensor([[1., 1, 3, 3]]))
        tensor([[0.1429]])
    """
    boxes1, boxes2 = _pair(boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2)
    return _safe_ratio(inter, union)


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise generalised IoU (Rezatofighi et al. 2019): ``(N, 4), (M, 4) -> (N, M)``.

    ``GIoU = IoU − |C \\ (A ∪ B)| / |C|`` with ``C`` the smallest box enclosing
    both; in [−1, 1], equal to IoU when one box encloses the other, and still
    informative (negative) for disjoint boxes, which is why it serves as a loss.
    """
    boxes1, boxes2 = _pair(boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2)
    iou = _safe_ratio(inter, union)
    lt = torch.minimum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    enclosing = wh[..., 0] * wh[..., 1]
    penalty = _safe_ratio(enclosing - union, enclosing)
    return iou - penalty


def clip_boxes_to_image(boxes: Tensor, size: list[int]) -> Tensor:
    """Clip corner boxes to an image of ``size = (height, width)``.

    Coordinates land in ``[0, width]`` and ``[0, height]``; a box entirely
    outside the image becomes a zero-area box on its border (it is not
    removed, so indices stay aligned with scores).
    """
    boxes = check_boxes(boxes)
    if not torch.jit.is_scripting() and (len(size) != 2 or min(size) <= 0):
        raise ValueError(f"size must be (height, width) with positive sides; got {size}")
    h, w = size[0], size[1]
    x = boxes[..., 0::2].clamp(0, w)
    y = boxes[..., 1::2].clamp(0, h)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


# torch.fx.symbolic_trace records these as single call_function nodes (as
# torchvision does for its ops): their checks read tensor values, which a
# traced Proxy does not have.
for _name in ("box_area", "box_iou", "check_boxes", "clip_boxes_to_image", "generalized_box_iou"):
    torch.fx.wrap(_name)
