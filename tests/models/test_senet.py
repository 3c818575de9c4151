"""SENet against Hu et al. 2018 (arXiv:1709.01507) and its extra-parameter formula (§4)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.squeeze_excite import SqueezeExcite


def meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def se_output_channels(layers: list[int], out=(256, 512, 1024, 2048)) -> list[int]:
    """``C_s`` of every SE block: one per bottleneck, at the stage's output width."""
    return [c for n, c in zip(layers, out, strict=False) for _ in range(n)]


@pytest.mark.parametrize(
    ("se_name", "base_name", "layers"),
    [
        ("se_resnet50", "resnet50", [3, 4, 6, 3]),
        ("se_resnet101", "resnet101", [3, 4, 23, 3]),
        ("se_resnet152", "resnet152", [3, 8, 36, 3]),
        ("se_resnext50_32x4d", "resnext50_32x4d", [3, 4, 6, 3]),
        ("se_resnext101_32x4d", "resnext101_32x4d", [3, 4, 23, 3]),
    ],
)
@pytest.mark.parametrize("r", [16, 8])
def test_extra_parameters_are_2_over_r_sum_of_c_squared(se_name, base_name, layers, r):
    cs = se_output_channels(layers)
    weights = 2 / r * sum(c * c for c in cs)  # Hu et al. §4: 2/r · Σ_s N_s·C_s², block by block
    biases = sum(c // r + c for c in cs)  # our two FC layers carry biases
    extra = n_params(meta(se_name, reduction=r)) - n_params(meta(base_name))
    assert extra == weights + biases


def test_se_resnet50_adds_about_ten_percent():
    # Hu et al. §4: ~2.5M extra on ResNet-50's ~25M, "a 10% relative increase".
    base, se = n_params(meta("resnet50")), n_params(meta("se_resnet50"))
    assert 2.4e6 < se - base < 2.6e6
    assert 0.09 < (se - base) / base < 0.11


def test_se_sits_before_the_addition_of_every_unit():
    model = meta("se_resnet50")
    assert all(isinstance(u.attention, SqueezeExcite) for u in model.units())
    unit = model.layer3[2]
    assert unit.attention.fc1.out_channels == 1024 // 16


def test_se_output_equals_branch_rescaled_then_added():
    torch.manual_seed(0)
    unit = cnnzoo.create("se_resnet50").layer1[1].eval()
    x = torch.rand(1, 256, 6, 6)
    with torch.no_grad():
        u = unit.branch(x)
        s = torch.sigmoid(
            unit.attention.fc2(torch.relu(unit.attention.fc1(u.mean((2, 3), keepdim=True))))
        )
        torch.testing.assert_close(unit(x), torch.relu(x + u * s))


def test_senet154_appendix_modifications():
    model = meta("senet154")
    stem = [m for m in model.conv1.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.out_channels) for c in stem] == [
        ((3, 3), 64),
        ((3, 3), 64),
        ((3, 3), 128),
    ]
    assert [len(getattr(model, s)) for s in ("layer1", "layer2", "layer3", "layer4")] == [
        3,
        8,
        36,
        3,
    ]
    b = model.layer2[0].branch
    assert b.conv2.groups == 64 and b.conv2.out_channels == 512  # 64×4d, doubled per stage
    assert b.conv1.out_channels == 256  # first 1×1 halved
    assert model.layer2[0].shortcut.conv.kernel_size == (3, 3)  # 3×3 stride-2 projection
    assert model.layer1[0].shortcut.conv.kernel_size == (1, 1)
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.2


def test_se_resnet_strides_on_1x1_and_se_resnext_on_3x3():
    assert meta("se_resnet50").layer2[0].branch.conv1.stride == (2, 2)
    assert meta("se_resnext50_32x4d").layer2[0].branch.conv2.stride == (2, 2)


def test_se_on_any_resnet():
    model = cnnzoo.create("resnet18", attention="se", num_classes=3)
    assert all(isinstance(u.attention, SqueezeExcite) for u in model.units())
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError, match="'se'"):
        cnnzoo.create("resnet18", attention="cbam")
