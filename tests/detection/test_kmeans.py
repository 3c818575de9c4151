"""Dimension clusters (YOLOv2 §2): the 1 − IoU distance, recovered shapes, the k = 1…9 table."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.detection import anchor_iou_table, kmeans_anchors
from cnnzoo.detection.kmeans import shape_iou


def _boxes(shapes, n_each=50, noise=0.05, seed=0):
    gen = torch.Generator().manual_seed(seed)
    wh = torch.cat([torch.tensor(s).repeat(n_each, 1) for s in shapes]).float()
    wh = wh * (1 + noise * torch.randn(wh.shape, generator=gen))
    xy = torch.rand(len(wh), 2, generator=gen) * 100  # positions do not matter
    return torch.cat([xy, xy + wh], 1)


def test_shape_iou_hand_computed():
    # (2, 2) and (1, 4) centred together: intersection 1 × 2 = 2, union 4 + 4 − 2 = 6.
    assert shape_iou(torch.tensor([[2.0, 2.0]]), torch.tensor([[1.0, 4.0], [2.0, 2.0]])).tolist() == [[pytest.approx(1 / 3), 1.0]]


def test_recovers_three_shapes():
    shapes = [(10.0, 10.0), (40.0, 20.0), (15.0, 60.0)]
    centroids, avg = kmeans_anchors(_boxes(shapes), 3)
    expected = torch.tensor(sorted(shapes, key=lambda s: s[0] * s[1]))
    torch.testing.assert_close(centroids, expected, rtol=0.03, atol=0.0)
    assert avg > 0.9
    _, one = kmeans_anchors(_boxes(shapes, noise=0.0), 3)
    assert one == pytest.approx(1.0)


def test_table_rises_with_k_and_is_reproducible():
    boxes = _boxes([(8.0, 8.0), (30.0, 12.0), (12.0, 30.0), (50.0, 50.0), (20.0, 20.0)], noise=0.2)
    table = anchor_iou_table(boxes)
    assert [k for k, _, _ in table] == list(range(1, 10))
    ious = [iou for _, iou, _ in table]
    assert ious[0] < 0.6 < ious[4]  # one shape fits five badly; five fit them well
    assert all(b >= a - 0.02 for a, b in zip(ious, ious[1:]))
    assert table[4][2].shape == (5, 2)
    assert kmeans_anchors(boxes, 5)[1] == kmeans_anchors(boxes, 5)[1]


def test_bad_input():
    with pytest.raises(ValueError, match="k must be"):
        kmeans_anchors(_boxes([(5.0, 5.0)]), 0)
    with pytest.raises(ValueError, match="at least 4 boxes"):
        kmeans_anchors(_boxes([(5.0, 5.0)], n_each=3), 4)
    with pytest.raises(ValueError, match="positive width"):
        kmeans_anchors(torch.tensor([[1.0, 1.0, 1.0, 5.0]]), 1)


def test_table_on_digits_det_boxes(tmp_path):
    from cnnzoo.data import build_data
    from cnnzoo.detection import boxes_of, format_iou_table, plot_iou_table

    boxes = boxes_of(build_data("digits-det", train_size=80, test_size=1).train)
    assert boxes.shape[1] == 4 and len(boxes) > 100
    table = anchor_iou_table(boxes, range(1, 6))
    assert table[0][1] < table[4][1]  # more clusters fit the digits' many sizes better
    text = format_iou_table(table)
    assert text.splitlines()[0].startswith(" k") and len(text.splitlines()) == 6 and "×" in text
    plot_iou_table(table, tmp_path / "clusters.png")
    assert (tmp_path / "clusters.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
