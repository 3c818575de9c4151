"""Interleaved group convolution (Zhang et al. 2017, §3)."""

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.layers.interleaved_group_conv import InterleavedGroupConv2d, igc_num_params


def _dense_kernel(igc):
    """The dense k×k kernel of the linear map Pᵀ W_d P W_p (paper eq. 5)."""
    c, l, m = igc.primary.in_channels, igc.primary_groups, igc.group_width
    k = igc.primary.kernel_size[0]
    w_p = torch.zeros(c, c, k, k, dtype=torch.float64)
    for g in range(l):
        s = slice(g * m, (g + 1) * m)
        w_p[s, s] = igc.primary.weight[s].double()
    w_d = torch.zeros(c, c, dtype=torch.float64)
    for g in range(m):
        s = slice(g * l, (g + 1) * l)
        w_d[s, s] = igc.secondary.weight[s, :, 0, 0].double()
    perm = torch.arange(c).reshape(l, m).t().reshape(-1)  # shuffled channel i = original perm[i]
    p = torch.eye(c, dtype=torch.float64)[perm]
    mix = p.t() @ w_d @ p
    return torch.einsum("oi,ijhw->ojhw", mix, w_p)


def test_parameter_count_formula():
    igc = InterleavedGroupConv2d(24, primary_groups=4, kernel_size=3)  # L = 4, M = 6
    n = sum(p.numel() for p in igc.parameters())
    assert n == 4 * 6 * 6 * 9 + 6 * 4 * 4 == igc_num_params(4, 6, 3)
    assert n < 24 * 24 * 9  # fewer than the dense convolution


@pytest.mark.parametrize(("l", "m", "stride"), [(4, 6, 1), (2, 3, 2), (3, 1, 1), (1, 5, 1)])
def test_equals_a_dense_convolution_with_the_composed_kernel(l, m, stride):
    torch.manual_seed(0)
    igc = InterleavedGroupConv2d(l * m, l, 3, stride).double()
    x = torch.randn(2, l * m, 9, 9, dtype=torch.float64)
    expected = F.conv2d(x, _dense_kernel(igc), stride=stride, padding=1)
    torch.testing.assert_close(igc(x), expected)


def test_every_output_channel_depends_on_every_input_channel():
    torch.manual_seed(0)
    igc = InterleavedGroupConv2d(12, primary_groups=3)
    kernel = _dense_kernel(igc).abs().sum((2, 3))
    assert (kernel > 0).all()  # complementary: dense connectivity from two sparse convs


def test_m_equal_1_is_a_depthwise_then_pointwise_convolution():
    torch.manual_seed(0)
    igc = InterleavedGroupConv2d(6, primary_groups=6)
    x = torch.randn(1, 6, 5, 5)
    depthwise = F.conv2d(x, igc.primary.weight, padding=1, groups=6)
    torch.testing.assert_close(igc(x), F.conv2d(depthwise, igc.secondary.weight))


def test_bad_groups():
    with pytest.raises(ValueError, match="divide"):
        InterleavedGroupConv2d(10, primary_groups=4)
