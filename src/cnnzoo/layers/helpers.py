"""Small helpers shared by the efficient networks (MobileNet, ShuffleNet, EfficientNet)."""

from __future__ import annotations

from torch import nn

__all__ = ["init_fan_out", "make_divisible"]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, never below 90% of it.

    The rule of the reference TensorFlow implementations of MobileNet v2/v3 and
    EfficientNet (``_make_divisible`` / ``round_filters``): channel counts that
    are multiples of 8 map well onto hardware, and the 90% floor keeps a width
    multiplier from shrinking a layer by more than 10%.

        >>> make_divisible(32 * 0.75), make_divisible(35.2), make_divisible(4)
        (24, 32, 8)
    """
    if divisor < 1:
        raise ValueError(f"divisor must be a positive integer; got {divisor}")
    if value <= 0:
        raise ValueError(f"a channel count must be positive; got {value}")
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def init_fan_out(model: nn.Module, linear_std: float = 0.01) -> None:
    """He-normal (fan-out) convolutions, unit BatchNorm, small-normal linear layers.

    None of the MobileNet or ShuffleNet papers states an initialisation; this
    is the one their common reference implementations use. Fan-out keeps the
    variance of the *gradients* stable, which suits depthwise convolutions
    whose fan-in is only ``k²``.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)
