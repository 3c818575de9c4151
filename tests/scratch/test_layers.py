"""Every layer passes the finite-difference gradient check; the Module contract holds."""

import numpy as np
import pytest

from cnnzoo.scratch import functional as F
from cnnzoo.scratch import layers as L
from cnnzoo.scratch.gradcheck import gradcheck, numerical_gradient, rel_error

TOL = 1e-6  # central differences in float64: right gradients agree to ~1e-9, wrong ones at ~1e-2


def _rng(seed=0):
    return np.random.default_rng(seed)


def _x(*shape, seed=1):
    return _rng(seed).standard_normal(shape)


LAYERS = {
    "conv": (lambda: L.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2, rng=_rng()), (2, 4, 7, 6)),
    "conv_dilated": (lambda: L.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(2, 0), dilation=2, rng=_rng()), (2, 2, 6, 7)),
    "conv_naive": (lambda: L.Conv2d(3, 2, 3, stride=2, padding=1, impl="naive", rng=_rng()), (2, 3, 5, 5)),
    "conv_no_bias": (lambda: L.Conv2d(2, 2, 1, bias=False, rng=_rng()), (2, 2, 3, 3)),
    "conv_transpose": (lambda: L.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2, rng=_rng()), (2, 4, 3, 4)),
    "linear": (lambda: L.Linear(5, 3, rng=_rng()), (4, 5)),
    "relu": (L.ReLU, (3, 4, 5)),
    "leaky_relu": (lambda: L.LeakyReLU(0.1), (3, 4, 5)),
    "prelu": (lambda: L.PReLU(4, init=0.3), (3, 4, 5)),
    "elu": (lambda: L.ELU(0.7), (3, 4, 5)),
    "sigmoid": (L.Sigmoid, (3, 4)),
    "tanh": (L.Tanh, (3, 4)),
    "max_pool": (lambda: L.MaxPool2d(3, 2, 1), (2, 2, 7, 6)),
    "avg_pool": (lambda: L.AvgPool2d(2, 1, 1, count_include_pad=False), (2, 2, 5, 4)),
    "global_avg_pool": (L.GlobalAvgPool2d, (2, 3, 4, 5)),
    "flatten": (L.Flatten, (2, 3, 2, 2)),
    "dropout_eval": (lambda: L.Dropout(0.5).eval(), (3, 4)),
    "batchnorm_2d": (lambda: L.BatchNorm2d(3), (4, 3, 3, 2)),
    "batchnorm_1d": (lambda: L.BatchNorm1d(5), (6, 5)),
    "batchnorm_eval": (lambda: L.BatchNorm2d(3).eval(), (2, 3, 2, 2)),
    "layernorm": (lambda: L.LayerNorm((3, 2, 2)), (4, 3, 2, 2)),
    "groupnorm": (lambda: L.GroupNorm(2, 4), (2, 4, 3, 3)),
    "instancenorm": (lambda: L.InstanceNorm2d(3), (2, 3, 3, 3)),
    "lrn": (lambda: L.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0), (2, 5, 2, 2)),
    "sequential": (
        lambda: L.Sequential(L.Conv2d(1, 3, 3, bias=False, rng=_rng()), L.BatchNorm2d(3), L.ReLU(), L.MaxPool2d(2),
                             L.Flatten(), L.Linear(3 * 2 * 2, 4, rng=_rng(1)), L.Tanh()),
        (3, 1, 6, 6),
    ),  # fmt: skip  (no conv bias before BN: BN cancels it, its true gradient is 0)
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_passes_gradcheck(name):
    make, shape = LAYERS[name]
    layer = make().astype(np.float64)
    for p in layer.parameters():  # move γ/β and biases off their trivial starting values
        p.data += 0.3 * _rng(7).standard_normal(p.shape)
    report = gradcheck(layer, _x(*shape))
    assert set(report.errors) == {"x"} | {n for n, _ in layer.named_parameters()}
    assert report.passed(TOL), report.errors


def test_dropout_in_training_passes_gradcheck_with_a_fixed_mask():
    mask = _rng(3).random((4, 6)) >= 0.4
    report = gradcheck((F.dropout_forward, F.dropout_backward), _x(4, 6), p=0.4, mask=mask)
    assert report.passed(TOL)


def test_functional_gradcheck_and_numerical_gradient():
    x, w = _x(2, 3, 5, 5), _x(4, 3, 3, 3, seed=2)
    report = gradcheck((F.conv2d_forward, F.conv2d_backward), x, w, None, stride=2, padding=1)
    assert set(report.errors) == {"x", "input1"} and report.passed(TOL)
    # d/dx Σ x² = 2x
    x = _x(3, 4)
    np.testing.assert_allclose(numerical_gradient(lambda a: a**2, x), 2 * x, rtol=1e-6)
    assert rel_error(np.ones(3), np.ones(3) * (1 + 1e-9)) < 2e-9
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda a: a, np.zeros(3, np.float32))


def test_a_wrong_gradient_is_caught():
    class BrokenTanh(L.Tanh):
        def backward(self, dout):
            return dout * (1 - self._saved())  # forgot to square

    assert not gradcheck(BrokenTanh(), _x(3, 4)).passed(TOL)


def test_gradients_accumulate_until_zero_grad():
    layer = L.Linear(3, 2, rng=_rng()).astype(np.float64)
    x, dout = _x(4, 3), _x(4, 2, seed=2)
    layer.forward(x)
    layer.backward(dout)
    once = layer.weight.grad.copy()
    layer.backward(dout)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert not layer.weight.grad.any()


def test_module_contract_parameters_modes_and_state():
    net = L.Sequential(L.Conv2d(1, 2, 3, rng=_rng()), L.BatchNorm2d(2), L.Dropout(0.5), L.Flatten(), names=["conv", "bn", "drop", "flat"])
    names = [n for n, _ in net.named_parameters()]
    assert names == ["conv.weight", "conv.bias", "bn.weight", "bn.bias"]
    assert len(net.parameters()) == 4 and net.num_parameters() == 2 * 9 + 2 + 2 + 2
    assert set(net.state_dict()) == set(names) | {"bn.running_mean", "bn.running_var"}
    net.eval()
    assert not net.bn.training and not net.drop.training
    x = _x(2, 1, 5, 5).astype(np.float32)
    np.testing.assert_array_equal(net(x), net(x))  # evaluation is deterministic
    net.train()
    assert net.drop.training
    other = L.Sequential(L.Conv2d(1, 2, 3, rng=_rng(5)), L.BatchNorm2d(2), L.Dropout(0.5), L.Flatten(), names=["conv", "bn", "drop", "flat"])
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other.conv.weight.data, net.conv.weight.data)
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({"conv.weight": net.conv.weight.data})
    with pytest.raises(RuntimeError, match="before forward"):
        L.ReLU().backward(np.zeros(3))
    with pytest.raises(ValueError, match="float64"):
        gradcheck(L.Linear(2, 2), np.zeros((1, 2)))
