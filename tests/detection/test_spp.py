"""Spatial pyramid pooling: fixed length from any input size."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.detection import SpatialPyramidPooling, spatial_pyramid_pool


def test_paper_pyramid_length():
    # He et al. 2014: the {6x6, 3x3, 2x2, 1x1} pyramid has 50 bins; on ZF-5's
    # 256 conv5 maps the fc6 input is 12,800-d whatever the image size.
    spp = SpatialPyramidPooling()
    assert spp.output_features(256) == 12800
    for h, w in [(13, 13), (10, 17), (6, 6), (3, 2), (1, 1), (40, 7)]:
        assert spp(torch.randn(2, 256, h, w)).shape == (2, 12800)


def test_levels_and_values():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = spatial_pyramid_pool(x, levels=(1, 2))
    assert out.tolist() == [[15, 5, 7, 13, 15]]
    assert spatial_pyramid_pool(x, (2,), mode="avg").tolist() == [[2.5, 4.5, 10.5, 12.5]]


def test_bad_input():
    with pytest.raises(ValueError, match="levels"):
        SpatialPyramidPooling(levels=(2, 0))
    with pytest.raises(ValueError, match="mode"):
        SpatialPyramidPooling(mode="sum")
    with pytest.raises(ValueError, match="non-empty"):
        spatial_pyramid_pool(torch.randn(1, 3, 0, 5))
