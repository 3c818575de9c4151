"""Batch, layer, group, instance norm and LRN against torch in float64; BN's properties."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnzoo.scratch import functional as F
from cnnzoo.scratch.gradcheck import rel_error

TOL = 1e-10
seeds = st.integers(0, 2**16)


@st.composite
def images(draw, min_spatial=1):
    # with only two values per statistic x̂ = ±1 whatever x is, so the true dx is pure
    # rounding noise; three or more values (batch of 3+, or 3+ pixels) avoid that
    shape = (draw(st.integers(3, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    assume(shape[2] * shape[3] >= min_spatial)
    rng = np.random.default_rng(draw(seeds))
    return 2 + 3 * rng.standard_normal(shape), rng


def _affine(rng, shape):
    return 1 + 0.5 * rng.standard_normal(shape), rng.standard_normal(shape)


@settings(max_examples=15, deadline=None)
@given(data=images(), flat=st.booleans(), momentum=st.sampled_from([0.1, 0.5]))
def test_batchnorm_training_matches_torch(torch_ref, data, flat, momentum):
    x, rng = data
    if flat:
        x = x[:, :, 0, 0]
    c = x.shape[1]
    g, b = _affine(rng, (c,))
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    ref, dout, (dx_t, dg_t, db_t) = torch_ref(
        lambda x, g, b: TF.batch_norm(x, rm_t, rv_t, g, b, training=True, momentum=momentum, eps=1e-5), x, g, b
    )
    out, cache = F.batchnorm_forward(x, g, b, rm, rv, training=True, momentum=momentum)
    dx, dg, db = F.batchnorm_backward(dout, cache)
    for ours, theirs in ((out, ref), (dx, dx_t), (dg, dg_t), (db, db_t), (rm, rm_t.numpy()), (rv, rv_t.numpy())):
        assert rel_error(ours, theirs) < TOL


@settings(max_examples=10, deadline=None)
@given(data=images())
def test_batchnorm_eval_matches_torch(torch_ref, data):
    x, rng = data
    c = x.shape[1]
    g, b = _affine(rng, (c,))
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    ref, dout, (dx_t, dg_t, db_t) = torch_ref(
        lambda x, g, b: TF.batch_norm(x, torch.tensor(rm), torch.tensor(rv), g, b, training=False), x, g, b
    )
    out, cache = F.batchnorm_forward(x, g, b, rm.copy(), rv.copy(), training=False)
    dx, dg, db = F.batchnorm_backward(dout, cache)
    for ours, theirs in ((out, ref), (dx, dx_t), (dg, dg_t), (db, db_t)):
        assert rel_error(ours, theirs) < TOL


def test_batchnorm_training_output_is_zero_mean_unit_variance_per_channel():
    rng = np.random.default_rng(0)
    x = 5 + 4 * rng.standard_normal((16, 3, 6, 6))
    out, _ = F.batchnorm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), eps=0.0)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-12)


def test_batchnorm_eval_uses_running_statistics_not_the_batch():
    rng = np.random.default_rng(1)
    rm, rv = np.zeros(2), np.ones(2)
    for _ in range(200):  # the running averages converge to the data's mean and variance
        F.batchnorm_forward(3 + 2 * rng.standard_normal((64, 2, 4, 4)), np.ones(2), np.zeros(2), rm, rv, momentum=0.1)
    np.testing.assert_allclose(rm, 3, atol=0.1)
    np.testing.assert_allclose(rv, 4, atol=0.3)
    x = np.full((1, 2, 1, 1), 5.0)  # a single, constant sample: batch statistics would be useless
    out, _ = F.batchnorm_forward(x, np.ones(2), np.zeros(2), rm, rv, training=False)
    np.testing.assert_allclose(out.ravel(), (5 - rm) / np.sqrt(rv + 1e-5))


@settings(max_examples=10, deadline=None)
@given(data=images())
def test_layernorm_matches_torch(torch_ref, data):
    x, rng = data
    assume(x[0].size >= 3)
    g, b = _affine(rng, x.shape[1:])
    ref, dout, grads_t = torch_ref(lambda x, g, b: TF.layer_norm(x, x.shape[1:], g, b), x, g, b)
    out, cache = F.layernorm_forward(x, g, b)
    assert rel_error(out, ref) < TOL
    for ours, theirs in zip(F.layernorm_backward(dout, cache), grads_t, strict=True):
        assert rel_error(ours, theirs) < TOL


@settings(max_examples=10, deadline=None)
@given(data=images(), groups=st.sampled_from([1, 2, 3]))
def test_groupnorm_matches_torch(torch_ref, data, groups):
    x, rng = data
    assume(x[0].size >= 3)
    x = np.concatenate([x] * groups, axis=1)  # channels divisible by the group count
    g, b = _affine(rng, (x.shape[1],))
    ref, dout, grads_t = torch_ref(lambda x, g, b: TF.group_norm(x, groups, g, b), x, g, b)
    out, cache = F.groupnorm_forward(x, g, b, groups)
    assert rel_error(out, ref) < TOL
    for ours, theirs in zip(F.groupnorm_backward(dout, cache), grads_t, strict=True):
        assert rel_error(ours, theirs) < TOL


@settings(max_examples=10, deadline=None)
@given(data=images(min_spatial=3))
def test_instancenorm_matches_torch(torch_ref, data):
    x, rng = data
    g, b = _affine(rng, (x.shape[1],))
    ref, dout, grads_t = torch_ref(lambda x, g, b: TF.instance_norm(x, weight=g, bias=b), x, g, b)
    out, cache = F.instancenorm_forward(x, g, b)
    assert rel_error(out, ref) < TOL
    for ours, theirs in zip(F.instancenorm_backward(dout, cache), grads_t, strict=True):
        assert rel_error(ours, theirs) < TOL


@settings(max_examples=15, deadline=None)
@given(data=images(), size=st.integers(1, 6), k=st.sampled_from([1.0, 2.0]))
def test_lrn_matches_torch(torch_ref, data, size, k):
    x, _ = data
    alpha, beta = 0.3, 0.75  # a large α so the normalisation visibly matters
    ref, dout, (dx_t,) = torch_ref(lambda t: TF.local_response_norm(t, size, alpha, beta, k), x)
    out, cache = F.lrn_forward(x, size, alpha, beta, k)
    assert rel_error(out, ref) < TOL
    assert rel_error(F.lrn_backward(dout, cache), dx_t) < TOL


def test_bad_norm_input():
    with pytest.raises(ValueError, match=r"gamma \(4,\).*\(2, 3, 4, 4\)"):
        F.batchnorm_forward(np.zeros((2, 3, 4, 4)), np.ones(4), np.zeros(4), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"num_groups=2 .*\(2, 3, 4, 4\)"):
        F.groupnorm_forward(np.zeros((2, 3, 4, 4)), np.ones(3), np.zeros(3), 2)
    with pytest.raises(ValueError, match=r"more than one value"):
        F.batchnorm_forward(np.zeros((1, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
