"""Receptive fields: hand-derived values, published values, and an empirical check.

The empirical field back-propagates from one output unit through a copy of the
network with positive weights and average pooling in place of max pooling
(max pooling routes the gradient to one input and would under-report); the
input pixels that receive a gradient are the field.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.analysis import analyze


def _stack(n: int, dilations: tuple[int, ...] | None = None) -> nn.Sequential:
    dil = dilations or (1,) * n
    return nn.Sequential(*(nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in dil))


@pytest.mark.parametrize(("n", "size"), [(1, 3), (2, 5), (3, 7)])
def test_stacked_3x3_convolutions(n, size):
    # Simonyan & Zisserman 2015 (arXiv:1409.1556), §2.3: two 3×3 layers see 5×5, three see 7×7.
    r = analyze(_stack(n), (1, 32, 32))
    assert r.receptive_field.size == (size, size)
    assert r.receptive_field.stride == (1, 1)


def test_dilated_stack_1_2_4_sees_15():
    r = analyze(_stack(3, (1, 2, 4)), (1, 32, 32))
    assert r.receptive_field.size == (15, 15)


def test_vgg16_pools():
    r = analyze("vgg16")
    pools = [l.receptive_field.size[0] for l in r.layers if l.type == "MaxPool2d"]
    assert pools == [6, 16, 44, 100, 212]


def test_alexnet_conv1_to_pool5():
    r = analyze("alexnet", towers=1)
    convs_pools = [l for l in r.layers if l.type in ("Conv2d", "MaxPool2d")]
    sizes = {l.name.rsplit(".", 1)[-1]: l.receptive_field.size[0] for l in convs_pools}
    got = [sizes[k] for k in ("conv1", "pool1", "conv2", "conv3", "conv4", "conv5", "pool5")]
    assert got == [11, 19, 51, 99, 131, 163, 195]


def test_resnet50_block_outputs():
    r = analyze("resnet50")
    assert [r.layer(f"layer{i}").receptive_field.size[0] for i in (1, 2, 3, 4)] == [
        35,
        99,
        291,
        483,
    ]
    assert r.layer("layer4").receptive_field.stride == (32, 32)


def test_resnet50_stride_on_3x3_ends_at_427():
    r = analyze("resnet50", stride_on_3x3=True)
    assert r.layer("layer4").receptive_field.size[0] == 427


def test_merge_takes_the_largest_and_checks_jumps():
    class TwoPaths(nn.Module):
        def __init__(self, stride: int) -> None:
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3, padding=1)
            self.b = nn.Conv2d(1, 1, 7, padding=3, stride=stride)

        def forward(self, x):
            return self.a(x)[..., :: self.b.stride[0], :: self.b.stride[0]] + self.b(x)

    r = analyze(TwoPaths(1), (1, 16, 16))
    assert r.receptive_field.size == (7, 7) and not r.warnings
    r = analyze(TwoPaths(2), (1, 16, 16))
    assert r.receptive_field.size == (7, 7) and r.receptive_field.stride == (2, 2)


# --- empirical fields ------------------------------------------------------


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1)
        )
        self.down = nn.Conv2d(2, 2, 3, stride=2, padding=1)

    def forward(self, x):
        return self.down(torch.relu(x + self.body(x)))


class _Inception(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(2, 2, 1)
        self.b3 = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(2, 2, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


class _Dense(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Conv2d(2, 2, 3, padding=1)
        self.l2 = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        x = torch.cat([x, self.l1(x)], 1)
        return torch.cat([x, self.l2(x)], 1)


SMALL_MODELS = {
    "plain": lambda: nn.Sequential(
        nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Conv2d(3, 3, 3, stride=2), nn.MaxPool2d(2),
        nn.Conv2d(3, 2, 3, dilation=2, padding=2), nn.Conv2d(2, 2, 5, padding=2),
    ),
    "asymmetric": lambda: nn.Sequential(
        nn.Conv2d(2, 2, (1, 7), padding=(0, 3)), nn.Conv2d(2, 2, (7, 1), stride=(2, 1)),
        nn.AvgPool2d(3, 2, 1),
    ),
    "residual": lambda: nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), _Residual(), _Residual()),
    "inception": lambda: nn.Sequential(nn.Conv2d(2, 2, 3, stride=2), _Inception(), nn.Conv2d(8, 2, 3)),
    "dense": lambda: nn.Sequential(nn.Conv2d(2, 2, 3, stride=2), _Dense(), nn.MaxPool2d(3, 2)),
    "upsample": lambda: nn.Sequential(
        nn.Conv2d(2, 2, 3, stride=2, padding=1), nn.Upsample(scale_factor=2), nn.Conv2d(2, 2, 3),
    ),
    "transposed": lambda: nn.Sequential(
        nn.Conv2d(2, 2, 3, stride=2), nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1),
    ),
}  # fmt: skip


def _positive_copy(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model).double().eval()
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(m, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.1)
    return model


def _empirical_extent(
    model: nn.Module, size: tuple[int, ...], unit: tuple[int, int]
) -> tuple[list[int], list[int]]:
    x = torch.ones(1, *size, dtype=torch.float64, requires_grad=True)
    out = model(x)
    # All channels: a concatenation gives channels fields of different sizes; the union is reported.
    out[0, :, unit[0], unit[1]].sum().backward()
    seen = x.grad[0].abs().sum(0) > 0
    rows = torch.nonzero(seen.any(1)).flatten()
    cols = torch.nonzero(seen.any(0)).flatten()
    return [int(rows[0]), int(cols[0])], [int(rows[-1]), int(cols[-1])]


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_analytic_field_matches_back_propagation(name):
    model = SMALL_MODELS[name]()
    size = (2, 48, 48)
    rf = analyze(model, size).receptive_field
    positive = _positive_copy(model)
    out_hw = positive(torch.ones(1, *size, dtype=torch.float64)).shape[-2:]
    centre = (out_hw[0] // 2, out_hw[1] // 2)
    widest = [0, 0]
    for dy in range(2):
        for dx in range(2):
            unit = (centre[0] + dy, centre[1] + dx)
            lo, hi = _empirical_extent(positive, size, unit)
            for i in range(2):
                extent = hi[i] - lo[i] + 1
                widest[i] = max(widest[i], extent)
                if name != "transposed":
                    # Every unit of an ordinary network sees a field of the same size,
                    assert extent == rf.size[i], (name, unit, lo, hi, rf)
                if name not in ("transposed", "upsample"):
                    # centred at start + index · jump (after nearest upsampling,
                    # pairs of units share a centre: the jump holds on average only).
                    assert (lo[i] + hi[i]) / 2 == rf.start[i] + unit[i] * rf.stride[i], (
                        name,
                        unit,
                        rf,
                    )
    # A transposed convolution's units see fields of alternating size; we report the largest.
    assert tuple(widest) == rf.size, (name, widest, rf)


def test_lenet5_output_sees_the_whole_input():
    r = analyze(cnnzoo.create("lenet5"), (1, 32, 32))
    assert r.receptive_field.size == (32, 32)
    assert r.layer("features.c1").receptive_field.size == (5, 5)
    assert r.layer("features.s2").receptive_field.size == (6, 6)
