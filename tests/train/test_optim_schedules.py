"""AdaBound, the optimizers by name and the reduce-on-plateau schedule."""

from __future__ import annotations

import math

import pytest
import torch

from cnnzoo.train.adabound import AdaBound
from cnnzoo.train.optim import OPTIMIZERS, build_optimizer
from cnnzoo.train.schedules import build_schedule, plateau_factor


def test_adabound_follows_algorithm_2():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = AdaBound([p], lr=0.01, final_lr=0.1, gamma=1e-3)
    m = v = torch.zeros(2)
    w = p.detach().clone()
    for t in range(1, 4):
        g = 2 * w  # gradient of Σ w²
        p.grad = g.clone()
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = 0.01 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        lo, hi = 0.1 * (1 - 1 / (1e-3 * t + 1)), 0.1 * (1 + 1 / (1e-3 * t))
        w = w - (step / (v.sqrt() + 1e-8)).clamp(lo, hi) * m
        assert torch.allclose(p.detach(), w, atol=1e-7)


def test_adabound_tends_to_sgd():
    # For large t both bounds approach final_lr: the step is final_lr · m, SGD with momentum.
    p = torch.nn.Parameter(torch.tensor([3.0]))
    opt = AdaBound([p], lr=1e-3, final_lr=0.1, gamma=1e-3)
    p.grad = torch.tensor([1.0])
    opt.step()
    opt.state[p]["step"].fill_(1e9)
    before = p.detach().clone()
    m_next = 0.9 * opt.state[p]["exp_avg"] + 0.1 * 1.0
    opt.step()
    assert torch.allclose(before - p.detach(), 0.1 * m_next, rtol=1e-4)
    sd = opt.state_dict()
    opt2 = AdaBound([torch.nn.Parameter(torch.tensor([0.0]))], lr=5.0)
    opt2.load_state_dict(sd)
    assert opt2.base_lrs == [1e-3]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_descends(name):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5))
    opt = build_optimizer(name, [w])
    start = float((w**2).sum().detach())
    for _ in range(30):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w**2).sum().detach()) < start


def test_reduce_on_plateau_divides_by_ten_and_resumes():
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.01)
    sched = build_schedule("plateau", opt, 100, 10, patience=2)
    f = plateau_factor(sched)
    for score in (0.5, 0.6, 0.6, 0.6):  # improves twice, then two flat epochs: within patience
        f.observe(score)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    f.observe(0.6)  # a third epoch without improvement: AlexNet's "divide by 10"
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001)
    # The factor's state travels in LambdaLR's state_dict.
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    sched2 = build_schedule("plateau", opt2, 100, 10, patience=2)
    sched2.load_state_dict(sched.state_dict())
    f2 = plateau_factor(sched2)
    assert (f2.scale, f2.best, f2.bad_epochs) == (pytest.approx(0.1), 0.6, 0)
