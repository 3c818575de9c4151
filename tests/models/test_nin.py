"""NiN in d2l's ImageNet form (Lin et al. 2014; d2l §8.3)."""

import pytest
import torch
from torch import nn

import cnnzoo

# d2l prints these for a 1×224×224 input and 10 classes.
D2L_SHAPES = [
    (96, 54, 54),
    (96, 26, 26),
    (256, 26, 26),
    (256, 12, 12),
    (384, 12, 12),
    (384, 5, 5),
    (384, 5, 5),
    (10, 5, 5),
    (10, 1, 1),
    (10,),
]


def _meta(**kwargs):
    with torch.device("meta"):
        return cnnzoo.create("nin", **kwargs)


def test_layer_shapes_of_d2l():
    model = _meta(num_classes=10, in_chans=1).eval()
    x = torch.empty(1, 1, 224, 224, device="meta")
    shapes = []
    for layer in model.net:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == D2L_SHAPES


def test_nin_blocks_are_a_conv_and_two_1x1_with_relu_and_no_fc_layer():
    model = _meta()
    blocks = [m for m in model.net if isinstance(m, nn.Sequential)]
    assert len(blocks) == 4
    for block, k in zip(blocks, (11, 5, 3, 3), strict=True):
        kinds = [type(m) for m in block]
        assert kinds == [nn.Conv2d, nn.ReLU] * 3
        assert [block[i].kernel_size for i in (0, 2, 4)] == [(k, k), (1, 1), (1, 1)]
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    assert isinstance(model.net[-2], nn.AdaptiveAvgPool2d)
    assert blocks[-1][-2].out_channels == 1000  # one map per class


def test_trains_on_a_small_input_and_checks_size():
    torch.manual_seed(0)
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared cores: avoid spinning threads
    try:
        model = cnnzoo.create("nin", num_classes=10, in_chans=1)
        out = model(torch.randn(2, 1, 67, 67))
        out.logsumexp(1).mean().backward()
        assert out.shape == (2, 10)
        assert all(p.grad is not None for p in model.parameters())
        with pytest.raises(ValueError, match="67"):
            model(torch.randn(1, 1, 66, 66))
    finally:
        torch.set_num_threads(n)
