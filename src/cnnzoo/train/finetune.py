"""Fine-tuning (d2l.ai §14.2, seed 001 steps 1–4): start from a trained model, replace its output layer.

1. Train a source model (``cnnzoo train … --out runs/src``).
2. Create the target model: the same architecture with the new ``num_classes``.
3. Copy every weight of the source except its output layer, which keeps its
   fresh initialisation (:func:`load_backbone`).
4. Train the target; the copied layers either with a smaller learning rate
   (``--backbone-lr-mult 0.1``) or not at all (``--freeze backbone``).

The output layer is the last ``Linear`` or ``Conv2d`` whose outputs are the
classes; auxiliary classifiers' output layers (GoogLeNet, Inception v3) are
replaced too.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from cnnzoo.train.checkpoint import CheckpointError, load_checkpoint

__all__ = ["head_prefixes", "load_backbone", "param_groups"]


def _out_dim(m: nn.Module) -> int | None:
    if isinstance(m, nn.Linear):
        return m.out_features
    if isinstance(m, nn.Conv2d):
        return m.out_channels
    return None


def head_prefixes(model: nn.Module, num_classes: int) -> list[str]:
    """Module names of the output layer (and auxiliary output layers) of ``model``."""
    found = [name for name, m in model.named_modules() if _out_dim(m) == num_classes]
    if not found:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv2d layer with {num_classes} outputs to replace")
    heads = [found[-1]] + [n for n in found[:-1] if "aux" in n.lower()]
    return sorted(set(heads))


def _in_head(key: str, heads: list[str]) -> bool:
    return any(key.startswith(h + ".") for h in heads)


def load_backbone(model: nn.Module, checkpoint: str | os.PathLike[str], model_name: str, num_classes: int) -> list[str]:
    """Copy all weights of ``checkpoint`` but its output layer(s) into ``model``; returns the head names."""
    ckpt = load_checkpoint(checkpoint)
    spec = ckpt["meta"].get("model") or {}
    if spec.get("name") != model_name:
        raise CheckpointError(f"--init {checkpoint} holds a {spec.get('name')!r} model; fine-tuning needs the same architecture, {model_name!r}")
    old_classes = int(spec.get("kwargs", {}).get("num_classes", num_classes))
    heads = head_prefixes(model, num_classes)
    src = ckpt["model"]
    # The source's head may sit under the same names; its outputs are the old classes.
    own = model.state_dict()
    state = {k: v for k, v in src.items() if not _in_head(k, heads)}
    for k, v in state.items():
        if k not in own:
            raise CheckpointError(f"--init {checkpoint}: weight {k!r} has no place in {model_name}")
        if own[k].shape != v.shape:
            raise CheckpointError(f"--init {checkpoint}: {k} is {tuple(v.shape)} there but {tuple(own[k].shape)} here (in_chans differs?)")
    missing = [k for k in own if k not in state and not _in_head(k, heads)]
    if missing:
        raise CheckpointError(f"--init {checkpoint}: no weights for {missing[:3]} (a different variant of {model_name}?)")
    model.load_state_dict(state, strict=False)
    model.cnnzoo_init = {"checkpoint": str(checkpoint), "source_classes": old_classes, "heads": heads}  # type: ignore[assignment]
    return heads


def param_groups(model: nn.Module, heads: list[str], lr: float, *, backbone_lr_mult: float = 1.0, freeze_backbone: bool = False) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the backbone at ``lr × backbone_lr_mult`` (or frozen), the head at ``lr``."""
    backbone, head = [], []
    for name, p in model.named_parameters():
        (head if _in_head(name, heads) else backbone).append(p)
    if freeze_backbone:
        for p in backbone:
            p.requires_grad_(False)
        return [{"params": head, "lr": lr}]
    return [{"params": backbone, "lr": lr * backbone_lr_mult}, {"params": head, "lr": lr}]
