"""Normalisation as a choice in the ResNets: each layer is what it says.

Group normalisation (Wu & He 2018, arXiv:1803.08494) takes 32 groups and
computes each image's statistics from that image alone, so a GN network's
output for one image does not depend on the rest of the batch; a BN network's
does in training mode. Weight normalisation (Salimans & Kingma 2016,
arXiv:1602.07868) writes each weight as ``g · v / ||v||``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo


def _meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create(name, **kw)


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_resnet50_gn_has_32_groups_everywhere_and_the_bn_networks_parameters():
    gn = _meta("resnet50", norm_layer="group")
    norms = [m for m in gn.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 53  # every BN of ResNet-50: stem, 3 per unit × 16, 4 projections
    assert all(m.num_groups == 32 for m in norms)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gn.modules())
    assert _count(gn) == _count(_meta("resnet50"))  # γ, β per channel either way


@pytest.mark.parametrize("kind", ["layer", "instance"])
def test_layer_and_instance_norm(kind):
    model = _meta("resnet18", norm_layer=kind)
    if kind == "layer":  # statistics over (C, H, W): one group
        norms = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
        assert norms and all(m.num_groups == 1 for m in norms)
    else:
        norms = [m for m in model.modules() if isinstance(m, nn.InstanceNorm2d)]
        assert norms and all(m.affine for m in norms)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@torch.no_grad()
@pytest.mark.parametrize(
    ("norm_layer", "independent"),
    [("group", True), ("layer", True), ("instance", True), ("batch", False)],
)
def test_one_images_output_and_the_rest_of_the_batch(norm_layer, independent):
    torch.manual_seed(0)
    model = cnnzoo.create("resnet20", norm_layer=norm_layer).train()
    a, b, c = torch.randn(3, 1, 3, 8, 8).unbind(0)
    first = model(torch.cat([a, b]))[0]
    second = model(torch.cat([a, 5 * c + 1]))[0]
    assert torch.allclose(first, second, atol=1e-5) == independent


@torch.no_grad()
def test_weight_norm_reparameterises_every_weight_and_keeps_the_initial_function():
    torch.manual_seed(0)
    plain = cnnzoo.create("resnet20").eval()
    torch.manual_seed(0)
    wn = cnnzoo.create("resnet20", weight_norm=True).eval()
    layers = [m for m in wn.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    for m in layers:
        g, v = m.parametrizations.weight.original0, m.parametrizations.weight.original1
        norm = v.flatten(1).norm(dim=1).view(-1, *[1] * (v.dim() - 1))
        assert torch.allclose(m.weight, g * v / norm, atol=1e-6)
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(wn(x), plain(x), atol=1e-5)  # g starts at ||w||


def test_weight_norm_trains_g_and_v():
    model = cnnzoo.create("resnet20", weight_norm=True)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    fc = model.fc.parametrizations.weight
    assert fc.original0.grad is not None and fc.original1.grad is not None


def test_unknown_norm_layer_is_a_value_error():
    with pytest.raises(ValueError, match="norm_layer"):
        cnnzoo.create("resnet20", norm_layer="switchable")
