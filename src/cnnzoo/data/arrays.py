"""A data set over in-memory ``uint8`` images, converted to ``float`` in [0, 1] per item.

MNIST (47 MB as bytes) and CIFAR (180 MB) stay as bytes in memory; converting
a whole training set to ``float32`` up front would take four times as much.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["ArrayDataset"]


class ArrayDataset(Dataset):
    """``images``: ``uint8`` ``(N, C, H, W)``; ``targets``: ``(N,)`` class indices.

    Yields ``(float32 (C, H, W) in [0, 1], int64 target)``.
    """

    def __init__(self, images: np.ndarray, targets: np.ndarray) -> None:
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, C, H, W); got {images.dtype} {images.shape}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.targets = torch.from_numpy(np.asarray(targets, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[i].float().div_(255.0), self.targets[i]
