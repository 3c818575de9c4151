"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from the binary or the Python version.

Binary version (``cifar-10-batches-bin``, ``cifar-100-binary``): records of
label byte(s) then 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, rows
of 32). CIFAR-10 has one label byte; CIFAR-100 two (coarse, fine) and we use
the fine label. Files: ``data_batch_{1..5}.bin`` + ``test_batch.bin``, or
``train.bin`` + ``test.bin``.

Python version (``cifar-10-batches-py``, ``cifar-100-python``): pickled dicts
with ``data`` (a ``uint8`` array N × 3,072) and ``labels`` / ``fine_labels``.
Unpickling can run arbitrary code, so they are read by :class:`CifarUnpickler`,
which accepts only the globals that format holds (NumPy's array
reconstruction, ``numpy.dtype`` and the byte-string codec) and refuses
anything else before it is called.

``DIR`` may be the extracted directory or the directory that holds it.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from cnnzoo.data.arrays import ArrayDataset
from cnnzoo.data.datasets import DataBundle, DataError, register_dataset

__all__ = ["CifarUnpickler", "read_binary_batch", "read_python_batch"]

PIXELS = 3 * 32 * 32
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, numbers and NumPy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 pickles bytes under protocol 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: a CIFAR batch holds only arrays and lists")
        return super().find_class(module, name)


def read_python_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 3, 32, 32), labels (N,))`` from a pickled CIFAR batch."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected a CIFAR Python batch)") from None
    try:
        obj = CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{path}: {e}") from None
    except Exception as e:  # truncated or not a pickle at all
        raise DataError(f"{path}: not a readable CIFAR Python batch ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: holds a {type(obj).__name__}; expected the dict of a CIFAR batch")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    data, labels = d.get("data"), d.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: 'data' is {got}; expected a uint8 array of shape (N, {PIXELS})")
    if len(data) == 0:
        raise DataError(f"{path}: holds 0 images; expected at least one")
    if labels is None or len(labels) != len(data):
        raise DataError(f"{path}: expected {len(data)} entries under {label_key!r}")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def read_binary_batch(path: Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` from a CIFAR binary batch; the last label byte is the label."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected a CIFAR binary batch)") from None
    record = label_bytes + PIXELS
    if raw.size == 0 or raw.size % record:
        raise DataError(
            f"{path}: {raw.size} bytes is not a whole number of {record}-byte records "
            f"({label_bytes} label byte(s) + {PIXELS} pixels); the file is truncated or not this format"
        )
    rec = raw.reshape(-1, record)
    return rec[:, label_bytes:].reshape(-1, 3, 32, 32), rec[:, label_bytes - 1].astype(np.int64)


def _find_dir(root: Path, names: tuple[str, ...], markers: tuple[str, ...]) -> Path:
    for d in (root, *(root / n for n in names)):
        if any((d / m).exists() for m in markers):
            return d
    raise DataError(f"{root}: found none of {', '.join(markers)} here or in {', '.join(names)}/ (expected a CIFAR directory)")


def _names(path: Path) -> list[str] | None:
    if path.is_file():
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return None


def _bundle(name: str, x_tr, y_tr, x_te, y_te, classes: list[str], where: Path) -> DataBundle:
    k = len(classes)
    for y, part in ((y_tr, "training"), (y_te, "test")):
        if y.size and (y.min() < 0 or y.max() >= k):
            raise DataError(f"{where}: a {part} label is out of range 0..{k - 1}")
    return DataBundle(name=name, train=ArrayDataset(x_tr, y_tr), test=ArrayDataset(x_te, y_te), num_classes=k, in_chans=3, image_size=(32, 32), class_names=classes, meta={"aug": "cifar"})


def _load(path: str | None, hundred: bool) -> DataBundle:
    root = Path(path or "")
    if not root.is_dir():
        raise DataError(f"{root}: not a directory (expected a CIFAR-{100 if hundred else 10} directory)")
    name = "cifar100" if hundred else "cifar10"
    if hundred:
        d = _find_dir(root, ("cifar-100-binary", "cifar-100-python"), ("train.bin", "train"))
        if (d / "train.bin").exists():
            x_tr, y_tr = read_binary_batch(d / "train.bin", 2)
            x_te, y_te = read_binary_batch(d / "test.bin", 2)
            classes = _names(d / "fine_label_names.txt")
        else:
            x_tr, y_tr = read_python_batch(d / "train", "fine_labels")
            x_te, y_te = read_python_batch(d / "test", "fine_labels")
            classes = None
        return _bundle(name, x_tr, y_tr, x_te, y_te, classes or [str(i) for i in range(100)], d)
    d = _find_dir(root, ("cifar-10-batches-bin", "cifar-10-batches-py"), ("data_batch_1.bin", "data_batch_1"))
    binary = (d / "data_batch_1.bin").exists()
    parts = []
    for stem in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        parts.append(read_binary_batch(d / f"{stem}.bin", 1) if binary else read_python_batch(d / stem, "labels"))
    x_tr = np.concatenate([p[0] for p in parts[:5]])
    y_tr = np.concatenate([p[1] for p in parts[:5]])
    classes = _names(d / "batches.meta.txt") if binary else None
    return _bundle(name, x_tr, y_tr, *parts[5], classes or CIFAR10_CLASSES, d)


@register_dataset("cifar10", needs_path=True, help="CIFAR-10, binary or Python version (read without running pickled code)")
def cifar10(path: str | None, **_: object) -> DataBundle:
    return _load(path, hundred=False)


@register_dataset("cifar100", needs_path=True, help="CIFAR-100 (fine labels), binary or Python version")
def cifar100(path: str | None, **_: object) -> DataBundle:
    return _load(path, hundred=True)
