"""Convolution and transposed convolution: forward and backward against torch in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnzoo.scratch import functional as F
from cnnzoo.scratch.gradcheck import rel_error

TOL = 1e-10


@st.composite
def conv_cases(draw, max_hw=9):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 2))
    o = groups * draw(st.integers(1, 2))
    h, w = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(h + 2 * padding[0] >= dilation[0] * (kh - 1) + 1)
    assume(w + 2 * padding[1] >= dilation[1] * (kw - 1) + 1)
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**16))
    return n, c, o, h, w, kh, kw, stride, padding, dilation, groups, seed


def _arrays(case):
    n, c, o, h, w, kh, kw, *_, groups, seed = case
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c // groups, kh, kw)), rng.standard_normal(o)


def _check_conv(case, forward, backward, torch_ref):
    _, _, _, _, _, _, _, stride, padding, dilation, groups, _ = case
    x, w, b = _arrays(case)
    ref, dout, (dx_t, dw_t, db_t) = torch_ref(
        lambda x, w, b: TF.conv2d(x, w, b, stride, padding, dilation, groups), x, w, b
    )
    out, cache = forward(x, w, b, stride, padding, dilation, groups)
    dx, dw, db = backward(dout, cache)
    assert out.shape == ref.shape
    for ours, theirs in ((out, ref), (dx, dx_t), (dw, dw_t), (db, db_t)):
        assert rel_error(ours, theirs) < TOL


@settings(max_examples=25, deadline=None)
@given(case=conv_cases())
def test_im2col_conv_matches_torch(torch_ref, case):
    _check_conv(case, F.conv2d_forward, F.conv2d_backward, torch_ref)


@settings(max_examples=8, deadline=None)
@given(case=conv_cases(max_hw=6))
def test_naive_conv_matches_torch(torch_ref, case):
    _check_conv(case, F.conv2d_forward_naive, F.conv2d_backward_naive, torch_ref)


def test_conv_without_bias_returns_no_bias_gradient():
    x, w = np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3))
    out, cache = F.conv2d_forward(x, w)
    assert np.all(out == 9.0)
    assert F.conv2d_backward(np.ones_like(out), cache)[2] is None


@settings(max_examples=20, deadline=None)
@given(case=conv_cases(max_hw=6), data=st.data())
def test_transposed_conv_matches_torch(torch_ref, case, data):
    n, c, o, h, w, kh, kw, stride, padding, dilation, groups, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c, o // groups, kh, kw))
    b = rng.standard_normal(o)
    out_pad = tuple(data.draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in range(2))
    size = [(x.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (wt.shape[2 + a] - 1) + out_pad[a] + 1 for a in range(2)]
    assume(min(size) >= 1)
    ref, dout, (dx_t, dw_t, db_t) = torch_ref(
        lambda x, w, b: TF.conv_transpose2d(x, w, b, stride, padding, out_pad, groups, dilation), x, wt, b
    )
    out, cache = F.conv_transpose2d_forward(x, wt, b, stride, padding, out_pad, dilation, groups)
    dx, dw, db = F.conv_transpose2d_backward(dout, cache)
    assert out.shape == ref.shape
    for ours, theirs in ((out, ref), (dx, dx_t), (dw, dw_t), (db, db_t)):
        assert rel_error(ours, theirs) < TOL


def test_transposed_conv_is_the_adjoint_of_conv():
    # <conv(x), y> == <x, conv_transpose(y)> for the same kernel: the definition of the adjoint
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3))
    y, _ = F.conv2d_forward(x, w, None, stride=2, padding=1, groups=2)
    z = rng.standard_normal(y.shape)
    xt, _ = F.conv_transpose2d_forward(z, w, None, stride=2, padding=1, output_padding=(0, 1), groups=2)
    assert xt.shape == x.shape
    assert abs(np.sum(y * z) - np.sum(x * xt)) < 1e-10 * np.abs(y * z).sum()


def test_float32_stays_float32():
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    out, cache = F.conv2d_forward(x, w, np.zeros(3, np.float32))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in F.conv2d_backward(out, cache))
    assert torch.float64 != torch.float32  # float64 elsewhere is deliberate, not an accident


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "match"),
    [
        ((1, 3, 8, 8), (4, 2, 3, 3), {}, r"\(1, 3, 8, 8\).*\(4, 2, 3, 3\)"),
        ((1, 4, 8, 8), (4, 2, 3, 3), {"groups": 3}, "groups=3"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"stride": 0}, "stride must be >= 1"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"stride": (1, -2)}, "stride must be >= 1"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"dilation": 0}, "dilation must be >= 1"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": -1}, "padding must be >= 0"),
        ((1, 3, 4, 4), (4, 3, 7, 7), {"padding": 1}, r"larger than the padded input 6.*\(1, 3, 4, 4\).*\(4, 3, 7, 7\)"),
        ((3, 8, 8), (4, 3, 3, 3), {}, r"4-D.*\(3, 8, 8\)"),
    ],
)
def test_bad_conv_input_is_a_value_error_naming_the_shapes(x_shape, w_shape, kwargs, match):
    x, w = np.zeros(x_shape), np.zeros(w_shape)
    for forward in (F.conv2d_forward, F.conv2d_forward_naive):
        with pytest.raises(ValueError, match=match):
            forward(x, w, **kwargs)


def test_bad_bias_and_transposed_input():
    with pytest.raises(ValueError, match=r"bias shape \(3,\)"):
        F.conv2d_forward(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(1, 3, 4, 4\).*\(2, 1, 3, 3\)"):
        F.conv_transpose2d_forward(np.zeros((1, 3, 4, 4)), np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d_forward(np.zeros((1, 2, 4, 4)), np.zeros((2, 1, 3, 3)), stride=2, output_padding=2)
