"""Boxes: hand-computed IoU and GIoU, properties under hypothesis, bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnzoo.detection import (
    box_area,
    box_center_to_corner,
    box_convert,
    box_corner_to_center,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
)


def test_iou_hand_computed():
    a = torch.tensor([[0.0, 0, 2, 2]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2], [5, 5, 6, 6], [0, 0, 1, 2]])
    # overlap 1 of union 7; identical; touching edge; disjoint; contained half
    expected = torch.tensor([[1 / 7, 1.0, 0.0, 0.0, 0.5]])
    torch.testing.assert_close(box_iou(a, b), expected)


def test_giou_hand_computed():
    a = torch.tensor([[0.0, 0, 2, 2]])
    b = torch.tensor([[1.0, 1, 3, 3], [3, 0, 4, 2], [0, 0, 1, 2]])
    # enclosing 3x3=9, union 7: 1/7 - 2/9; disjoint: enclosing 8, union 6: -2/8; contained: IoU
    expected = torch.tensor([[1 / 7 - 2 / 9, -0.25, 0.5]])
    torch.testing.assert_close(generalized_box_iou(a, b), expected)


def test_d2l_corner_center_round_trip():
    # d2l §14.3: the dog and cat boxes.
    boxes = torch.tensor([[60.0, 45.0, 378.0, 516.0], [400.0, 112.0, 655.0, 493.0]])
    centre = box_corner_to_center(boxes)
    torch.testing.assert_close(centre[0], torch.tensor([219.0, 280.5, 318.0, 471.0]))
    torch.testing.assert_close(box_center_to_corner(centre), boxes)


def test_convert_all_formats():
    boxes = torch.tensor([[1.0, 2, 4, 8]])
    assert box_convert(boxes, "xyxy", "xywh").tolist() == [[1, 2, 3, 6]]
    assert box_convert(boxes, "xyxy", "cxcywh").tolist() == [[2.5, 5, 3, 6]]
    for f in ("xywh", "cxcywh"):
        torch.testing.assert_close(box_convert(box_convert(boxes, "xyxy", f), f, "xyxy"), boxes)
    with pytest.raises(ValueError, match="xyxy"):
        box_convert(boxes, "xyxy", "yxyx")


def test_area_and_clip():
    boxes = torch.tensor([[-5.0, -5, 5, 5], [8, 8, 20, 30], [40, 40, 50, 50]])
    assert box_area(boxes).tolist() == [100, 12 * 22, 100]
    clipped = clip_boxes_to_image(boxes, (10, 12))
    assert clipped.tolist() == [[0, 0, 5, 5], [8, 8, 12, 10], [12, 10, 12, 10]]


coord = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=32)
size = st.floats(0, 50, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def boxes(draw, n_min=1, n_max=6):
    n = draw(st.integers(n_min, n_max))
    rows = [(x, y, x + w, y + h) for x, y, w, h in (draw(st.tuples(coord, coord, size, size)) for _ in range(n))]
    return torch.tensor(rows, dtype=torch.float64)


@settings(max_examples=60, deadline=None)
@given(boxes(), boxes())
def test_iou_symmetric_bounded(a, b):
    iou = box_iou(a, b)
    assert iou.shape == (a.shape[0], b.shape[0])
    torch.testing.assert_close(iou, box_iou(b, a).T)
    assert ((iou >= 0) & (iou <= 1 + 1e-12)).all()
    giou = generalized_box_iou(a, b)
    torch.testing.assert_close(giou, generalized_box_iou(b, a).T)
    assert ((giou >= -1 - 1e-12) & (giou <= iou + 1e-12)).all()


@settings(max_examples=60, deadline=None)
@given(boxes())
def test_iou_with_itself_is_one_for_positive_area(a):
    positive = box_area(a) > 1e-6
    diag = box_iou(a, a).diagonal()
    torch.testing.assert_close(diag[positive], torch.ones_like(diag[positive]))
    torch.testing.assert_close(
        generalized_box_iou(a, a).diagonal()[positive], torch.ones_like(diag[positive])
    )


def test_zero_area_boxes_give_zero_not_nan():
    point = torch.tensor([[1.0, 1, 1, 1]])
    assert box_iou(point, point).item() == 0.0
    assert generalized_box_iou(point, point).item() == 0.0


def test_empty_inputs_give_empty_matrices():
    a = torch.zeros(0, 4)
    b = torch.tensor([[0.0, 0, 1, 1]])
    assert box_iou(a, b).shape == (0, 1)
    assert generalized_box_iou(b, a).shape == (1, 0)
    assert box_area(a).shape == (0,)


def test_bad_boxes_are_clear_errors():
    with pytest.raises(ValueError, match=r"x2 >= x1.*box 1"):
        box_iou(torch.tensor([[0.0, 0, 1, 1], [3, 0, 2, 1]]), torch.tensor([[0.0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="y2 >= y1"):
        box_area(torch.tensor([[0.0, 2, 1, 1]]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        box_iou(torch.zeros(3, 5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        box_iou(torch.zeros(2, 3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="finite"):
        box_iou(torch.tensor([[0.0, 0, float("nan"), 1]]), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="height, width"):
        clip_boxes_to_image(torch.zeros(1, 4), (0, 4))
