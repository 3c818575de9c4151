"""Global context (GC) block.

Y. Cao, J. Xu, S. Lin, F. Wei, H. Hu, "GCNet: Non-local Networks Meet
Squeeze-Excitation Networks and Beyond", ICCV workshops 2019, arXiv:1904.11492,
figure 4(d).

Three steps, each cheap because the context is the same for every position:

* context modelling: a 1×1 conv ``W_k`` gives one logit per position; a
  softmax over the ``H·W`` positions turns them into attention weights, and
  the context is the attention-weighted sum of the features, ``(N, C, 1, 1)``;
* transform: a bottleneck ``W_v2 · ReLU(LN(W_v1 · context))`` of width
  ``C/r`` (``r = 16`` by default in the paper); the LayerNorm eases optimisation
  of the two-layer bottleneck;
* fusion: the transformed context is *added* to every position (SE multiplies).

Per block, with biases: ``(C + 1) + (C·C/r + C/r) + 2C/r + (C/r·C + C)``
parameters, about ``2C²/r``.

The last conv of the transform starts at zero (the authors' code), so a
freshly inserted block is the identity and a pre-trained backbone is undisturbed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GlobalContext"]


class GlobalContext(nn.Module):
    """``(N, C, H, W) -> (N, C, H, W)``: ``x + transform(attention_pool(x))``.

    Args:
        channels: ``C``.
        reduction: ``r``; the bottleneck has ``C // r`` channels.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if reduction < 1 or channels // reduction < 1:
            raise ValueError(
                f"reduction must be between 1 and the channel count {channels}; got {reduction}"
            )
        rd = channels // reduction
        self.conv_mask = nn.Conv2d(channels, 1, 1)  # W_k
        self.transform = nn.Sequential()
        self.transform.add_module("conv1", nn.Conv2d(channels, rd, 1))  # W_v1
        self.transform.add_module("ln", nn.LayerNorm([rd, 1, 1]))
        self.transform.add_module("relu", nn.ReLU(inplace=True))
        self.transform.add_module("conv2", nn.Conv2d(rd, channels, 1))  # W_v2
        self.init_weights()

    def init_weights(self) -> None:
        """Zero the last transform conv so the block starts as the identity."""
        nn.init.zeros_(self.transform.conv2.weight)
        nn.init.zeros_(self.transform.conv2.bias)

    def context(self, x: Tensor) -> Tensor:
        """Attention pooling: ``(N, C, H, W) -> (N, C, 1, 1)``."""
        n, c, h, w = x.shape
        attn = self.conv_mask(x).view(n, 1, h * w).softmax(dim=-1)  # N x 1 x HW
        ctx = torch.bmm(x.reshape(n, c, h * w), attn.transpose(1, 2))  # N x C x 1
        return ctx.view(n, c, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.transform(self.context(x))
