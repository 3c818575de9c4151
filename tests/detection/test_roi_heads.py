"""The Fast R-CNN head (Girshick 2015, arXiv:1504.08083): RoI sampling, targets, loss and detections."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnzoo.detection.roi_heads import RoIHeads, sample_rois

GT = torch.tensor([[10.0, 10.0, 50.0, 50.0]])


def _proposals(num_fg: int, num_bg: int, num_low: int) -> torch.Tensor:
    # Foreground: shifted copies with IoU >= 0.5; background: IoU in [0.1, 0.5); low: IoU < 0.1.
    fg = GT + torch.tensor([2.0, 0.0, 2.0, 0.0]) * (
        torch.arange(num_fg)[:, None] % 5
    )  # IoU >= 32/48
    bg = (
        GT + torch.tensor([20.0, 0.0, 20.0, 0.0]) + torch.zeros(num_bg, 1)
    )  # IoU 20·40 / 2400 = 1/3
    low = torch.tensor([[60.0, 60.0, 90.0, 90.0]]).repeat(num_low, 1)  # IoU 0
    return torch.cat((fg, bg, low))


def test_a_quarter_of_128_rois_is_foreground_when_there_is_enough():
    rois, labels, _ = sample_rois(_proposals(100, 300, 50), GT, torch.tensor([6]))
    assert rois.shape[0] == 128
    assert int((labels == 7).sum()) == 32 and int((labels == 0).sum()) == 96  # class 6 -> label 7
    # The background came from IoU [0.1, 0.5): none of the IoU-0 proposals.
    assert not (rois[labels == 0] == torch.tensor([60.0, 60.0, 90.0, 90.0])).all(dim=1).any()


def test_few_foreground_rois_leave_the_rest_to_background():
    rois, labels, _ = sample_rois(_proposals(3, 300, 0), GT, torch.tensor([0]))
    assert int((labels == 1).sum()) == 4  # three proposals and the ground-truth box itself
    assert int((labels == 0).sum()) == 124


def test_targets_are_normalised_offsets_and_zero_for_background():
    proposals = torch.tensor([[0.0, 10.0, 40.0, 50.0]])  # the box moved 10 px left: IoU 30/50
    rois, labels, targets = sample_rois(proposals, GT, torch.tensor([2]), bg_iou_low=0.0)
    i = int(((rois == proposals).all(dim=1)).nonzero()[0])
    # t_x = (30 − 20) / 40 = 0.25, normalised by 0.1: 2.5; the other offsets are 0.
    assert targets[i].tolist() == pytest.approx([2.5, 0.0, 0.0, 0.0])
    gt_row = int(((rois == GT).all(dim=1)).nonzero()[0])
    assert targets[gt_row].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert labels.tolist() == [3, 3]


def test_an_image_without_objects_gives_only_background():
    rois, labels, targets = sample_rois(
        _proposals(0, 0, 20), torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
    )
    assert rois.shape[0] == 20 and (labels == 0).all() and (targets == 0).all()


class _Constant(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(x.shape[0], 1)


def _head(num_classes: int = 3) -> RoIHeads:
    head = RoIHeads(_Constant(), 1, num_classes, pool_size=2, spatial_scale=1 / 8, roi_op="align")
    nn.init.zeros_(head.bbox_pred.weight)
    return head


def test_detections_are_the_rois_moved_by_their_classs_offsets_in_input_pixels():
    head = _head()
    with torch.no_grad():
        head.cls_score.weight.zero_()
        head.cls_score.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 0.0]))  # class 1 (label 2) wins
        head.bbox_pred.bias.zero_()
        head.bbox_pred.bias[4] = 1.0  # class 1's t_x: +0.1 of the width (std 0.1)
    rois = [torch.tensor([[100.0, 20.0, 140.0, 60.0]])]
    (det,) = head.detect(
        torch.zeros(1, 1, 10, 20),
        rois,
        (80, 160),
        score_threshold=0.05,
        nms_threshold=0.3,
        max_detections=100,
    )
    p = math.exp(5) / (math.exp(5) + 3)
    assert det["labels"].tolist() == [1]
    assert det["scores"].tolist() == pytest.approx([p])
    assert det["boxes"].tolist() == [[104.0, 20.0, 144.0, 60.0]]


def test_detections_are_clipped_and_suppressed_per_class():
    head = _head(2)
    rois = [torch.tensor([[-10.0, 0.0, 30.0, 30.0], [-8.0, 0.0, 30.0, 30.0]])]
    (det,) = head.detect(
        torch.zeros(1, 1, 8, 8),
        rois,
        (64, 64),
        score_threshold=0.05,
        nms_threshold=0.3,
        max_detections=100,
    )
    # Equal scores 1/3 for both classes; the two RoIs overlap, so one box per class is kept, clipped at x = 0.
    assert sorted(det["labels"].tolist()) == [0, 1]
    assert (det["boxes"][:, 0] == 0).all()
    (det,) = head.detect(
        torch.zeros(1, 1, 8, 8),
        rois,
        (64, 64),
        score_threshold=0.5,
        nms_threshold=0.3,
        max_detections=100,
    )
    assert det["boxes"].shape == (0, 4)


def test_loss_reaches_the_head_and_counts_the_true_class_offsets_only():
    head = RoIHeads(
        nn.Flatten(1), 4, 2, pool_size=1, spatial_scale=1.0, roi_op="pool", bg_iou_low=0.0
    )
    feats = torch.randn(1, 4, 8, 8, requires_grad=True)
    target = {"boxes": torch.tensor([[1.0, 1.0, 5.0, 5.0]]), "labels": torch.tensor([1])}
    cls, box = head.loss(feats, [torch.tensor([[0.0, 0.0, 6.0, 6.0]])], [target])
    (cls + box).backward()
    assert head.cls_score.weight.grad.abs().sum() > 0
    g = head.bbox_pred.weight.grad
    assert g[:4].abs().sum() == 0 and g[4:].abs().sum() > 0  # class 0's offsets get nothing
    assert feats.grad.abs().sum() > 0


def test_bad_settings_raise_value_errors():
    with pytest.raises(ValueError, match="roi_op"):
        RoIHeads(nn.Identity(), 4, 2, roi_op="warp")
    with pytest.raises(ValueError, match="num_classes"):
        RoIHeads(nn.Identity(), 4, 0)
    with pytest.raises(ValueError, match="fg_fraction"):
        sample_rois(GT, GT, torch.tensor([0]), fg_fraction=1.5)
