"""Inception-v4 and Inception-ResNet v1/v2 against Szegedy et al. 2017 (arXiv:1602.07261)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_reference_counts_inception_v4_and_resnet_v2():
    # Registered counts: Inception v4 42.7M / 12.3G; Inception-ResNet-v2 55.8M / 13.2G.
    with torch.device("meta"):
        v4 = cnnzoo.create("inception_v4")
        ir2 = cnnzoo.create("inception_resnet_v2")
    assert abs(_params(v4) - 42.7e6) <= 0.05e6
    assert abs(_params(ir2) - 55.8e6) <= 0.05e6


@pytest.mark.parametrize(
    ("name", "kwargs", "widths"),
    [
        # Figure 9 and figure 15: widths after the stem, Reduction-A and Reduction-B.
        ("inception_v4", {}, (384, 1024, 1536)),
        ("inception_resnet_v1", {}, (256, 896, 1792)),
        ("inception_resnet_v2", {"layout": "paper"}, (384, 1152, 2144)),
        ("inception_resnet_v2", {}, (320, 1088, 2080)),
    ],
)
def test_stage_shapes_at_299(name, kwargs, widths):
    with torch.device("meta"):
        m = cnnzoo.create(name, **kwargs).eval()
        x = m.stage_a(m.stem(torch.empty(1, 3, 299, 299)))
        assert tuple(x.shape[1:]) == (widths[0], 35, 35)
        x = m.stage_b(m.reduction_a(x))
        assert tuple(x.shape[1:]) == (widths[1], 17, 17)
        x = m.stage_c(m.reduction_b(x))
        assert tuple(x.shape[1:]) == (widths[2], 8, 8)


@pytest.mark.parametrize(
    ("name", "kwargs", "blocks"),
    [
        ("inception_v4", {}, (4, 7, 3)),
        ("inception_resnet_v1", {}, (5, 10, 5)),
        ("inception_resnet_v2", {"layout": "paper"}, (5, 10, 5)),
        ("inception_resnet_v2", {}, (10, 20, 10)),
    ],
)
def test_number_of_blocks_per_stage(name, kwargs, blocks):
    with torch.device("meta"):
        m = cnnzoo.create(name, **kwargs)
    assert (len(m.stage_a), len(m.stage_b), len(m.stage_c)) == blocks


@pytest.mark.parametrize(
    ("name", "klmn"),
    [
        # Table 1 of the paper (secondary summaries print m = 256 for v2; the paper says 384).
        ("inception_v4", (192, 224, 256, 384)),
        ("inception_resnet_v1", (192, 192, 256, 384)),
        ("inception_resnet_v2", (256, 256, 384, 384)),
    ],
)
def test_reduction_a_filter_numbers_follow_table_1(name, klmn):
    with torch.device("meta"):
        red = cnnzoo.create(name, layout="paper").reduction_a
    k, l, m, n = klmn
    pool, conv_n, tower = red.branches
    assert isinstance(pool, nn.MaxPool2d)
    assert conv_n.conv.out_channels == n
    assert [c.conv.out_channels for c in tower] == [k, l, m]
    assert tower[2].conv.stride == (2, 2) and tower[2].conv.padding == (0, 0)


def test_residual_scale_keyword_reaches_every_block():
    with torch.device("meta"):
        m = cnnzoo.create("inception_resnet_v1", residual_scale=(0.3, 0.2, 0.1))
        one = cnnzoo.create("inception_resnet_v1", residual_scale=0.25)
    assert {b.scale for b in m.stage_a} == {0.3}
    assert {b.scale for b in m.stage_b} == {0.2}
    assert {b.scale for b in m.stage_c} == {0.1}
    assert {b.scale for s in (one.stage_a, one.stage_b, one.stage_c) for b in s} == {0.25}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"residual_scale": 0.0}, "residual scale"),
        ({"residual_scale": (0.1, 0.2)}, "three"),
        ({"layout": "tf"}, "layout"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with torch.device("meta"), pytest.raises(ValueError, match=match):
        cnnzoo.create("inception_resnet_v2", **kwargs)


def test_released_layout_is_only_for_v2():
    with pytest.raises(ValueError, match="layout"):
        cnnzoo.create("inception_resnet_v1", layout="released")


def test_any_admissible_size_and_in_chans():
    with torch.device("meta"):
        m = cnnzoo.create("inception_v4", num_classes=10, in_chans=1).eval()
        assert m(torch.empty(2, 1, 400, 331)).shape == (2, 10)
        with pytest.raises(ValueError, match="input channel"):
            m(torch.empty(1, 3, 299, 299))
