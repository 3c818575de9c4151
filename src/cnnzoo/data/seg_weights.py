"""U-Net's weight map (Ronneberger, Fischer & Brox 2015, arXiv:1505.04597, eq. 2).

    w(x) = w_c(x) + w₀ · exp(−(d₁(x) + d₂(x))² / (2σ²))

``w_c`` balances the class frequencies, ``d₁`` and ``d₂`` are the distances
to the border of the nearest and the second nearest object, and the paper
sets ``w₀ = 10``, ``σ ≈ 5`` pixels: the thin background gaps between touching
objects weigh up to ``1 + w₀`` times a pixel far from any object, so the
network learns to keep the objects apart. Objects are the 8-connected
components of the foreground (label ≠ 0, ≠ 255); the separation term is
added on background pixels, which is where the gaps are.

Written in torch (no SciPy): components by repeated 3×3 max-pooling of pixel
ids, distances by brute force over object pixels, which suits the small
masks it is meant for (the cost is pixels × object pixels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["W0", "SIGMA", "batch_weight_maps", "class_balance", "connected_components", "unet_weight_map"]

IGNORE_LABEL = 255
W0, SIGMA = 10.0, 5.0  # eq. 2's constants as the paper sets them (§3: "w0 = 10 and σ ≈ 5 pixels")


def connected_components(foreground: Tensor) -> Tensor:
    """int64 ``(H, W)`` component ids of a boolean mask (8-connected), 0 for background, 1..K in order."""
    h, w = foreground.shape
    ids = torch.arange(1, h * w + 1, dtype=torch.float32).view(1, 1, h, w) * foreground
    while True:
        grown = F.max_pool2d(ids, 3, 1, 1) * foreground  # spread the largest id over each component
        if torch.equal(grown, ids):
            break
        ids = grown
    _, dense = torch.unique(ids.view(h, w).long(), return_inverse=True)
    return dense.view(h, w)  # background (id 0, the smallest) stays 0 when present


def class_balance(mask: Tensor, num_classes: int) -> Tensor:
    """``w_c``: each labelled pixel weighted by 1 / its class's pixel share, scaled so their mean is 1."""
    labelled = mask != IGNORE_LABEL
    counts = torch.bincount(mask[labelled].flatten(), minlength=num_classes).float()
    weight = torch.where(counts > 0, counts.sum() / (counts * (counts > 0).sum()).clamp_min(1), 0.0)
    return torch.where(labelled, weight[mask.where(labelled, 0)], 0.0)


def unet_weight_map(mask: Tensor, num_classes: int, w0: float = W0, sigma: float = SIGMA) -> Tensor:
    """float32 ``(H, W)``: eq. 2 for one label map ``mask`` (``(H, W)`` int, 255 = no label, weight 0)."""
    weight = class_balance(mask, num_classes)
    objects = connected_components((mask != 0) & (mask != IGNORE_LABEL))
    k = int(objects.max())
    if k < 2:
        return weight  # one object or none: nothing to separate
    h, w = mask.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    points = torch.stack((ys.flatten(), xs.flatten()), 1).float()  # HW x 2
    dist = torch.stack([torch.cdist(points, points[objects.flatten() == i]).amin(1) for i in range(1, k + 1)])  # K x HW
    d = dist.topk(2, dim=0, largest=False).values  # d1, d2
    border = w0 * torch.exp(-((d[0] + d[1]) ** 2) / (2 * sigma**2)).view(h, w)
    return weight + torch.where(mask == 0, border, 0.0)


@torch.no_grad()
def batch_weight_maps(masks: Tensor, num_classes: int, w0: float = W0, sigma: float = SIGMA) -> Tensor:
    """float32 ``(N, H, W)``: eq. 2 for each label map of a batch ``(N, H, W)``, on the masks' device.

    Computed per batch, after augmentation, because the paper's map belongs to
    the label map the network is trained on: a warp moves the gaps between objects.
    """
    cpu = masks.detach().long().cpu()  # the small loops and cdist of the map are quicker here than on a GPU
    maps = [unet_weight_map(m, num_classes, w0, sigma) for m in cpu]
    return torch.stack(maps).to(masks.device) if maps else torch.zeros(cpu.shape, device=masks.device)
