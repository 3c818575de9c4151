"""FCN-32s/16s/8s: parameter counts, output size, crop offsets from coordinate maps, upsampling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.upsample import BilinearUpsample, bilinear_kernel
from cnnzoo.models.fcn import FCN, fcn_from_vgg

NAMES = ["fcn32s", "fcn16s", "fcn8s"]


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_134m_and_skip_layers():
    with torch.device("meta"):
        n = {name: _params(cnnzoo.create(name)) for name in NAMES}
    for name in NAMES:
        assert abs(n[name] - 134e6) <= 0.5e6, (name, n[name])  # table 1: 134M with 21 classes
    # conv part of VGG-16 + fc6 (7×7×512×4096) + fc7 (4096²) + score_fr (4096×21), with biases
    vgg_convs = 14_714_688
    assert n["fcn32s"] == vgg_convs + (7 * 7 * 512 + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * 21
    score_pool4, score_pool3, up2 = 513 * 21, 257 * 21, 21 * 21 * 4 * 4
    assert n["fcn16s"] - n["fcn32s"] == score_pool4 + up2
    assert n["fcn8s"] - n["fcn16s"] == score_pool3 + up2


@pytest.mark.parametrize("name", NAMES)
def test_output_size_equals_input_size(name):
    with torch.device("meta"):
        model = cnnzoo.create(name, num_classes=5, in_chans=1)
        for h, w in [(1, 1), (32, 32), (33, 47), (64, 64), (224, 224), (375, 500), (500, 353)]:
            assert model(torch.empty(2, 1, h, w)).shape == (2, 5, h, w)


def _coord_map(layers) -> tuple[float, float]:
    """Caffe's coordinate mapping: input position = a · position in this map + b.

    Map X is cropped by ``(b_R − b_X) / a`` to align with a map R of the same ``a``.
    """
    a, b = 1.0, 0.0
    for m in layers:
        if isinstance(m, BilinearUpsample):
            k, s, p = 2 * m.factor, m.factor, m.padding
            a, b = a / s, b - a * ((k - 1) / 2 - p) / s  # a deconvolution inverts the map
        elif isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            p = m.padding if isinstance(m.padding, int) else m.padding[0]
            a, b = a * s, b + a * ((k - 1) / 2 - p)
    return a, b


def test_crop_offsets_are_those_the_coordinate_maps_give():
    # Long et al.'s Caffe Crop layer aligns maps by these offsets; we derive
    # them from the layers' kernels, strides and paddings (conv1_1 pads 100).
    with torch.device("meta"):
        m = cnnzoo.create("fcn8s")
    f = list(m.features.children())
    names = [n for n, _ in m.features.named_children()]
    to_pool3 = f[: names.index("pool3") + 1]
    to_pool4 = f[: names.index("pool4") + 1]
    trunk = f + [m.fc.fc6]
    a32, b32 = _coord_map(trunk)
    assert a32 == 32
    # FCN-32s: x32 upsampling straight to the image: offset = -b / a of the result.
    up32 = BilinearUpsample(21, 32, padding=0, learnable=False)
    assert _coord_map(trunk + [up32]) == (1.0, -19.0)
    a16, b16 = _coord_map(trunk + [m.upscore2])
    a4, b4 = _coord_map(to_pool4)
    assert a4 == a16 == 16 and (b16 - b4) / a4 == 5  # score_pool4 cropped by 5
    a8, b8 = _coord_map(trunk + [m.upscore2, m.upscore_pool4])
    a3, b3 = _coord_map(to_pool3)
    assert a3 == a8 == 8 and (b8 - b3) / a3 == 9  # score_pool3 cropped by 9
    assert _coord_map(trunk + [m.upscore2, m.upscore_pool4, m.upscore]) == (1.0, -31.0)
    up16 = BilinearUpsample(21, 16, padding=0, learnable=False)
    assert _coord_map(trunk + [m.upscore2, up16]) == (1.0, -27.0)


def test_upsampling_layers_are_bilinear_and_the_final_one_fixed():
    with torch.device("meta"):
        m = cnnzoo.create("fcn8s")
    assert m.upscore2.weight.requires_grad and m.upscore_pool4.weight.requires_grad  # learned (paper)
    assert (m.upscore2.factor, m.upscore_pool4.factor, m.upscore.factor) == (2, 2, 8)
    assert "upscore.weight" not in dict(m.named_parameters())  # final: fixed bilinear buffer


def _fill_(model: nn.Module) -> nn.Module:
    # Distinct values without the cost of a real initialisation of 138M weights:
    # a constant per tensor, and a ramp in fc6 to check the reshape order.
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for i, (name, p) in enumerate(model.named_parameters()):
            if name.endswith("fc6.weight"):
                p.copy_(torch.arange(p.numel(), dtype=torch.float32).reshape(p.shape))
            else:
                p.fill_(i)
    return model


def test_from_vgg_initialisation_and_staging():
    with torch.device("meta"):
        vgg = cnnzoo.create("vgg16", num_classes=10)
    vgg = _fill_(vgg).eval()
    fcn = fcn_from_vgg(vgg, stride=8, num_classes=4)
    assert torch.equal(fcn.features.conv3_2.weight, vgg.features.conv3_2.weight)
    assert torch.equal(fcn.fc.fc6.weight.flatten(1), vgg.classifier.fc6.weight)
    assert torch.equal(fcn.fc.fc7.weight.flatten(1), vgg.classifier.fc7.weight)
    assert not fcn.training
    assert fcn.features.conv1_1.padding == (100, 100)
    torch.testing.assert_close(fcn.upscore2.weight, bilinear_kernel(4, 4, 4))
    torch.testing.assert_close(fcn.upscore.weight, bilinear_kernel(1, 1, 16).repeat(4, 1, 1, 1))
    for layer in (fcn.score_fr, fcn.score_pool4, fcn.score_pool3):
        assert layer.weight.abs().sum() == 0 and layer.bias.abs().sum() == 0  # zero-initialised
    with torch.device("meta"):
        fcn16 = FCN(16, num_classes=4)
    fcn16 = _fill_(fcn16).stage_from(fcn)
    assert torch.equal(fcn16.fc.fc7.weight, fcn.fc.fc7.weight)
    assert torch.equal(fcn16.upscore2.weight, fcn.upscore2.weight)
    with pytest.raises(ValueError, match="VGG-16"), torch.device("meta"):
        fcn_from_vgg(cnnzoo.create("vgg11"))


def test_bad_input():
    with pytest.raises(ValueError, match="32, 16 or 8"):
        FCN(stride=4)
    with torch.device("meta"):
        m = cnnzoo.create("fcn32s")
        with pytest.raises(ValueError, match="input channel"):
            m(torch.empty(1, 1, 64, 64))
