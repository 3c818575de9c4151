"""Image files decoded with Pillow on demand: the shared part of ``folder:`` and ``csv:``.

Every image is converted to one mode (grey-scale ``L`` or ``RGB``), its
shorter side resized to ``size`` (bilinear) and the central ``size × size``
square kept, as AlexNet §2 prepared ImageNet ("rescaled the image such that
the shorter side was of length 256, and then cropped out the central
256×256 patch").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnzoo.data.datasets import DataError

__all__ = ["IMAGE_EXTENSIONS", "ImageListDataset", "decode_image", "probe_image"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def probe_image(path: str | os.PathLike[str]) -> tuple[str, tuple[int, int]]:
    """``("L" or "RGB", (width, height))`` of an image, reading its header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return ("L" if im.mode in GREY_MODES else "RGB"), im.size
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected an image)") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: not an image Pillow can read ({e})") from None


def decode_image(path: str | os.PathLike[str], mode: str, size: int) -> Tensor:
    """``float32 (C, size, size)`` in [0, 1] from an image file; ``DataError`` if it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            w, h = im.size
            scale = size / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            if (nw, nh) != (w, h):
                im = im.resize((nw, nh), Image.BILINEAR)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
            arr = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected an image)") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: not an image Pillow can decode ({e})") from None
    t = torch.from_numpy(arr.copy()).float().div_(255.0)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


class ImageListDataset(Dataset):
    """Images decoded from ``paths`` on demand; ``targets`` are class indices or multi-hot rows."""

    def __init__(self, paths: Sequence[Path], targets: Tensor, mode: str, size: int) -> None:
        self.paths, self.targets, self.mode, self.size = list(paths), targets, mode, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return decode_image(self.paths[i], self.mode, self.size), self.targets[i]
