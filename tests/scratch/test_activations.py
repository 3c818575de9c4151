"""Activations and softmax against torch in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from cnnzoo.scratch import functional as F
from cnnzoo.scratch.gradcheck import rel_error

TOL = 1e-10

shapes = array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5)
seeds = st.integers(0, 2**16)

CASES = {
    "relu": (lambda x: F.relu_forward(x), F.relu_backward, TF.relu),
    "leaky_relu": (lambda x: F.leaky_relu_forward(x, 0.2), F.leaky_relu_backward, lambda t: TF.leaky_relu(t, 0.2)),
    "elu": (lambda x: F.elu_forward(x, 1.3), F.elu_backward, lambda t: TF.elu(t, 1.3)),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward, torch.sigmoid),
    "tanh": (F.tanh_forward, F.tanh_backward, torch.tanh),
    "softmax": (lambda x: F.softmax_forward(x, axis=1), F.softmax_backward, lambda t: torch.softmax(t, 1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=8, deadline=None)
@given(shape=shapes, seed=seeds)
def test_activation_matches_torch(torch_ref, name, shape, seed):
    forward, backward, reference = CASES[name]
    x = 3 * np.random.default_rng(seed).standard_normal(shape)
    ref, dout, (dx_t,) = torch_ref(reference, x)
    out, cache = forward(x)
    assert rel_error(out, ref) < TOL
    assert rel_error(backward(dout, cache), dx_t) < TOL


@settings(max_examples=10, deadline=None)
@given(shape=shapes, seed=seeds, shared=st.booleans())
def test_prelu_matches_torch(torch_ref, shape, seed, shared):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    a = rng.uniform(0, 0.5, 1 if shared else shape[1])
    ref, dout, (dx_t, da_t) = torch_ref(TF.prelu, x, a)
    out, cache = F.prelu_forward(x, a)
    dx, da = F.prelu_backward(dout, cache)
    assert rel_error(out, ref) < TOL
    assert rel_error(dx, dx_t) < TOL
    assert rel_error(da, da_t) < TOL


def test_sigmoid_and_softmax_do_not_overflow():
    x = np.array([[-1000.0, 0.0, 1000.0]])
    assert np.all(np.isfinite(F.sigmoid(x)))
    np.testing.assert_allclose(F.sigmoid(x), [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(F.softmax(x), [[0.0, 0.0, 1.0]])
    assert np.all(np.isfinite(F.log_softmax(x)))


def test_prelu_bad_slope_shape():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 4, 5\)"):
        F.prelu_forward(np.zeros((2, 4, 5)), np.zeros(3))
