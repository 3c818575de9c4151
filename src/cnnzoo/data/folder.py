"""``folder:DIR``: an ImageFolder tree, one sub-directory per class.

Either ``DIR/train/<class>/*`` with ``DIR/test/<class>/*`` (or ``DIR/val``), or
``DIR/<class>/*`` alone, from which a stratified 20% test split is drawn with
a fixed seed. Classes are the sorted sub-directory names; a class folder of
the training tree without images is refused rather than made an output class
that never sees an example. The first image's mode decides the channels
(grey-scale → 1, anything else → RGB). Every image is resized and
centre-cropped (see ``images.py``) to ``image_size`` (``--image-size``), else
to ``default_size`` (the caller's model input size), else to
``DEFAULT_IMAGE_SIZE`` (224), never to the size of whichever file comes first.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cnnzoo.data.datasets import DataBundle, DataError, register_dataset
from cnnzoo.data.images import IMAGE_EXTENSIONS, ImageListDataset, probe_image, resolve_size
from cnnzoo.data.split import require_both_splits, stratified_split

__all__ = ["scan_tree"]

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def scan_tree(root: Path, classes: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """Image paths, class indices and class names of an ImageFolder tree."""
    if not root.is_dir():
        raise DataError(f"{root}: not a directory (expected one sub-directory of images per class)")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    training = classes is None  # a test tree may lack some of the training classes
    classes = classes or found
    if not classes:
        raise DataError(f"{root}: no class sub-directories (expected {root}/<class>/<image>)")
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataError(f"{root}: classes {unknown} are not in the training tree's classes {classes}")
    paths, labels = [], []
    for k, name in enumerate(classes):
        d = root / name
        files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS) if d.is_dir() else []
        if not files and training:
            # A training class without images would still get an output unit the model can never learn.
            raise DataError(f"{d}: class folder with no image files ({', '.join(IMAGE_EXTENSIONS)}); add images or remove it")
        paths += files
        labels += [k] * len(files)
    if not paths:
        raise DataError(f"{root}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in its class sub-directories")
    return paths, labels, classes


@register_dataset("folder", needs_path=True, help="an ImageFolder tree DIR/<class>/<image> (or DIR/train + DIR/test), Pillow")
def folder(path: str | None, *, image_size: int | None = None, default_size: int | None = None, **_: object) -> DataBundle:
    root = Path(path or "").expanduser()
    train_dir = root / "train"
    if train_dir.is_dir():
        paths, labels, classes = scan_tree(train_dir)
        test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
        if test_dir is None:
            raise DataError(f"{root}: has train/ but no test/ or val/ (expected both, or one tree of class folders)")
        te_paths, te_labels, _ = scan_tree(test_dir, classes)
    else:
        all_paths, all_labels, classes = scan_tree(root)
        tr, te = stratified_split(all_labels, TEST_FRACTION, SPLIT_SEED)
        paths, labels = [all_paths[i] for i in tr], [all_labels[i] for i in tr]
        te_paths, te_labels = [all_paths[i] for i in te], [all_labels[i] for i in te]
        require_both_splits(root, len(paths), len(te_paths), f"holding out a seeded {TEST_FRACTION:.0%} of each class")
    mode, _ = probe_image(paths[0])
    size = resolve_size(image_size, default_size)
    return DataBundle(
        name=f"folder-{root.resolve().name}",
        train=ImageListDataset(paths, torch.tensor(labels), mode, size),
        test=ImageListDataset(te_paths, torch.tensor(te_labels), mode, size),
        num_classes=len(classes),
        in_chans=1 if mode == "L" else 3,
        image_size=(size, size),
        class_names=classes,
    )
