"""GoogLeNet against table 1 and §5 of Szegedy et al. 2015."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.lrn import LocalResponseNorm
from cnnzoo.models.googlenet import AUX_LOSS_WEIGHT, GoogLeNetOutputs

# Table 1: output size of every stage at 224×224.
TABLE_1_OUTPUTS = {
    "inception3a": (256, 28, 28),
    "inception3b": (480, 28, 28),
    "pool3": (480, 14, 14),
    "inception4a": (512, 14, 14),
    "inception4b": (512, 14, 14),
    "inception4c": (512, 14, 14),
    "inception4d": (528, 14, 14),
    "inception4e": (832, 14, 14),
    "pool4": (832, 7, 7),
    "inception5a": (832, 7, 7),
    "inception5b": (1024, 7, 7),
}


def _meta(**kwargs):
    with torch.device("meta"):
        return cnnzoo.create("googlenet", **kwargs)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_stage_outputs_follow_table_1():
    model = _meta().eval()
    x = torch.empty(1, 3, 224, 224, device="meta")
    stem = {}
    for name, layer in model.stem.named_children():
        x = layer(x)
        stem[name] = tuple(x.shape[1:])
    assert stem["conv1"] == (64, 112, 112) and stem["pool1"] == (64, 56, 56)
    assert stem["conv2"] == (192, 56, 56) and stem["pool2"] == (192, 28, 28)
    for name, size in TABLE_1_OUTPUTS.items():
        x = getattr(model, name)(x)
        assert tuple(x.shape[1:]) == size, name


def test_real_5x5_branches_lrn_and_no_batch_norm():
    model = _meta()
    wide = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (5, 5)]
    assert len(wide) == 9  # one per Inception module (the aux heads have none)
    assert wide[0].in_channels == 16 and wide[0].out_channels == 32  # 3a: #5×5 reduce 16, #5×5 32
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    lrns = [m for m in model.modules() if isinstance(m, LocalResponseNorm)]
    assert len(lrns) == 2
    assert model.dropout.p == 0.4


def test_parameters_without_aux_about_7_million():
    model = _meta(aux_logits=False)
    # ~7.0M (table 1 sums to 6.8M; secondary summaries say 6.977M).
    assert 6.8e6 <= _count(model) <= 7.05e6
    assert model.aux1 is None and model.aux2 is None


def test_each_aux_head_about_3_2_million_and_built_as_section_5_says():
    model = _meta(aux_logits=True)
    for aux in (model.aux1, model.aux2):
        assert abs(_count(aux) - 3.2e6) <= 0.05e6
        assert aux.conv.conv.out_channels == 128 and aux.conv.conv.kernel_size == (1, 1)
        assert aux.fc1.out_features == 1024
        assert aux.dropout.p == 0.7
    assert (model.aux1.conv.conv.in_channels, model.aux2.conv.conv.in_channels) == (512, 528)  # 4a, 4d
    assert _count(model) == _count(_meta(aux_logits=False)) + _count(model.aux1) + _count(model.aux2)
    assert AUX_LOSS_WEIGHT == 0.3


def test_multiply_accumulates_about_1_5g():
    report = cnnzoo.analyze(_meta(aux_logits=False), input_size=(3, 224, 224))
    # Table 1's ops column sums to 1.5G with conv1 at 34M; a 7×7×3 → 64 conv at 112×112 is 118M.
    conv1 = 7 * 7 * 3 * 64 * 112 * 112
    assert abs(report.macs - (conv1 - 34e6) - 1.5e9) <= 0.05e9


def test_aux_outputs_in_training_only():
    torch.manual_seed(0)
    model = cnnzoo.create("googlenet", num_classes=6, aux_logits=True)
    x = torch.randn(2, 3, 48, 48)
    out = model.train()(x)
    assert isinstance(out, GoogLeNetOutputs) and len(out) == 3
    assert [tuple(o.shape) for o in out] == [(2, 6)] * 3
    loss = sum(w * o.logsumexp(1).mean() for w, o in zip((1.0, AUX_LOSS_WEIGHT, AUX_LOSS_WEIGHT), out, strict=True))
    loss.backward()
    assert model.aux1.fc2.weight.grad is not None
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 6)
    plain = cnnzoo.create("googlenet", num_classes=6, aux_logits=False).train()
    assert isinstance(plain(x), torch.Tensor)


def test_aux_head_pools_14x14_to_4x4():
    model = _meta(aux_logits=True)
    seen = {}

    def record(module, inputs, output):
        seen["in"] = tuple(inputs[0].shape)

    model.aux1.conv.register_forward_hook(record)
    model.train()(torch.empty(1, 3, 224, 224, device="meta"))
    assert seen["in"] == (1, 512, 4, 4)


def test_bn_variant():
    model = _meta(bn=True)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == len(convs)
    assert all(c.bias is None for c in convs)
    assert not any(isinstance(m, LocalResponseNorm) for m in model.modules())
    assert any(c.kernel_size == (5, 5) for c in convs)  # the 5×5 branches stay 5×5


def test_initialisation_and_input_checks():
    torch.manual_seed(0)
    model = cnnzoo.create("googlenet", num_classes=10, aux_logits=False)
    conv = model.inception4a.branch3x3[1].conv  # 96 → 208, 3×3
    bound = (3.0 / (96 * 9)) ** 0.5
    assert conv.weight.abs().max().item() <= bound
    assert torch.all(conv.bias == 0.2) and torch.all(model.fc.bias == 0)
    with pytest.raises(ValueError, match="31"):
        model.eval()(torch.randn(1, 3, 30, 30))
    with pytest.raises(ValueError, match="channel"):
        model(torch.randn(1, 1, 64, 64))


# Table 1, ops column (millions of multiply-accumulates) per Inception module.
TABLE_1_OPS = {"3a": 128, "3b": 304, "4a": 73, "4b": 88, "4c": 100, "4d": 119, "4e": 170, "5b": 71}


def test_module_costs_follow_the_ops_column_of_table_1():
    model = _meta().eval()
    macs = {}

    def count(name):
        def hook(module, inputs, output):
            macs[name] = macs.get(name, 0) + module.weight.numel() * output.shape[-2] * output.shape[-1]

        return hook

    for name in [*TABLE_1_OPS, "5a"]:
        for m in getattr(model, f"inception{name}").modules():
            if isinstance(m, nn.Conv2d):
                m.register_forward_hook(count(name))
    model(torch.empty(1, 3, 224, 224, device="meta"))
    for name, ops in TABLE_1_OPS.items():
        assert abs(macs[name] / 1e6 - ops) < 1.0, name
    # 5a prints 54M, but its own columns (832 maps at 7×7 into 256, 160→320, 32→128, 128) give 51M.
    five_a = 49 * (832 * 256 + 832 * 160 + 9 * 160 * 320 + 832 * 32 + 25 * 32 * 128 + 832 * 128)
    assert macs["5a"] == five_a
