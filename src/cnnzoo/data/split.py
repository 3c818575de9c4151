"""Seeded splits: a validation set carved from training data, a subset of the classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from cnnzoo.data.datasets import DataBundle, DataError

__all__ = [
    "carve_validation", "dataset_targets", "prepare_data", "require_both_splits", "select_classes", "stratified_split",
]


def stratified_split(labels: Sequence[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices ``(keep, held_out)``: about ``fraction`` of each class held out, drawn with ``seed``.

    Every class with at least two samples keeps one and holds out at least one.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"a split fraction must be in (0, 1); got {fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    keep, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = int(round(fraction * len(idx)))
        n = min(max(n, 1), len(idx) - 1) if len(idx) > 1 else 0
        held += idx[:n].tolist()
        keep += idx[n:].tolist()
    return sorted(keep), sorted(held)


def require_both_splits(where: object, n_train: int, n_test: int, how: str) -> None:
    """A :class:`DataError` naming ``where`` unless both splits hold at least one image.

    An empty training set would fail inside batching; an empty test set
    reports "test accuracy 0.00%" of nothing.
    """
    if n_train < 1 or n_test < 1:
        raise DataError(
            f"{where}: {n_train} training and {n_test} test image(s) after {how}; "
            "expected at least one of each (a class needs 2 images to give the test split one)"
        )


def dataset_targets(ds: Dataset) -> list:
    """The targets of a data set without decoding its images (where the data set allows)."""
    if isinstance(ds, Subset):
        inner = dataset_targets(ds.dataset)
        return [inner[i] for i in ds.indices]
    for attr in ("targets", "tensors"):
        t = getattr(ds, attr, None)
        if t is not None:
            t = t[1] if attr == "tensors" else t
            return t.tolist() if isinstance(t, torch.Tensor) else list(t)
    return [ds[i][1].tolist() for i in range(len(ds))]  # type: ignore[index]


def _class_key(t) -> int:
    # Multi-label rows are stratified by their first label.
    return int(np.argmax(t)) if isinstance(t, list) else int(t)


def carve_validation(bundle: DataBundle, fraction: float, seed: int) -> DataBundle:
    """``bundle`` with ``fraction`` of its training set (per class, seeded) moved to ``val``."""
    if bundle.task == "segmentation":  # no class per image: one stratum, a plain seeded split
        labels = [0] * len(bundle.train)
    else:
        labels = [_class_key(t) for t in dataset_targets(bundle.train)]
    keep, held = stratified_split(labels, fraction, seed)
    return replace(bundle, train=Subset(bundle.train, keep), val=Subset(bundle.train, held))


class _Relabel(Dataset):
    def __init__(self, ds: Dataset, indices: list[int], mapping: dict[int, int]) -> None:
        self.ds, self.indices, self.mapping = ds, indices, mapping
        targets = dataset_targets(ds)
        self.targets = [mapping[int(targets[i])] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        x, _ = self.ds[self.indices[i]]
        return x, torch.tensor(self.targets[i])


def select_classes(bundle: DataBundle, classes: Sequence[int]) -> DataBundle:
    """Only the samples of ``classes``, relabelled ``0 … len(classes) − 1`` in the order given."""
    if bundle.task != "classification":
        raise ValueError(f"--classes works on single-label classification data; {bundle.name} is {bundle.task}")
    bad = [c for c in classes if not 0 <= c < bundle.num_classes]
    if bad or len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"--classes must be distinct class indices in 0..{bundle.num_classes - 1}; got {list(classes)}")
    mapping = {c: i for i, c in enumerate(classes)}

    def sub(ds: Dataset | None) -> Dataset | None:
        if ds is None:
            return None
        idx = [i for i, t in enumerate(dataset_targets(ds)) if int(t) in mapping]
        return _Relabel(ds, idx, mapping)

    names = [bundle.class_names[c] for c in classes] if bundle.class_names else [str(c) for c in classes]
    return replace(bundle, train=sub(bundle.train), test=sub(bundle.test), val=sub(bundle.val), num_classes=len(classes), class_names=names)


def prepare_data(
    spec: str,
    *,
    image_size: int | None = None,
    classes: Sequence[int] | None = None,
    val_split: float = 0.0,
    seed: int = 0,
    default_size: int | None = None,
) -> DataBundle:
    """The data a run trains on: ``spec`` at ``image_size``, only ``classes``, a seeded validation split.

    ``default_size``: the side folder: and csv: images are resized to when
    ``image_size`` is not given, normally the model's own input size (the
    registry's ``input_size[-1]``); without it they use 224. Formats with a
    fixed size (MNIST, CIFAR, digits) ignore it.

    Training and evaluating a run's checkpoint both call this, so ``cnnzoo eval
    RUN`` sees exactly the classes and the test split the run saw.
    """
    from cnnzoo.data.datasets import build_data

    # folder: and csv: call it image_size; the embedded digits call it size.
    options: dict[str, int] = {"image_size": image_size, "size": image_size} if image_size else {}
    if default_size:
        options["default_size"] = default_size
    bundle = build_data(spec, **options)
    if classes:
        bundle = select_classes(bundle, classes)
    if val_split > 0:
        bundle = carve_validation(bundle, val_split, seed)
    return bundle
