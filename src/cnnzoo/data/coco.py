"""``coco:DIR`` or ``coco:FILE``: COCO object detection annotations (Lin et al. 2014, arXiv:1405.0312).

``DIR`` holds ``annotations/instances_<train>.json`` and
``annotations/instances_<val or test>.json`` (``instances_train2017.json``,
``instances_val2017.json``) with the images in ``DIR/<split>/`` (``train2017/``),
``DIR/images/<split>/`` or ``DIR/images/``. ``FILE`` is one
``instances_*.json``; a fixed 20% of its images (seeded) become the test split,
and images are looked up next to it (``<file's folder>/<file_name>``, then
``images/``, then ``../<split>/``).

Each annotation's ``bbox`` ``[x, y, width, height]`` becomes corners
``(x, y, x + w, y + h)``; ``iscrowd`` and ``area`` are kept, since COCO's
evaluation ignores crowd regions and sorts boxes into small/medium/large by
``area``. Boxes are clipped to the image and those left with no area are
dropped (COCO has a few zero-size boxes; torchvision drops them too).
Categories keep their order by id and become labels 0…K−1; names come from
the file. Images are decoded and resized as for ``voc:`` (see
:mod:`cnnzoo.data.voc_det`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnzoo.data.datasets import DataBundle, DataError, register_dataset
from cnnzoo.data.voc_det import DEFAULT_SIZE, FileDetectionDataset

__all__ = ["coco", "read_coco_json"]

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e}; expected COCO instances JSON)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}; expected COCO instances JSON)") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise DataError(f"{path}: expected a COCO instances object with lists 'images', 'annotations' and 'categories'")
    return data


def _box(ann: Any, k: int, path: Path, size: tuple[float, float]) -> list[float] | None:
    bbox = ann.get("bbox") if isinstance(ann, dict) else None
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        raise DataError(f"{path}: annotations[{k}].bbox is {bbox!r}; expected [x, y, width, height] numbers")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise DataError(f"{path}: annotations[{k}].bbox has a negative width or height: {bbox}")
    x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + w, size[0]), min(y + h, size[1])
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None


def read_coco_json(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Tensor]], list[str]]:
    """``(images, targets, class names)``: the file's image records, one target per image, names by category id."""
    data = _load(path)
    try:
        cats = sorted((int(c["id"]), str(c["name"])) for c in data["categories"])
        images = [{"id": int(im["id"]), "file_name": str(im["file_name"]), "width": float(im["width"]), "height": float(im["height"])}
                  for im in data["images"]]  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: a category or image record lacks {e} (expected id and name; id, file_name, width, height)") from None
    label = {cid: k for k, (cid, _) in enumerate(cats)}
    rows: dict[int, list[tuple[list[float], int, bool, float]]] = {im["id"]: [] for im in images}
    size = {im["id"]: (im["width"], im["height"]) for im in images}
    for k, ann in enumerate(data["annotations"]):
        img, cat = (ann.get(f) if isinstance(ann, dict) else None for f in ("image_id", "category_id"))
        if img not in rows or cat not in label:
            raise DataError(f"{path}: annotations[{k}] refers to image_id {img!r} / category_id {cat!r}, which the file does not list")
        box = _box(ann, k, path, size[img])
        if box is not None:
            area = float(ann.get("area", (box[2] - box[0]) * (box[3] - box[1])))
            rows[img].append((box, label[cat], bool(ann.get("iscrowd", 0)), area))
    targets = [_target(rows[im["id"]]) for im in images]
    return images, targets, [n for _, n in cats]


def _target(rows: list[tuple[list[float], int, bool, float]]) -> dict[str, Tensor]:
    return {
        "boxes": torch.tensor([r[0] for r in rows], dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([r[1] for r in rows], dtype=torch.long),
        "iscrowd": torch.tensor([r[2] for r in rows], dtype=torch.bool),
        "area": torch.tensor([r[3] for r in rows], dtype=torch.float32),
    }


def _find_image(json_path: Path, split: str, name: str) -> Path:
    here = json_path.parent
    for d in (here, here / "images", here.parent / split, here.parent / "images" / split, here.parent / "images", here / split):
        if (d / name).is_file():
            return d / name
    raise DataError(f"{json_path}: image {name!r} not found next to it, in images/ or in ../{split}/")


def _split_files(root: Path) -> tuple[Path, Path]:
    ann = root / "annotations" if (root / "annotations").is_dir() else root
    found = sorted(ann.glob("instances_*.json"))
    train = [p for p in found if "train" in p.stem]
    test = [p for p in found if "test" in p.stem] or [p for p in found if "val" in p.stem]
    if len(train) != 1 or len(test) != 1:
        raise DataError(f"{ann}: expected one instances_*train*.json and one instances_*val*.json (or *test*); found {[p.name for p in found]}")
    return train[0], test[0]


def _dataset(path: Path, images: list[dict[str, Any]], targets: list[dict[str, Tensor]], idx: list[int], size: int) -> FileDetectionDataset:
    split = path.stem.removeprefix("instances_")
    return FileDetectionDataset([_find_image(path, split, images[i]["file_name"]) for i in idx], [targets[i] for i in idx], 3, size)


@register_dataset("coco", needs_path=True, help="COCO detection: DIR with annotations/instances_*.json, or one instances JSON FILE; crowd kept")
def coco(path: str | None, *, image_size: int | None = None, default_size: int | None = None, **_: object) -> DataBundle:
    p = Path(path or "").expanduser()
    size = int(image_size or default_size or DEFAULT_SIZE)
    if p.is_file():
        images, targets, names = read_coco_json(p)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
        n_test = max(1, round(TEST_FRACTION * len(images)))
        if len(images) < 2:
            raise DataError(f"{p}: {len(images)} image(s); a train and a test split need at least 2")
        train, test = _dataset(p, images, targets, sorted(order[n_test:]), size), _dataset(p, images, targets, sorted(order[:n_test]), size)
    elif p.is_dir():
        tr_file, te_file = _split_files(p)
        images, targets, names = read_coco_json(tr_file)
        te_images, te_targets, te_names = read_coco_json(te_file)
        if te_names != names:
            raise DataError(f"{te_file}: categories {te_names[:5]}… differ from {tr_file.name}'s {names[:5]}… (expected the same list)")
        train = _dataset(tr_file, images, targets, list(range(len(images))), size)
        test = _dataset(te_file, te_images, te_targets, list(range(len(te_images))), size)
    else:
        raise DataError(f"{p}: not found (expected a COCO directory with annotations/instances_*.json, or one such file)")
    return DataBundle(
        name="coco", train=train, test=test, num_classes=len(names), in_chans=3, image_size=(size, size),
        class_names=names, task="detection", meta={"aug": "ssd"},
    )  # fmt: skip
