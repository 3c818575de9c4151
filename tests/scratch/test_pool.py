"""Pooling forward and backward against torch in float64, and how the gradient is routed."""

import numpy as np
import pytest
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnzoo.scratch import functional as F
from cnnzoo.scratch.gradcheck import rel_error

TOL = 1e-10


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    assume(h + 2 * p[0] >= k[0] and w + 2 * p[1] >= k[1])
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).standard_normal((draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w))
    return x, k, s, p


@settings(max_examples=25, deadline=None)
@given(case=pool_cases())
def test_max_pool_matches_torch(torch_ref, case):
    x, k, s, p = case
    ref, dout, (dx_t,) = torch_ref(lambda t: TF.max_pool2d(t, k, s, p), x)
    out, cache = F.max_pool2d_forward(x, k, s, p)
    assert rel_error(out, ref) < TOL
    assert rel_error(F.max_pool2d_backward(dout, cache), dx_t) < TOL


@settings(max_examples=25, deadline=None)
@given(case=pool_cases(), include_pad=st.booleans())
def test_avg_pool_matches_torch(torch_ref, case, include_pad):
    x, k, s, p = case
    ref, dout, (dx_t,) = torch_ref(lambda t: TF.avg_pool2d(t, k, s, p, count_include_pad=include_pad), x)
    out, cache = F.avg_pool2d_forward(x, k, s, p, count_include_pad=include_pad)
    assert rel_error(out, ref) < TOL
    assert rel_error(F.avg_pool2d_backward(dout, cache), dx_t) < TOL


def test_global_avg_pool_matches_torch(torch_ref):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    ref, dout, (dx_t,) = torch_ref(lambda t: TF.adaptive_avg_pool2d(t, 1).flatten(1), x)
    out, cache = F.global_avg_pool2d_forward(x)
    assert rel_error(out, ref) < TOL
    assert rel_error(F.global_avg_pool2d_backward(dout, cache), dx_t) < TOL


def test_max_pool_sends_the_whole_gradient_to_the_max_and_avg_spreads_it():
    x = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    out, cache = F.max_pool2d_forward(x, 2)
    assert out.item() == 5.0
    np.testing.assert_array_equal(F.max_pool2d_backward(np.array([[[[4.0]]]]), cache), [[[[0, 4.0], [0, 0]]]])
    out, cache = F.avg_pool2d_forward(x, 2)
    assert out.item() == 2.75
    np.testing.assert_array_equal(F.avg_pool2d_backward(np.array([[[[4.0]]]]), cache), np.ones((1, 1, 2, 2)))


def test_bad_pool_input():
    with pytest.raises(ValueError, match=r"larger than the padded input.*\(1, 1, 2, 2\)"):
        F.max_pool2d_forward(np.zeros((1, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        F.avg_pool2d_forward(np.zeros((1, 1, 4, 4)), 2, stride=0)
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d_forward(np.zeros((1, 1, 4, 4)), 2, padding=2)
