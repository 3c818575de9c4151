"""RoI pooling (Fast R-CNN) and RoI align (Mask R-CNN), differentiable through autograd.

*RoI pooling* (Girshick, "Fast R-CNN", ICCV 2015, arXiv:1504.08083): the RoI
is scaled by ``spatial_scale`` and **rounded** to feature-map cells, split into
``output_size`` bins whose edges are floored and ceiled to whole cells, and
each bin is max-pooled. The two roundings misalign the pooled features with
the RoI by up to a cell (16 pixels on VGG-16's conv5), which hurts masks and
small objects.

*RoI align* (He, Gkioxari, Dollár, Girshick, "Mask R-CNN", ICCV 2017,
arXiv:1703.06870) rounds nothing: each bin is sampled at a regular
``sampling_ratio × sampling_ratio`` grid of points, each point read by
bilinear interpolation of its four neighbouring cells, and the samples
averaged. ``sampling_ratio <= 0`` picks ``ceil(bin size)`` points per bin and
axis for each RoI. ``aligned=True`` shifts the RoI by half a cell so that
continuous coordinate ``u`` maps to cell centre ``u − 0.5`` (Detectron2's fix;
``False`` reproduces the original Mask R-CNN code, which also forces RoIs to be
at least one cell wide).

Both follow torchvision's operators exactly (same rounding, bin edges, sample
positions, out-of-image rules), written with tensor operations so that
gradients come from autograd. Boxes are ``(K, 5)`` rows ``(batch_index, x1,
y1, x2, y2)`` or a list with one ``(L_i, 4)`` tensor per image. The box
coordinates receive no gradient (as in torchvision).

RoIs partly or wholly outside the feature map are allowed: RoI pooling
returns 0 for a bin with no cell inside the map, RoI align returns 0 for a
sample point more than one cell outside the map and clamps points within one
cell to the border.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch._jit_internal import BroadcastingList2  # int or (h, w), also under TorchScript

from cnnzoo.detection.boxes import check_boxes

__all__ = ["RoIAlign", "RoIPool", "roi_align", "roi_pool"]


def _pair(size: BroadcastingList2[int], name: str) -> tuple[int, int]:
    if torch.jit.is_scripting():
        return size[0], size[1]  # TorchScript has already broadcast an int to two
    out = (size, size) if isinstance(size, int) else tuple(size)
    if len(out) != 2 or any(not isinstance(v, int) or v <= 0 for v in out):
        raise ValueError(f"{name} must be a positive int or (height, width); got {size}")
    return out  # type: ignore[return-value]


def _rois(input: Tensor, boxes: Tensor | list[Tensor]) -> Tensor:
    if not torch.jit.is_scripting():
        _check_rois(input, boxes)
        if isinstance(boxes, tuple):
            boxes = list(boxes)
    if isinstance(boxes, list):
        parts: list[Tensor] = []
        for i, b in enumerate(boxes):
            b = (b if b.is_floating_point() else b.float()).reshape(-1, 4)  # checked above
            parts.append(torch.cat((torch.full_like(b[:, :1], i), b), dim=1))
        rois = torch.cat(parts) if len(parts) > 0 else input.new_zeros(0, 5)
    else:
        rois = boxes
    return rois.detach().to(dtype=input.dtype, device=input.device)


def _check_rois(input: Tensor, boxes: Tensor | list[Tensor]) -> None:
    if not isinstance(input, Tensor) or input.dim() != 4:
        shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"input must be a feature map (N, C, H, W); got {shape}")
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != input.shape[0]:
            raise ValueError(
                f"boxes as a list needs one (L, 4) tensor per image: {input.shape[0]} images, "
                f"{len(boxes)} tensors"
            )
        for i, b in enumerate(boxes):
            check_boxes(b, f"boxes[{i}]")
        return
    if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[1] != 5:
        shape = tuple(boxes.shape) if isinstance(boxes, Tensor) else type(boxes).__name__
        raise ValueError(
            f"boxes must be (K, 5) rows (batch_index, x1, y1, x2, y2) or a list of (L, 4); got {shape}"
        )
    check_boxes(boxes[:, 1:], "boxes")
    idx = boxes[:, 0]
    if boxes.numel() and ((idx != idx.round()).any() or (idx < 0).any() or (idx >= input.shape[0]).any()):
        raise ValueError(
            f"boxes[:, 0] must be batch indices in [0, {input.shape[0] - 1}]; got {idx.tolist()}"
        )


def _c_round(x: Tensor) -> Tensor:
    # C's round(): halves away from zero (torch.round rounds halves to even).
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def roi_pool(
    input: Tensor,
    boxes: Tensor | list[Tensor],
    output_size: BroadcastingList2[int],
    spatial_scale: float = 1.0,
) -> Tensor:
    """Max RoI pooling with quantised bins: ``(N, C, H, W), K RoIs -> (K, C, oh, ow)``.

    The RoI's corners are rounded to cells after scaling, its extent is
    ``end − start + 1`` cells, and bin ``p`` covers cells
    ``floor(p·size/out)`` to ``ceil((p+1)·size/out)`` — the bins of adaptive max
    pooling, which is how each RoI is computed. Bins entirely outside the map
    are 0.
    """
    oh, ow = _pair(output_size, "output_size")
    rois = _rois(input, boxes)
    n, c, h, w = input.shape
    if rois.shape[0] == 0:
        return input.new_zeros(0, c, oh, ow)
    q: list[list[int]] = _c_round(rois[:, 1:] * spatial_scale).long().tolist()
    batch: list[int] = rois[:, 0].long().tolist()
    outs: list[Tensor] = []
    for k in range(len(q)):
        b, x1, y1, x2, y2 = batch[k], q[k][0], q[k][1], q[k][2], q[k][3]
        rh, rw = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        # Crop what lies inside the map; pad the rest with -inf so that bins
        # keep their positions, then set bins that saw only padding to 0.
        crop = input[b, :, max(y1, 0) : max(min(y1 + rh, h), 0), max(x1, 0) : max(min(x1 + rw, w), 0)]
        pad = [
            min(max(-x1, 0), rw), rw - min(max(-x1, 0), rw) - crop.shape[-1],
            min(max(-y1, 0), rh), rh - min(max(-y1, 0), rh) - crop.shape[-2],
        ]  # fmt: skip
        padded = pad[0] != 0 or pad[1] != 0 or pad[2] != 0 or pad[3] != 0
        region = F.pad(crop, pad, value=-math.inf) if padded else crop
        pooled = F.adaptive_max_pool2d(region[None], (oh, ow))[0]
        outs.append(torch.where(torch.isneginf(pooled), torch.zeros_like(pooled), pooled))
    return torch.stack(outs)


def _sample_coords(start: Tensor, bin_size: Tensor, out: int, grid: int) -> Tensor:
    # Sample positions (K, out*grid): bin p, point i at start + (p + (i + .5)/grid)·bin.
    p = torch.arange(out, dtype=start.dtype, device=start.device)
    i = torch.arange(grid, dtype=start.dtype, device=start.device)
    frac = (p[:, None] + (i[None, :] + 0.5) / grid).reshape(-1)
    return start[:, None] + frac[None, :] * bin_size[:, None]


def _bilinear_weights(coord: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Low/high indices, their weights and validity for 1-D positions, as torchvision does."""
    valid = (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0)
    low = coord.floor().long()
    at_edge = low >= size - 1
    last = torch.full_like(low, size - 1)
    low = torch.where(at_edge, last, low)
    high = torch.where(at_edge, last, low + 1)
    coord = torch.where(at_edge, low.to(coord.dtype), coord)
    frac = coord - low.to(coord.dtype)
    return low, high, 1.0 - frac, frac, valid


def _gather(input: Tensor, b: Tensor, yi: Tensor, xi: Tensor) -> Tensor:
    return input[b, :, yi[:, :, None], xi[:, None, :]]  # K x Sy x Sx x C


def _align_group(
    input: Tensor, rois: Tensor, oh: int, ow: int, gh: int, gw: int, aligned: bool, spatial_scale: float
) -> Tensor:
    """RoI align for RoIs that share the sample grid ``gh × gw`` per bin: one gather for all."""
    offset = 0.5 if aligned else 0.0
    x1, y1 = rois[:, 1] * spatial_scale - offset, rois[:, 2] * spatial_scale - offset
    x2, y2 = rois[:, 3] * spatial_scale - offset, rois[:, 4] * spatial_scale - offset
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = rw.clamp(min=1.0), rh.clamp(min=1.0)
    ys = _sample_coords(y1, rh / oh, oh, gh)  # K x oh*gh
    xs = _sample_coords(x1, rw / ow, ow, gw)  # K x ow*gw
    h, w = input.shape[-2:]
    yl, yh, wyl, wyh, vy = _bilinear_weights(ys, h)
    xl, xh, wxl, wxh, vx = _bilinear_weights(xs, w)
    b = rois[:, 0].long()[:, None, None]
    val = (
        (wyl[:, :, None] * wxl[:, None, :])[..., None] * _gather(input, b, yl, xl)
        + (wyl[:, :, None] * wxh[:, None, :])[..., None] * _gather(input, b, yl, xh)
        + (wyh[:, :, None] * wxl[:, None, :])[..., None] * _gather(input, b, yh, xl)
        + (wyh[:, :, None] * wxh[:, None, :])[..., None] * _gather(input, b, yh, xh)
    )
    valid = (vy[:, :, None] & vx[:, None, :])[..., None]
    val = torch.where(valid, val, torch.zeros_like(val))
    k, c = rois.shape[0], input.shape[1]
    val = val.reshape(k, oh, gh, ow, gw, c).sum(dim=(2, 4)) / max(gh * gw, 1)
    return val.permute(0, 3, 1, 2)  # K x C x oh x ow


def roi_align(
    input: Tensor,
    boxes: Tensor | list[Tensor],
    output_size: BroadcastingList2[int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """RoI align with bilinear sampling: ``(N, C, H, W), K RoIs -> (K, C, oh, ow)``.

    Args:
        input: feature map.
        boxes: ``(K, 5)`` rows ``(batch_index, x1, y1, x2, y2)`` or a list of ``(L_i, 4)``.
        output_size: bins per RoI, ``int`` or ``(oh, ow)``.
        spatial_scale: feature-map cells per image pixel (1/16 for a stride-16 map).
        sampling_ratio: sample points per bin and axis; ``<= 0``: ``ceil(bin size)``.
        aligned: shift by half a cell (pixel-centre convention).
    """
    oh, ow = _pair(output_size, "output_size")
    rois = _rois(input, boxes)
    c = input.shape[1]
    if rois.shape[0] == 0:
        return input.new_zeros(0, c, oh, ow)
    if sampling_ratio > 0:
        return _align_group(input, rois, oh, ow, sampling_ratio, sampling_ratio, aligned, spatial_scale)
    # Adaptive grid: RoIs differ in points per bin; group those that agree.
    # The same arithmetic as _align_group, so that both agree on the bin size.
    offset = 0.5 if aligned else 0.0
    rw = (rois[:, 3] * spatial_scale - offset) - (rois[:, 1] * spatial_scale - offset)
    rh = (rois[:, 4] * spatial_scale - offset) - (rois[:, 2] * spatial_scale - offset)
    if not aligned:
        rw, rh = rw.clamp(min=1.0), rh.clamp(min=1.0)
    gh = torch.ceil(rh / oh).long().clamp(min=0)
    gw = torch.ceil(rw / ow).long().clamp(min=0)
    out = input.new_zeros(rois.shape[0], c, oh, ow)
    pairs = torch.stack((gh, gw), dim=1)
    grids: list[list[int]] = torch.unique(pairs, dim=0).tolist()
    for pair in grids:
        sel = ((pairs[:, 0] == pair[0]) & (pairs[:, 1] == pair[1])).nonzero().squeeze(1)
        if pair[0] == 0 or pair[1] == 0:
            continue  # zero-size RoI with aligned=True: no samples, output 0
        pooled = _align_group(input, rois[sel], oh, ow, pair[0], pair[1], aligned, spatial_scale)
        out[sel] = pooled
    return out


# torch.fx.symbolic_trace records these as single call_function nodes (as
# torchvision does): their loops run over RoIs, whose number depends on the data.
torch.fx.wrap("roi_pool")
torch.fx.wrap("roi_align")


class RoIPool(nn.Module):
    """:func:`roi_pool` as a module: ``forward(input, boxes) -> (K, C, oh, ow)``."""

    def __init__(self, output_size: BroadcastingList2[int], spatial_scale: float = 1.0) -> None:
        super().__init__()
        self.output_size = _pair(output_size, "output_size")
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, boxes: Tensor | list[Tensor]) -> Tensor:
        return roi_pool(input, boxes, self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"


class RoIAlign(nn.Module):
    """:func:`roi_align` as a module: ``forward(input, boxes) -> (K, C, oh, ow)``."""

    def __init__(
        self,
        output_size: BroadcastingList2[int],
        spatial_scale: float = 1.0,
        sampling_ratio: int = -1,
        aligned: bool = False,
    ) -> None:
        super().__init__()
        self.output_size = _pair(output_size, "output_size")
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: Tensor, boxes: Tensor | list[Tensor]) -> Tensor:
        return roi_align(input, boxes, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )
