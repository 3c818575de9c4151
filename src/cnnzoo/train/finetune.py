"""Fine-tuning (d2l.ai §14.2): start from a trained model, replace its output layer.

1. Train a source model (``cnnzoo train … --out runs/src``).
2. Create the target model: the same architecture with the new ``num_classes``.
3. Copy every weight of the source except its output layers, which keep their
   fresh initialisation (:func:`load_backbone`). The output layers are the ones
   the model names itself (``model.output_layers()``, the model interface of
   :mod:`cnnzoo.models.interface`): the classifier and, in GoogLeNet and
   Inception v3, the auxiliary classifiers' output layers.
4. Train the target; the copied layers either with a smaller learning rate
   (``--backbone-lr-mult 0.1``) or not at all (``--freeze backbone``).
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from cnnzoo.train.checkpoint import CheckpointError, load_checkpoint

__all__ = ["head_names", "load_backbone", "param_groups"]


def head_names(model: nn.Module) -> list[str]:
    """Module names of the output layers of ``model`` and of the other layers sized by its classes."""
    sized = [n for n in getattr(model, "class_sized_names", ()) if any(k.startswith(n + ".") for k in model.state_dict())]
    return list(model.output_layers()) + sized  # type: ignore[operator]


def _in_head(key: str, heads: list[str]) -> bool:
    return any(key.startswith(h + ".") for h in heads)


def load_backbone(model: nn.Module, checkpoint: str | os.PathLike[str], model_name: str) -> list[str]:
    """Copy all weights of ``checkpoint`` but its output layers into ``model``; returns the head names."""
    ckpt = load_checkpoint(checkpoint)
    if ckpt.meta.model != model_name:
        raise CheckpointError(f"--init {checkpoint} holds a {ckpt.meta.model!r} model; fine-tuning needs the same architecture, {model_name!r}")
    heads = head_names(model)
    own = model.state_dict()
    state = {k: v for k, v in ckpt.model.items() if not _in_head(k, heads)}
    for k, v in state.items():
        if k not in own:
            raise CheckpointError(f"--init {checkpoint}: weight {k!r} has no place in {model_name}")
        if own[k].shape != v.shape:
            raise CheckpointError(f"--init {checkpoint}: {k} is {tuple(v.shape)} there but {tuple(own[k].shape)} here (in_chans differs?)")
    missing = [k for k in own if k not in state and not _in_head(k, heads)]
    if missing:
        raise CheckpointError(f"--init {checkpoint}: no weights for {missing[:3]} (a different variant of {model_name}?)")
    model.load_state_dict(state, strict=False)
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
