"""MSE and the saturation demo, the two forms of dropout, gradient clipping: against torch and the formulas."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnzoo.scratch import layers as L
from cnnzoo.scratch.clip import clip_grad_norm, clip_grad_value
from cnnzoo.scratch.demos import (
    saturation_gradients,
    saturation_table,
    softmax_saturation_gradients,
)
from cnnzoo.scratch.gradcheck import numerical_gradient, rel_error
from cnnzoo.scratch.losses import mse_loss

TOL = 1e-10


def _sigma(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@settings(max_examples=15, deadline=None)
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 6)), seed=st.integers(0, 2**16))
def test_mse_matches_torch_and_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal(shape), rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    ref = TF.mse_loss(xt, torch.tensor(t))
    ref.backward()
    loss, dx = mse_loss(x, t)
    assert rel_error(loss, ref.item()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL
    assert rel_error(dx, numerical_gradient(lambda a: mse_loss(a, t)[0], x.copy())) < 1e-7


def test_sigmoid_saturation_gradients_are_the_formulas():
    z = -10.0
    s = _sigma(z)
    g = saturation_gradients(z, target=1.0)
    assert g["quadratic_grad"] == pytest.approx(s * (1 - s) * (s - 1), rel=1e-12)  # σ'(z)(σ(z) - 1)
    assert g["cross_entropy_grad"] == pytest.approx(s - 1, rel=1e-12)  # σ(z) - 1
    assert g["quadratic_grad"] == pytest.approx(-4.5394e-5, rel=1e-4)
    assert g["cross_entropy_grad"] == pytest.approx(-0.99995, rel=1e-5)
    assert g["cross_entropy_grad"] / g["quadratic_grad"] > 2e4  # cross-entropy learns ~22,000× faster here


def test_saturation_table_quadratic_gradient_vanishes_only_for_the_quadratic_cost():
    rows = saturation_table((-10.0, -5.0, -2.0, 0.0, 2.0))
    for r in rows:
        s = _sigma(r["z"])
        assert r["quadratic_grad"] == pytest.approx(s * (1 - s) * (s - 1), rel=1e-12)
        assert r["cross_entropy_grad"] == pytest.approx(s - 1, rel=1e-12)
    quad = [abs(r["quadratic_grad"]) for r in rows]
    assert quad.index(max(quad)) == 3  # largest at z = 0 of these: |σ(1-σ)²| peaks at z = -ln 2
    assert quad[0] < 1e-3 * quad[3]  # confidently wrong, and the quadratic cost barely moves


def test_softmax_saturation_gradients_match_torch_autograd():
    k, zt = 10, -10.0
    z = torch.zeros(1, k, dtype=torch.float64)
    z[0, 0] = zt
    z.requires_grad_(True)
    onehot = torch.eye(k, dtype=torch.float64)[:1]
    (0.5 * ((torch.softmax(z, 1) - onehot) ** 2).sum()).backward()
    quad = z.grad[0, 0].item()
    z.grad = None
    TF.cross_entropy(z, torch.tensor([0])).backward()
    g = softmax_saturation_gradients(zt, k)
    assert g["quadratic_grad"] == pytest.approx(quad, rel=1e-10)
    assert g["cross_entropy_grad"] == pytest.approx(z.grad[0, 0].item(), rel=1e-12)
    assert abs(g["quadratic_grad"]) < 1e-5 < 0.99 < abs(g["cross_entropy_grad"])


@pytest.mark.parametrize("inverted", [True, False])
def test_both_dropouts_keep_the_expectation_but_scale_in_different_places(inverted):
    p, x = 0.3, np.full(200_000, 2.0)
    drop = L.Dropout(p, rng=np.random.default_rng(0), inverted=inverted)
    train = drop.forward(x)
    test = drop.eval().forward(x)
    kept = train[train != 0]
    if inverted:  # scaled up while training, untouched at test time
        np.testing.assert_allclose(kept, 2.0 / (1 - p))
        np.testing.assert_array_equal(test, x)
    else:  # untouched while training, scaled down at test time
        np.testing.assert_array_equal(kept, 2.0)
        np.testing.assert_allclose(test, (1 - p) * 2.0)
    assert train.mean() == pytest.approx(test.mean(), rel=0.01)  # E[train output] = test output
    assert len(kept) / len(x) == pytest.approx(1 - p, abs=0.005)


def test_the_two_dropouts_differ_by_one_minus_p_given_the_same_mask():
    p, x = 0.4, np.random.default_rng(1).standard_normal((5, 8))
    inv = L.Dropout(p, rng=np.random.default_rng(7)).forward(x)
    orig_layer = L.Dropout(p, rng=np.random.default_rng(7), inverted=False)
    orig = orig_layer.forward(x)
    np.testing.assert_allclose(orig, (1 - p) * inv, rtol=1e-12)
    dout = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_array_equal(orig_layer.backward(dout), dout * (orig != 0))  # δ·m, no scaling


def test_original_dropout_at_test_time_is_scaling_the_next_weights():
    # Srivastava et al. 2014, §4: W_test = (keep probability)·W
    p, rng = 0.5, np.random.default_rng(3)
    x = rng.standard_normal((4, 6))
    fc = L.Linear(6, 3, rng=rng).astype(np.float64)
    drop = L.Dropout(p, inverted=False).eval()
    out = fc.forward(drop.forward(x))
    fc.weight.data = (1 - p) * fc.weight.data
    np.testing.assert_allclose(out, fc.forward(x), rtol=1e-12)
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(drop.backward(dout), (1 - p) * dout)


def _grads(seed: int, scale: float) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(s) for s in [(3, 4), (4,), (2, 2, 3)]]


def _params(grads):
    params = [L.Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.copy()
    return params


def _torch_params(grads):
    ts = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(ts, grads):
        t.grad = torch.tensor(g)
    return ts


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 1e3])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    grads = _grads(0, 2.0)
    ours, theirs = _params(grads), _torch_params(grads)
    total = clip_grad_norm(ours, max_norm, norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total == pytest.approx(ref.item(), rel=1e-12)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0)


def test_norm_clipping_keeps_the_direction_value_clipping_does_not():
    grads = _grads(1, 5.0)
    by_norm, by_value = _params(grads), _params(grads)
    clip_grad_norm(by_norm, 1.0)
    clip_grad_value(by_value, 1.0)
    flat = np.concatenate([g.ravel() for g in grads])
    normed = np.concatenate([p.grad.ravel() for p in by_norm])
    valued = np.concatenate([p.grad.ravel() for p in by_value])
    assert np.linalg.norm(normed) == pytest.approx(1.0, abs=1e-5)
    cos = lambda a, b: a @ b / (np.linalg.norm(a) * np.linalg.norm(b))  # noqa: E731
    assert cos(normed, flat) == pytest.approx(1.0, abs=1e-12)
    assert cos(valued, flat) < 0.99
    assert np.abs(valued).max() == 1.0


@pytest.mark.parametrize("value", [0.1, 1.0, 10.0])
def test_clip_grad_value_matches_torch(value):
    grads = _grads(2, 3.0)
    ours, theirs = _params(grads), _torch_params(grads)
    clip_grad_value(ours, value)
    torch.nn.utils.clip_grad_value_(theirs, value)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


def test_bad_loss_and_clip_input():
    with pytest.raises(ValueError, match=r"mse_loss: targets shape \(2, 3\)"):
        mse_loss(np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="max_norm must be > 0; got 0"):
        clip_grad_norm(_params(_grads(0, 1.0)), 0)
    with pytest.raises(ValueError, match="clip_value must be > 0; got -1"):
        clip_grad_value(_params(_grads(0, 1.0)), -1)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        softmax_saturation_gradients(-10.0, 1)
