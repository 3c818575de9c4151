"""Losses against their formulas and torch's reference implementations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.train.losses import (
    build_loss,
    focal_loss,
    l1_penalty,
    multiclass_hinge,
    smoothed_targets,
)


def test_label_smoothing_is_q_formula():
    torch.manual_seed(0)
    z, y, eps, k = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0]), 0.1, 5
    q = smoothed_targets(y, k, eps)
    # Inception v3 §7: q'(k) = (1 − ε) δ_{k,y} + ε / K
    assert torch.allclose(q[0], torch.tensor([0.9 + 0.02, 0.02, 0.02, 0.02, 0.02]))
    expected = -(q * F.log_softmax(z, 1)).sum(1).mean()
    assert torch.allclose(build_loss("cross_entropy", label_smoothing=eps)(z, y), expected, atol=1e-6)


def test_hinge_matches_multi_margin_loss():
    torch.manual_seed(1)
    z, y = torch.randn(8, 4), torch.randint(0, 4, (8,))
    assert torch.allclose(multiclass_hinge(z, y), nn.MultiMarginLoss()(z, y), atol=1e-6)
    # by hand for one sample: scores (2, 1.5, −1), y = 0 → max(0, 1 − 2 + 1.5) / 3
    assert multiclass_hinge(torch.tensor([[2.0, 1.5, -1.0]]), torch.tensor([0])).item() == pytest.approx(0.5 / 3)


def test_focal_loss():
    torch.manual_seed(2)
    z, y = torch.randn(8, 3), torch.randint(0, 3, (8,))
    assert torch.allclose(focal_loss(z, y, gamma=0.0), F.cross_entropy(z, y), atol=1e-6)
    p = F.softmax(z, 1).gather(1, y[:, None]).squeeze(1)
    assert torch.allclose(focal_loss(z, y, gamma=2.0), (-(1 - p) ** 2 * p.log()).mean(), atol=1e-6)


def test_bce_and_l1():
    z, t = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    expected = -(torch.log(torch.sigmoid(torch.tensor(0.0))) + torch.log(1 - torch.sigmoid(torch.tensor(2.0)))) / 2
    assert build_loss("bce")(z, t).item() == pytest.approx(expected.item(), rel=1e-6)
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    assert l1_penalty(m).item() == pytest.approx(3.5)  # weights only: no bias, no BN
    with pytest.raises(ValueError, match="accepted: cross_entropy, hinge, focal, bce"):
        build_loss("mse")
