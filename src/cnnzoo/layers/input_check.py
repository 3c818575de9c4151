"""The clear error for an input too small for a network."""

from __future__ import annotations

import torch
from torch import Tensor


def is_symbolic(x: object) -> bool:
    """True while ``torch.fx`` traces a model (for quantisation): shapes are not known then."""
    return isinstance(x, torch.fx.Proxy)


def check_input_size(x: Tensor, min_size: int, model: str, in_chans: int | None = None) -> None:
    """Raise a ``ValueError`` naming ``model`` and its smallest input if ``x`` is too small.

    ``x`` is ``(N, C, H, W)``. Networks call this at the top of ``forward`` so
    that the error names the cause instead of a shape mismatch deep inside.
    Under ``torch.fx`` tracing there are no shapes to check, and it returns.
    """
    if is_symbolic(x):
        return
    if x.dim() != 4:
        raise ValueError(f"{model} expects a batch of images (N, C, H, W); got shape {tuple(x.shape)}")
    if in_chans is not None and x.shape[1] != in_chans:
        raise ValueError(
            f"{model} was built for {in_chans} input channel(s); got {x.shape[1]} (shape {tuple(x.shape)})"
        )
    h, w = x.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(
            f"{model} needs inputs of at least {min_size}×{min_size} pixels; got {h}×{w}"
        )
