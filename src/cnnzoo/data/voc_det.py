"""``voc:DIR``: Pascal VOC detection (Everingham et al. 2010, IJCV), and the image-file detection set.

Layout (the devkit's ``VOC2007``/``VOC2012`` folder, or a ``VOCdevkit`` holding
exactly one): ``Annotations/<id>.xml``, ``JPEGImages/<id>.jpg`` and
``ImageSets/Main/{trainval,train,test,val}.txt``. Training uses ``trainval``
(else ``train``), testing ``test`` (else ``val``). Each ``<object>`` gives
``name``, ``difficult`` (kept: VOC evaluation ignores those boxes) and
``bndbox`` with 1-based inclusive pixel indices ``xmin … xmax``, which become
continuous corners ``(xmin − 1, ymin − 1, xmax, ymax)``: pixel ``i`` covers
``[i − 1, i]``. Classes are the 20 VOC classes in the devkit's order when
every name is one of them, else the sorted names found in training.

Images are decoded by :func:`cnnzoo.data.images.decode_image` when read and
resized (bilinear, aspect ratio not kept, as SSD warps to 300 × 300: Liu et
al. 2016, arXiv:1512.02325, §3) to ``image_size`` (``--image-size``, else the
model's input size, else 300), their boxes scaled with them.

The XML is parsed with the standard library, which expands entities declared
in a DTD (the "billion laughs" attack; ``defusedxml`` is not a dependency):
an annotation with a ``<!DOCTYPE`` or ``<!ENTITY`` is refused before parsing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnzoo.data.datasets import DataBundle, DataError, register_dataset
from cnnzoo.data.images import decode_image
from cnnzoo.layers.upsample import resize_to

__all__ = ["DEFAULT_SIZE", "VOC_CLASSES", "FileDetectionDataset", "parse_voc_xml", "safe_xml", "voc"]

DEFAULT_SIZE = 300  # SSD300's input
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class FileDetectionDataset(Dataset):
    """Image files decoded on demand, resized to ``size × size``; targets' boxes (and areas) scaled with them.

    ``targets`` hold boxes in the file's own pixels: ``{"boxes": (N, 4), "labels": (N,), ...}``.
    """

    def __init__(self, paths: Sequence[Path], targets: Sequence[dict[str, Tensor]], in_chans: int, size: int) -> None:
        self.paths, self.targets, self.in_chans, self.size = list(paths), list(targets), in_chans, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        x = decode_image(self.paths[i], self.in_chans)
        h, w = x.shape[-2:]
        sx, sy = self.size / w, self.size / h
        target = dict(self.targets[i])
        target["boxes"] = target["boxes"] * torch.tensor([sx, sy, sx, sy])
        if "area" in target:
            target["area"] = target["area"] * (sx * sy)
        return resize_to(x, (self.size, self.size)).clamp_(0.0, 1.0), target


def safe_xml(path: Path) -> ET.Element:
    """The root of an XML file without a DTD; a :class:`DataError` naming the file otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e}; expected a Pascal VOC annotation)") from None
    if _DTD.search(raw):
        raise DataError(f"{path}: has a <!DOCTYPE>/<!ENTITY> declaration; refused (entity expansion is unsafe), expected plain VOC XML")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as e:
        raise DataError(f"{path}: not well-formed XML ({e}; expected a Pascal VOC annotation)") from None


def _number(obj: ET.Element, tag: str, path: Path, k: int) -> float:
    text = obj.findtext(f"bndbox/{tag}")
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{path}: object {k} has no number in <bndbox><{tag}> (got {text!r})") from None


def parse_voc_xml(path: Path) -> tuple[str | None, list[tuple[str, tuple[float, float, float, float], bool]]]:
    """``(filename or None, [(class name, continuous (x1, y1, x2, y2), difficult)])`` of one annotation."""
    root = safe_xml(path)
    if root.tag != "annotation":
        raise DataError(f"{path}: root element is <{root.tag}>; expected <annotation>")
    objects = []
    for k, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise DataError(f"{path}: object {k} has no <name>")
        x1, y1, x2, y2 = (_number(obj, t, path, k) for t in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 or y2 < y1:
            raise DataError(f"{path}: object {k} ({name}) has xmax < xmin or ymax < ymin: {x1:g} {y1:g} {x2:g} {y2:g}")
        difficult = (obj.findtext("difficult") or "0").strip()
        if difficult not in ("0", "1"):
            raise DataError(f"{path}: object {k} ({name}) has <difficult>{difficult}</difficult>; expected 0 or 1")
        objects.append((name, (x1 - 1.0, y1 - 1.0, x2, y2), difficult == "1"))
    filename = (root.findtext("filename") or "").strip() or None
    return filename, objects


def _voc_root(root: Path) -> Path:
    if (root / "Annotations").is_dir():
        return root
    inner = [p for p in sorted(root.glob("*")) if (p / "Annotations").is_dir()] if root.is_dir() else []
    if len(inner) == 1:
        return inner[0]
    raise DataError(f"{root}: no Annotations/ folder (expected a Pascal VOC directory with Annotations, JPEGImages, ImageSets/Main)")


def _ids(root: Path, names: tuple[str, ...]) -> list[str]:
    for n in names:
        f = root / "ImageSets" / "Main" / f"{n}.txt"
        if f.is_file():
            ids = [line.split()[0] for line in f.read_text().splitlines() if line.strip()]
            if not ids:
                raise DataError(f"{f}: lists no image ids (expected one id per line)")
            return ids
    raise DataError(f"{root / 'ImageSets' / 'Main'}: none of {', '.join(n + '.txt' for n in names)} (expected the image ids of each split)")


def _split(root: Path, ids: list[str]) -> tuple[list[Path], list[tuple[str, tuple, bool]]]:
    paths, records = [], []
    for i in ids:
        xml = root / "Annotations" / f"{i}.xml"
        if not xml.is_file():
            raise DataError(f"{xml}: annotation not found (listed in ImageSets/Main)")
        filename, objects = parse_voc_xml(xml)
        image = root / "JPEGImages" / (filename or f"{i}.jpg")
        if not image.is_file():
            raise DataError(f"{image}: image not found (named by {xml})")
        paths.append(image)
        records.append(objects)
    return paths, records


def _targets(records: list, classes: list[str], where: Path) -> list[dict[str, Tensor]]:
    index = {c: k for k, c in enumerate(classes)}
    out = []
    for objects in records:
        unknown = [n for n, _, _ in objects if n not in index]
        if unknown:
            raise DataError(f"{where}: test objects of class {unknown[0]!r}, which no training annotation has (classes {classes})")
        out.append({
            "boxes": torch.tensor([b for _, b, _ in objects], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor([index[n] for n, _, _ in objects], dtype=torch.long),
            "difficult": torch.tensor([d for _, _, d in objects], dtype=torch.bool),
        })  # fmt: skip
    return out


@register_dataset("voc", needs_path=True, help="Pascal VOC detection DIR (Annotations/*.xml, JPEGImages, ImageSets/Main), difficult flags kept")
def voc(path: str | None, *, image_size: int | None = None, default_size: int | None = None, **_: object) -> DataBundle:
    root = _voc_root(Path(path or "").expanduser())
    tr_paths, tr_rec = _split(root, _ids(root, ("trainval", "train")))
    te_paths, te_rec = _split(root, _ids(root, ("test", "val")))
    names = sorted({n for objects in tr_rec for n, _, _ in objects})
    if not names:
        raise DataError(f"{root / 'Annotations'}: the training annotations have no <object> (expected boxes to learn)")
    classes = list(VOC_CLASSES) if set(names) <= set(VOC_CLASSES) else names
    size = int(image_size or default_size or DEFAULT_SIZE)
    return DataBundle(
        name="voc",
        train=FileDetectionDataset(tr_paths, _targets(tr_rec, classes, root), 3, size),
        test=FileDetectionDataset(te_paths, _targets(te_rec, classes, root), 3, size),
        num_classes=len(classes),
        in_chans=3,
        image_size=(size, size),
        class_names=classes,
        task="detection",
        meta={"aug": "ssd", "root": str(root)},
    )
