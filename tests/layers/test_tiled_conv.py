"""Tiled convolution (Le et al. 2010; Goodfellow et al. 2016, §9.5)."""

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.layers.locally_connected import LocallyConnected2d
from cnnzoo.layers.tiled_conv import TiledConv2d


def test_shapes_and_parameter_count_formula():
    tc = TiledConv2d(3, 5, kernel_size=3, tile=2, stride=1, padding=1)
    assert tc(torch.randn(2, 3, 7, 6)).shape == (2, 5, 7, 6)
    # t² · C_out · (C_in · k² + 1): the parameters grow only by t².
    assert sum(p.numel() for p in tc.parameters()) == 4 * 5 * (3 * 9 + 1)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1)])
def test_tile_1_is_a_convolution(stride, padding):
    torch.manual_seed(0)
    tc = TiledConv2d(4, 6, kernel_size=3, tile=1, stride=stride, padding=padding)
    x = torch.randn(2, 4, 11, 9)
    expected = F.conv2d(x, tc.weight[0, 0], tc.bias[0, 0], stride, padding)
    torch.testing.assert_close(tc(x), expected, rtol=1e-5, atol=1e-5)


def test_kernels_cycle_with_period_t():
    torch.manual_seed(0)
    t = 3
    tc = TiledConv2d(2, 3, kernel_size=3, tile=t, padding=1)
    x = torch.randn(1, 2, 9, 9)
    out = tc(x)
    for a in range(t):
        for b in range(t):
            conv = F.conv2d(x, tc.weight[a, b], tc.bias[a, b], 1, 1)
            torch.testing.assert_close(
                out[..., a::t, b::t], conv[..., a::t, b::t], rtol=1e-5, atol=1e-5
            )


def test_tile_as_large_as_the_output_is_locally_connected():
    torch.manual_seed(0)
    tc = TiledConv2d(3, 4, kernel_size=3, tile=5)  # 7×7 input → 5×5 output
    lc = LocallyConnected2d(3, 4, input_size=7, kernel_size=3)
    with torch.no_grad():
        lc.weight.copy_(tc.weight)  # (Ho, Wo, C_out, C_in, k, k) in both
        lc.bias.copy_(tc.bias.permute(2, 0, 1))
    x = torch.randn(2, 3, 7, 7)
    torch.testing.assert_close(tc(x), lc(x), rtol=1e-5, atol=1e-5)


def test_gradients_flow_and_bad_arguments():
    tc = TiledConv2d(2, 2, kernel_size=3, tile=2, padding=1)
    tc(torch.randn(1, 2, 6, 6)).sum().backward()
    assert tc.weight.grad is not None and (tc.weight.grad != 0).all()
    with pytest.raises(ValueError, match="tile"):
        TiledConv2d(2, 2, 3, tile=0)
    with pytest.raises(ValueError, match="expects"):
        tc(torch.randn(1, 3, 6, 6))
