"""Linear, dropout and flatten against torch in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnzoo.scratch import functional as F
from cnnzoo.scratch.gradcheck import rel_error

TOL = 1e-10


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), d_in=st.integers(1, 7), d_out=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_linear_matches_torch(torch_ref, n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((n, d_in)), rng.standard_normal((d_out, d_in)), rng.standard_normal(d_out)
    ref, dout, grads_t = torch_ref(TF.linear, x, w, b)
    out, cache = F.linear_forward(x, w, b)
    assert rel_error(out, ref) < TOL
    for ours, theirs in zip(F.linear_backward(dout, cache), grads_t, strict=True):
        assert rel_error(ours, theirs) < TOL


def test_dropout_is_inverted_and_matches_torch_given_the_mask(torch_ref):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 50))
    out, cache = F.dropout_forward(x, p=0.3, rng=np.random.default_rng(1))
    mask = out != 0
    ref, dout, (dx_t,) = torch_ref(lambda t: t * torch.tensor(mask) / 0.7, x)
    assert rel_error(out, ref) < TOL
    assert rel_error(F.dropout_backward(dout, cache), dx_t) < TOL
    assert abs(1 - mask.mean() - 0.3) < 0.03
    # inverted dropout keeps the expected activation: E[out] = x
    ones, _ = F.dropout_forward(np.ones((200_000,)), p=0.3, rng=np.random.default_rng(2))
    assert ones.mean() == pytest.approx(1.0, abs=0.01)
    # evaluation: the identity, no rescaling
    same, cache = F.dropout_forward(x, p=0.3, training=False)
    assert same is x and F.dropout_backward(dout, cache) is dout


def test_flatten_round_trip():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    out, cache = F.flatten_forward(x)
    assert out.shape == (2, 12)
    np.testing.assert_array_equal(F.flatten_backward(out, cache), x)


def test_bad_linear_and_dropout_input():
    with pytest.raises(ValueError, match=r"input \(2, 3\), weight \(4, 5\)"):
        F.linear_forward(np.zeros((2, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        F.dropout_forward(np.zeros(3), p=1.0)
