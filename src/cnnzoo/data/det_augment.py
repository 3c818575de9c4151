"""SSD's training augmentation for detection: the boxes move with the pixels.

Liu et al. 2016, "SSD: Single Shot MultiBox Detector", arXiv:1512.02325, §2.2
("Data augmentation") and §3.6 (the "zoom out" that adds small objects). Each
training image goes through, in the order of the released Caffe code
(``DistortImage``, ``ExpandImage``, the batch samplers, resize, mirror):

1. **photometric distortion**, each part with probability 1/2: brightness
   ±32/255, contrast ×[0.5, 1.5] and, for colour images, saturation ×[0.5, 1.5]
   and hue ±18°; contrast comes first or last with probability 1/2 (the
   released code's random order; its channel reordering is off in the SSD
   recipe). Values are clipped to [0, 1] after each part, as 8-bit images are.
   The hue shift is ssd.pytorch's reading of the recipe's ``hue_delta: 18``
   as degrees; Caffe adds 18 to OpenCV's 8-bit hue, whose unit is 2°.
2. **zoom out** with probability 1/2: the image is placed at a random spot of a
   canvas ``r`` times its side, ``r ∈ [1, 4]`` (up to 16× its area), the rest
   filled with the training set's mean pixel.
3. **a patch**, one of seven options: the whole image; a patch whose IoU with
   some object is at least 0.1, 0.3, 0.5, 0.7 or 0.9; or any patch. A patch's
   side scale ``s ∈ [0.1, 1]`` (the paper's range; the released recipe draws
   from [0.3, 1]) and aspect ratio ``a ∈ [1/2, 2]`` give ``w = s√a``,
   ``h = s/√a`` of the canvas (capped at 1), as the Caffe samplers
   parametrise them. Each option draws up to 50 patches and keeps the first
   that meets its constraint; one of the options that found one is chosen
   uniformly (the released code's batch samplers).
4. **resize** the patch back to the image's size (bilinear), and
5. **horizontal flip** with probability 1/2: off (``hflip=False``) for data
   whose classes are not mirror-symmetric. A mirrored 2 is not a 2, so
   ``digits-det`` trains without it.

Boxes (the rule of Caffe's ``MeetEmitConstraint`` with ``CENTER``): a ground
truth box is kept when its centre lies inside the patch, then clipped to the
patch; a box whose centre falls outside is dropped, with its label and any
other per-box field. A patch must keep at least one box of an image that has
some (as in ssd.pytorch), so no training image loses all its objects.

Steps 2–5 compose to one axis-aligned affine map per image, so a batch is
resampled by a single ``grid_sample`` on its device; the per-image draws come
from the CPU ``generator``, so a batch's augmentation is the same on any device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnzoo.detection.boxes import box_iou

__all__ = ["MIN_IOUS", "SSDAugment", "photometric_distort", "sample_patch"]

Target = dict[str, Tensor]

MIN_IOUS: tuple[float | None, ...] = (None, 0.1, 0.3, 0.5, 0.7, 0.9, 0.0)  # None: the whole image; 0: any patch
PATCH_SCALE = (0.1, 1.0)  # §2.2: "the size of each sampled patch is [0.1, 1] of the original image size"
PATCH_ASPECT = (0.5, 2.0)  # §2.2: "aspect ratio is between 1/2 and 2"
PATCH_TRIALS = 50  # patches each option draws before giving up (the Caffe samplers' max_trials)
MAX_ZOOM_OUT = 4.0  # §3.6: a canvas of up to 16× the image's area
BRIGHTNESS = 32 / 255  # the released recipe: brightness_delta 32 on 8-bit pixels
CONTRAST = SATURATION = (0.5, 1.5)
HUE_DEGREES = 18.0  # the recipe's hue_delta, read as degrees (see the module docstring)
PER_BOX = ("boxes", "labels", "difficult", "iscrowd", "area")  # target fields with one entry per box


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64) * (hi - lo) + lo


def _coin(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=generator) < 0.5


def photometric_distort(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """SSD's photometric distortion of a batch ``(N, C, H, W)`` in [0, 1]; saturation and hue only when C = 3."""
    n = x.shape[0]
    view = (n, 1, 1, 1)
    bright = torch.where(_coin(n, generator), _uniform(n, -BRIGHTNESS, BRIGHTNESS, generator), 0.0)
    contrast = torch.where(_coin(n, generator), _uniform(n, *CONTRAST, generator), 1.0)
    saturation_on, saturation = _coin(n, generator), _uniform(n, *SATURATION, generator)
    hue_on, hue = _coin(n, generator), _uniform(n, -HUE_DEGREES, HUE_DEGREES, generator) * math.pi / 180
    contrast_first = _coin(n, generator).to(x.device).view(view)
    x = (x + bright.to(x).view(view)).clamp(0, 1)
    c = contrast.to(x).view(view)
    x = torch.where(contrast_first, (x * c).clamp(0, 1), x)
    if x.shape[1] == 3:
        # kornia is optional: _kornia() fails with the same message as the other presets.
        from cnnzoo.data.augment import _kornia

        _kornia()
        import kornia.enhance as KE

        x = _on_some(x, saturation_on, lambda v, i: KE.adjust_saturation(v, saturation[i].to(v)))
        x = _on_some(x, hue_on, lambda v, i: KE.adjust_hue(v, hue[i].to(v)))
    return torch.where(contrast_first, x, (x * c).clamp(0, 1))


def _on_some(x: Tensor, chosen: Tensor, fn: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """``x`` with ``fn(images, indices)`` applied to the ``chosen`` images only (an HSV round trip costs more than the rest)."""
    idx = chosen.nonzero()[:, 0]
    if len(idx) == 0:
        return x
    x = x.clone()
    on_device = idx.to(x.device)
    x[on_device] = fn(x[on_device], idx).clamp(0, 1)
    return x


def sample_patch(boxes: Tensor, width: float, height: float, generator: torch.Generator | None = None) -> Tensor:
    """SSD's patch ``(x1, y1, x2, y2)`` of a ``width × height`` image with ground truth ``boxes`` (n, 4).

    As the released Caffe code does with its batch samplers: each constrained
    option draws up to 50 patches and keeps the first that meets its constraint;
    one of the options that found a patch (the whole image always does) is
    then chosen uniformly.
    """
    whole = torch.tensor([0.0, 0.0, width, height], dtype=torch.float64)
    constrained = [v for v in MIN_IOUS if v is not None]
    k, t = len(constrained), PATCH_TRIALS
    s = _uniform(k * t, *PATCH_SCALE, generator)
    a = _uniform(k * t, *PATCH_ASPECT, generator)
    w, h = (s * a.sqrt()).clamp(max=1) * width, (s / a.sqrt()).clamp(max=1) * height
    x1, y1 = _uniform(k * t, 0, 1, generator) * (width - w), _uniform(k * t, 0, 1, generator) * (height - h)
    patches = torch.stack([x1, y1, x1 + w, y1 + h], 1)
    min_iou = torch.tensor(constrained, dtype=torch.float64).repeat_interleave(t)
    if len(boxes):
        boxes = boxes.double()
        ok = centres_inside(boxes, patches).any(1) & (box_iou(patches, boxes).amax(1) >= min_iou)
    else:  # nothing to overlap: only "any patch" can be met
        ok = min_iou <= 0
    ok = ok.view(k, t)
    found = [patches[i * t + int(ok[i].nonzero()[0])] for i in range(k) if ok[i].any()]
    options = ([whole] if None in MIN_IOUS else []) + found
    if not options:
        return whole
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def centres_inside(boxes: Tensor, patches: Tensor) -> Tensor:
    """``(P, n)``: whether each box's centre lies in each patch (edges included, as Caffe's ``MeetEmitConstraint``)."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    p = patches[:, :, None]
    return (cx >= p[:, 0]) & (cx <= p[:, 2]) & (cy >= p[:, 1]) & (cy <= p[:, 3])


def move_target(target: Target, boxes: Tensor, patch: Tensor, size: tuple[int, int], flip: bool) -> Target:
    """``target`` on ``patch`` resized to ``size``; ``boxes``: its boxes on the canvas (float64, CPU)."""
    w, h = size
    keep = centres_inside(boxes, patch[None])[0]
    x1, y1, x2, y2 = patch.tolist()
    scale = torch.tensor([w / (x2 - x1), h / (y2 - y1)], dtype=torch.float64).repeat(2)
    lo, hi = patch[:2].repeat(2), patch[2:].repeat(2)
    moved = (torch.minimum(torch.maximum(boxes[keep], lo), hi) - patch[:2].repeat(2)) * scale
    if flip:
        moved = torch.stack([w - moved[:, 2], moved[:, 1], w - moved[:, 0], moved[:, 3]], 1)
    out = dict(target)
    device = target["boxes"].device
    for key in PER_BOX:
        if key in target:
            out[key] = target[key][keep.to(device)]
    out["boxes"] = moved.to(device=device, dtype=target["boxes"].dtype)
    if "area" in out:  # resized with the patch
        out["area"] = out["area"] * float(scale[0] * scale[1])
    return out


class SSDAugment:
    """The ``ssd`` preset: ``with_boxes(x, targets)`` augments a batch and moves each image's boxes with it.

    Args:
        fill: the pixel value(s) of the zoom-out canvas, per channel in [0, 1]
            (the training set's mean, as the released code fills with the mean pixel).
        hflip: flip half of the images; ``False`` for classes that are not mirror-symmetric.
        distort: apply the photometric distortion.
        max_zoom_out: the largest canvas side as a multiple of the image's (1: no zoom out).
        generator: every random draw comes from it.

    Called on images alone (``augment(x)``), it augments them as if they had no boxes.
    """

    def __init__(
        self,
        *,
        fill: float | Sequence[float] = 0.0,
        hflip: bool = True,
        distort: bool = True,
        max_zoom_out: float = MAX_ZOOM_OUT,
        generator: torch.Generator | None = None,
    ) -> None:
        if not max_zoom_out >= 1.0:
            raise ValueError(f"max_zoom_out must be at least 1 (the image's own size); got {max_zoom_out}")
        self.fill = [float(v) for v in fill] if isinstance(fill, Sequence) else [float(fill)]
        self.hflip, self.distort, self.max_zoom_out, self.generator = hflip, distort, max_zoom_out, generator

    def __call__(self, x: Tensor) -> Tensor:
        empty = {"boxes": torch.zeros(0, 4, device=x.device), "labels": torch.zeros(0, dtype=torch.long, device=x.device)}
        return self.with_boxes(x, [empty] * x.shape[0])[0]

    def with_boxes(self, x: Tensor, targets: Sequence[Target]) -> tuple[Tensor, list[Target]]:
        """The augmented batch ``(N, C, H, W)`` and each image's moved, clipped and filtered target."""
        n, c, h, w = x.shape
        if len(targets) != n:
            raise ValueError(f"SSDAugment: {len(targets)} targets for a batch of {n} images")
        g = self.generator
        if self.distort:
            x = photometric_distort(x, g)
        zoom = torch.where(_coin(n, g), _uniform(n, 1.0, self.max_zoom_out, g), 1.0)
        # One copy of all boxes to the CPU, where the patches are drawn (a copy per image would wait per image).
        counts = [len(t["boxes"]) for t in targets]
        all_boxes = torch.cat([t["boxes"].detach().reshape(-1, 4) for t in targets]).double().cpu().split(counts)
        thetas, moved = [], []
        for i in range(n):
            cw, ch = float(zoom[i]) * w, float(zoom[i]) * h
            offset = torch.stack([_uniform(1, 0, 1, g)[0] * (cw - w), _uniform(1, 0, 1, g)[0] * (ch - h)]).repeat(2)
            boxes = all_boxes[i] + offset  # on the canvas
            patch = sample_patch(boxes, cw, ch, g)
            flip = self.hflip and bool(_coin(1, g))
            thetas.append(_theta(patch - offset, (w, h), flip))
            moved.append(move_target(targets[i], boxes, patch, (w, h), flip))
        return self._resample(x, torch.stack(thetas)), moved

    def _resample(self, x: Tensor, theta: Tensor) -> Tensor:
        fill = torch.tensor(self.fill, dtype=x.dtype, device=x.device).expand(x.shape[1]).view(1, -1, 1, 1)
        grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        # Sampling x − fill with zero padding, then adding fill back, paints the canvas outside the image with fill.
        return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def _theta(window: Tensor, size: tuple[int, int], flip: bool) -> Tensor:
    """The ``affine_grid`` matrix that maps the output onto ``window`` (x1, y1, x2, y2) in image pixels.

    Output coordinate ``o ∈ [−1, 1]`` lands on ``x1 + (o + 1)/2 · (x2 − x1)``
    pixels, i.e. ``o · (x2 − x1)/W + (x1 + x2)/W − 1`` in the input's normalised
    coordinates (``align_corners=False``: ±1 are the outer pixel edges).
    """
    w, h = size
    x1, y1, x2, y2 = window.tolist()
    sx, sy = (x2 - x1) / w, (y2 - y1) / h
    return torch.tensor(
        [[-sx if flip else sx, 0.0, (x1 + x2) / w - 1], [0.0, sy, (y1 + y2) / h - 1]], dtype=torch.float32
    )
