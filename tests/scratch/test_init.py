"""Initialisers have the variances the papers give; the deep-stack demonstration shows why."""

import math

import numpy as np
import pytest

from cnnzoo.scratch import init
from cnnzoo.scratch.demos import activation_variance_through_depth, init_variance_table


def test_fans_of_linear_and_conv_weights():
    assert init.fan_in_and_fan_out((10, 20)) == (20, 10)
    assert init.fan_in_and_fan_out((64, 3, 7, 7)) == (3 * 49, 64 * 49)


@pytest.mark.parametrize(
    ("fn", "expected_var"),
    [
        (lambda s, r: init.xavier_uniform(s, rng=r), 2 / (300 * 9 + 200 * 9)),
        (lambda s, r: init.xavier_normal(s, rng=r), 2 / (300 * 9 + 200 * 9)),
        (lambda s, r: init.kaiming_uniform(s, rng=r), 2 / (300 * 9)),
        (lambda s, r: init.kaiming_normal(s, rng=r), 2 / (300 * 9)),
        (lambda s, r: init.kaiming_normal(s, mode="fan_out", nonlinearity="tanh", rng=r), (5 / 3) ** 2 / (200 * 9)),
        (lambda s, r: init.normal(s, 0.01, rng=r), 1e-4),
    ],
)
def test_initialiser_variances(fn, expected_var):
    w = fn((200, 300, 3, 3), np.random.default_rng(0))
    assert w.dtype == np.float32
    assert w.var() == pytest.approx(expected_var, rel=0.02)
    assert abs(w.mean()) < 3 * math.sqrt(expected_var / w.size) * 3


def test_he_keeps_relu_variance_and_xavier_halves_it():
    he = activation_variance_through_depth("kaiming", "relu", depth=30, width=256, batch=128)
    xavier = activation_variance_through_depth("xavier", "relu", depth=30, width=256, batch=128)
    assert 0.5 < he[-1] / he[0] < 2.0
    # square layers: Xavier's std is He's / √2 on the same draws, and ReLU nets are positively
    # homogeneous, so the variance ratio is exactly 1/2 per layer
    np.testing.assert_allclose(np.array(xavier) / np.array(he), 0.5 ** np.arange(1, 31), rtol=1e-9)


def test_too_small_vanishes_and_too_large_explodes_or_saturates():
    assert activation_variance_through_depth("normal-0.01", "relu", depth=20, width=128, batch=128)[-1] < 1e-30
    assert activation_variance_through_depth("normal-0.01", "tanh", depth=20, width=128, batch=128)[-1] < 1e-20
    assert activation_variance_through_depth("normal-1", "relu", depth=20, width=128, batch=128)[-1] > 1e30
    saturated = activation_variance_through_depth("normal-1", "tanh", depth=20, width=128, batch=128)
    assert saturated[-1] > 0.9  # |tanh| ≈ 1 everywhere: the units are saturated
    tanh_xavier = activation_variance_through_depth("xavier", "tanh", depth=20, width=128, batch=128)
    assert 0.01 < tanh_xavier[-1] < 1.0


def test_table_and_bad_names():
    rows = init_variance_table(depth=4, width=32)
    assert len(rows) == 8 and {"activation", "init", "layer_1", "layer_last"} <= set(rows[0])
    with pytest.raises(ValueError, match="init must be one of"):
        activation_variance_through_depth("orthogonal")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")
