"""Gradient clipping by value: every element the optimizer sees lies in [-v, v].

Clipping by value sets a gradient element below -v to -v and one above v to
v (e.g. v = 1: the range (-1, 1)), as ``torch.nn.utils.clip_grad_value_``
does. The gradients are read at the moment the optimizer steps, which is
after any clipping and, under a GradScaler, after ``unscale_``.
"""

from __future__ import annotations

import torch

from cnnzoo.train.fit import train_step
from cnnzoo.train.setup import setup


def _grads_at_step(run, x, y) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []

    def record(optimizer, args, kwargs):
        seen.extend(
            p.grad.detach().clone()
            for g in optimizer.param_groups
            for p in g["params"]
            if p.grad is not None
        )

    handle = run.optimizer.register_step_pre_hook(record)
    train_step(run, x, y)
    handle.remove()
    return seen


def _run(tmp_path, quick, name, **kw):
    torch.manual_seed(0)
    run = setup(quick(tmp_path / name, **kw))
    loss = run.loss
    run.loss = lambda outputs, y: 1e4 * loss(outputs, y)  # a huge loss: raw gradients far beyond 1
    return run


def _batch(run):
    x, y = next(iter(run.train_loader))
    return x, y


def test_gradients_clamped_to_the_value_and_raw_ones_are_not(tmp_path, quick):
    raw = _run(tmp_path, quick, "raw")
    x, y = _batch(raw)
    unclipped = _grads_at_step(raw, x, y)
    assert max(float(g.abs().max()) for g in unclipped) > 1.0  # else the test proves nothing

    run = _run(tmp_path, quick, "v", clip_grad_value=1.0)
    clipped = _grads_at_step(run, x, y)
    assert max(float(g.abs().max()) for g in clipped) <= 1.0
    for g, ref in zip(clipped, unclipped, strict=True):  # clamped, not rescaled
        assert torch.allclose(g, ref.clamp(-1.0, 1.0), rtol=1e-5, atol=1e-6)


def test_under_a_grad_scaler_the_clip_follows_unscale(tmp_path, quick):
    plain = _run(tmp_path, quick, "plain", clip_grad_value=0.5)
    x, y = _batch(plain)
    expected = _grads_at_step(plain, x, y)

    scaled = _run(tmp_path, quick, "scaled", clip_grad_value=0.5)
    scaled.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    got = _grads_at_step(scaled, x, y)
    # Clipping the scaled gradients would leave them ~2^12 times too small.
    for g, ref in zip(got, expected, strict=True):
        assert torch.allclose(g, ref, rtol=1e-4, atol=1e-6)
    assert max(float(g.abs().max()) for g in got) == 0.5


def test_the_option_is_declared_for_the_command_line():
    from cnnzoo.train.config import TrainConfig, settings

    assert "clip_grad_value" in settings()
    assert TrainConfig(clip_grad_value=1.0).clip_grad_value == 1.0
