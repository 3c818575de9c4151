"""Every optimizer against torch.optim, step for step, for 100 steps; AdaBound against its rule."""

import math

import numpy as np
import pytest
import torch

from cnnzoo.scratch import optim
from cnnzoo.scratch.gradcheck import rel_error
from cnnzoo.scratch.layers import Parameter

STEPS = 100
TOL = 1e-10

# A small non-quadratic problem: L = ½‖Aθ - b‖² + ¼ Σ θ⁴, two parameter arrays.
_rng = np.random.default_rng(0)
A = _rng.standard_normal((8, 6))
B = _rng.standard_normal(8)
THETA0 = [_rng.standard_normal(4), _rng.standard_normal((2,))]


def _grads(thetas):
    theta = np.concatenate([t.ravel() for t in thetas])
    g = A.T @ (A @ theta - B) + theta**3
    return [g[:4], g[4:]]


CASES = [
    ("SGD", {"lr": 0.02}),
    ("SGD", {"lr": 0.02, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.01, "momentum": 0.9}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.02}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("Adam", {"lr": 0.02, "amsgrad": True}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.02, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.02}),
    ("NAdam", {"lr": 0.02, "momentum_decay": 0.01, "weight_decay": 0.1}),
]


@pytest.fixture
def float64_bookkeeping():
    # torch keeps scalar optimizer state (NAdam's running product of μ_t, step counts) in the
    # default dtype; float32 there would put 1e-8 of rounding into a float64 comparison
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch_step_for_step(float64_bookkeeping, name, kwargs):
    ours = [Parameter(t.copy()) for t in THETA0]
    theirs = [torch.tensor(t.copy(), requires_grad=True) for t in THETA0]
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(STEPS):
        for p, g in zip(ours, _grads([p.data for p in ours]), strict=True):
            p.grad[...] = g
        for p, g in zip(theirs, _grads([p.detach().numpy() for p in theirs]), strict=True):
            p.grad = torch.tensor(g)
        opt.step()
        ref.step()
        for p, q in zip(ours, theirs, strict=True):
            assert rel_error(p.data, q.detach().numpy()) < TOL, f"step {step + 1}"
    # and it optimises: the loss went down
    assert np.linalg.norm(np.concatenate(_grads([p.data for p in ours]))) < np.linalg.norm(np.concatenate(_grads(THETA0)))


def _adabound_reference(theta0, steps, lr, final_lr, gamma, b1, b2, eps, sqrt_t):
    """Luo et al. 2019 written out: Adam moments, step size clipped into [η_l(t), η_u(t)]."""
    thetas = [t.copy() for t in theta0]
    m = [np.zeros_like(t) for t in thetas]
    v = [np.zeros_like(t) for t in thetas]
    for t in range(1, steps + 1):
        for i, g in enumerate(_grads(thetas)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g**2
            eta_l = final_lr * (1 - 1 / (gamma * t + 1))
            eta_u = final_lr * (1 + 1 / (gamma * t))
            alpha_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            eta = np.clip(alpha_t / (np.sqrt(v[i]) + eps), eta_l, eta_u)
            if sqrt_t:
                eta = eta / math.sqrt(t)
            thetas[i] = thetas[i] - eta * m[i]
    return thetas


@pytest.mark.parametrize("sqrt_t", [False, True])
def test_adabound_follows_the_paper_rule(sqrt_t):
    kw = {"lr": 0.02, "final_lr": 0.05, "gamma": 0.01}
    ours = [Parameter(t.copy()) for t in THETA0]
    opt = optim.AdaBound(ours, **kw, sqrt_t_decay=sqrt_t)
    for _ in range(STEPS):
        for p, g in zip(ours, _grads([p.data for p in ours]), strict=True):
            p.grad[...] = g
        opt.step()
    expected = _adabound_reference(THETA0, STEPS, 0.02, 0.05, 0.01, 0.9, 0.999, 1e-8, sqrt_t)
    for p, e in zip(ours, expected, strict=True):
        assert rel_error(p.data, e) < TOL


def test_adabound_bounds_converge_to_final_lr():
    t = 1e6
    gamma, final_lr = 1e-3, 0.1
    assert final_lr * (1 - 1 / (gamma * t + 1)) == pytest.approx(final_lr, rel=1e-3)
    assert final_lr * (1 + 1 / (gamma * t)) == pytest.approx(final_lr, rel=1e-3)


def test_create_optimizer_by_name_and_bad_input():
    params = [Parameter(np.zeros(3))]
    assert isinstance(optim.create_optimizer("nesterov", params), optim.SGD)
    assert optim.create_optimizer("amsgrad", params).amsgrad
    with pytest.raises(ValueError, match="optimizer must be one of"):
        optim.create_optimizer("lion", params)
    with pytest.raises(ValueError, match="lr and weight_decay must be >= 0"):
        optim.Adam(params, lr=-1)
