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


class _WindowNet(nn.Module):
    """Features: a 2×-downsampling average; head: a linear layer on a flattened 3×3 window (VGG-like)."""

    def __init__(self, k=3):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(2 * 3 * 3, k)

    def forward_features(self, x):
        return torch.nn.functional.avg_pool2d(torch.cat([x, x * x], 1), 2)

    def forward_head(self, f):
        return self.fc(f.flatten(1))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class _PoolNet(_WindowNet):
    """The same features, a head that averages over all positions first (ResNet-like)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3)

    def forward_head(self, f):
        return self.fc(f.mean((2, 3)))


def test_dense_slides_the_head_over_every_training_window():
    from cnnzoo.train.tta import DenseClassifier, dense_model

    net = _WindowNet().eval()
    dense = dense_model(net, 6, 1)  # trained at 6×6: the head reads a 3×3 feature window
    assert isinstance(dense, DenseClassifier) and dense.window == (3, 3)
    x = torch.rand(2, 1, 10, 12)  # 5×6 feature map: 3×4 windows
    f = net.forward_features(x)
    by_hand = torch.stack([
        torch.stack([net.forward_head(f[..., i : i + 3, j : j + 3]) for j in range(4)], -1) for i in range(3)
    ], -2)  # fmt: skip
    torch.testing.assert_close(dense(x), by_hand)
    p = tta_probabilities(net, x, "dense", 6, lambda t: t, [10], dense)
    expected = (by_hand.softmax(1).mean((2, 3)) + dense(x.flip(-1)).softmax(1).mean((2, 3))) / 2
    torch.testing.assert_close(p, expected)


def test_dense_runs_a_global_pooling_head_on_the_whole_map():
    from cnnzoo.train.tta import dense_model

    net = _PoolNet().eval()
    dense = dense_model(net, 6, 1)
    assert dense.window is None
    x = torch.rand(2, 1, 10, 12)
    torch.testing.assert_close(dense(x), net(x))
    plain = nn.Sequential(nn.Conv2d(1, 3, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # no model interface
    assert dense_model(plain, 6, 1) is plain


def test_tta_classifier_returns_log_probabilities():
    from cnnzoo.train.tta import TTAClassifier

    x = torch.rand(3, 1, 37, 37)
    net = TTAClassifier(_Pool(), "10crop", 32, lambda t: t, [37])
    torch.testing.assert_close(net(x).softmax(1), tta_probabilities(_Pool(), x, "10crop", 32, lambda t: t, [37]))
