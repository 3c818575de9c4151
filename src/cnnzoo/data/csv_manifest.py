"""``csv:FILE``: a manifest of image paths with one or more labels per row.

Format (a header row, then one image per row)::

    path,labels,split
    img/0001.jpg,cat;outdoor,train
    img/0002.jpg,dog,test

``path`` is relative to the manifest's directory (or absolute); ``labels`` are
class names separated by ``;``; the ``split`` column (``train``/``test``) is
optional, and without it a seeded 20% test split is drawn. Classes are the
sorted set of names. The file is UTF-8, with or without the byte-order mark
spreadsheet programs write. Without a split column both the seeded training
and test splits must hold an image. Images are brought to one size as
``folder:`` does (``image_size``, else ``default_size``, else 224). If any
row has more than one label the task is ``"multilabel"``: targets are
multi-hot rows, the model's outputs go through a sigmoid each, and evaluation
reports per-label precision and recall; otherwise it is ordinary
classification.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from cnnzoo.data.datasets import DataBundle, DataError, register_dataset
from cnnzoo.data.images import ImageListDataset, probe_image, resolve_size
from cnnzoo.data.split import require_both_splits, stratified_split

__all__ = ["read_manifest"]

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def read_manifest(file: Path) -> list[tuple[Path, list[str], str | None]]:
    """Rows ``(image path, label names, split or None)``; ``DataError`` naming the line if malformed."""
    try:
        text = file.read_text(encoding="utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except FileNotFoundError:
        raise DataError(f"{file}: file not found (expected a CSV manifest: path,labels[,split])") from None
    except UnicodeDecodeError:
        raise DataError(f"{file}: not UTF-8 text (expected a CSV manifest: path,labels[,split])") from None
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "path" not in fields or "labels" not in fields:
        raise DataError(f"{file}: header {reader.fieldnames}; expected columns path,labels[,split]")
    rows = []
    for line, raw in enumerate(reader, start=2):
        r = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        labels = [s.strip() for s in r["labels"].split(";") if s.strip()]
        if not r["path"] or not labels:
            raise DataError(f"{file}:{line}: a row needs a path and at least one label")
        split = r.get("split") or None
        if split not in (None, "train", "test"):
            raise DataError(f"{file}:{line}: split {split!r}; expected train or test")
        p = Path(r["path"])
        rows.append((p if p.is_absolute() else file.parent / p, labels, split))
    if not rows:
        raise DataError(f"{file}: the manifest lists no images")
    return rows


@register_dataset("csv", needs_path=True, help="a CSV manifest path,labels[,split]; several labels per row → multi-label")
def csv_manifest(path: str | None, *, image_size: int | None = None, default_size: int | None = None, **_: object) -> DataBundle:
    file = Path(path or "").expanduser()
    rows = read_manifest(file)
    classes = sorted({name for _, labels, _ in rows for name in labels})
    index = {c: i for i, c in enumerate(classes)}
    multilabel = any(len(labels) > 1 for _, labels, _ in rows)
    if multilabel:
        targets = torch.zeros(len(rows), len(classes))
        for i, (_, labels, _) in enumerate(rows):
            targets[i, [index[n] for n in labels]] = 1.0
    else:
        targets = torch.tensor([index[labels[0]] for _, labels, _ in rows])
    if any(s is not None for *_, s in rows):
        tr = [i for i, r in enumerate(rows) if r[2] != "test"]
        te = [i for i, r in enumerate(rows) if r[2] == "test"]
        if not tr or not te:
            raise DataError(f"{file}: the split column must give at least one train and one test row")
    else:
        tr, te = stratified_split([index[labels[0]] for _, labels, _ in rows], TEST_FRACTION, SPLIT_SEED)
        how = f"holding out a seeded {TEST_FRACTION:.0%} of each class (no split column)"
        require_both_splits(file, len(tr), len(te), how)
    paths = [r[0] for r in rows]
    mode, _ = probe_image(paths[tr[0]])
    size = resolve_size(image_size, default_size)
    return DataBundle(
        name=f"csv-{file.stem}",
        train=ImageListDataset([paths[i] for i in tr], targets[tr], mode, size),
        test=ImageListDataset([paths[i] for i in te], targets[te], mode, size),
        num_classes=len(classes),
        in_chans=1 if mode == "L" else 3,
        image_size=(size, size),
        class_names=classes,
        task="multilabel" if multilabel else "classification",
    )
