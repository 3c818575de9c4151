"""Figure 3 of Xie et al. 2017: the three forms of a ResNeXt block are one function."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.layers.residual import Bottleneck
from cnnzoo.layers.resnext_block import ResNeXtConcat, ResNeXtSum


def randomise_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize(("in_chans", "out_chans", "stride"), [(64, 64, 1), (32, 64, 2)])
@pytest.mark.parametrize("train", [False, True])
def test_sum_concat_and_grouped_forms_agree(in_chans, out_chans, stride, train):
    torch.manual_seed(0)
    cardinality, d = 8, 4  # 8 paths of width 4: a grouped 3×3 of 32 channels
    grouped = Bottleneck(
        in_chans, out_chans, stride, width=cardinality * d, groups=cardinality, stride_on_3x3=True
    )
    randomise_bn(grouped)
    forms = [grouped, ResNeXtSum.from_grouped(grouped), ResNeXtConcat.from_grouped(grouped)]
    assert len(forms[1].paths) == len(forms[2].paths) == cardinality
    for f in forms:
        f.train(train)
    x = torch.randn(4, in_chans, 9, 9)
    with torch.no_grad():
        ref, s, c = (f(x) for f in forms)
    torch.testing.assert_close(s, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(c, ref, rtol=1e-4, atol=1e-5)


def test_forms_have_the_same_number_of_weights():
    grouped = Bottleneck(64, 64, width=32, groups=8)
    count = [sum(p.numel() for p in m.parameters()) for m in
             (grouped, ResNeXtSum.from_grouped(grouped), ResNeXtConcat.from_grouped(grouped))]  # fmt: skip
    assert count[0] == count[2]
    # the sum form keeps one 1×1 (d -> out) per path: the same weights, split by columns
    assert count[1] == count[0]


def test_reference_forms_reject_other_units():
    with pytest.raises(ValueError, match="unit 'a'"):
        ResNeXtSum.from_grouped(Bottleneck(16, 16, width=8, groups=2, unit="e"))
