"""Inception v3 (Szegedy et al. 2016, the released model) at 299×299."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.models.inception_v3 import InceptionV3Outputs


def _meta(**kwargs):
    with torch.device("meta"):
        return cnnzoo.create("inception_v3", **kwargs)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_stem_and_grid_sizes():
    model = _meta().eval()
    x = torch.empty(1, 3, 299, 299, device="meta")
    sizes = []
    for layer in model.stem:
        x = layer(x)
        sizes.append(tuple(x.shape[1:]))
    # conv 3×3/2, conv 3×3, padded conv 3×3, pool, 1×1, conv 3×3, pool.
    assert [s[1] for s in sizes] == [149, 147, 147, 73, 73, 71, 35]
    assert sizes[-1] == (192, 35, 35)
    x = model.stage35(x)
    assert tuple(x.shape[1:]) == (288, 35, 35)
    x = model.reduction_a(x)
    assert tuple(x.shape[1:]) == (768, 17, 17)
    x = model.stage17(x)
    assert tuple(x.shape[1:]) == (768, 17, 17)
    x = model.reduction_b(x)
    assert tuple(x.shape[1:]) == (1280, 8, 8)
    x = model.stage8(x)
    assert tuple(x.shape[1:]) == (2048, 8, 8)


def test_module_counts_and_factorised_kernels():
    model = _meta()
    assert (len(model.stage35), len(model.stage17), len(model.stage8)) == (3, 4, 2)
    kernels17 = {m.kernel_size for m in model.stage17.modules() if isinstance(m, nn.Conv2d)}
    assert kernels17 == {(1, 1), (1, 7), (7, 1)}  # 7×7 factorised into 1×7 and 7×1
    kernels8 = {m.kernel_size for m in model.stage8.modules() if isinstance(m, nn.Conv2d)}
    assert kernels8 == {(1, 1), (3, 3), (1, 3), (3, 1)}
    stem = [m.kernel_size for m in model.stem.modules() if isinstance(m, nn.Conv2d)]
    assert max(k[0] for k in stem) == 3  # no 7×7 in the stem
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_parameters_23_8m_and_counting_convention():
    model = _meta(aux_logits=False)
    n = _count(model)
    assert abs(n - 23.8e6) <= 0.05e6
    # Keras counts 23,817,352 trainable parameters: the same network with BatchNorm without γ.
    bn_channels = sum(m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert n - bn_channels == 23_817_352
    # The Xception paper's 23,626,728 is within 1% of ours.
    assert abs(n - 23_626_728) / 23_626_728 < 0.01


def test_multiply_accumulates_5_7g():
    report = cnnzoo.analyze(_meta(aux_logits=False), input_size=(3, 299, 299))
    assert abs(report.macs / 1e9 - 5.7) <= 0.05


def test_aux_head_in_training_mode_only():
    model = _meta(num_classes=11, aux_logits=True)
    aux = model.aux
    assert aux.conv0.conv.out_channels == 128 and aux.conv1.conv.kernel_size == (5, 5)
    assert _count(model) == _count(_meta(num_classes=11, aux_logits=False)) + _count(aux)
    x = torch.empty(2, 3, 299, 299, device="meta")
    out = model.train()(x)
    assert isinstance(out, InceptionV3Outputs) and [tuple(o.shape) for o in out] == [(2, 11)] * 2
    assert model.eval()(x).shape == (2, 11)


def test_real_pass_at_the_smallest_size():
    torch.manual_seed(0)
    model = cnnzoo.create("inception_v3", num_classes=4, aux_logits=True)
    logits, aux = model.train()(torch.randn(2, 3, 75, 75))
    (logits.square().mean() + 0.4 * aux.square().mean()).backward()
    assert model.aux.fc.weight.grad is not None and model.fc.weight.grad is not None
    with pytest.raises(ValueError, match="75"):
        model(torch.randn(1, 3, 74, 74))
