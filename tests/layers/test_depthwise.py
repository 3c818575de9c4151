"""Depthwise-separable and grouped convolution against MobileNet eq. 5 and the 1/g rule."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.depthwise import depthwise_conv, separable_cost_ratio


def _params(m):
    return sum(p.numel() for p in m.parameters())


def _conv_macs(model, size):
    return cnnzoo.analyze(model, input_size=size).macs


@pytest.mark.parametrize(
    ("m", "n", "k", "size"), [(32, 64, 3, 14), (512, 512, 3, 14), (16, 40, 5, 9)]
)
def test_separable_cost_ratio_is_one_over_n_plus_one_over_k_squared(m, n, k, size):
    standard = nn.Conv2d(m, n, k, padding=k // 2, bias=False)
    separable = nn.Sequential(depthwise_conv(m, k), nn.Conv2d(m, n, 1, bias=False))
    ratio = _conv_macs(separable, (m, size, size)) / _conv_macs(standard, (m, size, size))
    assert ratio == pytest.approx(1 / n + 1 / k**2, rel=1e-12)
    assert ratio == pytest.approx(separable_cost_ratio(n, k), rel=1e-12)
    # Parameters fall by the same factor (no biases).
    assert _params(separable) / _params(standard) == pytest.approx(1 / n + 1 / k**2)


def test_mobilenet_paper_says_8_to_9_times_cheaper_for_3x3():
    assert 8 < 1 / separable_cost_ratio(1024, 3) < 9
    with pytest.raises(ValueError, match="positive"):
        separable_cost_ratio(0, 3)


def test_grouped_conv_has_one_gth_of_the_parameters_seed_000_example():
    # 256 → 256 channels, 3×3, g = 8: 8 · 32 · 3 · 3 · 32 instead of 256 · 3 · 3 · 256.
    dense = nn.Conv2d(256, 256, 3, bias=False)
    grouped = nn.Conv2d(256, 256, 3, groups=8, bias=False)
    assert _params(dense) == 256 * 3 * 3 * 256
    assert _params(grouped) == 8 * 32 * 3 * 3 * 32
    assert _params(grouped) * 8 == _params(dense)
    assert _conv_macs(grouped, (256, 8, 8)) * 8 == _conv_macs(dense, (256, 8, 8))


def test_mobilenet_unit_has_bn_and_relu_after_both_halves():
    # MobileNet v1 builds its unit (figure 3, right) from SeparableConv2d.
    unit = cnnzoo.create("mobilenet_v1").features.conv3  # dw 3×3 /2 on 64, pw → 128
    assert unit.depthwise.groups == 64 and unit.depthwise.stride == (2, 2)
    assert isinstance(unit.mid_bn, nn.BatchNorm2d) and isinstance(unit.mid_act, nn.ReLU)
    assert unit.pointwise.kernel_size == (1, 1)
    assert isinstance(unit.bn, nn.BatchNorm2d) and isinstance(unit.act, nn.ReLU)
    assert unit(torch.randn(2, 64, 15, 15)).shape == (2, 128, 8, 8)
    # 3·3·64 + 64·128 weights, 2·(64 + 128) BN parameters, no biases.
    assert _params(unit) == 9 * 64 + 64 * 128 + 2 * (64 + 128)
    assert depthwise_conv(64, 3, 2).groups == 64
