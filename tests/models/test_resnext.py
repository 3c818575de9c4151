"""ResNeXt against Xie et al. 2017 (arXiv:1611.05431; tables 1 and 2, the C×d table)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.models.resnext import TABLE2_CONFIGS


def meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_linear_macs(model: nn.Module) -> int:
    total = 0

    def hook(m, _inp, out):
        nonlocal total
        spatial = out.shape[-1] * out.shape[-2] if isinstance(m, nn.Conv2d) else 1
        total += m.weight.numel() * spatial

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    model.eval()(torch.empty(1, 3, 224, 224, device="meta"))
    return total


def test_table_2_configurations_have_roughly_equal_complexity():
    # Table 2: C×d = 1×64 (ResNet-50), 2×40, 4×24, 8×14, 32×4, "preserving complexity";
    # the grouped conv of conv2 is 64, 80, 96, 112, 128 wide; all ~4.1 GFLOPs and ~25M params.
    # (Rounding d to an integer leaves the spread at 2.3% in params and 4.4% in MACs.)
    resnet50 = meta("resnext50_32x4d", cardinality=1, base_width=64)
    ref_params, ref_macs = n_params(resnet50), conv_linear_macs(resnet50)
    assert ref_params == n_params(meta("resnet50"))
    widths = []
    for c, d in TABLE2_CONFIGS:
        model = meta("resnext50_32x4d", cardinality=c, base_width=d)
        conv2 = model.layer1[0].branch.conv2
        assert conv2.groups == c
        widths.append(conv2.out_channels)
        assert abs(n_params(model) - ref_params) <= 0.03 * ref_params, (c, d)
        macs = conv_linear_macs(model)
        assert abs(macs - ref_macs) <= 0.05 * ref_macs, (c, d)
        assert abs(macs - 4.1e9) <= 0.05 * 4.1e9, (c, d)
    assert widths == [64, 80, 96, 112, 128]


def test_resnext50_widths_of_table_1():
    model = meta("resnext50_32x4d")
    # conv2..conv5: [1×1, 128; 3×3, 128, C=32; 1×1, 256] with widths doubling.
    for stage, width, out in zip(
        ("layer1", "layer2", "layer3", "layer4"),
        (128, 256, 512, 1024),
        (256, 512, 1024, 2048),
        strict=False,
    ):
        branch = getattr(model, stage)[0].branch
        assert branch.conv1.out_channels == width
        assert branch.conv2.groups == 32 and branch.conv2.out_channels == width
        assert branch.conv3.out_channels == out
    assert model.layer2[0].branch.conv2.stride == (2, 2)  # stride on the grouped 3×3


def test_32x8d_doubles_the_group_width():
    model = meta("resnext101_32x8d")
    assert model.layer1[0].branch.conv2.out_channels == 256
    assert len(model.layer3) == 23


def test_cardinality_and_base_width_are_validated():
    with pytest.raises(ValueError, match="cardinality"):
        cnnzoo.create("resnext50_32x4d", cardinality=0)
    with pytest.raises(ValueError, match="bottleneck"):
        cnnzoo.create("resnet18", cardinality=32)
