"""DeepLab v1/v2/v3 against their papers: table 2 of v1, ASPP-L rates, output stride, multi-grid."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.models.deeplab import FOV_VARIANTS, DeepLabV1, DeepLabV3, dilate_stage


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _meta(builder, *args, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return builder(*args, **kwargs)


# v1 table 2: kernel, input stride (fc6's rate), receptive field, parameters.
TABLE_2 = {"7x7": (7, 4, 224, "134.3M"), "deeplab": (4, 4, 128, "65.1M"), "4x4": (4, 8, 224, "65.1M"), "largefov": (3, 12, 224, "20.5M")}


@pytest.mark.parametrize("fov", list(TABLE_2))
def test_v1_table_2_parameters_and_fc6(fov):
    kernel, rate, _, params = TABLE_2[fov]
    model = _meta(DeepLabV1, fov)
    fc6 = model.fc.fc6
    assert fc6.kernel_size == (kernel, kernel) and fc6.dilation == (rate, rate)
    assert round(_params(model) / 1e6, 1) == float(params[:-1])  # 21 classes, as the paper


def test_v1_table_2_receptive_fields_with_cnnzoo_analyze():
    # analyze counts the whole network's field; the paper counts fc6's taps (8 pixels
    # apart at output stride 8) plus pool5's 32-pixel cell. The two differ by the VGG
    # trunk's share, the same for every variant, so every row of the table is reproduced.
    fields = {}
    for fov in TABLE_2:
        report = cnnzoo.analyze(_meta(DeepLabV1, fov), input_size=(3, 321, 321))
        rf = report.receptive_field
        assert rf.stride[0] == 8  # output stride 8: pool4 and pool5 keep the resolution
        fields[fov] = int(rf.size[0])
    offsets = {fov: fields[fov] - TABLE_2[fov][2] for fov in TABLE_2}
    assert len(set(offsets.values())) == 1, (fields, offsets)
    assert fields["largefov"] == fields["7x7"] == fields["4x4"] > fields["deeplab"]
    assert fields["7x7"] - fields["deeplab"] == 224 - 128
    for fov, (k, r, paper_rf, _) in TABLE_2.items():
        assert (k - 1) * r * 8 + 32 == paper_rf == FOV_VARIANTS[fov][3]


def test_v1_output_stride_8_like_the_released_models():
    model = DeepLabV1("largefov", width_mult=0.125, in_chans=1, num_classes=4).eval()
    assert model(torch.randn(1, 1, 321, 321)).shape == (1, 4, 41, 41)  # ⌈321/8⌉, as the released 41×41


def test_v2_resnet101_aspp_l_count_and_rates():
    model = _meta(cnnzoo.create, "deeplab_v2")
    assert [b.dilation[0] for b in model.aspp] == [6, 12, 18, 24]
    resnet101 = _meta(cnnzoo.create, "resnet101")
    backbone = _params(resnet101) - _params(resnet101.fc)  # 42.5M: ResNet-101 without its fc
    assert backbone == 42_500_160
    assert _params(model) == backbone + 4 * (2048 * 9 * 21 + 21)  # four 3×3 branches to 21 classes
    assert model.eval()(torch.empty(1, 3, 321, 321, device="meta")).shape == (1, 21, 41, 41)


def test_v3_output_stride_multi_grid_and_aspp():
    os16 = _meta(cnnzoo.create, "deeplabv3")
    rates = [max(m.dilation[0] for m in u.modules() if isinstance(m, nn.Conv2d)) for u in os16.backbone.layer4]
    assert rates == [2, 4, 8]  # stage rate 2 × multi-grid (1, 2, 4), §3.2
    assert list(os16.aspp.rates) == [6, 12, 18] and len(os16.aspp.branches) == 5  # 1×1, three 3×3, image pooling
    assert os16.eval()(torch.empty(1, 3, 513, 513, device="meta")).shape == (1, 21, 33, 33)  # 513 at stride 16
    os8 = _meta(DeepLabV3, output_stride=8)
    assert list(os8.aspp.rates) == [12, 24, 36]  # doubled at output stride 8 (§3.3)
    assert [max(m.dilation[0] for m in u.modules() if isinstance(m, nn.Conv2d)) for u in os8.backbone.layer4] == [4, 8, 16]
    assert os8.eval()(torch.empty(1, 3, 513, 513, device="meta")).shape == (1, 21, 65, 65)
    aspp = 2048 * 256 + 3 * 2048 * 9 * 256 + (2048 * 256 + 256) + 5 * 256 * 256 + 4 * 2 * 256 + 2 * 256
    assert _params(os16) == 42_500_160 + aspp + 256 * 21 + 21
    with pytest.raises(ValueError, match="output_stride must be 8 or 16"):
        DeepLabV3(output_stride=32, backbone="resnet18")


def test_dilate_stage_keeps_resolution_and_same_weights():
    resnet = cnnzoo.create("resnet18").eval()
    n = _params(resnet.layer4)
    dilate_stage(resnet.layer4, 2)
    assert _params(resnet.layer4) == n  # atrous convolution adds no weights
    assert resnet.layer4(torch.randn(1, 256, 7, 7)).shape == (1, 512, 7, 7)


def test_small_configurations_train_on_a_cpu():
    torch.manual_seed(0)
    # v1 pools with Caffe's ceil mode (64 -> 33 -> 17 -> 9); v3 strides exactly (64 / 8).
    for name, side in (("deeplabv3_resnet18", 8), ("deeplab_v1_tiny", 9)):
        model = cnnzoo.create(name, num_classes=11)
        out = model(torch.randn(2, 1, 64, 64))
        assert out.shape == (2, 11, side, side)
        assert _params(model) < 13e6
    with pytest.raises(ValueError, match="fov must be one of"):
        DeepLabV1("huge")


def test_v3_classifier_starts_as_the_authors_or_as_pytorch():
    torch.manual_seed(0)
    authors = DeepLabV3(num_classes=11, in_chans=1, backbone="resnet18", width_mult=0.25, aspp_maps=64).classifier
    assert abs(authors.weight.std().item() - 0.01) < 2e-3  # 704 draws of N(0, 0.01²)
    assert not authors.bias.any()
    default = DeepLabV3(num_classes=11, in_chans=1, backbone="resnet18", width_mult=0.25, aspp_maps=64, classifier_std=None).classifier
    bound = 1 / 64**0.5  # PyTorch's default: U(±1/√fan_in) for weight and bias, fan_in = 64 maps
    assert default.weight.abs().max().item() <= bound
    assert default.weight.std().item() > 3 * 0.01  # U(±b) has std b/√3 ≈ 0.072
    assert default.bias.abs().max().item() <= bound and default.bias.any()
