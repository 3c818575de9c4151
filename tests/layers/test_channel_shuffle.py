"""Channel shuffle (Zhang et al. 2018, §3.1): a permutation, undone by the C/g shuffle."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cnnzoo.layers.channel_shuffle import (
    ChannelShuffle,
    channel_shuffle,
    channel_shuffle_permutation,
)


def test_paper_example_three_groups_of_two():
    x = torch.arange(6.0).view(1, 6, 1, 1)  # groups (0 1) (2 3) (4 5)
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


@given(groups=st.integers(1, 8), per_group=st.integers(1, 8))
def test_is_a_permutation_and_the_inverse_shuffle_undoes_it(groups, per_group):
    c = groups * per_group
    x = torch.randn(2, c, 3, 2)
    y = channel_shuffle(x, groups)
    perm = channel_shuffle_permutation(c, groups)
    assert sorted(perm.tolist()) == list(range(c))
    torch.testing.assert_close(y, x[:, perm])
    torch.testing.assert_close(channel_shuffle(y, c // groups), x)


def test_every_next_group_receives_one_channel_from_every_group():
    g, n = 4, 3
    perm = channel_shuffle_permutation(g * n, g)
    source_group = perm // n  # which group each shuffled channel came from
    for j in range(n):  # the next layer's j-th group: channels j·g … j·g + g − 1
        assert sorted(source_group[j * g : (j + 1) * g].tolist()) == list(range(g))


def test_module_and_bad_groups():
    x = torch.randn(1, 12, 2, 2)
    torch.testing.assert_close(ChannelShuffle(3)(x), channel_shuffle(x, 3))
    with pytest.raises(ValueError, match="divides"):
        channel_shuffle(x, 5)
    with pytest.raises(ValueError, match="positive"):
        ChannelShuffle(0)
