"""``make_divisible``: the channel rounding of MobileNet v2/v3 and EfficientNet."""

import pytest

from cnnzoo.layers.helpers import make_divisible


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
