"""The embedded default: scikit-learn's handwritten digits.

1,797 real 8×8 grey-scale digits (UCI "Optical Recognition of Handwritten
Digits", 16 grey levels), shipped inside scikit-learn, so ``--data digits``
needs no download. The split is fixed: ``train_test_split(test_size=0.25,
random_state=0, stratify=y)`` gives 1,347 training and 450 test images, the
split on which ``benchmarks/digits_vs_classical.py`` compares LeNet-5 with
support vector machines. Images are scaled to [0, 1] and resized (bilinear) to
``size × size``: 32 for LeNet-5, whose C5 needs a 32×32 input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset

from cnnzoo.data.datasets import DataBundle, register_dataset
from cnnzoo.layers.upsample import resize_to

__all__ = ["DigitsArrays", "load_digits_arrays", "digits"]

SPLIT_SEED = 0
TEST_FRACTION = 0.25


@dataclass
class DigitsArrays:
    """``x_*``: float32 ``(N, 1, size, size)`` in [0, 1]; ``y_*``: int64 ``(N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_arrays(size: int = 32, seed: int = SPLIT_SEED) -> DigitsArrays:
    """The fixed stratified split of the digits, resized to ``size × size``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # N x 1 x 8 x 8
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=seed, stratify=y
    )
    if size != 8:
        x_tr, x_te = (_resize(a, size) for a in (x_tr, x_te))
    return DigitsArrays(x_tr, y_tr, x_te, y_te)


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    t = resize_to(torch.from_numpy(x), (size, size))
    return t.clamp_(0.0, 1.0).numpy()


@register_dataset("digits", needs_path=False, help="scikit-learn's 1,797 handwritten digits, embedded (8×8 → 32×32)")
def digits(path: str | None = None, *, size: int = 32, **_: object) -> DataBundle:
    a = load_digits_arrays(size)
    return DataBundle(
        name="digits",
        train=TensorDataset(torch.from_numpy(a.x_train), torch.from_numpy(a.y_train)),
        test=TensorDataset(torch.from_numpy(a.x_test), torch.from_numpy(a.y_test)),
        num_classes=10,
        in_chans=1,
        image_size=(size, size),
        class_names=[str(i) for i in range(10)],
    )
