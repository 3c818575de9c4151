"""Detection metrics: VOC AP by hand, COCO AP/AR against pycocotools, half-precision ops."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from cnnzoo.detection import box_iou, coco_evaluate, generalized_box_iou, nms, voc_ap, voc_evaluate
from cnnzoo.detection.metrics import COCO_KEYS


def _t(rows, dtype=torch.float32):
    return torch.tensor(rows, dtype=dtype)


def _hand_example():
    """Class 0: two images, one difficult box; class 1: a detection at IoU exactly 0.5; class 2: no boxes."""
    gts = [
        {"boxes": _t([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]), "labels": _t([0, 0, 1], torch.long),
         "difficult": _t([0, 1, 0], torch.bool)},
        {"boxes": _t([[0, 0, 10, 10]]), "labels": _t([0], torch.long)},
    ]  # fmt: skip
    dets = [
        {"boxes": _t([[0, 0, 10, 10], [20, 20, 30, 30], [1, 1, 10, 10], [0, 0, 10, 5]]),
         "scores": _t([0.9, 0.8, 0.7, 0.95]), "labels": _t([0, 0, 0, 1], torch.long)},
        {"boxes": _t([[50, 50, 60, 60], [0, 0, 10, 11]]), "scores": _t([0.6, 0.5]), "labels": _t([0, 0], torch.long)},
    ]  # fmt: skip
    return dets, gts


def test_voc_ap_hand_worked():
    # Class 0 by score: TP, difficult (ignored), FP (box already taken), FP, TP; 2 positives.
    # recall .5 .5 .5 1, precision 1 1/2 1/3 1/2 → all-point 0.5·1 + 0.5·0.5 = 0.75;
    # 11-point: recall ≥ 0…0.5 reach precision 1 (6 points), ≥ 0.6…1 reach 0.5 (5 points) → 8.5/11.
    dets, gts = _hand_example()
    r10 = voc_evaluate(dets, gts, 3)
    r07 = voc_evaluate(dets, gts, 3, use_07_metric=True)
    assert r10["ap"][0] == pytest.approx(0.75)
    assert r07["ap"][0] == pytest.approx(8.5 / 11)
    # IoU exactly 0.5 is not enough (the devkit's "ovmax > 0.5"): class 1 has AP 0.
    assert r10["ap"][1] == 0.0
    assert r10["ap"][2] is None and r10["npos"] == [2, 1, 0]
    assert r10["map"] == pytest.approx((0.75 + 0.0) / 2)
    np.testing.assert_allclose(r10["pr"]["recall"][0], [0.5, 0.5, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(r10["pr"]["precision"][0], [1, 1, 1 / 2, 1 / 3, 1 / 2])


def test_voc_ap_curve_functions():
    assert voc_ap(np.array([1.0]), np.array([1.0])) == 1.0
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5]), use_07_metric=True) == pytest.approx(8.5 / 11)
    assert voc_ap(np.zeros(0), np.zeros(0)) == 0.0


def _random_set(rng, n_images=12, n_classes=4):
    dets, gts = [], []
    for _ in range(n_images):
        m = int(rng.integers(0, 7))
        xy = rng.uniform(0, 300, (m, 2))
        wh = rng.choice([8.0, 20.0, 50.0, 120.0], m) * rng.uniform(0.5, 1.5, (m, 2)).T
        boxes = np.concatenate([xy, xy + wh.T], 1).round(1)
        labels = rng.integers(0, n_classes, m)
        crowd = rng.random(m) < 0.15
        gts.append({"boxes": torch.tensor(boxes), "labels": torch.tensor(labels), "iscrowd": torch.tensor(crowd)})
        # Detections: jittered copies of the boxes (some relabelled), and clutter; scores with ties.
        jit = boxes + rng.normal(0, 4, boxes.shape)
        jit[:, 2:] = np.maximum(jit[:, 2:], jit[:, :2] + 1)
        k = int(rng.integers(0, 120))
        cxy = rng.uniform(0, 300, (k, 2))
        clutter = np.concatenate([cxy, cxy + rng.uniform(2, 150, (k, 2))], 1)
        db = np.concatenate([jit, jit[: m // 2] + 3, clutter]).round(2)
        dl = np.concatenate([np.where(rng.random(m) < 0.8, labels, rng.integers(0, n_classes, m)), labels[: m // 2],
                             rng.integers(0, n_classes, k)])  # fmt: skip
        # Scores rounded to 0.025 so that ties occur; true boxes tend to score higher than clutter.
        ds = (np.concatenate([rng.uniform(0.3, 1, m + m // 2), rng.uniform(0, 0.8, k)]) * 40).round() / 40
        dets.append({"boxes": torch.tensor(db), "scores": torch.tensor(ds), "labels": torch.tensor(dl)})
    return dets, gts


def _pycocotools(dets, gts, n_classes):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, results = [], [], []
    for i, (d, g) in enumerate(zip(dets, gts)):
        images.append({"id": i + 1, "width": 400, "height": 400})
        for b, c, crowd in zip(g["boxes"].tolist(), g["labels"].tolist(), g["iscrowd"].tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": c + 1, "bbox": [b[0], b[1], w, h],
                         "area": w * h, "iscrowd": int(crowd)})  # fmt: skip
        for b, s, c in zip(d["boxes"].tolist(), d["scores"].tolist(), d["labels"].tolist()):
            results.append({"image_id": i + 1, "category_id": c + 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c + 1, "name": str(c)} for c in range(n_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_matches_pycocotools(seed):
    pytest.importorskip("pycocotools")
    dets, gts = _random_set(np.random.default_rng(seed))
    ours = coco_evaluate(dets, gts)
    ref = _pycocotools(dets, gts, 4)
    np.testing.assert_allclose([ours[k] for k in COCO_KEYS], ref, atol=1e-6, rtol=0)
    assert 0.05 < ours["AP50"] < 0.95  # a test that could fail: neither trivial nor perfect


def test_coco_perfect_and_empty():
    _, gts = _random_set(np.random.default_rng(3))
    perfect = [{"boxes": g["boxes"], "scores": torch.ones(len(g["boxes"])), "labels": g["labels"]} for g in gts]
    r = coco_evaluate(perfect, gts)
    assert r["AP50"] == pytest.approx(1.0) and r["AR100"] == pytest.approx(1.0)
    none = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)} for _ in gts]
    assert coco_evaluate(none, gts)["AP"] == 0.0


def test_metrics_reject_mismatched_lengths():
    dets, gts = _hand_example()
    with pytest.raises(ValueError, match="images"):
        voc_evaluate(dets[:1], gts, 3)
    bad = [{"boxes": torch.zeros(2, 4), "scores": torch.zeros(1), "labels": torch.zeros(2, dtype=torch.long)}]
    with pytest.raises(ValueError, match="differ in length"):
        coco_evaluate(bad, gts[:1])


# -- half-precision boxes: areas above 65,504 overflow float16 -----------------------------------


def test_half_boxes_overlap_in_float32():
    big = _t([[0, 0, 300, 300], [10, 10, 310, 310]], torch.float16)  # areas 90,000 > float16 max
    expected = box_iou(big.float(), big.float())
    got = box_iou(big, big)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    torch.testing.assert_close(got, expected)
    assert got[0, 1] == pytest.approx(290**2 / (2 * 300**2 - 290**2), rel=1e-4)
    torch.testing.assert_close(generalized_box_iou(big, big), generalized_box_iou(big.float(), big.float()))
    # Before: every IoU was inf/inf = NaN, and NMS kept both boxes.
    assert nms(big, _t([0.9, 0.8], torch.float16), 0.5).tolist() == [0]
    assert torch.equal(nms(big, _t([0.9, 0.8], torch.float16), 0.95), torch.tensor([0, 1]))
