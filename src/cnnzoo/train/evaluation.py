"""Evaluate a checkpoint on a data set, and predict the classes of image files.

``evaluate_checkpoint("runs/x", "digits", tta="10crop")`` rebuilds the model
from its checkpoint, reads the test split, applies the checkpoint's own
normalisation and input size, and returns top-1/top-5 accuracy, per-class
accuracy and the confusion matrix, under any of the evaluation modes of
:mod:`cnnzoo.train.tta`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from cnnzoo.train.checkpoint import CheckpointError, load_model
from cnnzoo.train.metrics import confusion_matrix, per_class_accuracy
from cnnzoo.train.tta import center_crop, resize_shorter, tta_probabilities

__all__ = ["EvalReport", "evaluate_checkpoint", "normalizer", "plot_confusion", "predict_files"]


@dataclass
class EvalReport:
    """What ``cnnzoo eval`` prints: accuracies are fractions in [0, 1]."""

    model: str
    data: str
    mode: str
    scales: list[int]
    num_samples: int
    top1: float
    top5: float
    per_class: list[float]
    confusion: list[list[int]]
    class_names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def normalizer(meta: dict[str, Any], device: torch.device | str = "cpu") -> Callable[[Tensor], Tensor]:
    """``x -> (x − mean) / std`` with the training set's statistics stored in the checkpoint."""
    norm = meta.get("normalize")
    if not norm:
        raise CheckpointError("the checkpoint records no input normalisation (meta['normalize'])")
    mean = torch.tensor(norm["mean"], device=device).view(1, -1, 1, 1)
    std = torch.tensor(norm["std"], device=device).view(1, -1, 1, 1)
    return lambda x: (x - mean) / std


def _dense_model(model: nn.Module) -> nn.Module:
    """The convolutionalised network for dense evaluation, or the model itself when it
    already takes any size (global pooling heads)."""
    from cnnzoo.layers.fc_to_conv import convolutionalize

    if hasattr(model, "features") and hasattr(model, "classifier"):
        pool = getattr(model, "avgpool", None)
        kernel = None if isinstance(pool, nn.AdaptiveAvgPool2d) else 1
        try:
            return convolutionalize(model, kernel_size=kernel).eval()
        except ValueError:
            pass
    return model


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    data: str,
    *,
    tta: str = "center",
    scales: Sequence[int] | None = None,
    batch_size: int = 128,
    device: str = "cpu",
    expect_model: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Top-1/top-5, per-class accuracy and confusion matrix of a checkpoint on ``data``'s test split."""
    from cnnzoo.data import build_data

    model = load_model(checkpoint, device)
    meta = model.cnnzoo_checkpoint_meta
    name = meta["model"]["name"]
    if expect_model is not None and expect_model != name:
        raise CheckpointError(f"{checkpoint} holds a {name}, not a {expect_model}")
    bundle = build_data(data)
    trained = meta.get("data", {})
    if bundle.task != "classification":
        raise ValueError(f"cnnzoo eval evaluates classifiers; {bundle.name} is a {bundle.task} data set")
    if trained.get("num_classes") not in (None, bundle.num_classes):
        raise CheckpointError(
            f"{checkpoint} was trained for {trained['num_classes']} classes ({trained.get('name')}); "
            f"{bundle.name} has {bundle.num_classes}"
        )
    in_chans = meta["model"]["kwargs"].get("in_chans")
    if in_chans not in (None, bundle.in_chans):
        raise CheckpointError(f"{checkpoint} takes {in_chans}-channel images; {bundle.name} has {bundle.in_chans}")
    crop = int(meta["normalize"]["size"][0])
    norm = normalizer(meta, device)
    dense = _dense_model(model) if tta == "dense" else None
    probs, targets = [], []
    for x, y in DataLoader(bundle.test, batch_size=batch_size, shuffle=False):
        probs.append(tta_probabilities(model, x.to(device), tta, crop, norm, scales, dense).cpu())
        targets.append(y)
        if progress is not None:
            progress(len(y))
    p, t = torch.cat(probs), torch.cat(targets)
    k = min(5, p.shape[1])
    top5 = float(p.topk(k, 1).indices.eq(t[:, None]).any(1).float().mean())
    cm = confusion_matrix(p.argmax(1), t, bundle.num_classes)
    from cnnzoo.train.tta import default_scales

    return EvalReport(
        model=name,
        data=bundle.name,
        mode=tta,
        scales=list(scales or default_scales(tta, crop)),
        num_samples=len(t),
        top1=float((p.argmax(1) == t).float().mean()),
        top5=top5,
        per_class=[float(v) for v in per_class_accuracy(cm).nan_to_num(0.0)],
        confusion=cm.tolist(),
        class_names=bundle.class_names or [str(i) for i in range(bundle.num_classes)],
    )


def plot_confusion(report: EvalReport, path: str | os.PathLike[str]) -> None:
    """The confusion matrix as a labelled heat map (rows: true class, columns: predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(report.confusion)
    n = len(cm)
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * n + 2), max(3.5, 0.45 * n + 1.5)))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    names = report.class_names[:n]
    if n <= 30:
        ax.set_xticks(range(n), names, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), names)
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=f"{report.model} on {report.data} ({report.mode}): top-1 {report.top1:.2%}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def load_image(path: str | os.PathLike[str], in_chans: int, invert: bool = False) -> Tensor:
    """An image file as a float tensor ``(C, H, W)`` in [0, 1]; a clear error if it is not an image."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no such image file: {p}")
    try:
        with Image.open(p) as im:
            im = im.convert("L" if in_chans == 1 else "RGB")
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{p} is not an image Pillow can read ({e})") from None
    t = torch.from_numpy(arr)
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)
    return 1.0 - t if invert else t


@torch.no_grad()
def predict_files(
    checkpoint: str | os.PathLike[str],
    paths: Sequence[str | os.PathLike[str]],
    *,
    topk: int = 5,
    invert: bool = False,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Top-``k`` classes with probabilities for each image file (shorter side → training size, center crop)."""
    model = load_model(checkpoint, device)
    meta = model.cnnzoo_checkpoint_meta
    in_chans = meta["model"]["kwargs"].get("in_chans", 3)
    crop = int(meta["normalize"]["size"][0])
    names = meta.get("data", {}).get("class_names") or []
    norm = normalizer(meta, device)
    results = []
    for path in paths:
        x = load_image(path, in_chans, invert)[None].to(device)
        x = center_crop(resize_shorter(x, crop), crop)
        out = model(norm(x))
        p = (out[0] if isinstance(out, (tuple, list)) else out).softmax(1)[0]
        k = min(topk, p.numel())
        vals, idx = p.topk(k)
        results.append({
            "file": str(path),
            "top": [
                {"class": int(i), "name": names[int(i)] if int(i) < len(names) else str(int(i)), "probability": float(v)}
                for v, i in zip(vals, idx)
            ],
        })  # fmt: skip
    return results
