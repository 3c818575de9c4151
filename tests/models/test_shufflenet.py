"""ShuffleNet v1 (Zhang et al. 2018, tables 1–2) and v2 (Ma et al. 2018, table 5)."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.models.shufflenet import ShuffleNetV1Unit, ShuffleNetV2Unit
from cnnzoo.registry import parse_count


def _meta(name, **kwargs):
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs).eval()


def _params(model):
    return sum(p.numel() for p in model.parameters())


def _macs(model, size=224):
    return cnnzoo.analyze(model, input_size=(3, size, size)).macs


def _stage_shapes(model, size=224):
    x = model.stem(torch.empty(1, 3, size, size, device="meta"))
    shapes = [tuple(x.shape[1:])]
    for stage in model.stages:
        x = stage(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


# Table 1: output channels of stages 2–4 per number of groups, and the
# complexity row (MFLOPs, i.e. multiply-adds) that the widths were chosen for.
TABLE_1 = {
    1: ((144, 288, 576), 143e6),
    2: ((200, 400, 800), 140e6),
    3: ((240, 480, 960), 137e6),
    4: ((272, 544, 1088), 133e6),
    8: ((384, 768, 1536), 137e6),
}


@pytest.mark.parametrize("groups", sorted(TABLE_1))
def test_v1_channel_widths_and_complexity_per_group_count(groups):
    widths, macs = TABLE_1[groups]
    model = _meta("shufflenet_v1", groups=groups)
    shapes = _stage_shapes(model)
    assert shapes[0] == (24, 56, 56)  # conv1 /2 then max pool /2
    assert [s[0] for s in shapes[1:]] == list(widths)
    assert [s[1:] for s in shapes[1:]] == [(28, 28), (14, 14), (7, 7)]
    assert [len(s) for s in model.stages] == [4, 8, 4]
    # Within 1.5%: the table rounds to whole MFLOPs and (likely) leaves the classifier out.
    assert _macs(model) == pytest.approx(macs, rel=0.015)


def test_v1_1x_g3_counts():
    model = _meta("shufflenet_v1", groups=3)
    assert _params(model) == pytest.approx(1.9e6, rel=0.03)  # "~1.9M"
    assert _macs(model) == pytest.approx(140e6, rel=0.03)  # "140 MFLOPs" (table 2)


def test_v1_scale_factor_s():
    # Table 2: ShuffleNet 0.5× costs about 38 MFLOPs; §4.2 compares ShuffleNet
    # 2× (g = 3, 524 MFLOPs) with MobileNet 1.0 (569 MFLOPs).
    assert _macs(_meta("shufflenet_v1", groups=3, width_mult=0.5)) == pytest.approx(38e6, rel=0.02)
    assert abs(_macs(_meta("shufflenet_v1", groups=3, width_mult=2.0)) - 524e6) < 0.5e6


def test_v1_unit_structure():
    unit = ShuffleNetV1Unit(240, 240, groups=3, stride=1)
    assert unit.gconv1.conv.groups == 3 and unit.gconv2.conv.groups == 3
    assert unit.gconv1.conv.out_channels == 60  # bottleneck = 1/4 of the output
    assert unit.dwconv.conv.groups == 60 and not hasattr(unit.dwconv, "act")  # no ReLU after DWConv
    down = ShuffleNetV1Unit(240, 480, groups=3, stride=2)
    assert down.gconv2.conv.out_channels == 240  # concat with the pooled input gives 480
    assert isinstance(down.shortcut, nn.AvgPool2d)
    assert down(torch.randn(2, 240, 8, 8)).shape == (2, 480, 4, 4)
    first = _meta("shufflenet_v1", groups=3).stages.stage2[0]
    assert first.gconv1.conv.groups == 1  # §3.3: no group conv on the 24 input channels


def test_v1_bad_groups_and_widths():
    with pytest.raises(ValueError, match="groups"):
        cnnzoo.create("shufflenet_v1", groups=5)
    with pytest.raises(ValueError, match="divisible"):
        cnnzoo.create("shufflenet_v1", groups=8, width_mult=0.5)


# Table 5 of ShuffleNet v2.
TABLE_5 = {
    "shufflenet_v2_x0_5": ((48, 96, 192), 1024, "1.4M", 41e6),
    "shufflenet_v2_x1_0": ((116, 232, 464), 1024, "2.3M", 146e6),
    "shufflenet_v2_x1_5": ((176, 352, 704), 1024, "3.5M", 299e6),
    "shufflenet_v2_x2_0": ((244, 488, 976), 2048, "7.4M", 591e6),
}


@pytest.mark.parametrize("name", sorted(TABLE_5))
def test_v2_table_5(name):
    widths, conv5, params, macs = TABLE_5[name]
    model = _meta(name)
    shapes = _stage_shapes(model)
    assert [s[0] for s in shapes[1:]] == list(widths)
    assert model.conv5.conv.out_channels == conv5
    assert [len(s) for s in model.stages] == [4, 8, 4]
    assert parse_count(params).matches(_params(model))
    # Conv + linear multiply-adds are 0.8–1.4% below the printed MFLOPs.
    assert _macs(model) == pytest.approx(macs, rel=0.015)


def test_v2_unit_keeps_half_the_channels_and_shuffles():
    torch.manual_seed(0)
    unit = ShuffleNetV2Unit(8, 8, stride=1).eval()
    x = torch.randn(1, 8, 5, 5)
    out = unit(x)
    # Channel split: the first half passes unchanged and, after the 2-group
    # shuffle, lands on the even output channels.
    torch.testing.assert_close(out[:, 0::2], x[:, :4])
    assert not any(
        isinstance(m, nn.Conv2d) and m.groups not in (1, m.in_channels) for m in unit.modules()
    )
    down = ShuffleNetV2Unit(24, 116, stride=2)
    assert down(torch.randn(1, 24, 8, 8)).shape == (1, 116, 4, 4)
    with pytest.raises(ValueError, match="even"):
        ShuffleNetV2Unit(8, 9, stride=2)
