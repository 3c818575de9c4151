"""Residual units: orderings of He et al. 2016b figure 4, shortcut options, stochastic depth."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.layers.residual import (
    BasicBlock,
    Bottleneck,
    ZeroPadShortcut,
    make_shortcut,
)

# Figure 4 of He et al. 2016b for two weight layers: the sequence of layers on
# the branch (preact + branch) and after the addition.
FIGURE_4 = {
    "a": (["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"], ["ReLU"]),
    "b": (["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"], ["BatchNorm2d", "ReLU"]),
    "c": (["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"], []),
    "d": (["ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"], []),
    "e": (["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"], []),
}


def leaves(module: nn.Module) -> list[str]:
    return [type(m).__name__ for m in module.modules() if not list(m.children())
            and not isinstance(m, nn.Identity)]  # fmt: skip


@pytest.mark.parametrize("unit", sorted(FIGURE_4))
def test_orderings_of_figure_4(unit):
    block = BasicBlock(8, 8, unit=unit)
    branch, after = FIGURE_4[unit]
    assert leaves(block.preact) + leaves(block.branch) == branch
    assert leaves(block.post) == after


def test_ordering_c_makes_the_residual_non_negative_and_e_leaves_the_sum_alone():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    c = BasicBlock(8, 8, unit="c").eval()
    assert bool((c(x) - x >= -1e-6).all())  # ReLU before addition: F(x) >= 0
    e = BasicBlock(8, 8, unit="e").eval()
    with torch.no_grad():
        torch.testing.assert_close(e(x), x + e.branch(e.preact(x)))


def test_ordering_d_does_not_clobber_the_identity():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    d = BasicBlock(8, 8, unit="d").eval()
    with torch.no_grad():
        torch.testing.assert_close(d(x.clone()), x + d.branch(torch.relu(x)))


def test_bottleneck_stride_placement():
    paper = Bottleneck(64, 256, 2, width=64)
    v15 = Bottleneck(64, 256, 2, width=64, stride_on_3x3=True)
    assert paper.branch.conv1.stride == (2, 2) and paper.branch.conv2.stride == (1, 1)
    assert v15.branch.conv1.stride == (1, 1) and v15.branch.conv2.stride == (2, 2)
    x = torch.randn(1, 64, 9, 9)
    assert paper(x).shape == v15(x).shape == (1, 256, 5, 5)


def test_shortcut_options():
    assert make_shortcut(None, 8, 16, 2) is None
    a = make_shortcut("A", 8, 16, 2)
    assert isinstance(a, ZeroPadShortcut) and sum(p.numel() for p in a.parameters()) == 0
    assert isinstance(make_shortcut("A", 8, 8, 1), nn.Identity)
    assert isinstance(make_shortcut("B", 8, 8, 1), nn.Identity)
    b = make_shortcut("B", 8, 16, 2)
    assert sum(p.numel() for p in b.parameters()) == 8 * 16 + 2 * 16  # 1×1 conv + BN
    c = make_shortcut("C", 8, 8, 1)
    assert sum(p.numel() for p in c.parameters()) == 8 * 8 + 2 * 8
    with pytest.raises(ValueError, match="'A'"):
        make_shortcut("X", 8, 8, 1)


def test_zero_pad_shortcut_values():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    y = ZeroPadShortcut(3, 5, 2)(x)
    assert y.shape == (2, 5, 3, 3)
    torch.testing.assert_close(y[:, :3], x[:, :, ::2, ::2])
    assert bool((y[:, 3:] == 0).all())
    with pytest.raises(ValueError, match="narrow"):
        ZeroPadShortcut(8, 4)


def test_option_a_shape_matches_the_branch_on_odd_sizes():
    for unit in ("a", "e"):
        block = BasicBlock(4, 8, 2, shortcut="A", unit=unit)
        assert block(torch.randn(1, 4, 7, 7)).shape == (1, 8, 4, 4)


def test_plain_unit_has_no_addition():
    torch.manual_seed(0)
    block = BasicBlock(4, 4, shortcut=None).eval()
    x = torch.randn(1, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(block.branch(x)))


def test_pre_activation_projection_reads_the_activated_input():
    torch.manual_seed(0)
    block = BasicBlock(4, 8, 2, unit="e").eval()
    assert block.shortcut_from_preact
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.shortcut.modules())
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        pre = block.preact(x)
        torch.testing.assert_close(block(x), block.shortcut(pre) + block.branch(pre))


@pytest.mark.parametrize("unit", ["a", "c", "d", "e"])
def test_zero_init_gives_identity(unit):
    torch.manual_seed(0)
    block = Bottleneck(16, 16, width=4, unit=unit)
    block.zero_init_()
    block.eval()
    x = torch.rand(2, 16, 5, 5)  # non-negative: as the output of a previous unit
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)


def test_stochastic_depth_skips_the_branch_in_training():
    torch.manual_seed(0)
    block = BasicBlock(4, 4, survival=0.25)
    calls = []
    block.branch.register_forward_hook(lambda m, i, o: calls.append(1))
    block.train()
    x = torch.rand(2, 4, 5, 5)
    outs = []
    with torch.no_grad():
        for _ in range(400):
            outs.append(block(x))
    kept = len(calls)
    assert 60 < kept < 140  # ~100 of 400 with p = 0.25
    dropped = [o for o in outs if torch.equal(o, torch.relu(x))]
    assert len(dropped) == 400 - kept  # a dropped unit is exactly the (activated) identity


def test_stochastic_depth_scales_by_p_at_test_time():
    torch.manual_seed(0)
    block = Bottleneck(8, 8, width=4, unit="e", survival=0.7).eval()
    x = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x + 0.7 * block.branch(block.preact(x)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="figure 4"):
        BasicBlock(4, 4, unit="z")
    with pytest.raises(ValueError, match="plain"):
        BasicBlock(4, 4, shortcut=None, survival=0.5)
    with pytest.raises(ValueError, match="survival"):
        BasicBlock(4, 4, survival=0.0)
