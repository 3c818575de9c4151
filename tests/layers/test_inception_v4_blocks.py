"""Inception-v4 / Inception-ResNet blocks: shapes of figures 3–19, residual scaling."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.layers.inception_v4_blocks import (
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionResNetA,
    InceptionResNetB,
    InceptionResNetC,
    InceptionResNetReductionB,
    InceptionResNetV1Stem,
    InceptionV4Stem,
    ReductionA,
    ReductionB,
)


@pytest.mark.parametrize(
    ("block", "shape"),
    [
        # Inception-v4's blocks keep their input shape (figures 4–6).
        (InceptionA(384), (384, 35, 35)),
        (InceptionB(1024), (1024, 17, 17)),
        (InceptionC(1536), (1536, 8, 8)),
        # So do the residual blocks, whatever their branch widths (figures 10–13, 16–19).
        (InceptionResNetA(256), (256, 35, 35)),
        (InceptionResNetB(1152, (192, 128, 160, 192)), (1152, 17, 17)),
        (InceptionResNetC(2144, (224, 256)), (2144, 8, 8)),
    ],
)
def test_blocks_keep_their_input_shape(block, shape):
    with torch.device("meta"):
        assert tuple(block.to("meta")(torch.empty(1, *shape)).shape[1:]) == shape


@pytest.mark.parametrize(
    ("stem", "out"),
    [(InceptionV4Stem(), (384, 35, 35)), (InceptionResNetV1Stem(), (256, 35, 35))],
)
def test_stems_reach_35x35_from_299(stem, out):
    with torch.device("meta"):
        assert tuple(stem.to("meta")(torch.empty(1, 3, 299, 299)).shape[1:]) == out


def test_reductions_halve_the_grid():
    with torch.device("meta"):
        ra = ReductionA(384, 192, 224, 256, 384).to("meta")
        assert tuple(ra(torch.empty(1, 384, 35, 35)).shape[1:]) == (1024, 17, 17)
        rb = ReductionB(1024).to("meta")
        assert tuple(rb(torch.empty(1, 1024, 17, 17)).shape[1:]) == (1536, 8, 8)
        rb1 = InceptionResNetReductionB(896, 384, 256, 256).to("meta")
        assert tuple(rb1(torch.empty(1, 896, 17, 17)).shape[1:]) == (1792, 8, 8)


def test_reduction_a_adds_n_plus_m_channels():
    red = ReductionA(16, k=4, l=5, m=6, n=7)
    assert red(torch.randn(1, 16, 35, 35)).shape == (1, 16 + 7 + 6, 17, 17)


@pytest.mark.parametrize("scale", [0.1, 0.2, 0.3])
def test_residual_is_scaled_before_the_addition(scale):
    torch.manual_seed(0)
    block = InceptionResNetA(8, scale=scale).eval()
    x = torch.randn(2, 8, 9, 9)
    r = block.up(torch.cat([b(x) for b in block.branches], 1))
    torch.testing.assert_close(block(x), torch.relu(x + scale * r))
    # The residual branch ends in a linear 1×1 conv: bias, no BN, no activation.
    assert block.up.bias is not None


def test_last_block_of_the_released_network_has_no_relu():
    torch.manual_seed(0)
    block = InceptionResNetC(16, (8, 8), scale=1.0, act=False).eval()
    x = -torch.ones(1, 16, 3, 3)
    assert (block(x) < 0).any()


def test_scale_out_of_range():
    with pytest.raises(ValueError, match="0.1–0.3"):
        InceptionResNetB(32, scale=1.5)
