"""DenseNet against Huang et al. 2017 (arXiv:1608.06993; tables 1 and 2)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.dense_block import DenseBlock, Transition


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())



@pytest.mark.parametrize(
    ("kwargs", "millions"),
    [
        # Table 2, CIFAR-10 (10 classes). DenseNet: no bottleneck, no compression.
        ({"depth": 40, "growth_rate": 12, "bottleneck": False, "compression": 1.0}, 1.0),
        ({"depth": 100, "growth_rate": 12, "bottleneck": False, "compression": 1.0}, 7.0),
        ({"depth": 100, "growth_rate": 24, "bottleneck": False, "compression": 1.0}, 27.2),
        # DenseNet-BC.
        ({"depth": 100, "growth_rate": 12}, 0.8),
        ({"depth": 250, "growth_rate": 24}, 15.3),
        ({"depth": 190, "growth_rate": 40}, 25.6),
    ],
)
def test_cifar_parameter_counts_of_table_2(kwargs, millions):
    with torch.device("meta"):
        m = cnnzoo.create("densenet_cifar", **kwargs)
    assert abs(_params(m) - millions * 1e6) <= 0.05e6


@pytest.mark.parametrize(
    ("name", "k", "blocks"),
    [
        ("densenet121", 32, (6, 12, 24, 16)),
        ("densenet161", 48, (6, 12, 36, 24)),
        ("densenet169", 32, (6, 12, 32, 32)),
        ("densenet201", 32, (6, 12, 48, 32)),
        ("densenet264", 32, (6, 12, 64, 48)),
    ],
)
def test_imagenet_configurations_of_table_1(name, k, blocks):
    with torch.device("meta"):
        m = cnnzoo.create(name)
    dense = [b for b in m.features.children() if isinstance(b, DenseBlock)]
    assert tuple(len(b) for b in dense) == blocks
    assert m.features.conv0.out_channels == 2 * k
    layer = dense[0]["denselayer1"]
    assert layer.conv1.out_channels == 4 * k and layer.conv2.out_channels == k
    # Compression 0.5 at every transition.
    for t in (c for c in m.features.children() if isinstance(c, Transition)):
        assert t.conv.out_channels == t.conv.in_channels // 2


def test_densenet121_stage_resolutions():
    with torch.device("meta"):
        m = cnnzoo.create("densenet121").eval()
        x = torch.empty(1, 3, 224, 224)
        sizes = {}
        for name, layer in m.features.named_children():
            x = layer(x)
            if name.startswith("denseblock"):
                sizes[name] = tuple(x.shape[1:])
    # Table 1: 56, 28, 14, 7; channels 64 + 6·32 = 256, 128 + 12·32 = 512, 256 + 24·32 = 1024, 512 + 16·32.
    assert sizes == {
        "denseblock1": (256, 56, 56),
        "denseblock2": (512, 28, 28),
        "denseblock3": (1024, 14, 14),
        "denseblock4": (1024, 7, 7),
    }


def test_cifar_variants_b_and_c():
    with torch.device("meta"):
        b = cnnzoo.create("densenet_cifar", depth=100, growth_rate=12, bottleneck=True, compression=1.0)
        c = cnnzoo.create("densenet_cifar", depth=40, growth_rate=12, bottleneck=False, compression=0.5)
        plain = cnnzoo.create("densenet_cifar", depth=40, growth_rate=12, bottleneck=False, compression=1.0)
    blocks_b = [x for x in b.features.children() if isinstance(x, DenseBlock)]
    assert [len(x) for x in blocks_b] == [16, 16, 16]  # (100 - 4) / 6
    assert blocks_b[0]["denselayer1"].conv1.kernel_size == (1, 1)
    # DenseNet-C halves the channels at each transition: fewer parameters than DenseNet.
    t = [x for x in c.features.children() if isinstance(x, Transition)]
    assert [x.conv.out_channels * 2 for x in t] == [x.conv.in_channels for x in t]
    assert _params(c) < _params(plain)
    # 16 initial channels for DenseNet, 2k for DenseNet-BC (§3).
    assert plain.features.conv0.out_channels == 16
    with torch.device("meta"):
        bc = cnnzoo.create("densenet_cifar", depth=100, growth_rate=12)
    assert bc.features.conv0.out_channels == 24


def _pair(**kwargs):
    torch.manual_seed(0)
    plain = cnnzoo.create("densenet_cifar", **kwargs).double().train()
    efficient = cnnzoo.create("densenet_cifar", memory_efficient=True, **kwargs).double().train()
    efficient.load_state_dict(plain.state_dict())
    return plain, efficient


@pytest.mark.parametrize("bottleneck", [True, False])
def test_memory_efficient_mode_gives_the_same_outputs_and_gradients(bottleneck):
    plain, efficient = _pair(depth=16, growth_rate=4, bottleneck=bottleneck, compression=0.5)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, out_b = plain(xa), efficient(xb)
    torch.testing.assert_close(out_b, out_a, rtol=0, atol=1e-6)
    g = torch.randn_like(out_a)
    out_a.backward(g)
    out_b.backward(g)
    torch.testing.assert_close(xb.grad, xa.grad, rtol=0, atol=1e-6)
    for (name, pa), pb in zip(plain.named_parameters(), efficient.parameters(), strict=True):
        torch.testing.assert_close(pb.grad, pa.grad, rtol=0, atol=1e-6, msg=name)
    # BN running statistics are updated once, not once more by the recomputation.
    for (name, ba), bb in zip(plain.named_buffers(), efficient.buffers(), strict=True):
        torch.testing.assert_close(bb, ba, rtol=0, atol=1e-12, msg=name)


def test_memory_efficient_mode_in_eval_and_without_grad():
    plain, efficient = _pair(depth=16, growth_rate=4)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(efficient.eval()(x), plain.eval()(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 41}, "depth"),
        ({"depth": 43, "bottleneck": True}, "6n"),
        ({"compression": 0.0}, "compression"),
        ({"compression": 1.5}, "compression"),
    ],
)
def test_bad_arguments(kwargs, match):
    with torch.device("meta"), pytest.raises(ValueError, match=match):
        cnnzoo.create("densenet_cifar", **kwargs)


def test_any_size_in_chans_and_too_small_input():
    with torch.device("meta"):
        m = cnnzoo.create("densenet121", num_classes=5, in_chans=1).eval()
        assert m(torch.empty(2, 1, 97, 64)).shape == (2, 5)
        with pytest.raises(ValueError, match="29"):
            m(torch.empty(1, 1, 28, 28))
