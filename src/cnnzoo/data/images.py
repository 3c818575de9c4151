"""The one image decoder: ``folder:``, ``csv:`` and ``cnnzoo predict`` all read files through it.

Every image is converted to one mode (grey-scale ``L`` for one channel,
``RGB`` for three) and, when a ``size`` is given, its shorter side resized to
``size`` (bilinear) and the central ``size × size`` square kept, as AlexNet
prepared ImageNet (Krizhevsky, Sutskever & Hinton 2012, §2: "rescaled the
image such that the shorter side was of length 256, and then cropped out the
central 256×256 patch").
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


def _mode(in_chans: int | str) -> str:
    # folder: and csv: pass the probed Pillow mode; everything else passes a channel count.
    if in_chans in (1, "L"):
        return "L"
    if in_chans in (3, "RGB"):
        return "RGB"
    raise DataError(f"decode_image: in_chans must be 1 (grey) or 3 (RGB); got {in_chans!r}")


def decode_image(path: str | os.PathLike[str], in_chans: int | str, size: int | None = None) -> Tensor:
    """``float32 (C, H, W)`` in [0, 1] from an image file; a :class:`DataError` if it is not one.

    ``in_chans``: 1 (grey-scale) or 3 (RGB), or the Pillow mode ``"L"``/``"RGB"``.
    ``size``: resize the shorter side to ``size`` and keep the central square;
    ``None`` keeps the image as it is.
    """
    from PIL import Image, UnidentifiedImageError

    mode = _mode(in_chans)
    if size is not None and size <= 0:
        raise DataError(f"decode_image: size must be a positive integer; got {size}")
    if not Path(path).is_file():
        raise DataError(f"{path}: file not found (expected an image)")
    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if size is not None:
                im = _shorter_side_center(im, size)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: not an image Pillow can decode ({e})") from None
    t = torch.from_numpy(arr.copy()).float().div_(255.0)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def _shorter_side_center(im, size: int):
    from PIL import Image

    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return im.crop((left, top, left + size, top + size))


class ImageListDataset(Dataset):
    """Images decoded from ``paths`` on demand; ``targets`` are class indices or multi-hot rows.

    ``mode`` is ``"L"`` or ``"RGB"`` (or the channel count 1 or 3).
    """

    def __init__(self, paths: Sequence[Path], targets: Tensor, mode: str | int, size: int) -> None:
        self.paths, self.targets, self.mode, self.size = list(paths), targets, mode, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return decode_image(self.paths[i], self.mode, self.size), self.targets[i]
