"""MobileNet v1, v2, v3 against Howard et al. 2017, Sandler et al. 2018, Howard et al. 2019."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.activations import HardSigmoid, HardSwish
from cnnzoo.layers.helpers import make_divisible
from cnnzoo.models.mobilenet_v3 import MOBILENET_V3_LARGE, MOBILENET_V3_SMALL
from cnnzoo.registry import parse_count


def _meta(name, **kwargs):
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs).eval()


def _params(model):
    return sum(p.numel() for p in model.parameters())


def _macs(model, size=224):
    return cnnzoo.analyze(model, input_size=(3, size, size)).macs


def _stage_shapes(features, size):
    x, shapes = torch.empty(1, 3, size, size, device="meta"), {}
    for name, layer in features.named_children():
        x = layer(x)
        shapes[name] = tuple(x.shape[1:])
    return shapes


# ----------------------------------------------------------------- MobileNet v1


@pytest.mark.parametrize(
    ("alpha", "params", "macs"),
    [(1.0, "4.2M", "569M"), (0.75, "2.6M", "325M"), (0.5, "1.3M", "149M"), (0.25, "0.5M", "41M")],
)
def test_v1_width_multiplier_table_6(alpha, params, macs):
    model = _meta("mobilenet_v1", width_mult=alpha)
    assert parse_count(params).matches(_params(model))
    assert parse_count(macs).matches(_macs(model))


# Table 7: resolution multiplier ρ at α = 1. The table rounds some entries
# down (418.1 → 418, 290.7 → 290), so these are checked to 1M, its last digit.
@pytest.mark.parametrize(("size", "macs"), [(224, 569e6), (192, 418e6), (160, 290e6), (128, 186e6)])
def test_v1_resolution_multiplier_table_7(size, macs):
    model = _meta("mobilenet_v1")
    assert abs(_macs(model, size) - macs) < 1e6
    assert _params(model) == _params(_meta("mobilenet_v1"))  # ρ changes no parameter


def test_v1_conv_cost_scales_with_rho_squared():
    model = _meta("mobilenet_v1")
    fc = 1024 * 1000  # the classifier does not depend on the resolution
    base = _macs(model, 224) - fc
    for size in (192, 160, 128, 96):
        assert (_macs(model, size) - fc) / base == pytest.approx((size / 224) ** 2, rel=1e-12)


def test_v1_table_1_layers():
    model = _meta("mobilenet_v1")
    shapes = _stage_shapes(model.features, 224)
    assert shapes["conv1"] == (32, 112, 112)
    assert shapes["conv2"] == (64, 112, 112)
    assert shapes["conv4"] == (128, 56, 56)
    assert shapes["conv6"] == (256, 28, 28)
    assert shapes["conv12"] == (512, 14, 14)
    assert shapes["conv14"] == (1024, 7, 7)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 28  # "counting depthwise and pointwise as separate layers, 28 layers"
    depthwise = [c for c in convs if c.groups > 1]
    assert len(depthwise) == 13 and all(c.groups == c.in_channels for c in depthwise)


def test_v1_any_input_size_and_errors():
    model = cnnzoo.create("mobilenet_v1", num_classes=3, width_mult=0.25).eval()
    assert model(torch.randn(1, 3, 40, 56)).shape == (1, 3)
    with pytest.raises(ValueError, match="width_mult"):
        cnnzoo.create("mobilenet_v1", width_mult=0)


# ----------------------------------------------------------------- MobileNet v2


def test_v2_table_2_shapes_and_blocks():
    model = _meta("mobilenet_v2")
    shapes = _stage_shapes(model.features, 224)
    assert shapes["stem"] == (32, 112, 112)
    assert shapes["stage1"] == (16, 112, 112)
    assert shapes["stage2"] == (24, 56, 56)
    assert shapes["stage3"] == (32, 28, 28)
    assert shapes["stage4"] == (64, 14, 14)
    assert shapes["stage5"] == (96, 14, 14)
    assert shapes["stage6"] == (160, 7, 7)
    assert shapes["stage7"] == (320, 7, 7)
    assert shapes["head"] == (1280, 7, 7)
    blocks = [len(s) for n, s in model.features.named_children() if n.startswith("stage")]
    assert blocks == [1, 2, 3, 4, 3, 3, 1]
    # Expansion t = 6 inside every block but the first; projections are linear.
    second = model.features.stage2[0]
    assert second.expand.conv.out_channels == 6 * 16 and not hasattr(second.project, "act")


def test_v2_counts_with_and_without_head():
    model = _meta("mobilenet_v2")
    n = _params(model)
    assert parse_count("3.5M").matches(n)  # what we report: with the classifier
    assert n - (1280 * 1000 + 1000) < 3.4e6  # the paper's 3.4M is not a count without it either
    assert abs(_macs(model) - 300e6) < 1e6  # table 4: 300M (truncated)


def test_v2_width_multiplier_1_4_table_4_macs():
    # Table 4: MobileNetV2 (1.4) has 585M multiply-adds; the last conv grows to 1792.
    model = _meta("mobilenet_v2", width_mult=1.4)
    assert model.num_features == 1792
    assert _macs(model) == pytest.approx(585e6, rel=0.01)
    assert _meta("mobilenet_v2", width_mult=0.5).num_features == 1280  # kept for α < 1


# ----------------------------------------------------------------- MobileNet v3


@pytest.mark.parametrize(
    ("name", "config"),
    [("mobilenet_v3_large", MOBILENET_V3_LARGE), ("mobilenet_v3_small", MOBILENET_V3_SMALL)],
)
def test_v3_blocks_follow_tables_1_and_2(name, config):
    model = _meta(name)
    blocks = [m for n, m in model.features.named_children() if n.startswith("bneck")]
    assert len(blocks) == len(config)
    for block, (k, exp, out, se, nl, s) in zip(blocks, config, strict=True):
        assert block.depthwise.conv.kernel_size == (k, k)
        assert block.depthwise.conv.stride == (s, s)
        assert block.depthwise.conv.out_channels == exp
        assert block.project.conv.out_channels == out
        assert isinstance(block.depthwise.act, HardSwish if nl == "HS" else nn.ReLU)
        if se:
            assert isinstance(block.se.gate, HardSigmoid)
            assert block.se.fc1.out_channels == make_divisible(exp / 4)
        else:
            assert block.se is None
    assert (
        isinstance(model.features.stem.act, HardSwish)
        and model.features.stem.conv.out_channels == 16
    )


def test_v3_heads_have_no_batchnorm_on_the_last_1x1_conv():
    large, small = _meta("mobilenet_v3_large"), _meta("mobilenet_v3_small")
    assert large.features.head.conv.out_channels == 960 and large.num_features == 1280
    assert small.features.head.conv.out_channels == 576 and small.num_features == 1024
    assert isinstance(large.pre_logits[0], nn.Linear) and large.pre_logits[0].bias is not None


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [("mobilenet_v3_large", 5.4e6, 219e6), ("mobilenet_v3_small", 2.5e6, 56e6)],
)
def test_v3_table_3_counts(name, params, macs):
    # Within 2%: the paper truncates 5.48M to 5.4M and does not state how it
    # counts multiply-adds (conv + linear layers give 216.6M / 56.5M).
    model = _meta(name)
    assert _params(model) == pytest.approx(params, rel=0.02)
    assert _macs(model) == pytest.approx(macs, rel=0.02)


def test_v3_real_forward_any_size():
    model = cnnzoo.create("mobilenet_v3_small", num_classes=4).eval()
    assert model(torch.randn(2, 3, 48, 40)).shape == (2, 4)
    with pytest.raises(ValueError, match="32"):
        model(torch.randn(1, 3, 31, 31))
