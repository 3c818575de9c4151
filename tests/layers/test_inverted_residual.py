"""The inverted residual / MBConv block (Sandler et al. 2018 table 1) and its keywords."""

import pytest
import torch
from torch import nn

from cnnzoo.layers.activations import HardSigmoid, HardSwish
from cnnzoo.layers.inverted_residual import InvertedResidual


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_table_1_structure_and_parameter_count():
    block = InvertedResidual(24, 32, stride=2, expand_ratio=6)
    x = torch.randn(2, 24, 16, 16)
    assert block(x).shape == (2, 32, 8, 8)
    assert not block.use_residual
    # 1×1 24→144, 3×3 depthwise on 144, 1×1 144→32, and BN (2 per channel) after each.
    assert _params(block) == 24 * 144 + 9 * 144 + 144 * 32 + 2 * (144 + 144 + 32)
    assert isinstance(block.expand.act, nn.ReLU6) and isinstance(block.depthwise.act, nn.ReLU6)
    assert not hasattr(block.project, "act")  # linear bottleneck


def test_residual_only_when_stride_1_and_equal_widths():
    block = InvertedResidual(16, 16, expand_ratio=4).eval()
    nn.init.zeros_(block.project.bn.weight)  # branch output 0: the block is the identity
    x = torch.randn(1, 16, 5, 5)
    torch.testing.assert_close(block(x), x)


def test_no_expansion_conv_when_t_is_1():
    block = InvertedResidual(32, 16, expand_ratio=1)
    assert block.expand is None and block.depthwise.conv.in_channels == 32


def test_mobilenet_v3_keywords_se_with_hard_sigmoid():
    block = InvertedResidual(
        40, 40, mid_chans=120, kernel_size=5, act=HardSwish, se_channels=32, se_gate=HardSigmoid
    )
    assert block.depthwise.conv.kernel_size == (5, 5)
    assert isinstance(block.se.gate, HardSigmoid) and block.se.fc1.out_channels == 32
    assert block(torch.randn(2, 40, 7, 7)).shape == (2, 40, 7, 7)


def test_stochastic_depth_drops_whole_samples_and_is_identity_at_test_time():
    torch.manual_seed(0)
    block = InvertedResidual(8, 8, expand_ratio=2, survival=0.5)
    x = torch.randn(64, 8, 4, 4)
    block.train()
    out = block(x)
    same = [(out[i] - x[i]).abs().max().item() == 0 for i in range(64)]
    assert 10 < sum(same) < 54  # about half the samples skip the branch
    block.eval()
    assert not torch.equal(block(x), x)
    assert block.drop_path.mode == "row" and block.drop_path.inverted


def test_bad_arguments():
    with pytest.raises(ValueError, match="stride"):
        InvertedResidual(8, 8, stride=3)
    with pytest.raises(ValueError, match="expand_ratio"):
        InvertedResidual(8, 8, expand_ratio=0.5)
