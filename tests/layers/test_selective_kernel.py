"""Selective kernel convolution (Li et al. 2019, equations 1–6)."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.layers.selective_kernel import SelectiveKernelConv


def test_shapes_and_branch_kernels():
    sk = SelectiveKernelConv(16, 32, stride=2, groups=4)
    assert sk(torch.randn(2, 16, 9, 9)).shape == (2, 32, 5, 5)
    true_kernels = SelectiveKernelConv(16, 32, groups=4, num_branches=3, dilated=False)
    assert [b.conv.kernel_size for b in true_kernels.branches] == [(3, 3), (5, 5), (7, 7)]
    assert true_kernels(torch.randn(2, 16, 9, 9)).shape == (2, 32, 9, 9)


def test_attention_is_a_softmax_across_branches():
    torch.manual_seed(0)
    sk = SelectiveKernelConv(8, 16, groups=2).eval()
    feats = torch.stack([b(torch.randn(3, 8, 6, 6)) for b in sk.branches], 1)
    a = sk.attention(feats)
    assert a.shape == (3, 2, 16, 1, 1)
    torch.testing.assert_close(a.sum(1), torch.ones(3, 16, 1, 1))
    assert bool((a > 0).all())


def test_output_is_the_attention_weighted_sum():
    torch.manual_seed(0)
    sk = SelectiveKernelConv(8, 16, groups=2).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        u1, u2 = (b(x) for b in sk.branches)
        a = sk.attention(torch.stack([u1, u2], 1))
        torch.testing.assert_close(sk(x), a[:, 0] * u1 + a[:, 1] * u2)


def test_one_branch_is_a_plain_conv_bn_relu():
    torch.manual_seed(0)
    sk = SelectiveKernelConv(8, 8, groups=1, num_branches=1).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(sk(x), sk.branches[0](x))


def test_fuse_width_is_max_of_c_over_r_and_l():
    assert SelectiveKernelConv(64, 64, groups=32).fuse.conv.out_channels == 32  # L wins
    assert SelectiveKernelConv(64, 1024, groups=32).fuse.conv.out_channels == 64  # C/r wins
    with pytest.raises(ValueError, match="num_branches"):
        SelectiveKernelConv(8, 8, num_branches=0)
