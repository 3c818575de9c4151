"""MNIST and Fashion-MNIST from the original IDX files, gzipped or plain.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header of
two zero bytes, a type code (``0x08`` = unsigned byte), the number of
dimensions, then one 4-byte size per dimension, then the data. A directory
holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally
ending in ``.gz`` (Kaggle copies spell ``train-images.idx3-ubyte``; both work).

The 28×28 images are centred in a 32×32 field with a 2-pixel zero border, as
LeCun et al. (1998, §III-A) did for LeNet-5, whose C5 needs 32×32 inputs.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np

from cnnzoo.data.arrays import ArrayDataset
from cnnzoo.data.datasets import DataBundle, DataError, register_dataset

__all__ = ["find_idx_file", "read_idx"]

UBYTE = 0x08
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` or plain); ``DataError`` if it is not one."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected an IDX file)") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read it as gzip-compressed IDX ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: bad IDX magic number {raw[:4].hex() or '(empty file)'}; expected 0000 08 NN")
    if raw[2] != UBYTE:
        raise DataError(f"{path}: IDX type code 0x{raw[2]:02x}; only unsigned bytes (0x08) are supported")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, expected {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    # Python integers: a corrupt header can claim (2**32 - 1)**3 bytes, which wraps around in int64.
    expected = header + math.prod(shape)
    if len(raw) != expected:
        raise DataError(
            f"{path}: {len(raw):,} bytes, but the header's shape {shape} needs {expected:,} "
            f"({header} header + {' × '.join(map(str, shape)) or '1'} data); the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find_idx_file(directory: Path, stem: str) -> Path:
    """``directory/stem`` with any of the spellings in use; ``DataError`` listing them if absent."""
    a, _, b = stem.rpartition("-idx")  # "train-images-idx3-ubyte" -> also "train-images.idx3-ubyte"
    names = [stem, f"{a}.idx{b}"]
    for name in names:
        for cand in (directory / name, directory / f"{name}.gz"):
            if cand.is_file():
                return cand
    raise DataError(f"{directory}: no {stem}[.gz] (expected the four MNIST IDX files in this directory)")


def _load(path: str | None, name: str, class_names: list[str], pad: int) -> DataBundle:
    d = Path(path or "")
    if not d.is_dir():
        raise DataError(f"{d}: not a directory (expected a directory holding the {name} IDX files)")
    split = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        img_file = find_idx_file(d, f"{prefix}-images-idx3-ubyte")
        lbl_file = find_idx_file(d, f"{prefix}-labels-idx1-ubyte")
        x, y = read_idx(img_file), read_idx(lbl_file)
        if x.ndim != 3:
            raise DataError(f"{img_file}: images of shape {x.shape}; expected (N, 28, 28)")
        if len(x) == 0:  # an empty split fails much later, inside batching, without naming the file
            raise DataError(f"{img_file}: holds 0 images; expected at least one")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{lbl_file}: labels of shape {y.shape}; expected ({len(x)},) to match {img_file.name}")
        if y.size and int(y.max()) >= len(class_names):
            raise DataError(f"{lbl_file}: label {int(y.max())} out of range 0..{len(class_names) - 1}")
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))[:, None]
        split[part] = ArrayDataset(x, y.astype(np.int64))
    h, w = split["train"].images.shape[-2:]
    return DataBundle(name=name, train=split["train"], test=split["test"], num_classes=len(class_names), in_chans=1, image_size=(int(h), int(w)), class_names=class_names)


@register_dataset("mnist", needs_path=True, help="MNIST from its four IDX files (gz or plain), 28×28 centred in 32×32")
def mnist(path: str | None, *, pad: int = 2, **_: object) -> DataBundle:
    return _load(path, "mnist", [str(i) for i in range(10)], pad)


@register_dataset("fashion-mnist", needs_path=True, help="Fashion-MNIST from its four IDX files (gz or plain), 32×32")
def fashion_mnist(path: str | None, *, pad: int = 2, **_: object) -> DataBundle:
    return _load(path, "fashion-mnist", FASHION_CLASSES, pad)
