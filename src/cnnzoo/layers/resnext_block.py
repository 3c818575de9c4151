"""The two reference forms of a ResNeXt block, equivalent to the grouped convolution.

S. Xie, R. Girshick, P. Dollár, Z. Tu, K. He, "Aggregated Residual
Transformations for Deep Neural Networks", CVPR 2017, arXiv:1611.05431, figure 3.

A ResNeXt block computes ``y = ReLU(x + Σ_{i=1..C} T_i(x))`` where each of the
``C`` paths ``T_i`` is 1×1 (→ d) – 3×3 (d → d) – 1×1 (d → out). Three forms:

(a) :class:`ResNeXtSum`: the ``C`` paths computed separately and summed
    (split–transform–merge, equation 3);
(b) :class:`ResNeXtConcat`: the paths' 3×3 outputs concatenated and one 1×1
    conv applied — a 1×1 conv over a concatenation *is* the sum of 1×1 convs
    over its parts;
(c) a grouped convolution: the first 1×1s stacked into one ``in → C·d`` conv
    and the 3×3s into one conv with ``C`` groups — what the networks use
    (:class:`~cnnzoo.layers.residual.Bottleneck` with ``groups=C``).

BN is per channel, so it splits across the paths the same way. The forms are
for teaching and for the test that shows they compute one function; they are
slower than (c). Build them from a grouped block with ``from_grouped`` to share
its weights.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import Tensor, nn

from cnnzoo.layers.residual import Bottleneck

__all__ = ["ResNeXtConcat", "ResNeXtSum"]


def _split_bn(bn: nn.BatchNorm2d, i: int, d: int) -> nn.BatchNorm2d:
    out = nn.BatchNorm2d(d, eps=bn.eps, momentum=bn.momentum)
    sl = slice(i * d, (i + 1) * d)
    with torch.no_grad():
        out.weight.copy_(bn.weight[sl])
        out.bias.copy_(bn.bias[sl])
        out.running_mean.copy_(bn.running_mean[sl])
        out.running_var.copy_(bn.running_var[sl])
    return out


def _conv(weight: Tensor, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    out_c, in_c, k, _ = weight.shape
    conv = nn.Conv2d(in_c, out_c, k, stride, padding, bias=False)
    with torch.no_grad():
        conv.weight.copy_(weight)
    return conv


def _check(block: Bottleneck) -> tuple[int, int]:
    b = block.branch
    if block.unit != "a" or not isinstance(b.conv2, nn.Conv2d):
        raise ValueError(
            "the reference forms are defined for original (unit 'a') grouped bottlenecks"
        )
    groups = b.conv2.groups
    if b.conv1.out_channels != b.conv2.in_channels:
        raise ValueError("the reference forms need the first 1×1 as wide as the grouped 3×3")
    return groups, b.conv2.out_channels // groups


def _paths(block: Bottleneck, with_last: bool) -> nn.ModuleList:
    b = block.branch
    c, d = _check(block)
    paths = nn.ModuleList()
    for i in range(c):
        sl = slice(i * d, (i + 1) * d)
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv1=_conv(b.conv1.weight[sl], b.conv1.stride[0]),
            bn1=_split_bn(b.bn1, i, d),
            relu1=nn.ReLU(inplace=True),
            conv2=_conv(b.conv2.weight[sl], b.conv2.stride[0], b.conv2.padding[0]),
            bn2=_split_bn(b.bn2, i, d),
            relu2=nn.ReLU(inplace=True),
        )
        if with_last:
            layers["conv3"] = _conv(b.conv3.weight[:, sl])
        paths.append(nn.Sequential(layers))
    return paths


class ResNeXtSum(nn.Module):
    """Figure 3(a): ``ReLU(shortcut(x) + BN(Σ_i T_i(x)))`` with ``C`` separate paths.

    ``(N, in, H, W) -> (N, out, H', W')``, as the grouped block it is built from.
    """

    def __init__(self, paths: nn.ModuleList, bn: nn.BatchNorm2d, shortcut: nn.Module) -> None:
        super().__init__()
        self.paths, self.bn, self.shortcut = paths, bn, shortcut
        self.relu = nn.ReLU(inplace=True)

    @classmethod
    def from_grouped(cls, block: Bottleneck) -> ResNeXtSum:
        """The same function as ``block`` (a grouped bottleneck), split into paths."""
        return cls(
            _paths(block, True), copy.deepcopy(block.branch.bn3), copy.deepcopy(block.shortcut)
        )

    def forward(self, x: Tensor) -> Tensor:
        out = sum(path(x) for path in self.paths)  # aggregate: Σ T_i(x)
        return self.relu(self.shortcut(x) + self.bn(out))


class ResNeXtConcat(nn.Module):
    """Figure 3(b): paths to the 3×3, concatenated, then one 1×1 conv; Inception-ResNet-like.

    ``(N, in, H, W) -> (N, out, H', W')``.
    """

    def __init__(
        self, paths: nn.ModuleList, conv: nn.Conv2d, bn: nn.BatchNorm2d, shortcut: nn.Module
    ) -> None:
        super().__init__()
        self.paths, self.conv, self.bn, self.shortcut = paths, conv, bn, shortcut
        self.relu = nn.ReLU(inplace=True)

    @classmethod
    def from_grouped(cls, block: Bottleneck) -> ResNeXtConcat:
        """The same function as ``block`` with its 3×3 split into separate paths."""
        b = block.branch
        return cls(
            _paths(block, False), _conv(b.conv3.weight), copy.deepcopy(b.bn3),
            copy.deepcopy(block.shortcut),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([path(x) for path in self.paths], dim=1)  # N x C·d x H' x W'
        return self.relu(self.shortcut(x) + self.bn(self.conv(out)))
