"""Hard-swish and hard-sigmoid, the piecewise-linear activations of MobileNet v3.

A. Howard et al., "Searching for MobileNetV3", ICCV 2019, arXiv:1905.02244, §5.2:

    h-swish(x)   = x · ReLU6(x + 3) / 6
    h-sigmoid(x) = ReLU6(x + 3) / 6

They replace ``x · σ(x)`` (swish) and ``σ(x)`` with functions that need no
exponential, cost almost nothing on mobile hardware and quantise well. The paper
uses h-swish only in the deeper half of the network, where the maps are small.

PyTorch's ``F.hardswish``/``F.hardsigmoid`` compute these same formulas in one
fused kernel; the modules below use them and the tests check them against the
formulas.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HardSigmoid", "HardSwish", "hard_sigmoid", "hard_swish"]


def hard_sigmoid(x: Tensor) -> Tensor:
    """``ReLU6(x + 3) / 6``: 0 below −3, 1 above 3, linear in between."""
    return F.hardsigmoid(x)


def hard_swish(x: Tensor) -> Tensor:
    """``x · ReLU6(x + 3) / 6``: 0 below −3, ``x`` above 3."""
    return F.hardswish(x)


class HardSigmoid(nn.Module):
    """Elementwise ``ReLU6(x + 3) / 6``; any shape in, same shape out."""

    def forward(self, x: Tensor) -> Tensor:
        return hard_sigmoid(x)


class HardSwish(nn.Module):
    """Elementwise ``x · ReLU6(x + 3) / 6``; any shape in, same shape out."""

    def forward(self, x: Tensor) -> Tensor:
        return hard_swish(x)
