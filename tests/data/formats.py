"""Writers of small files in each real on-disk format, for the data and training tests."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def idx_bytes(a: np.ndarray) -> bytes:
    """An IDX file: 0, 0, type 0x08, ndim, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    return header + a.astype(np.uint8).tobytes()


def write_mnist(d: Path, n_train: int = 40, n_test: int = 20, gz: bool = True, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % 10
        x = rng.integers(0, 50, (n, 28, 28), dtype=np.uint8)
        x[np.arange(n), 2 + 2 * y, 5] = 255  # a label-dependent bright pixel
        for kind, arr, nd in (("images", x, 3), ("labels", y, 1)):
            data = idx_bytes(arr)
            name = f"{prefix}-{kind}-idx{nd}-ubyte"
            if gz:
                (d / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (d / name).write_bytes(data)
    return d


def cifar_arrays(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), (np.arange(n) % k).astype(np.int64)


def write_cifar10_binary(d: Path, n: int = 6) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        x, y = cifar_arrays(n, 10, i)
        (d / f"{stem}.bin").write_bytes(np.concatenate([y[:, None].astype(np.uint8), x], 1).tobytes())
    return d


def write_cifar10_python(d: Path, n: int = 6) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        x, y = cifar_arrays(n, 10, i)
        obj = {b"batch_label": b"batch", b"labels": y.tolist(), b"data": x, b"filenames": [b"a.png"] * n}
        (d / stem).write_bytes(pickle.dumps(obj, protocol=2))
    return d


def write_cifar100_binary(d: Path, n: int = 8) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(("train", "test")):
        x, fine = cifar_arrays(n, 100, i)
        coarse = fine // 5
        rec = np.concatenate([coarse[:, None], fine[:, None], x], 1).astype(np.uint8)
        (d / f"{stem}.bin").write_bytes(rec.tobytes())
    return d


def write_png(path: Path, size: int = 12, mode: str = "RGB", value: int = 0) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    arr = rng.integers(0, 255, shape, dtype=np.uint8)
    Image.fromarray(arr, mode=mode).save(path)
    return path


def write_folder(d: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 5, mode: str = "RGB") -> Path:
    for c in classes:
        for i in range(per_class):
            write_png(d / c / f"{i}.png", mode=mode, value=i + 10 * len(c))
    return d


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR claims ``width × height`` 8-bit grey pixels, with a tiny IDAT: a decompression bomb's header."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def write_exif_jpeg(path: Path, orientation: int, width: int = 40, height: int = 20) -> Path:
    """A ``width × height`` JPEG, white in its left quarter, tagged with EXIF ``orientation`` (tag 0x0112)."""
    from PIL import Image

    a = np.zeros((height, width, 3), np.uint8)
    a[:, : width // 4] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a).save(path, exif=exif.tobytes(), quality=95)
    return path
