"""SSD's matching, hard negative mining and loss (Liu et al. 2016, arXiv:1512.02325, §2.2), on cases worked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from cnnzoo.detection import (
    hard_negative_mask,
    match_default_boxes,
    multibox_loss,
    multibox_targets,
)

# Two objects and six default boxes (x1, y1, x2, y2), with their overlaps worked by hand:
GT = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10]])
LABELS = torch.tensor([0, 1])
DEFAULT = torch.tensor(
    [
        [0.0, 0, 10, 10],  # IoU 1 with object 0
        [0, 0, 10, 12],  # 100/120 = 0.83 with object 0: over 0.5
        [20, 0, 30, 25],  # 100/250 = 0.40 with object 1: its best, so matched anyway
        [20, 0, 30, 30],  # 100/300 = 0.33 with object 1: background
        [40, 40, 50, 50],  # no overlap: background
        [5, 0, 15, 10],  # 50/150 = 0.33 with object 0: background
    ]
)


def _smooth_l1(x: float) -> float:
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def test_matching_best_default_box_then_threshold():
    assert match_default_boxes(GT, DEFAULT).tolist() == [0, 0, 1, -1, -1, -1]


def test_a_later_object_keeps_a_shared_best_default_box():
    # Both objects overlap default box 0 best; object 1 is matched last and keeps it.
    gt = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 9]])
    default = torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60]])
    assert match_default_boxes(gt, default).tolist() == [1, -1]


def test_no_objects_match_nothing():
    assert match_default_boxes(torch.zeros(0, 4), DEFAULT).tolist() == [-1] * 6


def test_targets_are_the_label_plus_one_and_the_encoded_offsets():
    classes, offsets = multibox_targets(DEFAULT, [{"boxes": GT, "labels": LABELS}], num_classes=2)
    assert classes.tolist() == [[1, 1, 2, 0, 0, 0]]
    # Default box 1, centre (5, 6), 10×12, onto object 0, centre (5, 5), 10×10; variances 0.1 and 0.2.
    expected1 = [0.0, (5 - 6) / 12 / 0.1, 0.0, math.log(10 / 12) / 0.2]
    # Default box 2, centre (25, 12.5), 10×25, onto object 1, centre (25, 5), 10×10.
    expected2 = [0.0, (5 - 12.5) / 25 / 0.1, 0.0, math.log(10 / 25) / 0.2]
    assert offsets[0, 1].tolist() == pytest.approx(expected1, abs=1e-5)
    assert offsets[0, 2].tolist() == pytest.approx(expected2, abs=1e-5)
    assert offsets[0, 0].abs().max() < 1e-6 and offsets[0, 3:].abs().max() == 0


def test_loss_of_the_hand_worked_case():
    # Uniform scores: every counted default box costs log 3; zero offsets: the loss is the targets' smooth L1.
    logits, deltas = torch.zeros(1, 6, 3), torch.zeros(1, 6, 4)
    out = multibox_loss(logits, deltas, DEFAULT, [{"boxes": GT, "labels": LABELS}])
    loc = sum(_smooth_l1(v) for v in [-1 / 12 / 0.1, math.log(10 / 12) / 0.2, -7.5 / 25 / 0.1, math.log(10 / 25) / 0.2])
    conf = 6 * math.log(3)  # 3 positives and all 3 negatives (at most 3 × 3 may count)
    assert out["loss_conf"].item() == pytest.approx(conf / 3, rel=1e-5)
    assert out["loss_loc"].item() == pytest.approx(loc / 3, rel=1e-5)
    assert out["loss"].item() == pytest.approx((conf + loc) / 3, rel=1e-5)


def test_hard_negatives_at_most_three_per_positive_by_loss():
    # One positive (index 0) and eight negatives whose losses are known: the three largest count.
    loss = torch.tensor([[9.0, 0.1, 0.7, 0.3, 0.9, 0.2, 0.8, 0.05, 0.4]])
    positive = torch.zeros(1, 9, dtype=torch.bool)
    positive[0, 0] = True
    assert hard_negative_mask(loss, positive).nonzero()[:, 1].tolist() == [2, 4, 6]
    assert hard_negative_mask(loss, positive, neg_pos_ratio=1).nonzero()[:, 1].tolist() == [4]
    # Fewer negatives than three per positive: all of them, never a positive.
    positive[0, :5] = True
    assert hard_negative_mask(loss, positive).nonzero()[:, 1].tolist() == [5, 6, 7, 8]


def test_mined_negatives_enter_the_loss():
    # One object on default box 0; the background scores of boxes 1…8 decrease, so their losses increase.
    default = torch.tensor([[0.0, 0, 10, 10]] + [[100.0 + 20 * i, 0, 110 + 20 * i, 10] for i in range(8)])
    logits = torch.zeros(1, 9, 2)
    logits[0, 1:, 0] = torch.linspace(2.0, -2.0, 8)  # background logit; the object logit stays 0
    out = multibox_loss(logits, torch.zeros(1, 9, 4), default, [{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([0])}])

    def ce(bg: float, target_bg: bool) -> float:
        return math.log(math.exp(bg) + 1) - (bg if target_bg else 0.0)

    bgs = torch.linspace(2.0, -2.0, 8).tolist()
    expected = ce(0.0, False) + sum(ce(b, True) for b in bgs[-3:])  # the three lowest background scores
    assert out["loss_conf"].item() == pytest.approx(expected, rel=1e-5)
    assert out["loss_loc"].item() == 0.0


def test_no_positives_give_zero_loss_that_still_backpropagates():
    logits = torch.randn(2, 6, 3, requires_grad=True)
    deltas = torch.randn(2, 6, 4, requires_grad=True)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    out = multibox_loss(logits, deltas, DEFAULT, [empty, empty])
    assert out["loss"].item() == 0.0
    out["loss"].backward()
    assert logits.grad is not None and logits.grad.abs().max() == 0


def test_loss_is_normalised_by_the_matched_boxes_of_the_whole_batch():
    torch.manual_seed(0)
    logits, deltas = torch.randn(2, 6, 3), torch.randn(2, 6, 4)
    one = {"boxes": GT[:1], "labels": LABELS[:1]}  # matches default boxes 0 and 1
    two = {"boxes": GT, "labels": LABELS}  # matches 0, 1 and 2
    a = multibox_loss(logits[:1], deltas[:1], DEFAULT, [one])["loss"] * 2
    b = multibox_loss(logits[1:], deltas[1:], DEFAULT, [two])["loss"] * 3
    both = multibox_loss(logits, deltas, DEFAULT, [one, two])["loss"]
    assert both.item() == pytest.approx((a + b).item() / 5, rel=1e-5)


def test_gradients_are_finite():
    torch.manual_seed(0)
    logits = (torch.randn(2, 6, 3) * 10).requires_grad_()
    deltas = (torch.randn(2, 6, 4) * 10).requires_grad_()
    targets = [{"boxes": GT, "labels": LABELS}, {"boxes": GT[1:], "labels": LABELS[1:]}]
    multibox_loss(logits, deltas, DEFAULT, targets)["loss"].backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(deltas.grad).all()
    assert deltas.grad[0, 3:].abs().max() == 0  # background boxes have no localisation loss


def test_bad_labels_and_shapes_are_value_errors():
    with pytest.raises(ValueError, match=r"labels'\] must be in 0…1; got \[0, 2\]"):
        multibox_loss(torch.zeros(1, 6, 3), torch.zeros(1, 6, 4), DEFAULT, [{"boxes": GT, "labels": torch.tensor([0, 2])}])
    with pytest.raises(ValueError, match="do not agree"):
        multibox_loss(torch.zeros(1, 5, 3), torch.zeros(1, 6, 4), DEFAULT, [{"boxes": GT, "labels": LABELS}])
    with pytest.raises(ValueError, match="neg_pos_ratio"):
        hard_negative_mask(torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.bool), -1)
