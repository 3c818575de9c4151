"""Dimension clusters: k-means on box shapes with the distance 1 − IoU (YOLOv2).

Redmon & Farhadi 2017, "YOLO9000: Better, Faster, Stronger", arXiv:1612.08242,
§2 "Dimension Clusters": instead of hand-picked anchor shapes, run k-means on
the training set's boxes with ``d(box, centroid) = 1 − IoU(box, centroid)``,
because Euclidean distance makes large boxes dominate the error. Only the
width and height matter: each box and each centroid is placed at the same
centre, so ``IoU = min(w)·min(h) / (w·h + w_c·h_c − min(w)·min(h))``. The
paper reports the average IoU of each box with its closest centroid against
``k`` (figure 2; 61.0 for 5 clusters on VOC 2007) and picks ``k = 5``.

Centroids are updated as the mean width and height of their members (the
paper's k-means); they start from k-means++ seeding under the same distance,
from a fixed generator, so results are reproducible.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnzoo.detection.boxes import check_boxes

__all__ = ["anchor_iou_table", "boxes_of", "format_iou_table", "kmeans_anchors", "plot_iou_table", "shape_iou"]


def shape_iou(wh: Tensor, centroids: Tensor) -> Tensor:
    """IoU of ``(N, 2)`` box shapes with ``(K, 2)`` centroid shapes, both centred at one point: ``(N, K)``."""
    inter = torch.minimum(wh[:, None, 0], centroids[None, :, 0]) * torch.minimum(wh[:, None, 1], centroids[None, :, 1])
    union = (wh[:, 0] * wh[:, 1])[:, None] + (centroids[:, 0] * centroids[:, 1])[None, :] - inter
    return inter / union


def _shapes(boxes: Tensor) -> Tensor:
    boxes = check_boxes(boxes).reshape(-1, 4).double()
    wh = boxes[:, 2:] - boxes[:, :2]
    wh = wh[(wh > 0).all(1)]  # a zero-area box has IoU 0 with every shape: it would only add noise
    if len(wh) == 0:
        raise ValueError("kmeans_anchors: expected boxes with positive width and height; got none")
    return wh


def _seed(wh: Tensor, k: int, gen: torch.Generator) -> Tensor:
    # k-means++ under 1 − IoU: each next centre drawn with probability ∝ d², d to the closest centre so far.
    centres = [wh[torch.randint(len(wh), (1,), generator=gen)]]
    for _ in range(k - 1):
        d = 1 - shape_iou(wh, torch.cat(centres)).max(1).values
        p = d * d
        i = torch.multinomial(p / p.sum(), 1, generator=gen) if p.sum() > 0 else torch.randint(len(wh), (1,), generator=gen)
        centres.append(wh[i])
    return torch.cat(centres)


def kmeans_anchors(boxes: Tensor, k: int, *, iters: int = 300, seed: int = 0) -> tuple[Tensor, float]:
    """``(centroids (k, 2) as (w, h) sorted by area, average IoU of each box with its closest centroid)``.

    ``boxes``: ``(N, 4)`` corner boxes (only their shapes are used).
    """
    if k < 1:
        raise ValueError(f"kmeans_anchors: k must be a positive integer; got {k}")
    wh = _shapes(boxes)
    if k > len(wh):
        raise ValueError(f"kmeans_anchors: k={k} clusters need at least {k} boxes; got {len(wh)}")
    gen = torch.Generator().manual_seed(seed)
    centroids = _seed(wh, k, gen)
    assign = torch.full((len(wh),), -1, dtype=torch.long)
    for _ in range(iters):
        new = shape_iou(wh, centroids).argmax(1)
        if torch.equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = wh[assign == j]
            if len(members):  # an empty cluster keeps its centre
                centroids[j] = members.mean(0)
    centroids = centroids[(centroids[:, 0] * centroids[:, 1]).argsort()]
    avg = float(shape_iou(wh, centroids).max(1).values.mean())
    return centroids.float(), avg


def anchor_iou_table(boxes: Tensor, ks: range = range(1, 10), *, seed: int = 0) -> list[tuple[int, float, Tensor]]:
    """``[(k, average IoU, centroids)]`` for each ``k`` (YOLOv2 figure 2's curve)."""
    return [(k, *reversed(kmeans_anchors(boxes, k, seed=seed))) for k in ks]


def boxes_of(dataset: Dataset) -> Tensor:
    """Every box of a detection data set, ``(N, 4)``, in the pixels its images are served at.

    Reads each sample (a file-backed set decodes its images to know their scale).
    """
    boxes = [dataset[i][1]["boxes"].reshape(-1, 4).float() for i in range(len(dataset))]  # type: ignore[arg-type]
    return torch.cat(boxes) if boxes else torch.zeros(0, 4)


def format_iou_table(table: list[tuple[int, float, Tensor]]) -> str:
    """The table of :func:`anchor_iou_table` as text: ``k``, average IoU and the centroids ``w×h``."""
    lines = [f"{'k':>2}  {'avg IoU':>7}  centroids (w×h)"]
    for k, iou, c in table:
        lines.append(f"{k:>2}  {iou:>7.3f}  " + " ".join(f"{w:.0f}×{h:.0f}" for w, h in c.tolist()))
    return "\n".join(lines)


def plot_iou_table(table: list[tuple[int, float, Tensor]], path: str | os.PathLike[str], *, title: str = "") -> None:
    """Average IoU against ``k`` (YOLOv2 figure 2, left) and the centroid shapes for the largest ``k`` (right), as a PNG."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(9, 3.6))
    left, right = fig.subplots(1, 2)
    left.plot([k for k, _, _ in table], [iou for _, iou, _ in table], "o-", color="tab:blue")
    left.set(xlabel="# clusters k", ylabel="average IoU", ylim=(0, 1), title=title or "dimension clusters")
    left.grid(alpha=0.3)
    k, _, centroids = table[-1]
    for w, h in centroids.tolist():  # boxes centred on one point, as the distance compares them
        right.add_patch(Rectangle((-w / 2, -h / 2), w, h, fill=False))
    side = float(centroids.max()) / 2 * 1.1 if len(centroids) else 1.0
    right.set(xlim=(-side, side), ylim=(-side, side), aspect="equal", title=f"k = {k} centroid shapes")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
