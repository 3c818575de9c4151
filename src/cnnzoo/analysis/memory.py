"""Activation memory: what a forward pass produces and what training keeps.

* Forward: the bytes of every layer's output (``LayerReport.activation_bytes``);
  their sum is ``AnalysisReport.activation_bytes``, what a forward pass writes
  (in-place activations counted as the outputs they are).
* Training: the bytes of the tensors autograd saves for the backward pass,
  read from ``torch.autograd.graph.saved_tensors_hooks`` during the same meta
  forward: each storage once (views of one tensor share it), parameters left
  out. This is the number that explains "VGG needs a lot of memory" (large
  early feature maps) and "naive DenseNet is quadratic in depth" (every layer
  saves the concatenation of all earlier outputs; the memory-efficient mode
  recomputes it and saves only the pieces).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["SavedTensorMeter"]


class SavedTensorMeter:
    """Context manager summing the bytes autograd saves, each storage once.

    Args:
        exclude: tensors not to count (the parameters and buffers).
    """

    def __init__(self, exclude: Iterable[Tensor] = ()) -> None:
        self._exclude = {id(t) for t in exclude}
        self._seen: dict[int, Tensor] = {}
        self.bytes = 0
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _pack(self, t: Tensor) -> Any:
        base = t._base if t._base is not None else t
        key = id(base)
        if key not in self._exclude and key not in self._seen:
            # Keep a reference so the id is not reused by a later tensor.
            self._seen[key] = base
            self.bytes += base.numel() * base.element_size()
        return t

    @staticmethod
    def _unpack(t: Any) -> Any:
        return t

    def __enter__(self) -> SavedTensorMeter:
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
