"""Test-time evaluation views: 10-crop, center, multi-scale, dense."""

import pytest
import torch
from torch import nn

from cnnzoo.train.tta import (
    center_crop,
    default_scales,
    resize_shorter,
    ten_crop,
    tta_probabilities,
)


def test_ten_crop_takes_corners_center_and_mirrors():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    crops = ten_crop(x, 4)
    assert len(crops) == 10
    assert crops[0][0, 0, 0, 0] == 0  # top-left corner
    assert crops[1][0, 0, 0, -1] == 5  # top-right corner
    assert crops[2][0, 0, -1, 0] == 30  # bottom-left
    assert crops[3][0, 0, -1, -1] == 35  # bottom-right
    torch.testing.assert_close(crops[4], x[..., 1:5, 1:5])  # center
    for a, b in zip(crops[:5], crops[5:]):
        torch.testing.assert_close(b, a.flip(-1))


class _Pool(nn.Module):
    """A classifier whose logits depend on the mean and the left/right imbalance."""

    def forward(self, x):
        left, right = x[..., : x.shape[-1] // 2].mean((1, 2, 3)), x[..., x.shape[-1] // 2 :].mean((1, 2, 3))
        return torch.stack([left - right, right - left, x.mean((1, 2, 3))], 1)


def test_ten_crop_of_a_constant_image_equals_center_crop():
    x = torch.full((2, 1, 37, 37), 0.3)
    norm = lambda t: t  # noqa: E731
    p10 = tta_probabilities(_Pool(), x, "10crop", 32, norm, [37])
    pc = tta_probabilities(_Pool(), x, "center", 32, norm, [37])
    torch.testing.assert_close(p10, pc)


def test_mirror_views_cancel_left_right_evidence():
    x = torch.zeros(1, 1, 32, 32)
    x[..., :16] = 1.0  # all evidence on the left
    norm = lambda t: t  # noqa: E731
    pc = tta_probabilities(_Pool(), x, "center", 32, norm)
    pm = tta_probabilities(_Pool(), x, "multiscale", 32, norm, [32])
    assert pc[0, 0] > pc[0, 1]
    torch.testing.assert_close(pm[0, 0], pm[0, 1])  # the mirror sees it on the right


def test_dense_averages_a_score_map():
    class Map(nn.Module):
        def forward(self, x):
            return torch.cat([x, -x], 1)  # a 2-class score map the size of the image

    x = torch.zeros(1, 1, 40, 40)
    x[..., 0, 0] = 50.0
    p = tta_probabilities(Map(), x, "dense", 32, lambda t: t)
    # softmax per position, then the spatial mean: one hot pixel among 1,600
    assert p.shape == (1, 2)
    assert 0.5 < p[0, 0] < 0.502


def test_scales_and_sizes():
    assert default_scales("10crop", 224) == [256]
    assert default_scales("multiscale", 224) == [224, 256, 288]
    assert resize_shorter(torch.zeros(1, 1, 20, 40), 10).shape[-2:] == (10, 20)
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(torch.zeros(1, 1, 8, 8), 9)
    with pytest.raises(ValueError, match="at least the crop size"):
        tta_probabilities(_Pool(), torch.zeros(1, 1, 32, 32), "10crop", 32, lambda t: t, [30])
    with pytest.raises(ValueError, match="accepted"):
        tta_probabilities(_Pool(), torch.zeros(1, 1, 32, 32), "5crop", 32, lambda t: t)
