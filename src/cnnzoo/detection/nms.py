"""Non-maximum suppression (greedy) and soft-NMS, vectorised, with readable references.

Greedy NMS: repeatedly keep the highest-scoring box and discard every box
whose IoU with it is greater than ``iou_threshold``. Ties in score go to the
lower index (a stable sort), so the result is deterministic; an IoU exactly
equal to the threshold does not suppress (torchvision's rule).

:func:`nms` is exact greedy NMS without a Python loop over boxes. Boxes are
sorted by score and processed in blocks of ``block`` boxes: a block first
loses every box that overlaps an already kept box (one ``K × block`` IoU
matrix), then the greedy order inside the block is resolved by fixed-point
iteration on its upper-triangular suppression matrix (Cluster-NMS, Zheng et
al. 2020, arXiv:2005.03572): ``keep_j = not any_i<j (keep_i and S_ij)``. The
iteration's unique fixed point is the greedy answer, because ``keep_j``
depends only on earlier boxes; it is reached after as many rounds as the
longest chain of suppressions, usually a handful. Memory stays ``O(K·block)``,
so 100k boxes work on a laptop.

Soft-NMS (Bodla et al. 2017, arXiv:1704.04503) decays instead of discarding:
after box ``M`` is selected, every remaining ``b_i`` has its score multiplied
by ``exp(−IoU(M, b_i)² / sigma)`` (Gaussian) or by ``1 − IoU(M, b_i)`` when
``IoU ≥ iou_threshold`` (linear, the paper's eq. 2); boxes whose score drops
below ``score_threshold`` are dropped. Selection is inherently sequential,
so :func:`soft_nms` loops once per selected box, each step vectorised over
all boxes.

``nms_reference`` and ``soft_nms_reference`` are the textbook loops over
Python floats; tests check that the vectorised versions return exactly the
same indices (and, for soft-NMS, the same scores).

Half-precision boxes are compared in ``float32`` (see :mod:`cnnzoo.detection.boxes`);
soft-NMS then returns its decayed scores in ``float32`` too.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnzoo.detection.boxes import check_boxes, upcast_boxes

__all__ = ["batched_nms", "nms", "nms_reference", "soft_nms", "soft_nms_reference"]

_METHODS = ("gaussian", "linear")


def _check(boxes: Tensor, scores: Tensor) -> tuple[Tensor, Tensor]:
    # Half boxes overlap in float32 (torchvision's _upcast): a float16 area above 65,504 is inf,
    # every IoU is then 0 or NaN and nothing would be suppressed.
    boxes = upcast_boxes(check_boxes(boxes))
    if not torch.jit.is_scripting():
        _check_scores(boxes, scores)
    return boxes, scores


def _check_scores(boxes: Tensor, scores: Tensor) -> None:
    if boxes.dim() != 2:
        raise ValueError(f"boxes must have shape (N, 4); got {tuple(boxes.shape)}")
    if not isinstance(scores, Tensor) or scores.dim() != 1 or scores.shape[0] != boxes.shape[0]:
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"scores must have shape ({boxes.shape[0]},) to match boxes; got {shape}")
    if scores.numel() and torch.isnan(scores).any():
        raise ValueError("scores must not contain NaN")


def _check_threshold(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]; got {value}")


def _overlaps(a: Tensor, b: Tensor, iou_threshold: float) -> Tensor:
    """``IoU(a_i, b_j) > iou_threshold`` as a ``(len(a), len(b))`` bool matrix.

    The same arithmetic as :func:`box_iou` (so the same decisions, bit for bit),
    with fewer temporaries: this is where NMS spends its time. A zero union
    gives 0/0 = NaN, and NaN > t is False, as IoU 0 would be.
    """
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = torch.minimum(a[:, None, 2], b[None, :, 2]).sub_(torch.maximum(a[:, None, 0], b[None, :, 0])).clamp_(min=0)
    h = torch.minimum(a[:, None, 3], b[None, :, 3]).sub_(torch.maximum(a[:, None, 1], b[None, :, 1])).clamp_(min=0)
    inter = w.mul_(h)
    union = (area_a[:, None] + area_b[None, :]).sub_(inter)
    return torch.div(inter, union, out=union).gt_(iou_threshold).to(torch.bool)


def _greedy_within(s: Tensor) -> Tensor:
    # s[i, j]: box i would suppress box j (boxes in score order; only i < j counts).
    n = s.shape[0]
    s = torch.triu(s, diagonal=1)
    keep = torch.ones(n, dtype=torch.bool, device=s.device)
    for _ in range(n):
        new = ~(s & keep[:, None]).any(dim=0)
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, block: int = 512) -> Tensor:
    """Greedy non-maximum suppression (torchvision's signature).

    Args:
        boxes: ``(N, 4)`` corner boxes.
        scores: ``(N,)`` scores.
        iou_threshold: discard boxes with IoU ``>`` this with a kept box.
        block: boxes resolved together; trades memory for fewer steps.

    Returns:
        int64 indices of the kept boxes, by decreasing score.
    """
    boxes, scores = _check(boxes, scores)
    if not torch.jit.is_scripting():
        _check_threshold(iou_threshold, "iou_threshold")
        if block < 1:
            raise ValueError(f"block must be a positive integer; got {block}")
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order]
    kept: list[Tensor] = []  # positions in sorted order
    kept_boxes = sorted_boxes[:0]
    for start in range(0, sorted_boxes.shape[0], block):
        cand = sorted_boxes[start : start + block]
        alive = torch.ones(cand.shape[0], dtype=torch.bool, device=boxes.device)
        if kept_boxes.shape[0]:
            alive = ~_overlaps(kept_boxes, cand, iou_threshold).any(dim=0)
        idx = alive.nonzero().squeeze(1)
        if idx.numel() == 0:
            continue
        cand = cand[idx]
        keep = _greedy_within(_overlaps(cand, cand, iou_threshold))
        kept.append(idx[keep] + start)
        kept_boxes = torch.cat((kept_boxes, cand[keep]))
    return order[torch.cat(kept)]


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS run independently per category ``idxs`` (torchvision's signature).

    Boxes of different categories never suppress each other. Returns int64
    indices of the kept boxes, by decreasing score (ties: lower index first).
    Each category runs :func:`nms` on its own boxes rather than torchvision's
    coordinate-offset trick, whose large offsets can change IoUs by rounding.
    """
    boxes, scores = _check(boxes, scores)
    if not torch.jit.is_scripting() and (not isinstance(idxs, Tensor) or idxs.shape != scores.shape):
        shape = tuple(idxs.shape) if isinstance(idxs, Tensor) else type(idxs).__name__
        raise ValueError(f"idxs must have shape ({scores.shape[0]},) to match scores; got {shape}")
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    kept: list[Tensor] = []
    for c in torch.unique(idxs):
        members = (idxs == c).nonzero().squeeze(1)
        kept.append(members[nms(boxes[members], scores[members], iou_threshold)])
    keep = torch.cat(kept).sort().values
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]


# torch.fx.symbolic_trace records these as single call_function nodes (as
# torchvision does): how many boxes survive depends on the data.
torch.fx.wrap("nms")
torch.fx.wrap("batched_nms")


def soft_nms(
    boxes: Tensor,
    scores: Tensor,
    sigma: float = 0.5,
    score_threshold: float = 0.001,
    method: str = "gaussian",
    iou_threshold: float = 0.3,
) -> tuple[Tensor, Tensor]:
    """Soft-NMS: decay the scores of overlapping boxes instead of removing them.

    Args:
        boxes: ``(N, 4)`` corner boxes.
        scores: ``(N,)`` scores.
        sigma: Gaussian width, ``exp(−IoU² / sigma)`` (the paper's 0.5).
        score_threshold: boxes whose decayed score falls below this are dropped.
        method: ``"gaussian"`` or ``"linear"``.
        iou_threshold: ``N_t`` of the linear method (the paper's 0.3).

    Returns:
        ``(keep, new_scores)``: int64 indices in the order selected (which is
        decreasing decayed score) and their decayed scores.
    """
    boxes, scores = _check(boxes, scores)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive; got {sigma}")
    _check_threshold(iou_threshold, "iou_threshold")
    # ``current`` holds the decayed scores, -inf for boxes already selected.
    current = scores.to(boxes.dtype).clone()
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    kept_scores: list[float] = []
    for _ in range(boxes.shape[0]):
        m = int(torch.argmax(current))  # first maximum: ties go to the lower index
        value = float(current[m])
        if value == -math.inf or value < score_threshold:
            break
        keep.append(m)
        kept_scores.append(value)
        current[m] = -math.inf
        # IoU of box m with every box, in the arithmetic of box_iou / _iou_pair.
        w = torch.minimum(x2[m], x2).sub_(torch.maximum(x1[m], x1)).clamp_(min=0)
        h = torch.minimum(y2[m], y2).sub_(torch.maximum(y1[m], y1)).clamp_(min=0)
        inter = w.mul_(h)
        union = (area[m] + area).sub_(inter)
        iou = torch.where(union > 0, inter / union, 0.0)
        if method == "gaussian":
            decay = torch.exp(-(iou * iou) / sigma)
        else:
            decay = torch.where(iou >= iou_threshold, 1.0 - iou, 1.0)
        # -inf × 0 (a selected box, linear decay at IoU 1) is NaN: keep it -inf.
        current = current.mul_(decay).nan_to_num_(nan=-math.inf, posinf=math.inf, neginf=-math.inf)
    keep_t = torch.tensor(keep, dtype=torch.long, device=boxes.device)
    return keep_t, torch.tensor(kept_scores, dtype=boxes.dtype, device=boxes.device)


def _iou_pair(a: list[float], b: list[float]) -> float:
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def nms_reference(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS as written on a whiteboard: ``O(N²)`` Python, for tests and benchmarks."""
    boxes, scores = _check(boxes, scores)
    _check_threshold(iou_threshold, "iou_threshold")
    b, s = boxes.tolist(), scores.tolist()
    remaining = sorted(range(len(s)), key=lambda i: -s[i])  # sorted() is stable
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        remaining = [i for i in remaining if _iou_pair(b[best], b[i]) <= iou_threshold]
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def soft_nms_reference(
    boxes: Tensor,
    scores: Tensor,
    sigma: float = 0.5,
    score_threshold: float = 0.001,
    method: str = "gaussian",
    iou_threshold: float = 0.3,
) -> tuple[Tensor, Tensor]:
    """Soft-NMS as in the paper's Algorithm 1, over Python floats, for tests and benchmarks."""
    boxes, scores = _check(boxes, scores)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    b = boxes.tolist()
    s = scores.to(boxes.dtype).tolist()
    remaining = list(range(len(s)))
    keep, kept_scores = [], []
    while remaining:
        m = max(remaining, key=lambda i: (s[i], -i))  # highest score, then lowest index
        if s[m] < score_threshold:
            break
        keep.append(m)
        kept_scores.append(s[m])
        remaining.remove(m)
        for i in remaining:
            iou = _iou_pair(b[m], b[i])
            if method == "gaussian":
                s[i] = s[i] * math.exp(-(iou * iou) / sigma)
            elif iou >= iou_threshold:
                s[i] = s[i] * (1.0 - iou)
    return (
        torch.tensor(keep, dtype=torch.long, device=boxes.device),
        torch.tensor(kept_scores, dtype=boxes.dtype, device=boxes.device),
    )
