"""Hard-swish and hard-sigmoid against the formulas of Howard et al. 2019, §5.2."""

import torch

from cnnzoo.layers.activations import HardSigmoid, HardSwish, hard_sigmoid, hard_swish


def _relu6(x):
    return torch.clamp(x, 0.0, 6.0)


def test_hard_sigmoid_is_relu6_of_x_plus_3_over_6():
    x = torch.linspace(-8, 8, 1601, dtype=torch.float64)
    expected = _relu6(x + 3) / 6
    torch.testing.assert_close(hard_sigmoid(x), expected)
    torch.testing.assert_close(HardSigmoid()(x), expected)


def test_hard_swish_is_x_times_relu6_of_x_plus_3_over_6():
    x = torch.linspace(-8, 8, 1601, dtype=torch.float64)
    expected = x * _relu6(x + 3) / 6
    torch.testing.assert_close(hard_swish(x), expected)
    torch.testing.assert_close(HardSwish()(x), expected)


def test_pieces_zero_linear_identity():
    x = torch.tensor([-5.0, -3.0, 0.0, 3.0, 5.0])
    assert hard_sigmoid(x).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert hard_swish(x).tolist() == [0.0, 0.0, 0.0, 3.0, 5.0]


def test_close_to_the_smooth_functions_they_replace():
    x = torch.linspace(-6, 6, 241)
    assert (hard_sigmoid(x) - torch.sigmoid(x)).abs().max() < 0.15
    assert (hard_swish(x) - x * torch.sigmoid(x)).abs().max() < 0.25


def test_gradient_matches_the_piecewise_derivative():
    x = torch.tensor([-4.0, -1.0, 1.0, 4.0], dtype=torch.float64, requires_grad=True)
    hard_swish(x).sum().backward()
    # d/dx x(x+3)/6 = (2x + 3)/6 inside (−3, 3); 0 below, 1 above.
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1 / 6, 5 / 6, 1.0], dtype=torch.float64))
