"""The input pipeline on the device: augmentation, crop, resize to the model's size, normalisation."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from cnnzoo.layers.upsample import resize_to

__all__ = ["InputPipeline", "channel_stats"]


def channel_stats(dataset: Any, limit: int = 10_000) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of the training images (VGG §3.2)."""
    n = min(len(dataset), limit)
    x = torch.stack([dataset[i][0] for i in range(n)]).double()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean.tolist(), std.tolist()


class InputPipeline:
    """Per-batch work on the device: crop, resizing up to the model's size, normalisation.

    ``crop``: for evaluation (``augmented=False``), take the central ``crop`` of
    each image, the size the training augmentation cut out (AlexNet, VGG,
    Inception train on 224 crops of 256 images and test on the centre 224).
    Training batches arrive already augmented (the task moves targets with the
    pixels), so they are only resized and normalised.
    """

    def __init__(
        self,
        mean: list[float],
        std: list[float],
        size: tuple[int, int] | None,
        device: torch.device,
        crop: tuple[int, int] | None = None,
        channels_last: bool = False,
    ) -> None:
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.size, self.crop, self.channels_last = size, crop, channels_last

    def __call__(self, x: Tensor, augmented: bool = False) -> Tensor:
        if not augmented and self.crop is not None and tuple(x.shape[-2:]) != self.crop:
            top, left = (x.shape[-2] - self.crop[0]) // 2, (x.shape[-1] - self.crop[1]) // 2
            x = x[..., top : top + self.crop[0], left : left + self.crop[1]]
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = resize_to(x, self.size)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
