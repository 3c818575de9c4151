"""Gridding of stacked dilated convolutions, HDC rates that fill the holes, and ASPP."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.layers.dilated import (
    ASPP,
    HybridDilatedConv,
    has_gridding,
    hdc_max_distance,
    is_hdc,
    receptive_field_footprint,
)


def test_stacked_rate_2_leaves_holes():
    # Three 3×3 convs at rate 2 (gridding, Wang et al. 2018, §3.2): the receptive field is
    # 1 + 3·2·2 = 13 wide, but the centre unit only sees pixels at even offsets.
    f = receptive_field_footprint([2, 2, 2])
    assert f.shape == (13, 13)
    seen = f > 0
    assert seen[::2, ::2].all()
    assert not seen[1::2, :].any() and not seen[:, 1::2].any()
    assert int(seen.sum()) == 7 * 7  # 49 of 169 pixels


@pytest.mark.parametrize("rates", [[1, 2, 5], [1, 2, 5, 1, 2, 5], [1, 2, 3], [1, 2, 4, 8]])
def test_hdc_rates_fill_the_receptive_field(rates):
    f = receptive_field_footprint(rates)
    assert f.shape[0] == 1 + 2 * sum(rates)
    assert (f > 0).all()
    assert not has_gridding(rates)


@pytest.mark.parametrize("rates", [[2, 4, 6], [2, 2, 2], [1, 2, 9], [1, 5], [3]])
def test_common_factor_or_large_jump_grids(rates):
    assert has_gridding(rates)
    assert not is_hdc(rates)


def test_hdc_rule_of_wang_et_al():
    # M_2 for [1, 2, 5] is max(5 - 4, 5 - 6, 2) = 2 <= 3; for [1, 2, 9] it is 5 > 3.
    assert hdc_max_distance([1, 2, 5]) == 2 and is_hdc([1, 2, 5])
    assert hdc_max_distance([1, 2, 9]) == 5 and not is_hdc([1, 2, 9])
    # The rule agrees with the direct footprint on single groups.
    for rates in ([1, 2, 3], [1, 3, 5], [1, 2, 7], [1, 3], [1, 4], [1, 2, 9], [2, 4, 6]):
        assert is_hdc(rates) == (not has_gridding(rates)), rates


def test_hdc_block_shapes_and_check():
    block = HybridDilatedConv(4, 8, rates=(1, 2, 5, 1, 2, 5))
    x = torch.randn(2, 4, 20, 17)
    assert block(x).shape == (2, 8, 20, 17)
    assert [m.conv.dilation[0] for m in block] == [1, 2, 5, 1, 2, 5]
    with pytest.raises(ValueError, match="gridding"):
        HybridDilatedConv(4, 8, rates=(2, 4, 6))
    assert len(HybridDilatedConv(4, 8, rates=(2, 2), check=False)) == 2


def test_aspp_shapes_and_branches():
    head = ASPP(32, 16, rates=(6, 12, 18)).train()
    x = torch.randn(2, 32, 9, 11)
    assert head(x).shape == (2, 16, 9, 11)
    assert len(head.branches) == 5  # 1×1, three rates, image pooling
    assert [b.conv.dilation[0] for b in head.branches[1:4]] == [6, 12, 18]
    head(torch.randn(1, 32, 5, 5)).sum().backward()  # batch of one trains
    assert all(p.grad is not None for p in head.parameters())
    assert len(ASPP(8, 4, rates=(2,), image_pooling=False).branches) == 2


def test_bad_rates():
    with pytest.raises(ValueError, match="positive ints"):
        receptive_field_footprint([1, 0])
    with pytest.raises(ValueError, match="positive ints"):
        ASPP(8, rates=())
