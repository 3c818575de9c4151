"""VGG A–E against table 1 and table 2 of Simonyan & Zisserman 2015."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.lrn import LocalResponseNorm
from cnnzoo.models.vgg import vgg_features

# Table 1, the convolutions of each configuration as (kernel, maps), pools left out.
TABLE_1 = {
    "vgg11": [(3, 64), (3, 128), (3, 256), (3, 256)] + [(3, 512)] * 4,
    "vgg13": [(3, 64)] * 2 + [(3, 128)] * 2 + [(3, 256)] * 2 + [(3, 512)] * 4,
    "vgg16c": [(3, 64)] * 2 + [(3, 128)] * 2 + [(3, 256)] * 2 + [(1, 256)]
    + ([(3, 512)] * 2 + [(1, 512)]) * 2,
    "vgg16": [(3, 64)] * 2 + [(3, 128)] * 2 + [(3, 256)] * 3 + [(3, 512)] * 6,
    "vgg19": [(3, 64)] * 2 + [(3, 128)] * 2 + [(3, 256)] * 4 + [(3, 512)] * 8,
}  # fmt: skip
TABLE_1["vgg11_lrn"] = TABLE_1["vgg11"]
# Table 2, millions of parameters.
TABLE_2 = {"vgg11": 133, "vgg11_lrn": 133, "vgg13": 133, "vgg16c": 134, "vgg16": 138, "vgg19": 144}


def _meta(name, **kwargs):
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs)


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_layers_and_counts_follow_tables_1_and_2(name):
    model = _meta(name)
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.kernel_size[0], m.out_channels) for m in convs] == TABLE_1[name]
    assert all(m.stride == (1, 1) and m.padding == (m.kernel_size[0] // 2,) * 2 for m in convs)
    # Count from the table alone: k²·C_in·C_out + C_out per conv, then 7·7·512→4096→4096→1000.
    c_in, expected = 3, 0
    for k, c_out in TABLE_1[name]:
        expected += k * k * c_in * c_out + c_out
        c_in = c_out
    expected += 7 * 7 * 512 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert _count(model) == expected
    assert abs(_count(model) / 1e6 - TABLE_2[name]) <= 0.5


def test_per_layer_output_sizes_of_configuration_d():
    model = _meta("vgg16").eval()
    x = torch.empty(1, 3, 224, 224, device="meta")
    sizes = {}
    for name, layer in model.features.named_children():
        x = layer(x)
        sizes[name] = tuple(x.shape[1:])
    assert sizes["conv1_2"] == (64, 224, 224) and sizes["pool1"] == (64, 112, 112)
    assert sizes["conv2_2"] == (128, 112, 112) and sizes["pool2"] == (128, 56, 56)
    assert sizes["conv3_3"] == (256, 56, 56) and sizes["pool3"] == (256, 28, 28)
    assert sizes["conv4_3"] == (512, 28, 28) and sizes["pool4"] == (512, 14, 14)
    assert sizes["conv5_3"] == (512, 14, 14) and sizes["pool5"] == (512, 7, 7)
    assert model(torch.empty(2, 3, 224, 224, device="meta")).shape == (2, 1000)


@pytest.mark.parametrize(("name", "gmacs"), [("vgg16", 15.5), ("vgg19", 19.6)])
def test_multiply_accumulates_of_d_and_e(name, gmacs):
    report = cnnzoo.analyze(_meta(name), input_size=(3, 224, 224))
    assert abs(report.macs / 1e9 - gmacs) <= 0.05


def test_a_lrn_normalises_after_the_first_layer_only():
    f = _meta("vgg11_lrn").features
    names = list(f._modules)
    assert names[:4] == ["conv1_1", "relu1_1", "lrn1", "pool1"]
    lrns = [m for m in f.modules() if isinstance(m, LocalResponseNorm)]
    assert len(lrns) == 1 and (lrns[0].k, lrns[0].size, lrns[0].alpha, lrns[0].beta) == (2.0, 5, 1e-4, 0.75)
    assert not any(isinstance(m, LocalResponseNorm) for m in _meta("vgg11").modules())


def test_batch_norm_option():
    model = _meta("vgg16", batch_norm=True)
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.features.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == len(convs) == 13
    assert all(c.bias is None for c in convs)  # BN's shift replaces the bias
    conv_channels = sum(c.out_channels for c in convs)
    assert _count(model) == 138_357_544 - conv_channels + 2 * conv_channels
    assert list(model.features._modules)[:3] == ["conv1_1", "bn1_1", "relu1_1"]


def test_vgg_features_for_reuse_by_fcn():
    f = vgg_features("vgg16")
    assert isinstance(f, nn.Sequential)
    assert [n for n in f._modules if n.startswith("pool")] == ["pool1", "pool2", "pool3", "pool4", "pool5"]
    assert [type(m) for m in vgg_features("D").children()] == [type(m) for m in f.children()]
    x = torch.randn(1, 3, 64, 96)
    assert f(x).shape == (1, 512, 2, 3)
    assert f[: list(f._modules).index("pool4") + 1](x).shape == (1, 512, 4, 6)  # stride 16
    assert vgg_features("E", in_chans=1)[0].in_channels == 1
    with pytest.raises(ValueError, match="unknown VGG configuration"):
        vgg_features("F")


def test_glorot_initialisation():
    torch.manual_seed(0)
    f = vgg_features("A")
    conv = f.conv4_1  # 256 → 512, 3×3
    fan_in, fan_out = 256 * 9, 512 * 9
    assert conv.weight.var().item() == pytest.approx(2.0 / (fan_in + fan_out), rel=0.05)
    assert conv.weight.abs().max().item() <= (6.0 / (fan_in + fan_out)) ** 0.5
    assert all(torch.all(m.bias == 0) for m in f.modules() if isinstance(m, nn.Conv2d))


def test_any_size_from_32_and_clear_errors():
    model = _meta("vgg11", num_classes=3, in_chans=1).eval()
    assert model(torch.empty(1, 1, 32, 32, device="meta")).shape == (1, 3)
    assert model(torch.empty(1, 1, 256, 320, device="meta")).shape == (1, 3)
    with pytest.raises(ValueError, match="32"):
        model(torch.empty(1, 1, 31, 64, device="meta"))
    with pytest.raises(ValueError, match="drop_rate"):
        _meta("vgg16", drop_rate=-0.1)
