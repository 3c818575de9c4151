"""Octave convolution (Chen et al. 2019, §3 and table 1)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.layers.octave_conv import OctaveConv2d, octave_cost_ratio


def _conv_macs(module, x):
    """Multiply-adds of every nn.Conv2d inside ``module`` on input ``x``."""
    total = 0

    def hook(conv, inputs, out):
        nonlocal total
        k = conv.kernel_size[0] * conv.kernel_size[1]
        total += out[0].numel() * conv.in_channels // conv.groups * k

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d)]
    module(x)
    for h in handles:
        h.remove()
    return total


def test_shapes_and_channel_split():
    oc = OctaveConv2d(64, 32, 3, alpha_in=0.25, alpha_out=0.5)
    x_h, x_l = torch.randn(2, 48, 16, 16), torch.randn(2, 16, 8, 8)
    y_h, y_l = oc((x_h, x_l))
    assert y_h.shape == (2, 16, 16, 16) and y_l.shape == (2, 16, 8, 8)
    y_h, y_l = OctaveConv2d(64, 32, 3, 0.25, 0.5, stride=2)((x_h, x_l))
    assert y_h.shape == (2, 16, 8, 8) and y_l.shape == (2, 16, 4, 4)


@pytest.mark.parametrize(("a_in", "a_out"), [(0.5, 0.5), (0.0, 0.25), (0.75, 0.0), (0.125, 0.875)])
def test_four_kernels_hold_the_weights_of_one_convolution(a_in, a_out):
    oc = OctaveConv2d(64, 32, 3, a_in, a_out)
    assert sum(p.numel() for p in oc.parameters()) == 64 * 32 * 3 * 3


def test_alpha_zero_is_an_ordinary_convolution():
    oc = OctaveConv2d(8, 12, 3, alpha_in=0.0, alpha_out=0.0)
    x = torch.randn(2, 8, 9, 7)  # odd sizes are fine without a low-frequency part
    torch.testing.assert_close(oc(x), F.conv2d(x, oc.h2h.weight, padding=1))


def test_paper_equations_3_and_4():
    torch.manual_seed(0)
    oc = OctaveConv2d(8, 8, 3, 0.5, 0.5)
    x_h, x_l = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)
    y_h, y_l = oc((x_h, x_l))
    up = F.interpolate(F.conv2d(x_l, oc.l2h.weight, padding=1), scale_factor=2, mode="nearest")
    torch.testing.assert_close(y_h, F.conv2d(x_h, oc.h2h.weight, padding=1) + up)
    pooled = F.avg_pool2d(x_h, 2)
    expected_l = F.conv2d(x_l, oc.l2l.weight, padding=1) + F.conv2d(
        pooled, oc.h2l.weight, padding=1
    )
    torch.testing.assert_close(y_l, expected_l)


# Table 1 of the paper: theoretical FLOPs of an octave conv relative to a plain one.
@pytest.mark.parametrize(
    ("alpha", "paper"),
    [(0.0, 1.00), (0.125, 0.82), (0.25, 0.67), (0.5, 0.44), (0.75, 0.30), (0.875, 0.26)],
)
def test_cost_ratio_matches_table_1_and_the_counted_multiply_adds(alpha, paper):
    c, size = 64, 16
    assert octave_cost_ratio(alpha) == pytest.approx(paper, abs=0.005)  # printed in %
    oc = OctaveConv2d(c, c, 3, alpha, alpha)
    low = int(alpha * c)
    x = (
        torch.randn(1, c, size, size)
        if low == 0
        else (torch.randn(1, c - low, size, size), torch.randn(1, low, size // 2, size // 2))
    )
    plain = _conv_macs(nn.Conv2d(c, c, 3, padding=1), torch.randn(1, c, size, size))
    assert _conv_macs(oc, x) / plain == pytest.approx(octave_cost_ratio(alpha))


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="alpha_in"):
        OctaveConv2d(8, 8, alpha_in=1.0)
    oc = OctaveConv2d(8, 8)
    with pytest.raises(ValueError, match="pair"):
        oc(torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match="even"):
        OctaveConv2d(8, 8, alpha_in=0.0)(torch.randn(1, 8, 7, 7))
