"""SqueezeNet 1.0 / 1.1 against Iandola et al. 2016 (arXiv:1602.07360; table 1, §6)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.fire import Fire


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _macs(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    return cnnzoo.analyze(model, input_size=input_size).macs


def test_squeezenet1_0_exact_parameters():
    assert _params(cnnzoo.create("squeezenet1_0")) == 1_248_424


def test_squeezenet1_1_parameters_and_cost_relative_to_1_0():
    with torch.device("meta"):
        a, b = cnnzoo.create("squeezenet1_0").eval(), cnnzoo.create("squeezenet1_1").eval()
    ratio = _macs(a, (3, 224, 224)) / _macs(b, (3, 224, 224))
    # The v1.1 release note's "2.4x" is rounded from the two models' costs;
    # the registered 0.82G / 0.35G give 2.34.
    assert ratio == pytest.approx(0.82 / 0.35, rel=0.01)
    assert abs(_params(b) - 1.24e6) <= 0.005e6


def test_table_1_output_sizes_at_227():
    m = cnnzoo.create("squeezenet1_0").eval()
    expected = {
        "conv1": (96, 111, 111),
        "maxpool1": (96, 55, 55),
        "fire2": (128, 55, 55),
        "fire3": (128, 55, 55),
        "fire4": (256, 55, 55),
        "maxpool4": (256, 27, 27),
        "fire5": (256, 27, 27),
        "fire6": (384, 27, 27),
        "fire7": (384, 27, 27),
        "fire8": (512, 27, 27),
        "maxpool8": (512, 13, 13),
        "fire9": (512, 13, 13),
    }
    with torch.device("meta"):
        x = torch.empty(1, 3, 227, 227)
        for name, layer in m.features.to("meta").named_children():
            x = layer(x)
            if name in expected:
                assert tuple(x.shape[1:]) == expected[name], name
        assert tuple(m.classifier.conv10(x).shape[1:]) == (1000, 13, 13)


def test_fire_module_widths_follow_table_1():
    m = cnnzoo.create("squeezenet1_0")
    s = [m.features.get_submodule(f"fire{i}") for i in range(2, 10)]
    got = [(f.squeeze.out_channels, f.expand1x1.out_channels, f.expand3x3.out_channels) for f in s]
    assert got == [
        (16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
        (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "conv1_out"), [("squeezenet1_0", 96), ("squeezenet1_1", 64)])
def test_bypass_parameter_differences(name, conv1_out):
    base = _params(cnnzoo.create(name))
    # §6: simple bypass (identity around fire3, 5, 7, 9) adds no parameters.
    simple = cnnzoo.create(name, bypass="simple")
    assert _params(simple) == base
    shortcuts = {i: type(simple.features.get_submodule(f"fire{i}").shortcut) for i in range(2, 10)}
    assert {i for i, t in shortcuts.items() if t is nn.Identity} == {3, 5, 7, 9}
    # Complex bypass: a 1×1 conv (with bias) around fire2, 4, 6, 8, where widths change.
    complex_ = cnnzoo.create(name, bypass="complex")
    widths = [(conv1_out, 128), (128, 256), (256, 384), (384, 512)]
    assert _params(complex_) - base == sum(a * b + b for a, b in widths)


def test_bypass_adds_the_input():
    torch.manual_seed(0)
    fire = Fire(32, 8, 16, 16, bypass="simple").eval()
    plain = Fire(32, 8, 16, 16).eval()
    plain.load_state_dict(fire.state_dict())
    x = torch.randn(2, 32, 7, 7)
    torch.testing.assert_close(fire(x), plain(x) + x)


def test_initialisation_of_conv10():
    torch.manual_seed(0)
    m = cnnzoo.create("squeezenet1_0")
    std = m.classifier.conv10.weight.std().item()
    assert std == pytest.approx(0.01, rel=0.05)


def test_any_size_and_bad_arguments():
    with torch.device("meta"):
        m = cnnzoo.create("squeezenet1_1", num_classes=3, in_chans=1).eval()
        assert m(torch.empty(2, 1, 100, 64)).shape == (2, 3)
    with pytest.raises(ValueError, match="bypass"):
        cnnzoo.create("squeezenet1_0", bypass="dense")
