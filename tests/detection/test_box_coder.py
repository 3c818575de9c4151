"""R-CNN box coding: the equations by hand, exact inverses, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnzoo.detection import decode_boxes, encode_boxes


def test_equations_6_to_9_by_hand():
    proposal = torch.tensor([[10.0, 20.0, 30.0, 60.0]])  # centre (20, 40), 20 x 40
    truth = torch.tensor([[14.0, 16.0, 54.0, 76.0]])  # centre (34, 46), 40 x 60
    t = encode_boxes(truth, proposal)
    expected = torch.tensor([[14 / 20, 6 / 40, math.log(2.0), math.log(1.5)]])
    torch.testing.assert_close(t, expected)
    torch.testing.assert_close(
        encode_boxes(truth, proposal, means=(0.1, 0, 0, 0), stds=(0.1, 0.1, 0.2, 0.2)),
        (expected - torch.tensor([0.1, 0, 0, 0])) / torch.tensor([0.1, 0.1, 0.2, 0.2]),
    )


pos = st.floats(1, 50, allow_nan=False, width=64)  # ratios stay below 1000/16
loc = st.floats(-500, 500, allow_nan=False, width=64)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(loc, loc, pos, pos, loc, loc, pos, pos), min_size=1, max_size=8),
    st.sampled_from([((0, 0, 0, 0), (1, 1, 1, 1)), ((0.0, 0.0, 0.0, 0.0), (0.1, 0.1, 0.2, 0.2)),
                     ((0.5, -0.5, 0.1, 0.2), (0.3, 0.4, 0.5, 0.6))]),
)
def test_decode_of_encode_is_identity(rows, stats):
    means, stds = stats
    g = torch.tensor([[x, y, x + w, y + h] for x, y, w, h, *_ in rows], dtype=torch.float64)
    p = torch.tensor([[x, y, x + w, y + h] for *_, x, y, w, h in rows], dtype=torch.float64)
    t = encode_boxes(g, p, means, stds)
    torch.testing.assert_close(decode_boxes(t, p, means, stds, scale_clamp=None), g)
    # Within the default clamp (|log ratio| < log(1000/16)) the clamp changes nothing.
    torch.testing.assert_close(decode_boxes(t, p, means, stds), g)
    torch.testing.assert_close(encode_boxes(decode_boxes(t, p, means, stds), p, means, stds), t)


def test_clamp_bounds_the_scale():
    p = torch.tensor([[0.0, 0, 10, 10]])
    out = decode_boxes(torch.tensor([[0.0, 0, 100, 100]]), p)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0, 2] - out[0, 0], torch.tensor(10 * 1000 / 16))


def test_batched_shapes_and_empty():
    p = torch.tensor([[0.0, 0, 4, 4]]).expand(2, 3, 4)
    assert encode_boxes(p, p).shape == (2, 3, 4)
    assert torch.equal(encode_boxes(p, p), torch.zeros(2, 3, 4))
    assert decode_boxes(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)


def test_bad_input():
    p = torch.tensor([[0.0, 0, 4, 4]])
    with pytest.raises(ValueError, match="same shape"):
        encode_boxes(torch.zeros(2, 4), p)
    with pytest.raises(ValueError, match="positive width and height"):
        encode_boxes(p, torch.tensor([[0.0, 0, 0, 4]]))
    with pytest.raises(ValueError, match="x2 >= x1"):
        encode_boxes(torch.tensor([[4.0, 0, 0, 4]]), p)
    with pytest.raises(ValueError, match="proposals' shape"):
        decode_boxes(torch.zeros(2, 4), p)
    with pytest.raises(ValueError, match="4 values"):
        encode_boxes(p, p, stds=(1, 1))
