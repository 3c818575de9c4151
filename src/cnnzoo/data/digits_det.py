"""``digits-det``: a small real detection task built from the embedded digits.

One to ``max_digits`` real handwritten digits (scikit-learn's, see
:mod:`cnnzoo.data.digits`), each resized to its own size drawn from
``digit_sizes``, are pasted at random non-overlapping places on a black
``canvas × canvas`` image (96, or ``--image-size``). A digit's box is the tight box around its ink (the
pixels at least ``ink`` = 0.3 of full intensity), in continuous pixel
coordinates ``(x1, y1, x2, y2)`` with ``x2 = last inked column + 1``; its
label is the digit, 0–9 (ten foreground classes, no background class: a
detector adds its own). Training canvases use only digits of the fixed
training split and test canvases only digits of the test split, so no test
handwriting is seen in training.

Everything is generated from ``seed`` in about a second, so ``--data
digits-det`` needs no download and every run sees the same images. Samples
are ``(image (1, S, S), {"boxes": float32 (N, 4), "labels": int64 (N,)})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnzoo.data.datasets import DataBundle, register_dataset
from cnnzoo.data.digits import load_digits_arrays

__all__ = ["DIGIT_SIZES", "RECIPES", "DetectionDataset", "digits_det", "make_detection_canvases"]

DIGIT_SIZES = (12, 16, 20, 24, 28, 32, 40, 48)
CLASS_NAMES = [str(d) for d in range(10)]

# The default recipe of each detector on this task, applied by
# cnnzoo.train.recipe.apply_recipe to the settings a run leaves at their
# declared defaults (measured in benchmarks/RESULTS.md). TinySSD: half width,
# and the first map's default boxes at 0.1 and 0.141 of the side (d2l's 0.2 of
# 256 pixels is 51; here 10–14 pixels, for 12-pixel digits), the other maps
# taking d2l's sizes one map earlier; no augmentation, ten epochs.
RECIPES: dict[str, dict[str, Any]] = {
    "tiny_ssd": {
        "model_kwargs": {"width_mult": 0.5, "anchor_sizes": [[0.1, 0.141], [0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79]]},
        "aug": "none",
        "batch_size": 32,
        "lr": 1e-2,
        "epochs": 10,
    },
    # Faster R-CNN's CPU-sized configuration: its own defaults, AdamW peak 2e-3, batches of 8, four epochs.
    "faster_rcnn_tiny": {"aug": "none", "batch_size": 8, "lr": 2e-3, "epochs": 4},
}


class DetectionDataset(Dataset):
    """In-memory images ``(N, C, H, W)`` with one ``{"boxes", "labels", ...}`` target per image."""

    def __init__(self, images: Tensor, targets: Sequence[dict[str, Tensor]]) -> None:
        if len(images) != len(targets):
            raise ValueError(f"DetectionDataset: {len(images)} images but {len(targets)} targets")
        self.images, self.targets = images, list(targets)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        return self.images[i], self.targets[i]


def _ink_box(digit: np.ndarray, x: int, y: int, ink: float) -> tuple[float, float, float, float] | None:
    rows, cols = np.nonzero(digit >= ink)
    if len(rows) == 0:
        return None
    return float(x + cols.min()), float(y + rows.min()), float(x + cols.max() + 1), float(y + rows.max() + 1)


def _free_spot(rng: np.random.Generator, placed: list[tuple[int, int, int]], d: int, canvas: int) -> tuple[int, int] | None:
    for _ in range(50):  # rejection sampling: the squares of two digits never overlap
        y, x = (int(v) for v in rng.integers(0, canvas - d + 1, size=2))
        if all(x + d <= px or px + pd <= x or y + d <= py or py + pd <= y for py, px, pd in placed):
            return y, x
    return None


def make_detection_canvases(
    bank: dict[int, tuple[np.ndarray, np.ndarray]],
    n: int,
    *,
    canvas: int = 96,
    max_digits: int = 4,
    ink: float = 0.3,
    seed: int = 0,
) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """``n`` canvases with 1…``max_digits`` digits each, drawn from ``bank = {size: (digits (M, 1, s, s), labels)}``."""
    if max_digits < 1 or n < 0 or not bank or max(bank) > canvas:
        raise ValueError(f"make_detection_canvases: need max_digits >= 1, n >= 0 and digit sizes <= canvas {canvas}; got {max_digits}, {n}, {sorted(bank)}")
    rng = np.random.default_rng(seed)
    sizes = sorted(bank)
    images = np.zeros((n, 1, canvas, canvas), np.float32)
    targets = []
    for i in range(n):
        placed: list[tuple[int, int, int]] = []
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, max_digits + 1))):
            d = sizes[int(rng.integers(len(sizes)))]
            spot = _free_spot(rng, placed, d, canvas)
            if spot is None:
                continue  # canvas too crowded: fewer digits on this one
            y, x = spot
            digits, digit_labels = bank[d]
            k = int(rng.integers(len(digits)))
            box = _ink_box(digits[k, 0], x, y, ink)
            if box is None:
                continue
            images[i, 0, y : y + d, x : x + d] = digits[k, 0]
            placed.append((y, x, d))
            boxes.append(box)
            labels.append(int(digit_labels[k]))
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels, dtype=torch.long)})
    return torch.from_numpy(images), targets


def digit_banks(sizes: Sequence[int]) -> tuple[dict[int, Any], dict[int, Any]]:
    """``(train bank, test bank)``: the fixed digits split resized to each size."""
    train, test = {}, {}
    for s in sizes:
        a = load_digits_arrays(int(s))
        train[int(s)], test[int(s)] = (a.x_train, a.y_train), (a.x_test, a.y_test)
    return train, test


@register_dataset(
    "digits-det",
    needs_path=False,
    help="detection: 1–4 embedded digits of 12–48 px on a 96×96 canvas, boxes from their ink, labels 0–9",
)
def digits_det(
    path: str | None = None,
    *,
    canvas: int = 96,
    digit_sizes: Sequence[int] = DIGIT_SIZES,
    max_digits: int = 4,
    train_size: int = 2000,
    test_size: int = 500,
    seed: int = 0,
    image_size: int | None = None,
    **_: object,
) -> DataBundle:
    canvas = int(image_size or canvas)  # --image-size: the canvas side (the digits keep their sizes)
    train_bank, test_bank = digit_banks(digit_sizes)
    x_tr, y_tr = make_detection_canvases(train_bank, train_size, canvas=canvas, max_digits=max_digits, seed=seed)
    x_te, y_te = make_detection_canvases(test_bank, test_size, canvas=canvas, max_digits=max_digits, seed=seed + 1)
    return DataBundle(
        name="digits-det",
        train=DetectionDataset(x_tr, y_tr),
        test=DetectionDataset(x_te, y_te),
        num_classes=len(CLASS_NAMES),
        in_chans=1,
        image_size=(canvas, canvas),
        class_names=list(CLASS_NAMES),
        task="detection",
        # SSD's augmentation moves the boxes with the pixels; no flips, as a mirrored digit is another digit or none.
        meta={"aug": "ssd", "hflip": False, "digit_sizes": list(digit_sizes), "max_digits": max_digits, "seed": seed,
              "recipe": {k: dict(v) for k, v in RECIPES.items()}},  # fmt: skip
    )
