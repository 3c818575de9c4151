"""BN-Inception against the textbook table (Ioffe & Szegedy 2015, figure 5) and SE-Inception."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.models.bn_inception import BN_INCEPTION_TABLE


def _meta(**kwargs):
    with torch.device("meta"):
        return cnnzoo.create("bn_inception", **kwargs)


def _weights(module):
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


# The secondary table's per-layer weights. Its 3a and 4a are typos (218,094 and 608,193);
# there the expected value is computed from the table's columns.
SEED_WEIGHTS = {
    "3a": 192 * 64 + 192 * 64 + 9 * 64 * 64 + 192 * 64 + 9 * 64 * 96 + 9 * 96 * 96 + 192 * 32,
    "3b": 259_072,
    "3c": 384_000,
    "4a": 576 * 224 + 576 * 64 + 9 * 64 * 96 + 576 * 96 + 9 * 96 * 128 + 9 * 128 * 128 + 576 * 128,
    "4b": 663_552,
    "4c": 912_384,
    "4d": 1_140_736,
    "4e": 1_447_936,
    "5a": 2_205_696,
    "5b": 2_276_352,
}
# Figure 5: output maps of each module, and the grid at 224×224.
OUTPUTS = {
    "3a": (256, 28), "3b": (320, 28), "3c": (576, 14), "4a": (576, 14), "4b": (576, 14),
    "4c": (608, 14), "4d": (608, 14), "4e": (1056, 7), "5a": (1024, 7), "5b": (1024, 7),
}  # fmt: skip


def test_per_layer_weights_follow_the_seed_table():
    model = _meta()
    assert _weights(model.stem.conv1) == 9_408
    assert _weights(model.stem.conv2_reduce) + _weights(model.stem.conv2) == 114_688
    for name, expected in SEED_WEIGHTS.items():
        assert _weights(getattr(model, f"inception{name}")) == expected, name
    assert model.fc.weight.numel() == 1_024_000
    assert abs(sum(p.numel() for p in model.parameters()) - 11_264_111) <= 0.01 * 11_264_111


def test_module_outputs_and_grid_reductions():
    model = _meta().eval()
    x = model.stem(torch.empty(1, 3, 224, 224, device="meta"))
    assert tuple(x.shape[1:]) == (192, 28, 28)
    for name, (maps, grid) in OUTPUTS.items():
        x = getattr(model, f"inception{name}")(x)
        assert tuple(x.shape[1:]) == (maps, grid, grid), name


def test_double_3x3_instead_of_5x5_and_pool_types():
    model = _meta()
    assert not any(m.kernel_size == (5, 5) for m in model.modules() if isinstance(m, nn.Conv2d))
    for name, row in BN_INCEPTION_TABLE.items():
        module = getattr(model, f"inception{name}").module
        pool = module.branch_pool[0]
        assert isinstance(pool, nn.MaxPool2d if row[6] == "max" else nn.AvgPool2d), name
        assert (module.branch1x1 is None) == (name in ("3c", "4e"))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == len(convs)


@pytest.mark.parametrize("r", [16, 8])
def test_se_inception_adds_2_over_r_sum_of_squares_plus_biases(r):
    widths = [maps for maps, _ in OUTPUTS.values()]
    weights = 2 / r * sum(c * c for c in widths)
    biases = sum(c // r + c for c in widths)
    extra = sum(p.numel() for p in _meta(se_reduction=r).parameters()) - sum(
        p.numel() for p in _meta().parameters()
    )
    assert extra == weights + biases


def test_se_inception_runs_and_trains():
    torch.manual_seed(0)
    model = cnnzoo.create("bn_inception", num_classes=5, se_reduction=16)
    out = model(torch.randn(2, 3, 64, 64))
    out.square().mean().backward()
    assert out.shape == (2, 5)
    assert model.inception5b.se.fc1.weight.grad is not None
    with pytest.raises(ValueError, match="se_reduction"):
        cnnzoo.create("bn_inception", se_reduction=0)
