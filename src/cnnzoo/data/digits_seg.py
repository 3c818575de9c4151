"""``digits-seg``: a small real segmentation task built from the embedded digits.

One to three real handwritten digits (scikit-learn's, see :mod:`cnnzoo.data.digits`)
are resized to ``digit_size`` and pasted at random, non-overlapping positions
on a black ``canvas × canvas`` image. The label of a pixel is the digit's
class + 1 where the digit's ink is at least ``ink`` (0.3 of full intensity),
0 (background) elsewhere: 11 classes. Training canvases use only digits of
the fixed training split, test canvases only digits of the test split, so no
handwriting is shared between them.

Everything is generated from a seed (``seed=0``) in well under a second, so
``--data digits-seg`` needs no download and every run sees the same images.
The bounding boxes are kept too (``make_canvases(...).boxes``, d2l's
``(class, x1, y1, x2, y2)`` rows normalised to [0, 1], padded with −1), ready
for :func:`cnnzoo.detection.multibox_target`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset

from cnnzoo.data.datasets import DataBundle, register_dataset
from cnnzoo.data.digits import load_digits_arrays

__all__ = ["RECIPE", "RECIPES", "Canvases", "digits_seg", "make_canvases"]

CLASS_NAMES = ["background"] + [str(d) for d in range(10)]

# The recipe that learns this task (docs/segmentation.md, benchmarks/RESULTS.md):
# a U-Net with batch normalisation and no dropout at the bottom, and many small
# steps at a high rate (AdamW, one-cycle, the trainer's defaults otherwise).
RECIPE = {
    "model_kwargs": {"padding": True, "base_width": 8, "batch_norm": True, "drop_rate": 0.0},
    "batch_size": 8,
    "lr": 1e-2,
    "epochs": 30,
}

# The default recipe of each segmentation model on this task, applied by
# cnnzoo.train.recipe.apply_recipe to the settings a run leaves at their
# declared defaults ("*": any other model). The DeepLab v3 and FCN entries are
# the configurations measured in benchmarks/RESULTS.md (narrow networks with
# batch normalisation, from scratch, under 10 minutes of 2 cores): test mean IU
# 0.85 for DeepLab v3 at output stride 4, 0.79 for FCN-8s fed the canvases
# upsampled to 128×128.
RECIPES = {
    "unet": RECIPE,
    "deeplabv3_resnet18": {
        # Output stride 4 (16×16 scores): at 8 the 8×8 score map cannot draw strokes 2–4 pixels wide.
        # PyTorch's initial scoring weights: the authors' N(0, 0.01²) held the network at
        # "background everywhere" for 4 of 12 epochs (mean IU 0.50 at the end, against 0.85).
        # Batches of 8 (1,500 steps): with the authors' start, 0.50 against 0.13 with batches of 16.
        "model_kwargs": {"width_mult": 0.25, "output_stride": 4, "rates": [1, 2, 3], "classifier_std": None},
        "batch_size": 8,
        "lr": 1e-2,
        "epochs": 12,
    },
    "fcn8s": {
        # At the canvas's 64 pixels FCN-8s's stride-8 scores cannot pass mean IU ~0.45; the
        # canvases upsampled to 128 for the model (masks kept at 64) measured 0.786 after 7 epochs.
        "model_kwargs": {"width_mult": 0.0625, "batch_norm": True, "drop_rate": 0.0},
        "image_size": 128,
        "batch_size": 8,
        "lr": 1e-2,
        "epochs": 7,
    },
    # Many small steps at a high rate: what made the U-Net leave "all background".
    "*": {"batch_size": 8, "lr": 1e-2},
}


@dataclass
class Canvases:
    """``images`` float32 ``(N, 1, S, S)`` in [0, 1]; ``masks`` int64 ``(N, S, S)``;
    ``boxes`` float32 ``(N, max_digits, 5)`` rows ``(digit, x1, y1, x2, y2)`` / S, −1 padding."""

    images: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray


def make_canvases(
    digits: np.ndarray,
    labels: np.ndarray,
    n: int,
    *,
    canvas: int = 64,
    max_digits: int = 3,
    ink: float = 0.3,
    seed: int = 0,
) -> Canvases:
    """Paste 1…``max_digits`` of ``digits`` (``(M, 1, d, d)``, labels ``(M,)``) on each of ``n`` canvases."""
    if digits.ndim != 4 or digits.shape[1] != 1 or digits.shape[2] != digits.shape[3]:
        raise ValueError(f"digits must be (M, 1, d, d); got {digits.shape}")
    d = digits.shape[-1]
    if d > canvas:
        raise ValueError(f"digit_size {d} does not fit on a {canvas}×{canvas} canvas")
    if max_digits < 1 or n < 0:
        raise ValueError(f"max_digits must be >= 1 and n >= 0; got max_digits={max_digits}, n={n}")
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, canvas, canvas), np.float32)
    masks = np.zeros((n, canvas, canvas), np.int64)
    boxes = np.full((n, max_digits, 5), -1.0, np.float32)
    for i in range(n):
        placed: list[tuple[int, int]] = []
        for _ in range(int(rng.integers(1, max_digits + 1))):
            for _attempt in range(50):  # rejection sampling of a free spot
                y, x = (int(v) for v in rng.integers(0, canvas - d + 1, size=2))
                if all(abs(y - py) >= d or abs(x - px) >= d for py, px in placed):
                    break
            else:
                continue  # canvas too crowded: fewer digits on this one
            k = int(rng.integers(len(digits)))
            digit, label = digits[k, 0], int(labels[k])
            images[i, 0, y : y + d, x : x + d] = digit
            masks[i, y : y + d, x : x + d][digit >= ink] = label + 1
            boxes[i, len(placed)] = (label, x / canvas, y / canvas, (x + d) / canvas, (y + d) / canvas)
            placed.append((y, x))
    return Canvases(images, masks, boxes)


@register_dataset(
    "digits-seg",
    needs_path=False,
    help="segmentation: 1–3 embedded digits on a 64×64 canvas, per-pixel labels (digit + 1, background 0)",
)
def digits_seg(
    path: str | None = None,
    *,
    canvas: int = 64,
    digit_size: int = 20,
    max_digits: int = 3,
    train_size: int = 1000,
    test_size: int = 250,
    seed: int = 0,
    **_: object,
) -> DataBundle:
    a = load_digits_arrays(digit_size)
    train = make_canvases(a.x_train, a.y_train, train_size, canvas=canvas, max_digits=max_digits, seed=seed)
    test = make_canvases(a.x_test, a.y_test, test_size, canvas=canvas, max_digits=max_digits, seed=seed + 1)
    return DataBundle(
        name="digits-seg",
        train=TensorDataset(torch.from_numpy(train.images), torch.from_numpy(train.masks)),
        test=TensorDataset(torch.from_numpy(test.images), torch.from_numpy(test.masks)),
        num_classes=len(CLASS_NAMES),
        in_chans=1,
        image_size=(canvas, canvas),
        class_names=list(CLASS_NAMES),
        task="segmentation",
        # No augmentation by default: on a few minutes' budget the network has not yet
        # learnt the digits it sees; --aug digits moves image and mask together.
        meta={"aug": "none", "digit_size": digit_size, "max_digits": max_digits, "seed": seed, "recipe": {k: dict(v) for k, v in RECIPES.items()}},
    )
