"""Bounding-box regression targets: R-CNN's parametrisation.

Girshick, Donahue, Darrell, Malik, "Rich feature hierarchies for accurate
object detection and semantic segmentation", CVPR 2014 (arXiv:1311.2524),
appendix C. A proposal ``P`` (centre ``P_x, P_y``, size ``P_w, P_h``) and a
ground-truth box ``G`` give the targets (eq. 6–9)::

    t_x = (G_x − P_x) / P_w        t_w = log(G_w / P_w)
    t_y = (G_y − P_y) / P_h        t_h = log(G_h / P_h)

Centre offsets are relative to the proposal's size (scale invariance) and the
sizes are compared in log space. Detectors since Fast R-CNN normalise the
targets by a mean and standard deviation per coordinate: ``(t − mean) / std``.
d2l's anchor offsets are this with ``stds = (0.1, 0.1, 0.2, 0.2)`` (its factors
10 and 5); torchvision's ``BoxCoder(weights)`` is ``stds = 1 / weights``.

Widths are ``x2 − x1`` (no "+1", as torchvision). ``decode_boxes`` clamps
``t_w, t_h`` at ``log(1000/16)`` by default, as Detectron and torchvision do, so
that an untrained regressor cannot produce an ``exp`` overflow; within that
range ``decode_boxes(encode_boxes(G, P), P) == G`` to rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnzoo.detection.boxes import box_corner_to_center, check_boxes

__all__ = ["DEFAULT_SCALE_CLAMP", "decode_boxes", "encode_boxes"]

DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


def _stats(values: list[float], like: Tensor, name: str) -> Tensor:
    # Annotated list[float] for TorchScript (which also takes the tuple defaults below).
    if not torch.jit.is_scripting():
        # Eager: accept any sequence or tensor, and say what is wrong with it.
        t = torch.as_tensor(values, dtype=like.dtype, device=like.device)
        if t.shape != (4,):
            raise ValueError(f"{name} must have 4 values (x, y, w, h); got shape {tuple(t.shape)}")
        return t
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _positive_size(boxes: Tensor, name: str) -> None:
    wh = boxes[..., 2:] - boxes[..., :2]
    if boxes.numel() and (wh <= 0).any():
        i = int((wh <= 0).reshape(-1, 2).any(1).nonzero()[0])
        raise ValueError(
            f"{name} need positive width and height for the log-space targets; "
            f"box {i} is {boxes.reshape(-1, 4)[i].tolist()}"
        )


def encode_boxes(
    reference: Tensor,
    proposals: Tensor,
    means: list[float] = (0.0, 0.0, 0.0, 0.0),
    stds: list[float] = (1.0, 1.0, 1.0, 1.0),
) -> Tensor:
    """Regression targets that move ``proposals`` onto ``reference`` boxes.

    Args:
        reference: ground-truth corner boxes ``(..., 4)``.
        proposals: proposals or anchors, same shape.
        means, stds: per-coordinate normalisation, ``(t − mean) / std``.

    Returns:
        ``(..., 4)`` deltas ``(t_x, t_y, t_w, t_h)``.
    """
    reference = check_boxes(reference, "reference")
    proposals = check_boxes(proposals, "proposals")
    if not torch.jit.is_scripting():
        if reference.shape != proposals.shape:
            raise ValueError(
                f"reference and proposals must have the same shape; got {tuple(reference.shape)} "
                f"and {tuple(proposals.shape)}"
            )
        _positive_size(proposals, "proposals")
        _positive_size(reference, "reference boxes")
    g = box_corner_to_center(reference)
    p = box_corner_to_center(proposals)
    t = torch.cat(((g[..., :2] - p[..., :2]) / p[..., 2:], torch.log(g[..., 2:] / p[..., 2:])), dim=-1)
    return (t - _stats(means, t, "means")) / _stats(stds, t, "stds")


def decode_boxes(
    deltas: Tensor,
    proposals: Tensor,
    means: list[float] = (0.0, 0.0, 0.0, 0.0),
    stds: list[float] = (1.0, 1.0, 1.0, 1.0),
    scale_clamp: float | None = DEFAULT_SCALE_CLAMP,
) -> Tensor:
    """Apply regression ``deltas`` to ``proposals``: the inverse of :func:`encode_boxes`.

    ``G_x = P_w t_x + P_x``, ``G_w = P_w exp(t_w)`` (and likewise for y, h),
    after undoing the normalisation. ``scale_clamp=None`` turns the clamp of
    ``t_w, t_h`` off.

    Shapes: ``deltas (..., 4)``, ``proposals (..., 4)`` → corner boxes ``(..., 4)``.
    """
    proposals = check_boxes(proposals, "proposals")
    if not torch.jit.is_scripting() and (
        not isinstance(deltas, Tensor) or deltas.shape != proposals.shape
    ):
        shape = tuple(deltas.shape) if isinstance(deltas, Tensor) else type(deltas).__name__
        raise ValueError(
            f"deltas must be a tensor of the proposals' shape {tuple(proposals.shape)}; got {shape}"
        )
    deltas = deltas.to(proposals.dtype)
    t = deltas * _stats(stds, deltas, "stds") + _stats(means, deltas, "means")
    p = box_corner_to_center(proposals)
    twh = t[..., 2:] if scale_clamp is None else t[..., 2:].clamp(max=scale_clamp)
    centre = t[..., :2] * p[..., 2:] + p[..., :2]
    size = torch.exp(twh) * p[..., 2:]
    return torch.cat((centre - size / 2, centre + size / 2), dim=-1)
