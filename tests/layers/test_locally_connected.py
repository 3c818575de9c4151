"""Locally-connected (unshared) convolution (Goodfellow et al. 2016, §9.5)."""

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.layers.locally_connected import LocallyConnected2d


def test_shapes_and_parameter_count_formula():
    lc = LocallyConnected2d(3, 5, input_size=(9, 8), kernel_size=3, stride=2, padding=1)
    assert lc.output_size == (5, 4)
    assert lc(torch.randn(2, 3, 9, 8)).shape == (2, 5, 5, 4)
    # H_out · W_out · C_out · (C_in · k² + 1): a kernel and a bias per output unit.
    assert sum(p.numel() for p in lc.parameters()) == 5 * 4 * 5 * (3 * 9 + 1)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1)])
def test_equal_kernels_at_every_position_make_a_convolution(stride, padding):
    torch.manual_seed(0)
    lc = LocallyConnected2d(4, 6, input_size=10, kernel_size=3, stride=stride, padding=padding)
    k, b = torch.randn(6, 4, 3, 3), torch.randn(6)
    with torch.no_grad():
        lc.weight.copy_(k.expand_as(lc.weight))
        lc.bias.copy_(b.view(6, 1, 1).expand_as(lc.bias))
    x = torch.randn(2, 4, 10, 10)
    torch.testing.assert_close(lc(x), F.conv2d(x, k, b, stride, padding), rtol=1e-5, atol=1e-5)


def test_each_position_uses_its_own_kernel():
    lc = LocallyConnected2d(1, 1, input_size=4, kernel_size=3, bias=False)  # 2×2 outputs
    with torch.no_grad():
        lc.weight.zero_()
        lc.weight[1, 0].fill_(1.0)  # only output (1, 0) has a non-zero kernel
    out = lc(torch.ones(1, 1, 4, 4))
    assert out[0, 0].tolist() == [[0.0, 0.0], [9.0, 0.0]]


def test_wrong_input_size_is_a_clear_error():
    lc = LocallyConnected2d(3, 4, input_size=8, kernel_size=3)
    with pytest.raises(ValueError, match="8, 8"):
        lc(torch.randn(1, 3, 9, 9))
    with pytest.raises(ValueError, match="does not fit"):
        LocallyConnected2d(3, 4, input_size=2, kernel_size=3)
