"""``analyze`` on modules that are not ours: custom ops, functional calls, failures on meta."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnzoo
from cnnzoo.analysis import analyze


class CumulativeSum(nn.Module):
    """A custom module whose op has no counting rule."""

    def forward(self, x):
        return torch.cumsum(x, dim=-1)


class FunctionalNet(nn.Module):
    """Work done in ``forward`` with functions, not modules."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.proj = nn.Parameter(torch.randn(8, 5))

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x)], dim=1)  # N x 8 x H x W
        y = y + F.interpolate(F.avg_pool2d(y, 2), scale_factor=2, mode="nearest")
        pooled = y.mean((2, 3))  # N x 8
        return pooled @ self.proj


def test_custom_module_reports_unknown_op_instead_of_zero():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), CumulativeSum(), nn.Conv2d(4, 2, 1))
    r = analyze(model, (3, 16, 16))
    assert r.unknown_ops == {"cumsum": ["2"]}
    row = r.layer("2")
    assert row.type == "CumulativeSum" and row.unknown_ops == ["cumsum"]
    assert any("cumsum" in w for w in r.warnings)
    # everything else is still counted
    assert r.macs == 3 * 3 * 3 * 4 * 14 * 14 + 4 * 2 * 14 * 14


def test_functional_ops_inside_forward_are_seen():
    model = FunctionalNet()
    r = analyze(model, (3, 8, 8))
    types = [l.type for l in r.layers]
    for op in ("cat", "add", "avg_pool2d", "upsample_nearest2d", "mean", "mm"):
        assert op in types, (op, types)
    assert r.layer("mm").macs == 8 * 5
    assert r.macs == 3 * 3 * 3 * 4 * 64 + 3 * 4 * 64 + 8 * 5
    assert r.output_shapes == [(1, 5)]
    # the concatenation merges a 3×3 and a 1×1 field: the larger is kept
    assert r.layer("cat").receptive_field.size == (3, 3)


def test_real_weights_are_not_touched_or_moved():
    model = FunctionalNet().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analyze(model, (3, 8, 8))
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert v.device.type == "cpu" and torch.equal(v, before[k])


class RefusesMeta(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        if x.is_meta:
            raise RuntimeError("this module needs real data")
        return self.conv(x)


def test_module_that_raises_on_meta_falls_back_clearly():
    r = analyze(RefusesMeta(), (1, 10, 10))
    assert r.fallback is not None and "real forward" in r.fallback
    assert "this module needs real data" in r.fallback
    assert r.warnings[0].startswith("fallback:")
    assert r.macs == 9 * 2 * 8 * 8


class AlwaysFails(nn.Module):
    def forward(self, x):
        raise RuntimeError("broken\nacross lines")


def test_module_that_always_fails_is_one_clear_error():
    with pytest.raises(
        ValueError,
        match="cannot analyse AlwaysFails at input 1x4x4: RuntimeError: broken across lines",
    ):
        analyze(AlwaysFails(), (1, 4, 4))


@pytest.mark.parametrize("size", [(3,), (), (0, 224, 224), (3, -1, 5), ("a", 2, 2), (3.5, 8, 8), 7])
def test_bad_input_size(size):
    with pytest.raises(ValueError, match="input_size"):
        analyze(nn.Conv2d(3, 1, 1), size)


def test_input_of_the_wrong_rank_is_one_line():
    # (3, 224) is a valid 1-D input, but not for a 2-D convolution.
    with pytest.raises(ValueError, match=r"^cannot analyse Conv2d at input 3x224: [^\n]*channels"):
        analyze(nn.Conv2d(3, 1, 1), (3, 224))


def test_too_small_input_names_the_model_and_smallest_size():
    info = cnnzoo.get_model_info("alexnet")
    with pytest.raises(ValueError, match=f"alexnet.*{info.min_size}"):
        analyze("alexnet", (3, info.min_size - 1, info.min_size - 1))


def test_module_on_meta_and_shared_modules():
    with torch.device("meta"):
        act = nn.ReLU()
        model = nn.Sequential(nn.Conv2d(1, 2, 3), act, nn.Conv2d(2, 2, 3), act)
    r = analyze(model, (1, 9, 9))
    assert [l.name for l in r.layers] == ["0", "1", "2", "1"]
    assert r.params == 2 * 9 + 2 + 2 * 2 * 9 + 2
