"""Global context block (Cao et al. 2019, figure 4d)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.layers.global_context import GlobalContext


def test_identity_at_initialisation():
    torch.manual_seed(0)
    gc = GlobalContext(32)
    x = torch.randn(2, 32, 5, 7)
    torch.testing.assert_close(gc(x), x)


def test_uniform_attention_pools_the_mean():
    gc = GlobalContext(8, reduction=2)
    nn.init.zeros_(gc.conv_mask.weight)
    nn.init.zeros_(gc.conv_mask.bias)
    x = torch.randn(3, 8, 4, 6)
    torch.testing.assert_close(gc.context(x), x.mean((2, 3), keepdim=True))


def test_context_is_softmax_weighted_and_added_everywhere():
    torch.manual_seed(0)
    gc = GlobalContext(8, reduction=2)
    nn.init.normal_(gc.transform.conv2.weight)
    x = torch.randn(2, 8, 3, 3)
    logits = gc.conv_mask(x).flatten(2)  # N x 1 x 9
    w = logits.softmax(-1)
    ctx = (x.flatten(2) * w).sum(-1)[..., None, None]
    torch.testing.assert_close(gc.context(x), ctx)
    delta = gc(x) - x
    torch.testing.assert_close(
        delta, delta[:, :, :1, :1].expand_as(delta)
    )  # same at every position


def test_parameter_count_formula():
    c, r = 256, 16
    gc = GlobalContext(c, reduction=r)
    n = sum(p.numel() for p in gc.parameters())
    assert n == (c + 1) + (c * c // r + c // r) + 2 * c // r + (c // r * c + c)
    assert isinstance(gc.transform.ln, nn.LayerNorm)
    with pytest.raises(ValueError, match="reduction"):
        GlobalContext(8, reduction=16)
