"""The shortcut variants of He et al. 2016b (arXiv:1603.05027), figure 2, checked by hand.

Each test recomputes a unit's output from its parts (branch ``F``, identity
``x``, gate weights) with the formula of figure 2, independently of the
variant modules.
"""

from __future__ import annotations

import pytest
import torch

import cnnzoo
from cnnzoo.layers.residual import BasicBlock
from cnnzoo.layers.shortcut_variants import ExclusiveGating, ShortcutOnlyGating


def _unit(variant: str, **kw) -> BasicBlock:
    # Unit "c" adds nothing after the sum, so the output is the joined value itself.
    torch.manual_seed(0)
    return BasicBlock(8, 8, unit="c", shortcut_variant=variant, **kw).eval()


def _x() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 8, 5, 5)


def _gate_by_hand(unit: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    w = unit.combine.gate.weight[:, :, 0, 0]  # (C_out, C_in): a 1×1 convolution
    z = torch.einsum("oc,nchw->nohw", w, x) + unit.combine.gate.bias.view(1, -1, 1, 1)
    return 1 / (1 + torch.exp(-z))


@torch.no_grad()
def test_constant_scaling_halves_both_paths():
    unit, x = _unit("scaling"), _x()
    assert torch.allclose(unit(x), 0.5 * x + 0.5 * unit.branch(x), atol=1e-6)


@torch.no_grad()
def test_constant_scaling_of_the_shortcut_only():
    unit, x = _unit("scaling", branch_scale=1.0), _x()
    assert torch.allclose(unit(x), 0.5 * x + unit.branch(x), atol=1e-6)


@torch.no_grad()
def test_exclusive_gating_is_g_times_f_plus_one_minus_g_times_x():
    unit, x = _unit("exclusive_gating", gate_bias=-2.0), _x()
    unit.combine.reset_gate()
    assert torch.all(unit.combine.gate.bias == -2.0)
    g = _gate_by_hand(unit, x)
    assert torch.allclose(unit(x), g * unit.branch(x) + (1 - g) * x, atol=1e-6)


@torch.no_grad()
def test_shortcut_only_gating_leaves_the_branch_unscaled():
    unit, x = _unit("shortcut_gating"), _x()
    g = _gate_by_hand(unit, x)
    assert torch.allclose(unit(x), unit.branch(x) + (1 - g) * x, atol=1e-6)


@torch.no_grad()
def test_dropout_shortcut_keeps_or_drops_each_element_and_scales_by_half_at_test():
    unit, x = _unit("dropout"), _x()
    assert torch.allclose(unit(x), unit.branch(x) + 0.5 * x, atol=1e-6)
    unit.train()
    torch.manual_seed(2)
    out = unit(x)
    f = unit.branch(x)  # BN in training mode: the same batch gives the same F
    kept = torch.isclose(out - f, x, atol=1e-6)
    dropped = torch.isclose(out, f, atol=1e-6)
    assert torch.all(kept | dropped)
    assert 0.3 < kept.float().mean() < 0.7  # about half of 400 elements kept


def test_gates_start_at_the_papers_bias_in_a_network():
    for variant, cls in (
        ("exclusive_gating", ExclusiveGating),
        ("shortcut_gating", ShortcutOnlyGating),
    ):
        model = cnnzoo.create("resnet20", shortcut_variant=variant)
        gates = [m for m in model.modules() if isinstance(m, cls)]
        assert len(gates) == 9  # one per unit of ResNet-20
        assert all(torch.all(m.gate.bias == -6.0) for m in gates)  # table 1's best, b_g = -6


def test_the_1x1_conv_shortcut_is_option_c():
    model = cnnzoo.create("resnet20", shortcut="C")
    convs = [u.shortcut.conv for u in model.units()]
    assert len(convs) == 9 and all(c.kernel_size == (1, 1) for c in convs)


def test_default_is_the_plain_sum_with_no_new_parameters():
    plain = cnnzoo.create("resnet20")
    assert all(u.combine is None for u in plain.units())
    gated = cnnzoo.create("resnet20", shortcut_variant="exclusive_gating")
    extra = sum(p.numel() for p in gated.parameters()) - sum(p.numel() for p in plain.parameters())
    # One 1×1 gate conv with bias per unit: 3 units each of 16→16, 16/32→32, 32/64→64 channels.
    expected = sum(
        i * o + o
        for i, o in [(16, 16)] * 3 + [(16, 32)] + [(32, 32)] * 2 + [(32, 64)] + [(64, 64)] * 2
    )
    assert extra == expected


def test_unknown_variant_is_a_value_error():
    with pytest.raises(ValueError, match="shortcut_variant"):
        cnnzoo.create("resnet20", shortcut_variant="highway")
