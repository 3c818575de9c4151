"""The Region Proposal Network (Ren et al. 2015, arXiv:1506.01497, §3.1): head size, anchors, labels, sampling, loss, proposals."""

from __future__ import annotations

import math

import pytest
import torch

from cnnzoo.detection.rpn import (
    RegionProposalNetwork,
    RPNHead,
    label_anchors,
    propose,
    rpn_loss,
    sample_anchors,
)


def test_output_layers_have_the_papers_parameter_count():
    # §3.1.1: "our output layer has 2.8 × 10^4 parameters (512 × (4 + 2) × 9 for VGG-16)".
    head = RPNHead(512, 512, 9)
    weights = head.cls_logits.weight.numel() + head.bbox_pred.weight.numel()
    assert weights == 512 * (4 + 2) * 9
    assert round(weights / 1e4, 1) == 2.8


def test_anchors_are_three_scales_times_three_ratios():
    rpn = RegionProposalNetwork(512)
    a = rpn.anchors((1, 1))  # one position, centred at (8, 8) on a stride-16 map
    assert a.shape == (9, 4)
    w, h = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    areas = sorted(round(v) for v in (w * h).tolist())
    assert areas == [128**2] * 3 + [256**2] * 3 + [512**2] * 3
    assert sorted(round(v, 3) for v in (w / h).tolist()) == [0.5] * 3 + [1.0] * 3 + [2.0] * 3
    assert torch.allclose((a[:, 0] + a[:, 2]) / 2, torch.full((9,), 8.0))


def test_anchor_counts_of_section_3_1_3_and_3_3():
    rpn = RegionProposalNetwork(512)
    # "For a convolutional feature map of a size W × H (typically ∼2,400), there are WHk anchors in
    # total": a 1000 × 600 image, stride 16, "roughly 20000 (≈ 60 × 40 × 9) anchors" (§3.1.3).
    a = rpn.anchors((600 // 16, 1000 // 16))
    assert abs(a.shape[0] - 20_000) / 20_000 < 0.05
    # §3.3: ignoring the cross-boundary anchors leaves "about 6000 anchors per image for training"
    # (PASCAL images, shorter side rescaled to 600: 800 × 600).
    a = rpn.anchors((600 // 16, 800 // 16))
    labels, _ = label_anchors(a, torch.zeros(0, 4), (600, 800))
    assert abs(int((labels >= 0).sum()) - 6000) / 6000 < 0.05


def test_labels_worked_by_hand():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [40.0, 40.0, 50.0, 50.0]])
    anchors = torch.tensor([
        [0.0, 0.0, 10.0, 10.0],   # IoU 1 with box 0: positive
        [0.0, 0.0, 10.0, 8.0],    # IoU 80/100 = 0.8 > 0.7: positive
        [0.0, 0.0, 10.0, 7.0],    # IoU 0.7, not higher than 0.7 and not below 0.3: ignored
        [0.0, 0.0, 10.0, 2.0],    # IoU 0.2 < 0.3: negative
        [5.0, 0.0, 15.0, 10.0],   # IoU 50/150 = 1/3: ignored
        [20.0, 20.0, 30.0, 30.0],  # IoU 0 with both: negative
        [-5.0, 0.0, 5.0, 10.0],   # crosses the image border: ignored
        [40.0, 40.0, 60.0, 60.0],  # IoU 100/400 = 0.25 with box 1, but box 1's best anchor: positive
        [44.0, 44.0, 64.0, 64.0],  # IoU 36/464 with box 1: negative
    ])  # fmt: skip
    labels, matched = label_anchors(anchors, gt, (64, 64))
    assert labels.tolist() == [1, 1, -1, 0, -1, 0, -1, 1, 0]
    assert matched[[0, 1, 7]].tolist() == [0, 0, 1]


def test_anchors_that_tie_for_a_boxs_best_are_all_positive_and_no_gt_means_all_negative():
    gt = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    anchors = torch.tensor(
        [[0.0, 10.0, 20.0, 20.0], [10.0, 0.0, 20.0, 20.0], [40.0, 40.0, 50.0, 50.0]]
    )
    labels, _ = label_anchors(anchors, gt, (64, 64))  # both IoU 0.5, the highest for the box
    assert labels.tolist() == [1, 1, 0]
    labels, _ = label_anchors(anchors, torch.zeros(0, 4), (48, 48))
    assert labels.tolist() == [0, 0, -1]


@pytest.mark.parametrize("num_pos, pos_kept, neg_kept", [(200, 128, 128), (10, 10, 246)])
def test_256_anchors_sampled_up_to_half_positive(num_pos, pos_kept, neg_kept):
    labels = torch.cat(
        (
            torch.ones(num_pos, dtype=torch.long),
            torch.zeros(1000, dtype=torch.long),
            torch.full((50,), -1),
        )
    )
    out = sample_anchors(labels, generator=torch.Generator().manual_seed(0))
    assert int((out == 1).sum()) == pos_kept
    assert int((out == 0).sum()) == neg_kept
    assert ((out == -1) | (out == labels)).all()  # sampling only drops, never relabels


def test_loss_is_finite_without_ground_truth_and_only_classification_remains():
    anchors = RegionProposalNetwork(8, 8, stride=8, sizes=(16.0,), ratios=(1.0,)).anchors((6, 6))
    obj, dl = torch.randn(2, 36, 2, requires_grad=True), torch.randn(2, 36, 4, requires_grad=True)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    cls, box = rpn_loss(obj, dl, anchors, [empty, empty], (48, 48))
    assert math.isfinite(float(cls.detach())) and float(box.detach()) == 0.0
    (cls + box).backward()
    assert obj.grad.abs().sum() > 0


def test_loss_of_a_perfect_prediction_is_only_the_sampled_log_loss():
    anchors = torch.tensor([[0.0, 0.0, 16.0, 16.0], [16.0, 16.0, 32.0, 32.0]])
    target = {"boxes": torch.tensor([[0.0, 0.0, 16.0, 16.0]]), "labels": torch.tensor([3])}
    obj = torch.tensor([[[0.0, 2.0], [2.0, 0.0]]])  # confident and right: object, background
    cls, box = rpn_loss(obj, torch.zeros(1, 2, 4), anchors, [target], (32, 32))
    assert float(box) == 0.0  # the anchor is the box: zero offsets are right
    assert float(cls) == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)


def test_proposals_are_clipped_suppressed_and_ranked():
    anchors = torch.tensor(
        [
            [0.0, 0.0, 20.0, 20.0],
            [1.0, 0.0, 21.0, 20.0],
            [30.0, 30.0, 60.0, 50.0],
            [2.0, 2.0, 4.0, 4.0],
        ]
    )
    obj = torch.tensor([[[0.0, 3.0], [0.0, 2.0], [0.0, 1.0], [0.0, 5.0]]])
    (boxes,) = propose(
        obj,
        torch.zeros(1, 4, 4),
        anchors,
        (40, 40),
        pre_nms_top_n=10,
        post_nms_top_n=10,
        min_size=4.0,
    )
    # Anchor 3 is smaller than 4 px: dropped. Anchor 1 overlaps anchor 0 at IoU 19/21 > 0.7: suppressed.
    # Anchor 2 is clipped to the 40 × 40 image.
    assert boxes.tolist() == [[0.0, 0.0, 20.0, 20.0], [30.0, 30.0, 40.0, 40.0]]
    (top,) = propose(
        obj,
        torch.zeros(1, 4, 4),
        anchors,
        (40, 40),
        pre_nms_top_n=10,
        post_nms_top_n=1,
        min_size=4.0,
    )
    assert top.tolist() == [[0.0, 0.0, 20.0, 20.0]]


def test_head_outputs_follow_the_anchor_order():
    rpn = RegionProposalNetwork(4, 4, stride=8, sizes=(16.0, 32.0), ratios=(1.0,))
    obj, dl = rpn(torch.randn(2, 4, 3, 5))
    assert obj.shape == (2, 3 * 5 * 2, 2) and dl.shape == (2, 3 * 5 * 2, 4)
    # Anchor j of position (y, x) reads channels (2j, 2j + 1) at (y, x), as grid_anchors orders them.
    feats = torch.randn(1, 4, 3, 5)
    raw, _ = rpn.head(feats)
    obj, _ = rpn(feats)
    y, x, j = 2, 4, 1
    assert torch.equal(obj[0, (y * 5 + x) * 2 + j], raw[0, 2 * j : 2 * j + 2, y, x])
    assert rpn.anchors((3, 5)).shape == (30, 4)


def test_bad_settings_raise_value_errors():
    with pytest.raises(ValueError, match="pos_iou"):
        label_anchors(torch.zeros(1, 4), torch.zeros(1, 4), neg_iou=0.8, pos_iou=0.7)
    with pytest.raises(ValueError, match="batch_size"):
        sample_anchors(torch.zeros(3, dtype=torch.long), batch_size=0)
    with pytest.raises(ValueError, match="stride"):
        RegionProposalNetwork(8, stride=0)
    with pytest.raises(ValueError, match="mid_channels"):
        RPNHead(8, 0, 9)
