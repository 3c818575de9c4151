"""GC-ResNet-50 against Cao et al. 2019."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.global_context import GlobalContext


def meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_gc_blocks_in_every_bottleneck_of_c3_to_c5():
    model = meta("gc_resnet50")
    assert all(isinstance(u.attention, nn.Identity) for u in model.layer1)
    for stage in (model.layer2, model.layer3, model.layer4):
        assert all(isinstance(u.attention, GlobalContext) for u in stage)


def test_extra_parameters_over_resnet50():
    r = 16
    cs = [512] * 4 + [1024] * 6 + [2048] * 3
    per_block = [(c + 1) + (c * c // r + c // r) + 2 * c // r + (c // r * c + c) for c in cs]
    assert n_params(meta("gc_resnet50")) - n_params(meta("resnet50")) == sum(per_block)
    # Cao et al.: 25.56M for the ResNet-50 baseline
    assert abs(n_params(meta("resnet50")) - 25.56e6) <= 0.005e6


def test_fresh_gc_blocks_leave_a_resnet50_unchanged():
    torch.manual_seed(0)
    base = cnnzoo.create("resnet50", num_classes=5).eval()
    gc = cnnzoo.create("gc_resnet50", num_classes=5).eval()
    missing, unexpected = gc.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all("attention" in k for k in missing)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(gc(x), base(x))


def test_attention_stages_and_reduction_are_knobs():
    model = meta("gc_resnet50", attention_stages=(1, 2, 3, 4), reduction=4)
    assert all(isinstance(u.attention, GlobalContext) for u in model.units())
    assert model.layer1[0].attention.transform.conv1.out_channels == 256 // 4
    with pytest.raises(ValueError, match="1..4"):
        cnnzoo.create("gc_resnet50", attention_stages=(0, 5))
