"""SeparableConv2d: structure, parameter count, the MobileNet cost ratio, options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.layers.separable_conv import SeparableConv2d


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameters_are_depthwise_plus_pointwise():
    m, n, k = 32, 64, 3
    conv = SeparableConv2d(m, n, k)
    assert _params(conv) == k * k * m + m * n
    assert conv.depthwise.groups == m


def test_cost_ratio_against_standard_conv_is_one_over_n_plus_one_over_k_squared():
    # MobileNet eq. 5: (k²M + MN) / (k²MN) = 1/N + 1/k². Per output pixel the MACs
    # equal the weights, so the weight ratio is the cost ratio.
    m, n, k = 512, 512, 3
    sep = _params(SeparableConv2d(m, n, k))
    std = _params(nn.Conv2d(m, n, k, bias=False))
    assert sep / std == pytest.approx(1 / n + 1 / k**2, rel=1e-12)


def test_no_nonlinearity_between_by_default_so_it_is_one_linear_map():
    # Without mid_act the block is linear: f(a x + b y) = a f(x) + b f(y).
    torch.manual_seed(0)
    conv = SeparableConv2d(4, 6, 3).double()
    x, y = torch.randn(2, 4, 7, 7, dtype=torch.float64), torch.randn(2, 4, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(conv(2 * x - 3 * y), 2 * conv(x) - 3 * conv(y))
    assert [n for n, _ in conv.named_children()] == ["depthwise", "pointwise"]


def test_matches_dense_conv_with_the_factored_kernel():
    # A separable conv is a standard conv whose kernel is W[n, m] = P[n, m] · D[m].
    torch.manual_seed(0)
    conv = SeparableConv2d(3, 5, 3).double()
    d = conv.depthwise.weight[:, 0]  # M x k x k
    p = conv.pointwise.weight[:, :, 0, 0]  # N x M
    dense = p[:, :, None, None] * d[None]
    x = torch.randn(1, 3, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(conv(x), nn.functional.conv2d(x, dense, padding=1))


def test_mobilenet_form_and_ablation_options():
    conv = SeparableConv2d(8, 16, 3, stride=2, mid_bn=True, mid_act=nn.ReLU, bn=True, act=nn.ReLU)
    names = [n for n, _ in conv.named_children()]
    assert names == ["depthwise", "mid_bn", "mid_act", "pointwise", "bn", "act"]
    assert conv.depthwise.bias is None and conv.pointwise.bias is None
    assert conv(torch.randn(2, 8, 10, 10)).shape == (2, 16, 5, 5)
    assert (conv(torch.randn(2, 8, 10, 10)) >= 0).all()


def test_depth_multiplier_and_dilation():
    conv = SeparableConv2d(4, 8, 3, dilation=2, depth_multiplier=2)
    assert conv.depthwise.out_channels == 8 and conv.pointwise.in_channels == 8
    assert conv(torch.randn(1, 4, 11, 11)).shape == (1, 8, 11, 11)


@pytest.mark.parametrize("bad", [{"in_chans": 0}, {"kernel_size": -1}, {"depth_multiplier": 0}])
def test_bad_arguments_raise_value_error(bad):
    kw = {"in_chans": 4, "out_chans": 8, **bad}
    with pytest.raises(ValueError, match=next(iter(bad))):
        SeparableConv2d(**kw)
