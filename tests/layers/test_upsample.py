"""Bilinear kernels for transposed convolution, and bilinear resize both ways."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.layers.upsample import (
    BilinearUpsample,
    bilinear_kernel,
    bilinear_resize,
    source_coordinates,
)


def test_bilinear_kernel_values():
    # k = 4 (factor 2): taps at 1/4, 3/4, 3/4, 1/4 along each axis (d2l §14.10).
    w = bilinear_kernel(2, 3, 4)
    assert w.shape == (2, 3, 4, 4)
    tent = torch.tensor([0.25, 0.75, 0.75, 0.25])
    torch.testing.assert_close(w[1, 1], tent[:, None] * tent[None, :])
    assert w[0, 1].abs().sum() == 0 and w[:, 2].abs().sum() == 0  # channel c reads channel c only
    # odd k = 3: centre tap 1, neighbours 1/2
    torch.testing.assert_close(bilinear_kernel(1, 1, 3)[0, 0, 1], torch.tensor([0.5, 1.0, 0.5]))


@pytest.mark.parametrize("factor", [2, 4, 8, 32])
@pytest.mark.parametrize("learnable", [True, False])
def test_transposed_conv_equals_interpolation_away_from_the_border(factor, learnable):
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    up = BilinearUpsample(3, factor, learnable=learnable).double()
    y = up(x)
    assert y.shape == (2, 3, 5 * factor, 6 * factor)  # (H - 1)f - 2(f/2) + 2f = fH
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    m = factor // 2  # the border, where interpolation repeats the edge and the conv sees zeros
    torch.testing.assert_close(y[..., m:-m, m:-m], ref[..., m:-m, m:-m])


def test_fixed_upsampling_is_a_buffer_not_a_parameter():
    up = BilinearUpsample(21, 32, learnable=False)
    assert sum(p.numel() for p in up.parameters()) == 0
    assert sum(p.numel() for p in BilinearUpsample(21, 2).parameters()) == 21 * 21 * 4 * 4
    assert BilinearUpsample(4, 2, padding=0)(torch.zeros(1, 4, 3, 3)).shape == (1, 4, 8, 8)


def test_source_coordinates_both_conventions():
    # 2 -> 4 pixels. align_corners=True: corner centres coincide, step (2-1)/(4-1).
    torch.testing.assert_close(source_coordinates(4, 2, True), torch.tensor([0, 1 / 3, 2 / 3, 1], dtype=torch.float64))
    # align_corners=False: pixel squares, (i + 0.5)/2 - 0.5, clamped at 0.
    torch.testing.assert_close(source_coordinates(4, 2, False), torch.tensor([0, 0.25, 0.75, 1.25], dtype=torch.float64))


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("size", [(10, 14), (3, 4), (9, 5), (1, 1), (5, 7)])
def test_bilinear_resize_equals_interpolate(align_corners, size):
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    ref = F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)
    torch.testing.assert_close(bilinear_resize(x, size, align_corners), ref)


def test_align_corners_true_keeps_the_corner_pixels():
    x = torch.randn(1, 1, 4, 6)
    y = bilinear_resize(x, (7, 11), align_corners=True)
    for (i, j), (a, b) in zip([(0, 0), (0, -1), (-1, 0), (-1, -1)], [(0, 0), (0, -1), (-1, 0), (-1, -1)], strict=True):
        torch.testing.assert_close(y[0, 0, i, j], x[0, 0, a, b])


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        bilinear_kernel(1, 1, 0)
    with pytest.raises(ValueError, match="positive"):
        BilinearUpsample(3, 0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        bilinear_resize(torch.zeros(3, 4), (2, 2))
