"""SKNet-50 against Li et al. 2019, table 1."""

from __future__ import annotations

import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.selective_kernel import SelectiveKernelConv


def meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs)


def test_every_bottleneck_has_an_sk_convolution_of_table_1():
    model = meta("sknet50")
    units = model.units()
    assert len(units) == 16
    for stage, width in zip(
        ("layer1", "layer2", "layer3", "layer4"), (128, 256, 512, 1024), strict=False
    ):
        for unit in getattr(model, stage):
            sk = unit.branch.conv2
            assert isinstance(sk, SelectiveKernelConv)
            assert len(sk.branches) == 2  # M = 2
            assert all(b.conv.groups == 32 for b in sk.branches)  # G = 32
            assert [b.conv.dilation for b in sk.branches] == [(1, 1), (2, 2)]
            assert sk.fuse.conv.out_channels == max(width // 16, 32)  # d = max(C/r, L)
            assert sk.out_chans == width
            # the SK conv brings its own BN-ReLU: nothing between it and the last 1×1
            names = list(unit.branch._modules)
            assert names[names.index("conv2") + 1] == "conv3"


def test_sknet50_costs_more_than_resnext50_by_its_extra_branch():
    def n(model):
        return sum(p.numel() for p in model.parameters())

    extra = n(meta("sknet50")) - n(meta("resnext50_32x4d"))
    # per unit: one more grouped 3×3 (+BN), the fuse FC (+BN) and the select FC
    expect = 0
    for count, w in zip((3, 4, 6, 3), (128, 256, 512, 1024), strict=False):
        d = max(w // 16, 32)
        expect += count * (w * (w // 32) * 9 + 2 * w + w * d + 2 * d + d * 2 * w)
    assert extra == expect
