"""Inception module and the factorisation arithmetic (VGG §2.3, Inception v3 §3)."""

import pytest
import torch
from torch import nn

from cnnzoo.layers.inception import InceptionModule, asymmetric_conv, stacked_3x3

C = 16


def _conv_weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def _receptive_field(module: nn.Module, size: int = 15) -> tuple[int, int]:
    # The input pixels that the centre output depends on: a box of the receptive field's size.
    module = module.eval()
    x = torch.randn(1, C, size, size, requires_grad=True)
    module(x)[0, :, size // 2, size // 2].sum().backward()
    rows = torch.nonzero(x.grad[0].abs().sum(0).sum(1)).flatten()
    cols = torch.nonzero(x.grad[0].abs().sum(0).sum(0)).flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_three_3x3_cost_27c2_against_49c2_for_one_7x7():
    three = stacked_3x3(C, C, num=3)
    assert _conv_weights(three) == 27 * C * C
    assert _conv_weights(nn.Conv2d(C, C, 7)) == 49 * C * C
    assert _receptive_field(three) == (7, 7)


def test_two_3x3_are_18_25_of_a_5x5():
    two = stacked_3x3(C, C, num=2)
    assert _conv_weights(two) / _conv_weights(nn.Conv2d(C, C, 5)) == pytest.approx(18 / 25)
    assert _receptive_field(two) == (5, 5)


@pytest.mark.parametrize("n", [3, 5, 7])
@pytest.mark.parametrize("first", ["1xn", "nx1"])
def test_1xn_plus_nx1_is_2_over_n_of_nxn(n, first):
    pair = asymmetric_conv(C, C, C, n, first=first)
    assert _conv_weights(pair) / _conv_weights(nn.Conv2d(C, C, n)) == pytest.approx(2 / n)
    assert _receptive_field(pair) == (n, n)
    assert pair(torch.randn(2, C, 9, 9)).shape == (2, C, 9, 9)


def test_factorisations_reject_bad_arguments():
    with pytest.raises(ValueError, match="num"):
        stacked_3x3(C, C, num=0)
    with pytest.raises(ValueError, match="first"):
        asymmetric_conv(C, C, C, 7, first="7x7")
    with pytest.raises(ValueError, match="n >= 2"):
        asymmetric_conv(C, C, C, 1)


def test_googlenet_3a_module_channels_and_weights():
    # Table 1, inception (3a): 192 → 64 + 128 + 32 + 32 = 256 maps at 28×28.
    m = InceptionModule(192, 64, 96, 128, 16, 32, 32)
    assert m.out_chans == 256
    assert m(torch.randn(1, 192, 28, 28)).shape == (1, 256, 28, 28)
    weights = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    assert _conv_weights(m) == weights
    assert not any(isinstance(x, nn.BatchNorm2d) for x in m.modules())


def test_stride_two_module_passes_the_pool_through():
    # BN-Inception 3c: no 1×1 branch, 3×3 and double 3×3 at stride 2, max pool + pass through.
    m = InceptionModule(320, 0, 128, 160, 64, 96, 0, double_3x3=True, stride=2, bn=True)
    assert m.out_chans == 160 + 96 + 320
    for size in (28, 27):
        half = (size - 1) // 2 + 1
        assert m(torch.randn(1, 320, size, size)).shape == (1, 576, half, half)


def test_module_rejects_bad_options():
    with pytest.raises(ValueError, match="pool"):
        InceptionModule(8, 4, 4, 4, 4, 4, 4, pool="min")
    with pytest.raises(ValueError, match="1×1"):
        InceptionModule(8, 4, 4, 4, 4, 4, 0, stride=2)
    with pytest.raises(ValueError, match="stride"):
        InceptionModule(8, 0, 4, 4, 4, 4, 0, stride=3)
