"""Losses against torch (or the formula written in torch ops) in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnzoo.scratch import functional as F
from cnnzoo.scratch.gradcheck import rel_error

TOL = 1e-10
sizes = st.tuples(st.integers(1, 6), st.integers(2, 7), st.integers(0, 2**16))


def _scores(n, k, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((n, k)), rng.integers(0, k, n), rng.integers(0, 2, (n, k)).astype(float)


def _check(loss_fn, torch_fn, *args):
    x = args[0]
    xt = torch.tensor(x, requires_grad=True)
    ref = torch_fn(xt, *[torch.tensor(a) for a in args[1:]])
    ref.backward()
    loss, dx = loss_fn(*args)
    assert rel_error(loss, ref.item()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL


@settings(max_examples=15, deadline=None)
@given(size=sizes, eps=st.sampled_from([0.0, 0.1, 0.37]))
def test_softmax_cross_entropy_with_label_smoothing(size, eps):
    x, y, _ = _scores(*size)
    _check(
        lambda x, y: F.softmax_cross_entropy_loss(x, y, label_smoothing=eps),
        lambda t, y: TF.cross_entropy(t, y, label_smoothing=eps),
        x, y,
    )  # fmt: skip


def test_cross_entropy_is_stable_for_huge_scores():
    x = np.array([[1e4, 0.0, -1e4]])
    loss, dx = F.softmax_cross_entropy_loss(x, np.array([1]))
    assert loss == pytest.approx(1e4)
    assert np.all(np.isfinite(dx))


@settings(max_examples=15, deadline=None)
@given(size=sizes, margin=st.sampled_from([0.5, 1.0, 2.0]))
def test_multiclass_hinge_is_torch_multi_margin_times_k(size, margin):
    x, y, _ = _scores(*size)
    k = x.shape[1]
    _check(
        lambda x, y: F.multiclass_hinge_loss(x, y, margin),
        lambda t, y: k * TF.multi_margin_loss(t, y, margin=margin),
        x, y,
    )  # fmt: skip


@settings(max_examples=15, deadline=None)
@given(size=sizes)
def test_sigmoid_bce(size):
    x, _, t = _scores(*size, scale=10.0)
    _check(F.sigmoid_bce_loss, TF.binary_cross_entropy_with_logits, x, t)


def _torch_focal(x, t, gamma, alpha):
    # Lin et al. 2017, eq. 5, written out in torch ops (torchvision's sigmoid_focal_loss, mean)
    p = torch.sigmoid(x)
    ce = TF.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss.mean()


@settings(max_examples=15, deadline=None)
@given(size=sizes, gamma=st.sampled_from([0.0, 1.0, 2.0, 3.5]), alpha=st.sampled_from([None, 0.25]))
def test_focal_loss(size, gamma, alpha):
    x, _, t = _scores(*size)
    _check(
        lambda x, t: F.focal_loss(x, t, gamma, alpha),
        lambda a, b: _torch_focal(a, b, gamma, alpha),
        x, t,
    )  # fmt: skip


def test_focal_with_gamma_zero_is_bce():
    x, _, t = _scores(4, 3, 0)
    assert F.focal_loss(x, t, gamma=0.0, alpha=None)[0] == pytest.approx(F.sigmoid_bce_loss(x, t)[0], rel=1e-12)


def test_bad_labels():
    with pytest.raises(ValueError, match=r"labels shape \(3,\) must be \(2,\)"):
        F.softmax_cross_entropy_loss(np.zeros((2, 4)), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        F.multiclass_hinge_loss(np.zeros((2, 4)), np.array([0, 4]))
    with pytest.raises(ValueError, match=r"targets shape"):
        F.sigmoid_bce_loss(np.zeros((2, 4)), np.zeros((2, 3)))
