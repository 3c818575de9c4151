"""Xception against Chollet 2017 (arXiv:1610.02357; figure 5, table 3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.separable_conv import SeparableConv2d
from cnnzoo.models.xception import XceptionBlock


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())



@pytest.fixture(scope="module")
def meta_xception():
    with torch.device("meta"):
        return cnnzoo.create("xception").eval()


def test_exact_parameter_count(meta_xception):
    assert _params(meta_xception) == 22_855_952


def test_keras_total_adds_batchnorm_running_statistics(meta_xception):
    # Keras prints 22,910,480 total params: the trainable ones plus BN's moving
    # mean and variance, which PyTorch holds as buffers.
    stats = sum(b.numel() for n, b in meta_xception.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert _params(meta_xception) + stats == 22_910_480


def test_flow_shapes_follow_figure_5(meta_xception):
    m = meta_xception
    with torch.device("meta"):
        x = m.stem(torch.empty(1, 3, 299, 299))
        assert tuple(x.shape[1:]) == (64, 147, 147)
        sizes = []
        for block in m.entry_flow:
            x = block(x)
            sizes.append(tuple(x.shape[1:]))
        assert sizes == [(128, 74, 74), (256, 37, 37), (728, 19, 19)]
        x = m.middle_flow(x)
        assert tuple(x.shape[1:]) == (728, 19, 19)
        x = m.exit_flow(x)
        assert tuple(x.shape[1:]) == (2048, 10, 10)
    assert len(m.middle_flow) == 8
    assert all(len([c for c in b.body if isinstance(c, SeparableConv2d)]) == 3 for b in m.middle_flow)


def test_no_nonlinearity_inside_separable_convs_by_default(meta_xception):
    seps = [m for m in meta_xception.modules() if isinstance(m, SeparableConv2d)]
    assert len(seps) == 2 * 3 + 3 * 8 + 2 + 2  # entry 6, middle 24, exit 4: 34 in figure 5
    assert all(not hasattr(s, "mid_act") for s in seps)


def test_intermediate_activation_ablation_adds_no_parameters():
    with torch.device("meta"):
        relu = cnnzoo.create("xception", mid_act="relu")
        elu = cnnzoo.create("xception", mid_act="elu")
    assert _params(relu) == _params(elu) == 22_855_952
    seps = [m for m in elu.modules() if isinstance(m, SeparableConv2d)]
    assert all(isinstance(s.mid_act, nn.ELU) for s in seps)


def test_without_residuals_the_four_projection_shortcuts_go():
    with torch.device("meta"):
        plain = cnnzoo.create("xception", residual=False)
    # 1×1 conv + BN (γ, β) on the shortcuts 64→128, 128→256, 256→728, 728→1024.
    shortcut = sum(a * b + 2 * b for a, b in [(64, 128), (128, 256), (256, 728), (728, 1024)])
    assert _params(plain) == 22_855_952 - shortcut


def test_block_computes_body_plus_shortcut():
    torch.manual_seed(0)
    block = XceptionBlock(8, 16, 2, stride=2).eval()
    x = torch.randn(2, 8, 9, 9)
    torch.testing.assert_close(block(x), block.body(x) + block.shortcut(x))
    assert block(x).shape == (2, 16, 5, 5)


def test_any_admissible_input_and_bad_arguments():
    with torch.device("meta"):
        m = cnnzoo.create("xception", num_classes=4, in_chans=1, middle_blocks=2).eval()
        assert m(torch.empty(3, 1, 224, 180)).shape == (3, 4)
    with pytest.raises(ValueError, match="mid_act"):
        cnnzoo.create("xception", mid_act="tanh")
