"""SSD's detections (Liu et al. 2016, §3): softmax, decode, score threshold, per-class NMS, top detections, on a case worked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from cnnzoo.detection import SSDOutput, ssd_detections

SIZE = (100, 100)
DEFAULT = torch.tensor(
    [
        [10.0, 10, 30, 30],
        [12, 10, 32, 30],  # IoU 360/440 = 0.82 with box 0
        [60, 60, 90, 90],
        [90, 90, 120, 120],  # clipped to the image: (90, 90, 100, 100)
    ]
)
# Probabilities (background, class 0, class 1) per default box; their logs are logits with exactly these softmaxes.
PROBS = torch.tensor([[0.1, 0.8, 0.1], [0.31, 0.6, 0.09], [0.5, 0.005, 0.495], [0.65, 0.2, 0.15]])


def _detect(deltas: torch.Tensor | None = None, **kw) -> dict[str, torch.Tensor]:
    d = torch.zeros(1, 4, 4) if deltas is None else deltas
    return ssd_detections(PROBS.log()[None], d, DEFAULT, SIZE, **kw)[0]


def test_hand_worked_detections():
    det = _detect()
    # Box 1 loses class 0 (0.6) and class 1 (0.09) to box 0; box 2's class 0 (0.005) is under 0.01.
    assert det["labels"].tolist() == [0, 1, 0, 1, 1]
    assert det["scores"].tolist() == pytest.approx([0.8, 0.495, 0.2, 0.15, 0.1], abs=1e-6)
    boxes = [[10, 10, 30, 30], [60, 60, 90, 90], [90, 90, 100, 100], [90, 90, 100, 100], [10, 10, 30, 30]]
    torch.testing.assert_close(det["boxes"], torch.tensor(boxes, dtype=torch.float32), atol=1e-4, rtol=0)


def test_settings_change_what_is_kept():
    assert _detect(max_detections=2)["scores"].tolist() == pytest.approx([0.8, 0.495], abs=1e-6)
    assert _detect(score_threshold=0.15)["scores"].tolist() == pytest.approx([0.8, 0.495, 0.2], abs=1e-6)
    # At an NMS IoU of 0.9 box 1 (overlap 0.82) survives in both classes.
    assert len(_detect(nms_threshold=0.9)["scores"]) == 7


def test_offsets_are_decoded_with_the_variances():
    deltas = torch.zeros(1, 4, 4)
    deltas[0, 0] = torch.tensor([1.0, 0.0, 0.0, 1.0])  # x: +0.1 × width; h: × exp(0.2)
    det = _detect(deltas, max_detections=1)
    h = 20 * math.exp(0.2)
    assert det["boxes"][0].tolist() == pytest.approx([12, 20 - h / 2, 32, 20 + h / 2], abs=1e-4)


def test_the_output_object():
    logits, deltas = PROBS.log()[None].requires_grad_(), torch.zeros(1, 4, 4, requires_grad=True)
    out = SSDOutput(logits, deltas, DEFAULT, SIZE, max_detections=3)
    assert [p.shape for p in out.predictions()] == [(1, 4, 3), (1, 4, 4)]
    assert len(out.detections()[0]["scores"]) == 3
    target = [{"boxes": torch.tensor([[10.0, 10, 30, 30]]), "labels": torch.tensor([1])}]
    parts = out.losses(target)
    assert parts["loss"].item() == pytest.approx((parts["loss_conf"] + parts["loss_loc"]).item())
    out.loss(target).backward()
    assert logits.grad is not None
