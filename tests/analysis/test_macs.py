"""MACs of convolution and linear layers against the output-size formulas, for random shapes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnzoo.analysis import analyze


def _out(size: int, k: int, s: int, p: int, d: int) -> int:
    # nn.Conv2d docs: floor((H + 2p − d(k−1) − 1) / s) + 1
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _out_transposed(size: int, k: int, s: int, p: int, d: int, op: int) -> int:
    # nn.ConvTranspose2d docs: (H−1)s − 2p + d(k−1) + output_padding + 1
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


conv_shapes = st.fixed_dictionaries(
    {
        "groups": st.integers(1, 4),
        "cin_g": st.integers(1, 4),
        "cout_g": st.integers(1, 4),
        "kh": st.integers(1, 5),
        "kw": st.integers(1, 5),
        "stride": st.integers(1, 3),
        "padding": st.integers(0, 2),
        "dilation": st.integers(1, 3),
        "h": st.integers(12, 24),
        "w": st.integers(12, 24),
        "bias": st.booleans(),
    }
)


@settings(max_examples=40, deadline=None)
@given(conv_shapes)
def test_conv_macs_match_formula(c):
    cin, cout, g = c["cin_g"] * c["groups"], c["cout_g"] * c["groups"], c["groups"]
    conv = nn.Conv2d(
        cin, cout, (c["kh"], c["kw"]), c["stride"], c["padding"], c["dilation"], g, c["bias"]
    )
    ho = _out(c["h"], c["kh"], c["stride"], c["padding"], c["dilation"])
    wo = _out(c["w"], c["kw"], c["stride"], c["padding"], c["dilation"])
    if ho <= 0 or wo <= 0:
        # An input smaller than the dilated kernel is a clear error, not a count.
        with pytest.raises(ValueError, match="Conv2d"):
            analyze(conv, (cin, c["h"], c["w"]))
        return
    r = analyze(conv, (cin, c["h"], c["w"]), batch_size=2)
    assert r.output_shapes == [(2, cout, ho, wo)]
    # the real convolution agrees on the shape
    assert conv(torch.zeros(2, cin, c["h"], c["w"])).shape == (2, cout, ho, wo)
    assert r.macs == 2 * c["kh"] * c["kw"] * (cin // g) * cout * ho * wo
    assert r.other_ops == (2 * cout * ho * wo if c["bias"] else 0)
    assert r.params == sum(p.numel() for p in conv.parameters())


@settings(max_examples=30, deadline=None)
@given(conv_shapes, st.integers(0, 1))
def test_transposed_conv_macs_match_formula(c, output_padding):
    cin, cout, g = c["cin_g"] * c["groups"], c["cout_g"] * c["groups"], c["groups"]
    s, d = c["stride"], c["dilation"]
    op = output_padding if output_padding < max(s, d) else 0
    conv = nn.ConvTranspose2d(cin, cout, (c["kh"], c["kw"]), s, c["padding"], op, g, c["bias"], d)
    h, w = c["h"] // 3, c["w"] // 3
    ho = _out_transposed(h, c["kh"], s, c["padding"], d, op)
    wo = _out_transposed(w, c["kw"], s, c["padding"], d, op)
    if ho <= 0 or wo <= 0:
        return
    r = analyze(conv, (cin, h, w))
    assert r.output_shapes == [(1, cout, ho, wo)]
    assert conv(torch.zeros(1, cin, h, w)).shape == (1, cout, ho, wo)
    # every input pixel is multiplied into kh·kw·(C_out/groups) outputs
    assert r.macs == c["kh"] * c["kw"] * (cout // g) * cin * h * w


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 5), st.integers(0, 3), st.booleans())
def test_linear_macs(fin, fout, batch, extra_dims, bias):
    lin = nn.Linear(fin, fout, bias=bias)
    lead = (3,) * extra_dims
    r = analyze(lin, (*lead, fin) if lead else (fin, 1), batch_size=batch) if lead else None
    if r is None:
        # A plain (N, F) input: analyse through a flatten so the input has a spatial dim.
        r = analyze(nn.Sequential(nn.Flatten(), lin), (fin, 1), batch_size=batch)
    rows = batch * 3**extra_dims
    assert r.macs == rows * fin * fout
    assert r.other_ops == (rows * fout if bias else 0)


def test_depthwise_separable_cost_ratio():
    # MobileNet: depthwise + pointwise costs 1/N + 1/k² of a standard conv.
    n, k, c, hw = 64, 3, 32, 28
    standard = analyze(nn.Conv2d(c, n, k, padding=1, bias=False), (c, hw, hw)).macs
    separable = analyze(
        nn.Sequential(
            nn.Conv2d(c, c, k, padding=1, groups=c, bias=False), nn.Conv2d(c, n, 1, bias=False)
        ),
        (c, hw, hw),
    ).macs
    assert separable * n * k * k == standard * (k * k + n)


def test_grouped_conv_has_one_gth_of_the_parameters():
    # 256 → 256, 3×3, 8 groups: 1/8 of the dense conv's parameters and MACs.
    dense = analyze(nn.Conv2d(256, 256, 3, padding=1, bias=False), (256, 14, 14))
    grouped = analyze(nn.Conv2d(256, 256, 3, padding=1, groups=8, bias=False), (256, 14, 14))
    assert grouped.params * 8 == dense.params
    assert grouped.macs * 8 == dense.macs


def test_other_ops_are_listed_not_hidden():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 10),
    )  # fmt: skip
    r = analyze(model, (3, 8, 8))
    rows = {l.type: l for l in r.layers}
    assert rows["Conv2d"].macs == 3 * 3 * 3 * 8 * 8 * 8 and rows["Conv2d"].other_ops == 0
    assert rows["BatchNorm2d"].macs == 0 and rows["BatchNorm2d"].other_ops == 2 * 8 * 8 * 8
    assert rows["ReLU"].other_ops == 8 * 8 * 8
    assert rows["MaxPool2d"].other_ops == 4 * 8 * 4 * 4  # a 2×2 window per output
    assert rows["Linear"].macs == 128 * 10 and rows["Linear"].other_ops == 10
    assert r.macs == rows["Conv2d"].macs + rows["Linear"].macs
    assert r.flops == 2 * r.macs
