"""``voc-seg:DIR``: Pascal VOC segmentation, and its colour palette (Everingham et al., IJCV 2010).

``DIR`` is a VOC year's root (``VOCdevkit/VOC2012``): ``JPEGImages/NAME.jpg``,
``SegmentationClass/NAME.png`` and the lists ``ImageSets/Segmentation/train.txt``
and ``val.txt`` (one NAME per line); the ``val`` list is the test split, as
in the papers that report VOC val. 21 classes. Images and masks are resized
together (see :mod:`cnnzoo.data.mask_pairs`) to ``image_size`` (default 320).

VOC stores a segmentation as an 8-bit palette PNG whose pixel values are the
class indices (0 background, 1–20 the classes, 255 "void": object borders and
unlabelled pixels) and whose palette gives each index a colour. The devkit's
``labelcolormap`` builds the palette by spreading the bits of the index over
the three channels, most significant first; index 255 comes out (224, 224, 192),
the cream of the void borders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnzoo.data.datasets import DataBundle, DataError, register_dataset
from cnnzoo.data.mask_pairs import SegmentationFiles, check_pairs

__all__ = ["VOC_CLASSES", "read_split", "voc_palette", "voc_seg"]

VOC_CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip
DEFAULT_SIDE = 320


def voc_palette(n: int = 256) -> np.ndarray:
    """``uint8 (n, 3)``: the VOC devkit's colour of each label index (1 red, 2 green, 15 person pink, …)."""
    palette = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for shift in range(7, -1, -1):  # three bits of the index per round, into the high bits first
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[i] = (r, g, b)
    return palette


def read_split(root: Path, split: str) -> list[tuple[Path, Path]]:
    """``(JPEGImages/NAME.jpg, SegmentationClass/NAME.png)`` for each NAME of ``ImageSets/Segmentation/SPLIT.txt``."""
    listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not listing.is_file():
        raise DataError(f"{listing}: file not found (expected a VOC root with ImageSets/Segmentation/{split}.txt)")
    names = [line.strip() for line in listing.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if not names:
        raise DataError(f"{listing}: no image names (expected one NAME per line)")
    pairs = []
    for lineno, name in enumerate(names, start=1):
        image, mask = root / "JPEGImages" / f"{name}.jpg", root / "SegmentationClass" / f"{name}.png"
        for f in (image, mask):
            if not f.is_file():
                raise DataError(f"{f}: file not found (listed as {name!r} on line {lineno} of {listing})")
        pairs.append((image, mask))
    return pairs


@register_dataset("voc-seg", needs_path=True, help="segmentation: a Pascal VOC root (JPEGImages, SegmentationClass, ImageSets/Segmentation)")
def voc_seg(path: str, *, image_size: int | None = None, **_: object) -> DataBundle:
    root = Path(path)
    train, test = read_split(root, "train"), read_split(root, "val")
    if check_pairs(train + test) != "RGB":
        raise DataError(f"{root / 'JPEGImages'}: grey-scale images; expected VOC's RGB JPEGs")
    side, k = image_size or DEFAULT_SIDE, len(VOC_CLASSES)
    return DataBundle(
        name="voc-seg", train=SegmentationFiles(train, 3, side, k), test=SegmentationFiles(test, 3, side, k),
        num_classes=k, in_chans=3, image_size=(side, side), class_names=list(VOC_CLASSES), task="segmentation",
        meta={"aug": "none"},
    )  # fmt: skip
