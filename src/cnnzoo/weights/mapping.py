"""Putting a source's tensors into a cnnzoo model.

Each supported source model ships its state-dict manifest (``manifests/``:
every tensor name, shape and dtype, in the order the source's own code creates
them, recorded from torchvision's and timm's model definitions). A checkpoint
is checked against it (a missing, unexpected or misshapen tensor is named),
put into the source's order and paired, position by position, with the cnnzoo
model's tensors; every pair must have the same shape. Whether a pairing is the
*right* one is not assumed: ``tests/weights`` proves, for every manifest, that
the imported cnnzoo model computes the logits the source network computes.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources

import torch
from torch import nn

from cnnzoo.weights.catalog import SourceModel
from cnnzoo.weights.errors import WeightsError

__all__ = ["assign", "fold_conv_bias", "shortcut_last", "load_manifest", "transfer"]

_COUNTER = "num_batches_tracked"  # BN's step counter: not a weight, never mapped


@cache
def load_manifest(key: str) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    """``((name, shape, dtype), ...)`` of the source model ``key`` (``"torchvision-resnet50"``)."""
    path = resources.files("cnnzoo.weights") / "manifests" / f"{key}.json.gz"
    if not path.is_file():
        raise WeightsError(f"no tensor manifest is shipped for {key}; it cannot be imported")
    with gzip.open(path.open("rb"), "rt") as f:
        return tuple((n, tuple(s), d) for n, s, d in json.load(f))


def _check_against_manifest(tensors: dict[str, torch.Tensor], entry: SourceModel, label: str) -> list[str]:
    """The source names in order; one line naming the first tensor that does not fit."""
    manifest = load_manifest(entry.key)
    expected = {n: s for n, s, _ in manifest}
    missing = [n for n in expected if n not in tensors and not n.endswith(_COUNTER)]
    extra = sorted(n for n in tensors if n not in expected)
    if missing or extra:
        what = f"lacks {missing[0]}, which" if missing else f"has {extra[0]}, which is not"
        raise WeightsError(
            f"{label}: {what} in {entry.source} {entry.name}'s state dict ({len(missing)} missing, "
            f"{len(extra)} unexpected); expected a {entry.source} {entry.name} checkpoint"
        )
    for n, shape, _ in manifest:
        if n in tensors and tuple(tensors[n].shape) != shape:
            raise WeightsError(f"{label}: tensor {n} has shape {tuple(tensors[n].shape)}; {entry.source} {entry.name} has {shape}")
    return [n for n, _, _ in manifest if not n.endswith(_COUNTER) and not n.startswith(entry.drop)]


def fold_conv_bias(tensors: dict[str, torch.Tensor], order: list[str]) -> list[str]:
    """Move each convolution's bias into the BatchNorm that follows it; the bias leaves ``order``.

    BN(conv(x) + b) with running mean μ equals BN'(conv(x)) with running mean
    μ − b: exactly the same function, for networks (cnnzoo's VGG-BN, ResNet)
    that drop the redundant bias before a BatchNorm.
    """
    kept = []
    for i, name in enumerate(order):
        stem = name[: -len(".bias")] if name.endswith(".bias") else None
        nxt = order[i + 1] if i + 1 < len(order) else ""
        bn = nxt[: -len(".weight")] if nxt.endswith(".weight") else ""
        if stem and tensors.get(f"{stem}.weight", torch.zeros(0)).dim() == 4 and f"{bn}.running_mean" in tensors:
            tensors[f"{bn}.running_mean"] = tensors[f"{bn}.running_mean"] - tensors[name]
            continue
        kept.append(name)
    return kept


def shortcut_last(order: list[str], parts: tuple[str, ...]) -> list[str]:
    """Within each top-level block (``block3.``), move the names containing one of ``parts`` to its end."""
    out: list[str] = []
    shortcut: list[str] = []
    for i, name in enumerate(order):
        (shortcut if any(p in name for p in parts) else out).append(name)
        nxt = order[i + 1] if i + 1 < len(order) else ""
        if nxt.split(".", 1)[0] != name.split(".", 1)[0]:  # the block ends here
            out += shortcut
            shortcut = []
    return out


def transfer(tensors: dict[str, torch.Tensor], entry: SourceModel, model: nn.Module, label: str) -> None:
    """Load ``tensors`` (a checkpoint of ``entry``) into ``model`` in place."""
    order = _check_against_manifest(tensors, entry, label)
    tensors = dict(tensors)
    if entry.fold_conv_bias:
        order = fold_conv_bias(tensors, order)
    if entry.shortcut_last:
        order = shortcut_last(order, entry.shortcut_last)
    assign([(n, tensors[n]) for n in order], entry, model, label)


def assign(pairs: list[tuple[str, torch.Tensor]], entry: SourceModel, model: nn.Module, label: str) -> None:
    """Copy the source tensors, in the source's order, onto ``model``'s tensors in its order."""
    state = model.state_dict()
    targets = [k for k in state if not k.endswith(_COUNTER)]
    if len(targets) != len(pairs):
        raise WeightsError(f"{label}: {entry.source} {entry.name} has {len(pairs)} tensors to import; cnnzoo {entry.model} has {len(targets)}")
    for (src, tensor), dst in zip(pairs, targets):
        if tuple(tensor.shape) != tuple(state[dst].shape):
            raise WeightsError(
                f"{label}: {src} {tuple(tensor.shape)} does not fit cnnzoo {entry.model}'s {dst} {tuple(state[dst].shape)}"
            )
        state[dst] = tensor.detach().to(state[dst].dtype).clone()
    model.load_state_dict(state)
