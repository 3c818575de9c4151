"""The one image decoder: ``folder:``, ``csv:`` and ``cnnzoo predict`` all read files through it.

Every mode Pillow opens is decoded as a viewer shows it (EXIF orientation,
the mode's real range, alpha on black; see ``pixels.py``) into one or three
channels and, when a ``size`` is given, its shorter side resized to ``size``
(bilinear, in floating point so 16-bit images keep their precision) and the
central ``size × size`` square kept, as AlexNet prepared ImageNet
(Krizhevsky, Sutskever & Hinton 2012, §2: "rescaled the image such that the
shorter side was of length 256, and then cropped out the central 256×256
patch").

Files whose header claims more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels
(89,478,485 by default, about 9,459²) are refused before any pixel is
decoded: Pillow's guard against decompression bombs, a small file that
expands to gigabytes.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnzoo.data.datasets import DataError
from cnnzoo.data.pixels import channel_kind, to_float

__all__ = [
    "DEFAULT_IMAGE_SIZE", "IMAGE_EXTENSIONS", "ImageListDataset",
    "decode_image", "open_image", "probe_image", "resolve_size",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# The side folder: and csv: resize to when neither --image-size nor the caller's model size is given:
# the ImageNet input of AlexNet's successors (VGG, GoogLeNet, ResNet), the registry's default input size.
DEFAULT_IMAGE_SIZE = 224


def resolve_size(image_size: int | None, default_size: int | None = None) -> int:
    """The side folder: and csv: images are brought to: ``image_size``, else ``default_size``, else 224."""
    for name, v in (("image_size", image_size), ("default_size", default_size)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            raise DataError(f"{name} must be a positive integer (pixels per side); got {v!r}")
    return image_size or default_size or DEFAULT_IMAGE_SIZE


def _bomb(path: str | os.PathLike[str], err: Exception) -> DataError:
    from PIL import Image

    found = re.search(r"\((\d+) pixels\)", str(err))
    count = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return DataError(
        f"{path}: {count}, over the limit of {Image.MAX_IMAGE_PIXELS:,} "
        "(PIL.Image.MAX_IMAGE_PIXELS, Pillow's decompression-bomb guard); expected a smaller image"
    )


@contextmanager
def open_image(path: str | os.PathLike[str]) -> Iterator:
    """The Pillow image in ``path``, header read; a one-line :class:`DataError` if it is not one or is a bomb."""
    from PIL import Image, UnidentifiedImageError

    if not Path(path).is_file():
        raise DataError(f"{path}: file not found (expected an image)")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between the limit and twice it; refuse there too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _bomb(path, e) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: not an image Pillow can read ({e})") from None
    with im:
        yield im


def probe_image(path: str | os.PathLike[str]) -> tuple[str, tuple[int, int]]:
    """``("L" or "RGB", (width, height))`` of an image, reading its header only (size before EXIF turning)."""
    with open_image(path) as im:
        return channel_kind(im.mode), im.size


def _mode(in_chans: int | str) -> int:
    # folder: and csv: pass the probed Pillow mode; everything else passes a channel count.
    if in_chans in (1, "L"):
        return 1
    if in_chans in (3, "RGB"):
        return 3
    raise DataError(f"decode_image: in_chans must be 1 (grey) or 3 (RGB); got {in_chans!r}")


def decode_image(path: str | os.PathLike[str], in_chans: int | str, size: int | None = None) -> Tensor:
    """``float32 (C, H, W)`` in [0, 1] from an image file; a :class:`DataError` if it is not one.

    ``in_chans``: 1 (grey-scale) or 3 (RGB), or the Pillow mode ``"L"``/``"RGB"``.
    ``size``: resize the shorter side to ``size`` and keep the central square;
    ``None`` keeps the image as it is (upright).
    """
    from PIL import Image

    channels = _mode(in_chans)
    if size is not None and size <= 0:
        raise DataError(f"decode_image: size must be a positive integer; got {size}")
    with open_image(path) as im:
        try:
            arr = to_float(im, channels)
        except Image.DecompressionBombError as e:  # formats that learn their size only while decoding
            raise _bomb(path, e) from None
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise DataError(f"{path}: not an image Pillow can decode ({e})") from None
    if size is not None:
        arr = _shorter_side_center(arr, size)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def _shorter_side_center(arr: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    h, w = arr.shape[:2]
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (nw - size) // 2, (nh - size) // 2
    box = (left, top, left + size, top + size)
    # One float ("F") image per channel: Pillow resizes those without rounding to 8 bits.
    planes = []
    for c in range(arr.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(arr[..., c]))
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.BILINEAR)
        planes.append(np.asarray(im.crop(box), dtype=np.float32))
    return np.clip(np.stack(planes, axis=-1), 0.0, 1.0)


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
