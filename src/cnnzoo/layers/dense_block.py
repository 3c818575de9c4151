"""Dense blocks and transition layers, with the memory-efficient mode.

G. Huang, Z. Liu, L. van der Maaten, K. Weinberger, "Densely Connected
Convolutional Networks", CVPR 2017, arXiv:1608.06993; G. Pleiss, D. Chen,
G. Huang, T. Li, L. van der Maaten, K. Weinberger, "Memory-Efficient
Implementation of DenseNets", arXiv:1707.06990.

Layer ``ℓ`` of a dense block reads the concatenation of the block input and
every earlier layer's output, ``x_ℓ = H_ℓ([x_0, x_1, …, x_{ℓ−1}])``, and adds
``k`` (the growth rate) new feature maps. ``H_ℓ`` is BN-ReLU-Conv(3×3), or with
the bottleneck (DenseNet-B) BN-ReLU-Conv(1×1, ``4k``)-BN-ReLU-Conv(3×3, ``k``).

Memory: a naive implementation stores, for every layer, its own copy of the
concatenation and of the BN and ReLU outputs on it, all kept for backward:
``Σ_ℓ (c_0 + ℓk)`` channels per layer, quadratic in the number of layers.
Pleiss et al. note that these are cheap to recompute. With
``memory_efficient=True`` the concatenation → BN → ReLU → first convolution is
run under ``torch.utils.checkpoint``: autograd keeps only the layer's inputs
(which exist anyway, as earlier layers' outputs) and the convolution's output
(``4k`` or ``k`` channels), and recomputes the rest during backward. Memory
then grows linearly with depth, at the price of a second forward pass of
those operations. Outputs and gradients are the same as in the plain mode.

BatchNorm during the recomputation uses the batch statistics again but must
not update the running statistics a second time; ``DenseLayer`` takes care of
that (``torch.utils.checkpoint`` on an ``nn.BatchNorm2d`` alone would update
them twice per step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ["DenseBlock", "DenseLayer", "Transition"]


class DenseLayer(nn.Module):
    """``H_ℓ``: a list of feature maps (``in_chans`` channels in all) → ``growth_rate`` new ones.

    ``forward([x_0, …, x_{ℓ−1}])`` takes the tensors without concatenating
    them first, so the memory-efficient mode can recompute the concatenation.

    Args:
        in_chans: total channels of the inputs, ``c_0 + ℓ·k``.
        growth_rate: ``k``.
        bottleneck: DenseNet-B's 1×1 conv to ``bn_size·k`` channels first.
        bn_size: bottleneck width in multiples of ``k`` (4 in the paper).
        drop_rate: dropout after each convolution (the paper's 0.2 on
            CIFAR without augmentation).
        memory_efficient: recompute concatenation, BN, ReLU and the first
            convolution in backward (Pleiss et al. 2017).
    """

    def __init__(
        self,
        in_chans: int,
        growth_rate: int,
        bottleneck: bool = True,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        mid = bn_size * growth_rate if bottleneck else growth_rate
        self.norm1 = nn.BatchNorm2d(in_chans)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = (
            nn.Conv2d(in_chans, mid, 1, bias=False)
            if bottleneck
            else nn.Conv2d(in_chans, growth_rate, 3, padding=1, bias=False)
        )
        if bottleneck:
            self.norm2 = nn.BatchNorm2d(mid)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(mid, growth_rate, 3, padding=1, bias=False)
        self.bottleneck = bottleneck
        self.drop_rate = drop_rate
        self.memory_efficient = memory_efficient

    def _first_unit(self, features: list[Tensor], recompute: bool) -> Tensor:
        x = torch.cat(features, 1)
        bn = self.norm1
        if recompute and bn.training and bn.running_mean is not None:
            # Same batch statistics as the first pass; the running averages get
            # their update once, so this one goes to throw-away copies.
            x = F.batch_norm(
                x, bn.running_mean.clone(), bn.running_var.clone(), bn.weight, bn.bias, True, bn.momentum or 0.0, bn.eps
            )
        else:
            x = bn(x)
        return self.conv1(self.relu1(x))

    def _checkpointed_first_unit(self, features: list[Tensor]) -> Tensor:
        calls = 0

        def run(*feats: Tensor) -> Tensor:
            nonlocal calls
            calls += 1
            return self._first_unit(list(feats), recompute=calls > 1)

        return checkpoint(run, *features, use_reentrant=False)

    def _drop(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.drop_rate, self.training) if self.drop_rate > 0 else x

    def forward(self, features: list[Tensor]) -> Tensor:
        if self.memory_efficient and torch.is_grad_enabled() and any(f.requires_grad for f in features):
            x = self._checkpointed_first_unit(features)
        else:
            x = self._first_unit(features, recompute=False)
        x = self._drop(x)
        if self.bottleneck:
            x = self._drop(self.conv2(self.relu2(self.norm2(x))))
        return x


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers: ``(N, in_chans, H, W) -> (N, in_chans + num_layers·k, H, W)``."""

    def __init__(
        self,
        num_layers: int,
        in_chans: int,
        growth_rate: int,
        bottleneck: bool = True,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(
                in_chans + i * growth_rate, growth_rate, bottleneck, bn_size, drop_rate, memory_efficient
            )
            self[f"denselayer{i + 1}"] = layer
        self.out_chans = in_chans + num_layers * growth_rate

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-Conv(1×1)-AvgPool(2×2, /2) between dense blocks.

    ``(N, in_chans, H, W) -> (N, out_chans, H // 2, W // 2)``; DenseNet-C
    chooses ``out_chans = ⌊θ · in_chans⌋`` with compression ``θ`` (0.5).
    """

    def __init__(self, in_chans: int, out_chans: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_chans)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_chans, out_chans, 1, bias=False)
        if drop_rate > 0:
            self.drop = nn.Dropout(drop_rate)
        self.pool = nn.AvgPool2d(2, 2)
