"""IGCNet (Zhang et al. 2017, arXiv:1707.02725) against the paper and the authors' networks.

Printed numbers (ImageNet, 224×224): IGC-L4M32+Ident. 1.9G multiply-adds,
IGC-L100M2+Ident. 8.61M parameters and 1.3G. The stage layout (L fixed and M
doubling, or M fixed and L doubling) is the paper's; the stem widths and the
grouped projections are those of the authors' released MXNet symbol files.
Big networks are built on the meta device: no compute.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.interleaved_group_conv import InterleavedGroupConv2d
from cnnzoo.models.igcnet import IGCNet, IGCUnit, interleaved_group_conv
from cnnzoo.registry import get_model_info, parse_count


def _meta(name: str) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create(name)


def _igcs_by_stage(model: IGCNet) -> list[list[InterleavedGroupConv2d]]:
    return [
        [m for m in stage.modules() if isinstance(m, InterleavedGroupConv2d)]
        for stage in model.stages
    ]


@pytest.mark.parametrize("name", ["igc_l4m32", "igc_l100m2"])
def test_multiply_adds_match_the_paper(name):
    info = get_model_info(name)
    macs = cnnzoo.analyze(name, info.input_size).macs
    assert info.macs.matches(macs), f"{name}: {macs / 1e9:.3f}G, paper {info.macs.text}"


def test_l100m2_parameters_are_the_papers_without_batchnorm_affine():
    model = _meta("igc_l100m2")
    bn = sum(
        p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )
    n = sum(p.numel() for p in model.parameters())
    assert parse_count("8.61M").matches(n - bn)
    assert not parse_count("8.61M").matches(n)  # why the entry carries no_reference


@pytest.mark.parametrize(("name", "printed"), [("igc_l4m32", "11.205M"), ("igc_l16m16", "11.329M")])
def test_printed_counts_match_no_counting_rule(name, printed):
    # Why these entries carry no_reference: with or without BN's scale and shift,
    # with or without the FC layer, the released network is not the printed count.
    model = _meta(name)
    bn = sum(
        p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )
    fc = sum(p.numel() for p in model.get_classifier().parameters())
    n = sum(p.numel() for p in model.parameters())
    ref = parse_count(printed)
    assert not any(ref.matches(c) for c in (n, n - bn, n - fc, n - bn - fc))
    assert get_model_info(name).params is None and get_model_info(name).no_reference


@pytest.mark.parametrize(
    ("name", "ls", "ms"),
    [
        ("igc_l4m32", [4, 4, 4, 4], [32, 64, 128, 256]),  # width doubles by doubling M
        ("igc_l16m16", [16, 16, 16, 16], [16, 32, 64, 128]),
        ("igc_l100m2", [100, 200, 400, 800], [2, 2, 2, 2]),  # ... or by doubling L
    ],
)
def test_primary_is_l_groups_of_m_spatial_secondary_m_groups_of_l_pointwise(name, ls, ms):
    for l, m, igcs in zip(ls, ms, _igcs_by_stage(_meta(name))):
        assert len(igcs) == 4  # two units of two IGC blocks, in place of ResNet-18's 3×3 convs
        for igc in igcs:
            assert igc.primary.groups == l and igc.primary.out_channels == l * m
            assert igc.primary.kernel_size == (3, 3)
            assert igc.secondary.groups == m and igc.secondary.in_channels // m == l
            assert igc.secondary.kernel_size == (1, 1)


def test_shortcuts_identity_unless_the_width_changes_then_grouped_projection():
    units = [u for u in _meta("igc_l100m2").modules() if isinstance(u, IGCUnit)]
    projected = [i for i, u in enumerate(units) if not isinstance(u.shortcut, nn.Identity)]
    assert projected == [0, 2, 4, 6]  # stage 1 widens 100 → 200 as well
    assert [units[i].shortcut[0].groups for i in projected] == [100, 200, 400, 800]
    units = [u for u in _meta("igc_l4m32").modules() if isinstance(u, IGCUnit)]
    assert [i for i, u in enumerate(units) if not isinstance(u.shortcut, nn.Identity)] == [2, 4, 6]


def test_widening_block_connects_every_output_to_every_input_channel():
    torch.manual_seed(0)
    igc = interleaved_group_conv(8, 16, primary_groups=4, stride=2)  # M = 4
    x = torch.randn(1, 8, 5, 5, requires_grad=True)
    out = igc(x)
    assert out.shape == (1, 16, 3, 3)
    for o in range(16):
        (g,) = torch.autograd.grad(out[0, o, 1, 1], x, retain_graph=True)
        assert (g.abs().sum((0, 2, 3)) > 0).all(), f"output channel {o} misses an input partition"


def test_forward_backward_tiny_network():
    torch.manual_seed(0)
    model = IGCNet(8, (8, 16, 32, 64), (4, 4, 4, 4), num_classes=5)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 5)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_groups():
    with pytest.raises(ValueError, match="divide"):
        IGCNet(8, (10, 16, 32, 64), (4, 4, 4, 4))
