"""AlexNet against the textbook single-tower table and Krizhevsky et al. 2012 (two towers)."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.lrn import LocalResponseNorm

# Textbook single-tower table: conv1…conv5, fc6 (its 6×6 "conv6"), fc7, fc8.
TEXTBOOK_LAYER_PARAMS = [34_944, 614_656, 885_120, 1_327_488, 884_992, 37_752_832, 16_781_312, 4_097_000]
TEXTBOOK_OUTPUT_SIZES = {
    "conv1": (96, 55, 55),
    "pool1": (96, 27, 27),
    "conv2": (256, 27, 27),
    "pool2": (256, 13, 13),
    "conv3": (384, 13, 13),
    "conv4": (384, 13, 13),
    "conv5": (256, 13, 13),
    "pool5": (256, 6, 6),
}


def _meta(**kwargs):
    with torch.device("meta"):
        return cnnzoo.create("alexnet", **kwargs)


def _weighted_layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_single_tower_reproduces_every_textbook_count():
    model = _meta(towers=1)
    assert [_count(m) for m in _weighted_layers(model)] == TEXTBOOK_LAYER_PARAMS
    assert _count(model) == 62_378_344


def test_two_towers_is_the_papers_61_million():
    model = _meta()
    assert model.towers == 2
    groups = {n: m.groups for n, m in model.features.named_children() if isinstance(m, nn.Conv2d)}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    assert abs(_count(model) - 61.0e6) <= 0.05e6
    # Halving conv2/4/5 is the whole difference from the single tower.
    assert 62_378_344 - _count(model) == (614_656 - 256) // 2 + (1_327_488 - 384) // 2 + (884_992 - 256) // 2


@pytest.mark.parametrize("towers", [1, 2])
def test_output_sizes_follow_the_textbook_table(towers):
    model = _meta(towers=towers).eval()
    x = torch.empty(1, 3, 227, 227, device="meta")
    seen = {}
    for name, layer in model.features.named_children():
        x = layer(x)
        seen[name] = tuple(x.shape[1:])
    assert {k: seen[k] for k in TEXTBOOK_OUTPUT_SIZES} == TEXTBOOK_OUTPUT_SIZES
    widths = [m.out_features for m in model.classifier if isinstance(m, nn.Linear)]
    assert widths == [4096, 4096, 1000]
    assert model(torch.empty(2, 3, 227, 227, device="meta")).shape == (2, 1000)


def test_lrn_pooling_and_dropout_as_in_the_paper():
    f = _meta().features
    names = list(f._modules)
    # ReLU, then response normalisation, then pooling, after conv1 and conv2.
    assert names[:8] == ["conv1", "relu1", "lrn1", "pool1", "conv2", "relu2", "lrn2", "pool2"]
    for lrn in (f.lrn1, f.lrn2):
        assert isinstance(lrn, LocalResponseNorm)
        assert (lrn.k, lrn.size, lrn.alpha, lrn.beta) == (2.0, 5, 1e-4, 0.75)
    for pool in (f.pool1, f.pool2, f.pool5):  # overlapping: z = 3 > s = 2
        assert (pool.kernel_size, pool.stride) == (3, 2)
    drops = [m.p for m in _meta().classifier if isinstance(m, nn.Dropout)]
    assert drops == [0.5, 0.5]
    # One normalisation per tower (each GPU held half the maps), across all maps with one tower.
    assert (f.lrn1.groups, f.lrn2.groups) == (2, 2)
    single = _meta(towers=1).features
    assert (single.lrn1.groups, single.lrn2.groups) == (1, 1)
    no_lrn = _meta(lrn=False)
    assert not any(isinstance(m, LocalResponseNorm) for m in no_lrn.modules())
    assert _count(no_lrn) == _count(_meta())


def test_initialisation_of_section_5():
    torch.manual_seed(0)
    model = cnnzoo.create("alexnet", num_classes=10)
    ones = {"conv2", "conv4", "conv5", "fc6", "fc7"}
    layers = dict(model.features.named_children()) | dict(model.classifier.named_children())
    for name, m in layers.items():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert torch.all(m.bias == (1.0 if name in ones else 0.0)), name
            if m.weight.numel() > 10_000:
                assert m.weight.std().item() == pytest.approx(0.01, rel=0.05), name
                assert abs(m.weight.mean().item()) < 1e-3


def test_other_sizes_and_bad_options():
    model = _meta(num_classes=5, in_chans=1).eval()
    assert model(torch.empty(1, 1, 67, 67, device="meta")).shape == (1, 5)
    assert model(torch.empty(1, 1, 320, 256, device="meta")).shape == (1, 5)
    with pytest.raises(ValueError, match="67"):
        model(torch.empty(1, 1, 66, 100, device="meta"))
    with pytest.raises(ValueError, match="towers"):
        cnnzoo.create("alexnet", towers=4)
    with pytest.raises(ValueError, match="drop_rate"):
        cnnzoo.create("alexnet", drop_rate=1.5)


def test_dropout_on_the_outputs_of_fc6_and_fc7():
    # §4.2 and the authors' Caffe definition: fc → relu → dropout, twice; not dropout → fc.
    torch.manual_seed(0)
    model = cnnzoo.create("alexnet", num_classes=10).train()
    c = model.classifier
    assert list(c._modules) == ["fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]
    seen = {}

    def record(name):
        def hook(module, args, out):
            seen[name] = (args[0].clone(), out.clone())

        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in c.named_children()]
    x = torch.randn(2, 3, 67, 67)
    with torch.no_grad():
        model(x)
        pooled = torch.flatten(model.avgpool(model.features(x)), 1)
    for h in hooks:
        h.remove()
    assert torch.equal(seen["fc6"][0], pooled)  # fc6 reads every feature: nothing dropped before it
    for fc, drop in (("fc6", "drop6"), ("fc7", "drop7")):
        kept_in, dropped = seen[drop]
        assert torch.all(kept_in >= 0)  # the dropout's input is a ReLU's output
        assert torch.equal(kept_in, torch.relu(seen[fc][1]))
        positive = kept_in > 0
        zeroed = (dropped == 0) & positive
        assert 0.4 < zeroed.sum() / positive.sum() < 0.6  # about half of the live units dropped
        survivors = positive & ~zeroed
        assert torch.allclose(dropped[survivors], 2 * kept_in[survivors])  # inverted dropout, p = 0.5
    assert torch.equal(seen["fc7"][0], seen["drop6"][1]) and torch.equal(seen["fc8"][0], seen["drop7"][1])


def test_two_tower_lrn_normalises_each_tower_apart():
    # The first LRN of the two-tower network: equal to torch's LRN on each GPU's 48 maps.
    torch.manual_seed(0)
    lrn1 = _meta().features.lrn1
    a = torch.randn(2, 96, 5, 5) * 40
    theirs = [torch.nn.functional.local_response_norm(h, 5, alpha=5e-4, beta=0.75, k=2.0) for h in a.split(48, 1)]
    assert torch.allclose(lrn1(a), torch.cat(theirs, 1), rtol=1e-6, atol=0)
    across = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a)
    near = [46, 47, 48, 49]  # the window of n = 5 reaches over the boundary only here
    far = [i for i in range(96) if i not in near]
    assert torch.allclose(lrn1(a)[:, far], across[:, far], rtol=1e-6, atol=0)
    assert not torch.allclose(lrn1(a)[:, near], across[:, near], rtol=1e-4, atol=0)
