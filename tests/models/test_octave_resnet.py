"""Oct-ResNet-50 against table 3 of Chen et al. 2019 (arXiv:1904.05049).

The paper's GFLOPs are multiply-adds; an octave convolution keeps every
weight of the convolution it replaces (§3.2), so the parameter count is
ResNet-50's (He et al. 2016, table 1: 25.6M) at every α.
"""

from __future__ import annotations

import pytest
import torch

import cnnzoo
from cnnzoo.layers.octave_conv import OctaveConv2d
from cnnzoo.registry import parse_count

# Table 3, ResNet-50 row, written out here from the paper (not read from the model file).
PAPER_GFLOPS = {0.125: "3.6G", 0.25: "3.1G", 0.5: "2.4G", 0.75: "1.9G"}


@pytest.mark.parametrize(("alpha", "gflops"), sorted(PAPER_GFLOPS.items()))
def test_multiply_adds_match_table_3(alpha, gflops):
    r = cnnzoo.analyze("oct_resnet50", (3, 224, 224), alpha=alpha)
    assert not r.unknown_ops
    assert parse_count(gflops).matches(r.macs), f"α={alpha}: {r.macs / 1e9:.3f}G, paper {gflops}"
    assert r.params == cnnzoo.analyze("resnet50", (3, 32, 32), stride_on_3x3=True).params


def test_alpha_zero_is_resnet50_v1_5():
    with torch.device("meta"):
        oct0 = cnnzoo.create("oct_resnet50", alpha=0.0)
    r = cnnzoo.analyze(oct0, (3, 224, 224))
    ref = cnnzoo.analyze("resnet50", (3, 224, 224), stride_on_3x3=True)
    assert (r.params, r.macs) == (ref.params, ref.macs)


def test_stages_split_merge_and_shapes():
    torch.manual_seed(0)
    m = cnnzoo.create("oct_resnet50", num_classes=5, alpha=0.25).eval()
    x = torch.randn(1, 3, 64, 64)
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    h, low = m.layer1(x)
    assert h.shape == (1, 192, 16, 16) and low.shape == (1, 64, 8, 8)  # 256 channels, α = 1/4 low
    h, low = m.layer3(m.layer2((h, low)))
    assert h.shape == (1, 768, 4, 4) and low.shape == (1, 256, 2, 2)
    assert m.layer4((h, low)).shape == (1, 2048, 2, 2)  # merged: an ordinary tensor
    assert isinstance(m.layer1[0].conv2, OctaveConv2d)
    with torch.no_grad():
        assert m(torch.randn(2, 3, 64, 64)).shape == (2, 5)


def test_bad_alpha_is_a_value_error():
    with pytest.raises(ValueError, match="alpha"):
        cnnzoo.create("oct_resnet50", alpha=1.0)
