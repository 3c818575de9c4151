"""ResNet v1/v2, plain, CIFAR, stochastic depth and Wide ResNet against their papers.

Numbers come from He et al. 2016 (arXiv:1512.03385; table 1, §3.3, §4.2), He et al.
2016b (arXiv:1603.05027), Huang et al. 2016 (arXiv:1603.09382) and Zagoruyko &
Komodakis 2016 (arXiv:1605.07146).
Big networks are built and run on the meta device: no compute.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.residual import ZeroPadShortcut
from cnnzoo.registry import get_model_info, parse_count

RESIDUAL_FAMILIES = {"ResNet", "Wide ResNet", "ResNeXt", "SENet", "SKNet", "GCNet"}


def meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_linear_macs(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    """MACs of conv and FC layers, ``k_h·k_w·C_in/g·C_out·H_out·W_out``, on meta tensors."""
    total = 0

    def hook(m: nn.Module, _inp, out: torch.Tensor) -> None:
        nonlocal total
        spatial = out.shape[-1] * out.shape[-2] if isinstance(m, nn.Conv2d) else 1
        total += m.weight.numel() * spatial * out.shape[0]

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.device("meta"):
        model.eval()(torch.empty(1, *input_size))
    for h in handles:
        h.remove()
    return total


def projection_params(pairs: list[tuple[int, int]]) -> int:
    """A 1×1 projection ``c_in -> c_out`` with BN: ``c_in·c_out + 2·c_out``."""
    return sum(ci * co + 2 * co for ci, co in pairs)


# ---------------------------------------------------------------------------
# MACs of every residual-family entry that prints them (the registry test checks params)

WITH_MACS = [
    n
    for n in cnnzoo.list_models()
    if get_model_info(n).family in RESIDUAL_FAMILIES and get_model_info(n).macs is not None
]


@pytest.mark.parametrize("name", WITH_MACS)
def test_macs_match_paper(name):
    info = get_model_info(name)
    macs = conv_linear_macs(meta(name), info.input_size)
    assert info.macs.matches(macs), f"{name}: {macs / 1e9:.3f}G MACs, paper {info.macs.text}"


def test_stride_on_3x3_is_v1_5_with_4_1g_macs():
    v1 = conv_linear_macs(meta("resnet50"), (3, 224, 224))
    v15 = conv_linear_macs(meta("resnet50", stride_on_3x3=True), (3, 224, 224))
    assert parse_count("3.8G", rtol=0.02).matches(v1)
    assert parse_count("4.1G").matches(v15)
    assert n_params(meta("resnet50")) == n_params(meta("resnet50", stride_on_3x3=True))


# ---------------------------------------------------------------------------
# table 1: stage output sizes


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "preact_resnet50", "resnext50_32x4d"])
def test_stage_output_sizes_of_table_1(name):
    model = meta(name).eval()
    shapes = {}
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        getattr(model, stage).register_forward_hook(
            lambda m, i, o, s=stage: shapes.__setitem__(s, tuple(o.shape))
        )
    model(torch.empty(1, 3, 224, 224, device="meta"))
    expansion = 1 if name == "resnet18" else 4
    for (stage, size), planes in zip(
        [("layer1", 56), ("layer2", 28), ("layer3", 14), ("layer4", 7)],
        (64, 128, 256, 512),
        strict=False,
    ):
        assert shapes[stage] == (1, planes * expansion, size, size), stage


def test_conventional_module_names():
    names = dict(meta("resnet50").named_children())
    for key in (
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ):
        assert key in names
    assert isinstance(names["fc"], nn.Linear) and names["fc"].in_features == 2048


# ---------------------------------------------------------------------------
# §3.3: shortcut options and the plain networks

# Channel changes at the stage transitions of ResNet-18/34 (64→128→256→512).
BASIC_PROJECTIONS = [(64, 128), (128, 256), (256, 512)]


@pytest.mark.parametrize("depth", [18, 34])
def test_shortcut_options_a_b_c_parameter_differences(depth):
    a = n_params(meta(f"resnet{depth}", shortcut="A"))
    b = n_params(meta(f"resnet{depth}", shortcut="B"))
    c = n_params(meta(f"resnet{depth}", shortcut="C"))
    plain = n_params(meta(f"plain{depth}"))
    assert a == plain  # option A is parameter-free, "the same as the plain counterpart"
    assert b - a == projection_params(BASIC_PROJECTIONS)
    layers = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[depth]
    # C projects every other unit too: (n - 1) identity units per stage become c×c projections
    extra = [
        (c, c) for c, n in zip((64, 128, 256, 512), layers, strict=False) for _ in range(n - 1)
    ]
    extra += [(64, 64)]  # the first unit of conv2_x keeps 64 channels
    assert c - b == projection_params(extra)


def test_plain_networks_are_resnets_without_shortcuts():
    plain = meta("plain34")
    assert all(u.shortcut is None for u in plain.units())
    assert n_params(meta("resnet34")) - n_params(plain) == projection_params(BASIC_PROJECTIONS)
    assert n_params(meta("resnet18")) - n_params(meta("plain18")) == projection_params(
        BASIC_PROJECTIONS
    )
    # Plain networks cost the same multiply-adds as their residual twins, minus projections.
    assert parse_count("3.6G", rtol=0.02).matches(conv_linear_macs(plain, (3, 224, 224)))


def test_option_a_zero_pads_and_subsamples():
    units = meta("resnet20").units()
    pads = [u.shortcut for u in units if isinstance(u.shortcut, ZeroPadShortcut)]
    assert [(s.in_chans, s.out_chans, s.stride) for s in pads] == [(16, 32, 2), (32, 64, 2)]


def test_real_forward_with_each_shortcut_option():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    for option in ("A", "B", "C", None):
        m = cnnzoo.create("resnet20", shortcut=option, num_classes=5).eval()
        assert m(x).shape == (2, 5)


# ---------------------------------------------------------------------------
# zero-init of the residual branches


def test_zero_init_residual_makes_units_identity():
    torch.manual_seed(0)
    model = cnnzoo.create("resnet50", zero_init_residual=True).eval()
    x = torch.rand(1, 256, 8, 8)  # non-negative, as after a ReLU
    unit = model.layer1[1]  # identity shortcut
    torch.testing.assert_close(unit(x), x)
    # a projection unit reduces to its shortcut alone
    first = model.layer2[0]
    x = torch.rand(1, 256, 8, 8)
    torch.testing.assert_close(first(x), torch.relu(first.shortcut(x)))
    bns = [u.branch.bn3.weight for u in model.units()]
    assert all(bool((w == 0).all()) for w in bns)
    default = cnnzoo.create("resnet18").eval()
    assert all(bool((u.branch.bn2.weight == 1).all()) for u in default.units())


def test_zero_init_pre_activation_unit_is_exact_identity():
    torch.manual_seed(0)
    model = cnnzoo.create("preact_resnet18", zero_init_residual=True).eval()
    x = torch.randn(1, 64, 8, 8)  # any sign: nothing follows the addition
    torch.testing.assert_close(model.layer1[1](x), x)


def test_he_initialisation():
    torch.manual_seed(0)
    model = cnnzoo.create("resnet18")
    w = model.layer4[1].branch.conv2.weight  # 512 → 512, 3×3: fan_out = 512·9
    assert abs(w.std().item() - (2 / (512 * 9)) ** 0.5) < 0.05 * (2 / (512 * 9)) ** 0.5
    assert bool((model.bn1.weight == 1).all()) and bool((model.bn1.bias == 0).all())
    assert bool((model.fc.bias == 0).all())


# ---------------------------------------------------------------------------
# He et al. 2016b: pre-activation and the orderings of figure 4


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152, 200])
def test_v2_counts_equal_v1_within_0_1_percent(depth):
    v1 = n_params(meta(f"resnet{depth}"))
    v2 = n_params(meta(f"preact_resnet{depth}"))
    assert abs(v2 - v1) <= 0.001 * v1


def test_resnet200_is_resnet152_with_16_more_conv4_bottlenecks():
    # He et al. 2016b: ResNet-200 has [3, 24, 36, 3] units, ResNet-152 [3, 8, 36, 3];
    # a conv3_x bottleneck is [1×1, 128; 3×3, 128; 1×1, 512] (table 1) with three BNs.
    bottleneck = 512 * 128 + 128 * 128 * 9 + 128 * 512 + 2 * (128 + 128 + 512)
    assert n_params(meta("resnet200")) - n_params(meta("resnet152")) == 16 * bottleneck


@pytest.mark.parametrize("unit", ["a", "b", "c", "d", "e"])
def test_every_ordering_builds_and_runs(unit):
    torch.manual_seed(0)
    model = cnnzoo.create("resnet20", unit=unit, shortcut="B", num_classes=3)
    out = model(torch.randn(2, 3, 8, 8))
    out.sum().backward()
    assert out.shape == (2, 3)
    assert all(p.grad is not None for p in model.parameters())
    v1 = n_params(meta("resnet18"))
    assert abs(n_params(meta("resnet18", unit=unit)) - v1) <= 0.001 * v1


def test_preact_network_has_final_bn_relu_and_v1_has_none():
    assert isinstance(meta("preact_resnet50").final_act[0], nn.BatchNorm2d)
    assert isinstance(meta("resnet50").final_act, nn.Identity)


def test_bad_unit_and_shortcut_are_clear_errors():
    with pytest.raises(ValueError, match="full pre-activation"):
        cnnzoo.create("resnet18", unit="f")
    with pytest.raises(ValueError, match="'A'"):
        cnnzoo.create("resnet18", shortcut="D")


# ---------------------------------------------------------------------------
# §4.2: CIFAR networks


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_cifar_depth_is_6n_plus_2_weighted_layers(depth):
    model = meta(f"resnet{depth}")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == depth  # option A: no projection convs
    assert model.fc.out_features == 10


def test_cifar_feature_maps_are_32_16_8_with_16_32_64_channels():
    model = meta("resnet56").eval()
    shapes = []
    for stage in ("layer1", "layer2", "layer3"):
        getattr(model, stage).register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    model(torch.empty(1, 3, 32, 32, device="meta"))
    assert shapes == [(1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8)]


def test_in_chans_and_num_classes():
    model = cnnzoo.create("resnet20", in_chans=1, num_classes=4).eval()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 4)
    with pytest.raises(ValueError, match="1 input channel"):
        model(torch.randn(2, 3, 28, 28))


# ---------------------------------------------------------------------------
# stochastic depth (Huang et al. 2016)


@pytest.mark.parametrize("unit", ["a", "e"])
def test_training_backward_through_dropped_units(unit):
    torch.manual_seed(0)
    model = cnnzoo.create("resnet20", unit=unit, stochastic_depth=0.2).train()
    for _ in range(3):  # most units are dropped in each pass
        model.zero_grad()
        model(torch.randn(2, 3, 8, 8)).square().mean().backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_linear_decay_rule_on_resnet110():
    p_last = 0.5
    units = meta("resnet110", stochastic_depth=p_last).units()
    L = len(units)
    assert L == 54
    for l, u in enumerate(units, start=1):
        assert u.survival == pytest.approx(1 - l / L * (1 - p_last))
    assert units[-1].survival == pytest.approx(p_last)
    # expected depth (in units) with p_L = 0.5: (3L - 1) / 4
    assert sum(u.survival for u in units) == pytest.approx((3 * L - 1) / 4)


def test_uniform_mode_and_bad_mode():
    units = meta("resnet50", stochastic_depth=0.8, stochastic_depth_mode="uniform").units()
    assert {u.survival for u in units} == {0.8}
    with pytest.raises(ValueError, match="linear"):
        cnnzoo.create("resnet20", stochastic_depth=0.5, stochastic_depth_mode="cosine")
    with pytest.raises(ValueError, match="shortcut"):
        cnnzoo.create("plain18", stochastic_depth=0.5)


def test_stochastic_depth_on_any_residual_network():
    for name in ("resnet18", "preact_resnet50", "resnext50_32x4d", "se_resnet50", "wrn_cifar"):
        units = meta(name, stochastic_depth=0.5).units()
        assert units[-1].survival == pytest.approx(0.5)


def test_dropped_units_skipped_in_training_and_scaled_at_test():
    torch.manual_seed(0)
    model = cnnzoo.create("resnet20", stochastic_depth=0.5)
    calls = []
    for u in model.units():
        u.branch.register_forward_hook(lambda m, i, o: calls.append(1))
    model.train()
    runs, x = 30, torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        for _ in range(runs):
            model(x)
    expected = runs * sum(u.survival for u in model.units())  # (3L-1)/4 per pass
    assert abs(len(calls) - expected) < 0.1 * expected
    assert len(calls) < runs * len(model.units())
    # test time: every branch runs, scaled by p_l
    unit = model.layer3[2]
    unit.eval()
    x = torch.randn(2, 64, 2, 2)
    with torch.no_grad():
        expect = torch.relu(x + unit.survival * unit.branch(x))
        torch.testing.assert_close(unit(x), expect)


# ---------------------------------------------------------------------------
# Wide ResNets (Zagoruyko & Komodakis 2016)


@pytest.mark.parametrize(
    ("depth", "k", "printed"),
    [(28, 10, "36.5M"), (40, 4, "8.9M"), (16, 8, "11.0M")],  # table 4 of the paper
)
def test_wrn_cifar_counts(depth, k, printed):
    count = n_params(meta("wrn_cifar", depth=depth, widen_factor=k))
    assert parse_count(printed).matches(count)


def test_wrn_cifar_structure_and_errors():
    model = meta("wrn_cifar", dropout=0.3)
    assert all(u.unit == "e" for u in model.units())
    assert all(isinstance(u.branch.dropout, nn.Dropout) for u in model.units())
    assert [getattr(model, s)[0].out_chans for s in ("layer1", "layer2", "layer3")] == [
        160,
        320,
        640,
    ]
    with pytest.raises(ValueError, match="6n"):
        cnnzoo.create("wrn_cifar", depth=27)


def test_wide_resnet101_2_doubles_the_bottlenecks_of_resnet101():
    # Doubling the 3×3 width w of each bottleneck: 1×1 (4w·w), 3×3 (9w²), 1×1 (w·4w) + BN.
    wide = n_params(meta("wide_resnet101_2"))
    base = n_params(meta("resnet101"))
    delta = 0
    for n, w in zip([3, 4, 23, 3], (64, 128, 256, 512), strict=False):
        first_in = {64: 64}.get(w, 2 * w)  # input of each stage's first unit
        for j in range(n):
            c_in = first_in if j == 0 else 4 * w
            for ww in (2 * w, -w):  # wide minus base
                sign = 1 if ww > 0 else -1
                ww = abs(ww)
                delta += sign * (c_in * ww + 9 * ww * ww + ww * 4 * w + 4 * ww)
    assert wide - base == delta


# ---------------------------------------------------------------------------
# input size


def test_smallest_input_and_any_larger_size():
    model = cnnzoo.create("resnet18", num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
        assert model(torch.randn(1, 3, 45, 61)).shape == (1, 3)
    with pytest.raises(ValueError, match="32"):
        model(torch.randn(1, 3, 31, 64))
