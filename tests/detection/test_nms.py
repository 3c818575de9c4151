"""NMS and soft-NMS: hand cases, and the vectorised versions against the readable loops."""

from __future__ import annotations

import math

import pytest
import torch

from cnnzoo.detection import batched_nms, nms, nms_reference, soft_nms, soft_nms_reference


def _random_boxes(n: int, seed: int, dtype=torch.float64, integer: bool = False):
    g = torch.Generator().manual_seed(seed)
    if integer:
        # A coarse grid: identical boxes, IoUs exactly at 0.5, tied scores.
        xy = torch.randint(0, 6, (n, 2), generator=g)
        wh = torch.randint(1, 4, (n, 2), generator=g)
        scores = torch.randint(1, 4, (n,), generator=g).to(dtype) / 4
        return torch.cat((xy, xy + wh), 1).to(dtype), scores
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 100
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 30 + 1
    return torch.cat((xy, xy + wh), 1), torch.rand(n, generator=g, dtype=dtype)


def test_nms_hand_case_d2l():
    # d2l §14.4.4: three dog boxes and one cat box, class-agnostic at 0.5.
    boxes = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95],
                          [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]])  # fmt: skip
    scores = torch.tensor([0.9, 0.8, 0.7, 0.9])
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]


def test_threshold_is_strict_and_ties_go_to_lower_index():
    boxes = torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1], [0, 0, 2, 1]])  # IoU(0,1) = 0.5 exactly
    scores = torch.tensor([0.5, 0.5, 0.5])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]  # 2 duplicates 0; 1 sits at the threshold
    assert nms(boxes, scores, 0.49).tolist() == [0]


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("integer", [False, True])
def test_nms_equals_reference(threshold, integer):
    for seed in range(2):
        boxes, scores = _random_boxes(200, seed, integer=integer)
        expected = nms_reference(boxes, scores, threshold)
        for block in (16, 512):  # several blocks, and one
            assert torch.equal(nms(boxes, scores, threshold, block=block), expected)


def test_nms_float32_integer_boxes_equal_reference():
    boxes, scores = _random_boxes(200, 5, dtype=torch.float32, integer=True)
    assert torch.equal(nms(boxes, scores, 0.5), nms_reference(boxes, scores, 0.5))


def test_batched_nms_is_per_class():
    boxes, scores = _random_boxes(300, 1)
    idxs = torch.randint(0, 4, (300,), generator=torch.Generator().manual_seed(1))
    keep = batched_nms(boxes, scores, idxs, 0.4)
    expected = []
    for c in range(4):
        m = (idxs == c).nonzero().squeeze(1)
        expected += m[nms_reference(boxes[m], scores[m], 0.4)].tolist()
    expected.sort(key=lambda i: (-scores[i].item(), i))
    assert keep.tolist() == expected
    # Two identical boxes of different classes both survive.
    same = torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 1]])
    assert batched_nms(same, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5).tolist() == [0, 1]


def test_soft_nms_hand_case():
    boxes = torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1]], dtype=torch.float64)  # IoU 0.5
    scores = torch.tensor([0.9, 0.8], dtype=torch.float64)
    keep, s = soft_nms(boxes, scores, sigma=0.5)
    assert keep.tolist() == [0, 1]
    torch.testing.assert_close(s, torch.tensor([0.9, 0.8 * math.exp(-0.25 / 0.5)], dtype=torch.float64))
    keep, s = soft_nms(boxes, scores, method="linear", iou_threshold=0.3)
    torch.testing.assert_close(s, torch.tensor([0.9, 0.4], dtype=torch.float64))
    keep, s = soft_nms(boxes, scores, method="linear", iou_threshold=0.6)  # below N_t: untouched
    torch.testing.assert_close(s, scores)
    keep, s = soft_nms(boxes, scores, method="linear", score_threshold=0.5)
    assert keep.tolist() == [0]


@pytest.mark.parametrize("method", ["gaussian", "linear"])
@pytest.mark.parametrize("integer", [False, True])
def test_soft_nms_equals_reference(method, integer):
    for seed in range(2):
        boxes, scores = _random_boxes(120, seed, integer=integer)
        keep, s = soft_nms(boxes, scores, sigma=0.5, score_threshold=0.05, method=method)
        keep_ref, s_ref = soft_nms_reference(boxes, scores, 0.5, 0.05, method)
        assert torch.equal(keep, keep_ref)
        # torch.exp and math.exp may differ in the last bit.
        torch.testing.assert_close(s, s_ref, rtol=1e-12, atol=0)


def test_soft_nms_linear_on_duplicates_decays_to_zero():
    # IoU 1 gives a linear decay of 0; with score_threshold 0 the duplicates stay, at score 0.
    boxes = torch.tensor([[0.0, 0, 4, 4], [0, 0, 4, 4], [0, 0, 4, 4], [10, 10, 12, 12]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6], dtype=torch.float64)
    keep, s = soft_nms(boxes, scores, method="linear", score_threshold=0.0)
    keep_ref, s_ref = soft_nms_reference(boxes, scores, method="linear", score_threshold=0.0)
    assert keep.tolist() == keep_ref.tolist() == [0, 3, 1, 2]
    assert s.tolist() == s_ref.tolist() == [0.9, 0.6, 0.0, 0.0]


def test_empty_input():
    empty_b, empty_s = torch.zeros(0, 4), torch.zeros(0)
    for fn in (nms, nms_reference):
        out = fn(empty_b, empty_s, 0.5)
        assert out.dtype == torch.long and out.numel() == 0
    assert batched_nms(empty_b, empty_s, torch.zeros(0, dtype=torch.long), 0.5).numel() == 0
    for fn in (soft_nms, soft_nms_reference):
        keep, s = fn(empty_b, empty_s)
        assert keep.numel() == 0 and s.numel() == 0


def test_bad_input():
    boxes = torch.tensor([[0.0, 0, 1, 1], [0, 0, 2, 2]])
    with pytest.raises(ValueError, match=r"scores must have shape \(2,\)"):
        nms(boxes, torch.ones(3), 0.5)
    with pytest.raises(ValueError, match="x2 >= x1"):
        nms(torch.tensor([[1.0, 0, 0, 1]]), torch.ones(1), 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        nms(boxes, torch.ones(2), 1.5)
    with pytest.raises(ValueError, match="idxs"):
        batched_nms(boxes, torch.ones(2), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="gaussian"):
        soft_nms(boxes, torch.ones(2), method="hard")
    with pytest.raises(ValueError, match="NaN"):
        nms(boxes, torch.tensor([0.5, float("nan")]), 0.5)
