"""``mask-pairs:DIR``: users' own segmentation data, an image and a label map with the same stem.

Layout: ``DIR/train/images/NAME.jpg`` with ``DIR/train/masks/NAME.png``, and
the same under ``DIR/test`` (or ``DIR/val``). A mask is a PNG of class
indices, grey-scale (``L``) or palette (``P``, as VOC's; the palette is
ignored, the indices count); 255 marks pixels without a label. The number of
classes is the largest index found in the training masks plus one (unless
``num_classes`` is given). Images and masks are resized together, the
shorter side to ``image_size`` (default 256) and the central square kept:
bilinear for the image, nearest-neighbour for the mask.

:class:`SegmentationFiles` is the dataset both this format and ``voc-seg``
use; every file is checked (it opens, its mode, its size matches the image)
before training starts, and a bad one is a one-line :class:`DataError`
naming it and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnzoo.data.datasets import DataBundle, DataError, register_dataset
from cnnzoo.data.images import IMAGE_EXTENSIONS, open_image, probe_image

__all__ = ["IGNORE_LABEL", "SegmentationFiles", "pairs_in", "read_mask"]

IGNORE_LABEL = 255
DEFAULT_SIDE = 256


def read_mask(path: Path) -> np.ndarray:
    """``uint8 (H, W)`` class indices of a grey-scale or palette PNG; a :class:`DataError` otherwise."""
    with open_image(path) as im:
        if im.mode not in ("P", "L"):
            raise DataError(f"{path}: a {im.mode} image; expected a mask of class indices (a palette 'P' or grey 'L' PNG)")
        return np.asarray(im.copy())


def _square(im, side: int, resample: int):
    """Shorter side to ``side``, central ``side × side`` square (the image decoder's geometry)."""
    w, h = im.size
    scale = side / min(w, h)
    nw, nh = max(side, round(w * scale)), max(side, round(h * scale))
    im = im.resize((nw, nh), resample)
    left, top = (nw - side) // 2, (nh - side) // 2
    return im.crop((left, top, left + side, top + side))


class SegmentationFiles(Dataset):
    """``(image float32 (C, S, S) in [0, 1], mask int64 (S, S))`` pairs read from files on demand."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], in_chans: int, side: int, num_classes: int) -> None:
        self.pairs, self.in_chans, self.side, self.num_classes = list(pairs), in_chans, side, num_classes

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        from PIL import Image

        image_path, mask_path = self.pairs[i]
        with open_image(image_path) as im:
            image = _square(im.convert("L" if self.in_chans == 1 else "RGB"), self.side, Image.BILINEAR)
        with open_image(mask_path) as m:
            mask = _square(m, self.side, Image.NEAREST)  # interpolated labels would invent classes
        labels = np.asarray(mask).astype(np.int64)
        bad = labels[(labels >= self.num_classes) & (labels != IGNORE_LABEL)]
        if bad.size:
            raise DataError(f"{mask_path}: label {int(bad.max())}; expected 0..{self.num_classes - 1} or 255 (void)")
        x = torch.from_numpy(np.asarray(image, np.float32) / 255.0)
        x = x[None] if x.dim() == 2 else x.permute(2, 0, 1)
        return x.contiguous(), torch.from_numpy(labels)


def check_pairs(pairs: Sequence[tuple[Path, Path]]) -> str:
    """The channel kind (``"L"``/``"RGB"``) of the images; every pair checked: readable, a mask, same size."""
    kind = None
    for image_path, mask_path in pairs:
        image_kind, size = probe_image(image_path)
        kind = kind or image_kind
        with open_image(mask_path) as m:
            if m.mode not in ("P", "L"):
                raise DataError(f"{mask_path}: a {m.mode} image; expected a mask of class indices (a palette 'P' or grey 'L' PNG)")
            if m.size != size:
                raise DataError(f"{mask_path}: {m.size[0]}×{m.size[1]} pixels; expected the size of {image_path.name}, {size[0]}×{size[1]}")
    if kind is None:
        raise DataError("no image/mask pairs found")
    return kind


def pairs_in(split_dir: Path) -> list[tuple[Path, Path]]:
    """``(image, mask)`` of ``split_dir/images`` and ``split_dir/masks``, matched by stem; a lone file is an error."""
    images_dir, masks_dir = split_dir / "images", split_dir / "masks"
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise DataError(f"{d}: directory not found (expected {split_dir}/images and {split_dir}/masks)")
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS}
    masks = {p.stem: p for p in sorted(masks_dir.iterdir()) if p.suffix.lower() == ".png"}
    for stem in sorted(set(images) ^ set(masks)):
        lone = images.get(stem) or masks[stem]
        other = "masks" if stem in images else "images"
        raise DataError(f"{lone}: no file with the stem {stem!r} in {split_dir / other} (expected image/mask pairs)")
    if not images:
        raise DataError(f"{images_dir}: no images (expected image/mask pairs with the same stem)")
    return [(images[s], masks[s]) for s in sorted(images)]


def count_classes(pairs: Sequence[tuple[Path, Path]]) -> int:
    """The largest label in the masks (255 excepted) plus one."""
    top = 0
    for _, mask_path in pairs:
        labels = read_mask(mask_path)
        labels = labels[labels != IGNORE_LABEL]
        top = max(top, int(labels.max()) if labels.size else 0)
    return top + 1


@register_dataset("mask-pairs", needs_path=True, help="segmentation: DIR/{train,test}/images/* with masks/*.png of the same stem")
def mask_pairs(path: str, *, image_size: int | None = None, num_classes: int | None = None, **_: object) -> DataBundle:
    root = Path(path)
    test_dir = root / "test" if (root / "test").is_dir() else root / "val"
    train, test = pairs_in(root / "train"), pairs_in(test_dir)
    kind = check_pairs(train + test)
    in_chans, side = (1 if kind == "L" else 3), image_size or DEFAULT_SIDE
    k = num_classes or count_classes(train)
    return DataBundle(
        name=f"mask-pairs:{root.name}", train=SegmentationFiles(train, in_chans, side, k), test=SegmentationFiles(test, in_chans, side, k),
        num_classes=k, in_chans=in_chans, image_size=(side, side), class_names=[str(c) for c in range(k)], task="segmentation",
        meta={"aug": "none"},
    )  # fmt: skip
