"""``make_divisible``: the channel rounding of MobileNet v2/v3 and EfficientNet."""

import pytest
import torch
from torch import nn

from cnnzoo.layers.helpers import init_fan_out, make_divisible


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (32, 32),
        (32 * 0.75, 24),
        (16 * 0.5, 8),
        (4, 8),  # never below the divisor
        (32 * 1.1, 32),  # EfficientNet-B2 stem: 35.2 → 32 (within 90%)
        (1280 * 1.1, 1408),  # EfficientNet-B2 head
        (320 * 1.4, 448),
        (96 * 0.35, 32),  # 33.6 → 32
        (19, 24),  # 16 would lose more than 10%
    ],
)
def test_rounds_to_multiples_of_8_keeping_90_percent(value, expected):
    out = make_divisible(value)
    assert out == expected
    assert out % 8 == 0 and out >= 0.9 * value


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisor"):
        make_divisible(32, 0)
    with pytest.raises(ValueError, match="positive"):
        make_divisible(0)


def test_init_fan_out_uses_he_normal_on_the_output_side():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(16, 256, 3), nn.BatchNorm2d(256), nn.Linear(64, 10))
    init_fan_out(model)
    conv = model[0].weight
    assert conv.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.05)
    assert model[1].weight.eq(1).all() and model[1].bias.eq(0).all()
    assert model[2].weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert model[2].bias.eq(0).all()
