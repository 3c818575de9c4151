"""Anchors as in d2l §14.4: the book's printed numbers, grid anchors, assignment."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.detection import (
    assign_anchor_to_bbox,
    box_corner_to_center,
    grid_anchors,
    multibox_detection,
    multibox_prior,
    multibox_target,
)


def test_multibox_prior_matches_d2l():
    # d2l: a 561 x 728 image, sizes [0.75, 0.5, 0.25], ratios [1, 2, 0.5]:
    # 5 anchors per pixel, 2,042,040 in all; the first anchor at (250, 250) is
    # printed as [0.06, 0.07, 0.63, 0.82].
    x = torch.empty(1, 3, 561, 728)
    y = multibox_prior(x, sizes=[0.75, 0.5, 0.25], ratios=[1, 2, 0.5])
    assert y.shape == (1, 2042040, 4)
    boxes = y.reshape(561, 728, 5, 4)
    torch.testing.assert_close(boxes[250, 250, 0], torch.tensor([0.06, 0.07, 0.63, 0.82]), atol=5e-3, rtol=0)


def test_anchor_shapes_n_plus_m_minus_1():
    x = torch.empty(2, 4)
    y = multibox_prior(x, sizes=[0.5, 0.25], ratios=[1, 4, 0.25])
    assert y.shape == (1, 2 * 4 * 4, 4)
    wh = box_corner_to_center(y[0, :4])[:, 2:]  # the first pixel's four anchors
    h_over_w = 2 / 4
    expected = torch.tensor([
        [0.5 * h_over_w, 0.5], [0.25 * h_over_w, 0.25],  # (s1, r1), (s2, r1)
        [0.5 * 2 * h_over_w, 0.5 / 2], [0.5 / 2 * h_over_w, 0.5 * 2],  # (s1, r2), (s1, r3)
    ])  # fmt: skip
    torch.testing.assert_close(wh, expected)


def test_grid_anchors_any_stride():
    a = grid_anchors((2, 3), 16, sizes=[32], ratios=[1, 2])
    assert a.shape == (2 * 3 * 2, 4)
    c = box_corner_to_center(a).reshape(2, 3, 2, 4)
    torch.testing.assert_close(c[1, 2, 0, :2], torch.tensor([2.5 * 16, 1.5 * 16]))
    # ratio 2 (width / height) at area 32²
    torch.testing.assert_close(c[0, 0, 1, 2:], torch.tensor([32 * 2**0.5, 32 / 2**0.5]))
    full = grid_anchors((1, 1), (8, 4), sizes=[8, 16, 32], ratios=[0.5, 1, 2], all_pairs=True, offset=0)
    assert full.shape == (9, 4)
    torch.testing.assert_close(box_corner_to_center(full)[:, :2], torch.zeros(9, 2))


GT = torch.tensor([[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]])
ANCHORS = torch.tensor([
    [0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
    [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9],
])  # fmt: skip


def test_multibox_target_matches_d2l():
    # d2l §14.4.3 prints these labels, masks and offsets for the dog/cat example.
    offsets, mask, classes = multibox_target(ANCHORS[None], GT[None])
    assert classes.tolist() == [[0, 1, 2, 0, 2]]
    assert mask.tolist() == [[0.0] * 4 + [1.0] * 8 + [0.0] * 4 + [1.0] * 4]
    expected = torch.tensor([[
        0, 0, 0, 0, 1.40, 10.0, 2.59, 7.18, -1.20, 0.269, 1.68, -1.57,
        0, 0, 0, 0, -0.571, -1.00, 0.0, 0.626,
    ]])  # fmt: skip
    torch.testing.assert_close(offsets, expected, atol=6e-3, rtol=0)


def test_assignment_greedy_then_threshold():
    assert assign_anchor_to_bbox(GT[:, 1:], ANCHORS).tolist() == [-1, 0, 1, -1, 1]
    # Greedy gives every ground-truth box an anchor even below the threshold.
    gt = torch.tensor([[0.0, 0.0, 0.1, 0.1]])
    anchors = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 1.0, 1.0]])
    assert assign_anchor_to_bbox(gt, anchors).tolist() == [0, -1]
    # More ground truth than anchors: each anchor taken once, best pair first.
    gt2 = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.9, 0.9]])
    assert assign_anchor_to_bbox(gt2, anchors[:1]).tolist() == [0]


def test_padding_rows_and_empty_ground_truth():
    labels = torch.cat((GT, torch.full((1, 5), -1.0)))[None]
    off, mask, cls = multibox_target(ANCHORS, labels)
    assert cls.tolist() == [[0, 1, 2, 0, 2]]
    none = torch.full((1, 2, 5), -1.0)
    off, mask, cls = multibox_target(ANCHORS, none)
    assert cls.abs().sum() == 0 and mask.abs().sum() == 0 and off.abs().sum() == 0
    assert assign_anchor_to_bbox(torch.zeros(0, 4), ANCHORS).tolist() == [-1] * 5


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        multibox_prior(torch.empty(4, 4), sizes=[], ratios=[1])
    with pytest.raises(ValueError, match="positive"):
        multibox_prior(torch.empty(4, 4), sizes=[0.5], ratios=[-1])
    with pytest.raises(ValueError, match=r"\(B, G, 5\)"):
        multibox_target(ANCHORS, GT)
    with pytest.raises(ValueError, match="x2 >= x1"):
        assign_anchor_to_bbox(torch.tensor([[0.5, 0, 0.1, 1]]), ANCHORS)
    with pytest.raises(ValueError, match="positive"):
        grid_anchors((0, 3), 16, [32], [1])


def test_multibox_detection_matches_d2l():
    # d2l §14.4.4: four anchors, zero offsets, dog / cat probabilities; the book
    # prints the kept dog and cat boxes first and the two suppressed ones as -1.
    anchors = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95],
                            [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]])  # fmt: skip
    cls_probs = torch.tensor([[0.0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]])
    out = multibox_detection(cls_probs[None], torch.zeros(1, 16), anchors[None], nms_threshold=0.5)
    expected = torch.tensor([[
        [0.0, 0.9, 0.1, 0.08, 0.52, 0.92],
        [1.0, 0.9, 0.55, 0.2, 0.9, 0.88],
        [-1.0, 0.8, 0.08, 0.2, 0.56, 0.95],
        [-1.0, 0.7, 0.15, 0.3, 0.62, 0.91],
    ]])  # fmt: skip
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="offset_preds"):
        multibox_detection(cls_probs[None], torch.zeros(1, 12), anchors)
