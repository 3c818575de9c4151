"""Detection metrics: Pascal VOC average precision and the COCO AP/AR summary.

Both take the same inputs, one entry per image:

* ``detections[i]``: ``{"boxes": (N, 4) xyxy, "scores": (N,), "labels": (N,)}``;
* ``ground_truths[i]``: ``{"boxes": (M, 4) xyxy, "labels": (M,)}`` with, optionally,
  ``"difficult"`` (VOC) or ``"iscrowd"`` and ``"area"`` (COCO) per box.

**Pascal VOC** (Everingham et al. 2010, "The PASCAL Visual Object Classes
Challenge", IJCV, §4.2): detections of a class, highest score first, are true
positives when their IoU with a not yet matched ground-truth box of that class
exceeds 0.5; a detection whose best box is ``difficult`` counts neither way,
and difficult boxes are not in the recall's denominator. AP is the area under
the precision envelope: VOC2007 samples it at the 11 recalls 0, 0.1, …, 1;
VOC2010 onwards sums it over every recall step ("all-point"). This is the
devkit's ``VOCevalDet`` as ported in Girshick's ``voc_eval.py`` (Fast R-CNN,
arXiv:1504.08083), except that coordinates are continuous: the devkit adds 1
to widths (its pixel convention); ``offset=1.0`` restores it.

**COCO** (Lin et al. 2014, arXiv:1405.0312; the ``cocoapi`` evaluation): ten
IoU thresholds 0.5:0.05:0.95, precision interpolated at 101 recalls, at most
1/10/100 detections per image, areas small (< 32²), medium and large
(> 96²); crowd boxes match any number of detections with IoU measured against
the detection's own area, and detections matched to them are ignored. This
module re-implements ``COCOeval.evaluate/accumulate/summarize`` step for step
(greedy matching, merge-sort ties, the same envelope), and the tests check it
against ``pycocotools`` to 1e-6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["coco_evaluate", "voc_ap", "voc_evaluate", "COCO_AREAS", "COCO_KEYS"]

COCO_AREAS = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
_IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
_REC_THRS = np.linspace(0.0, 1.0, int(np.round((1.00 - 0.0) / 0.01)) + 1)
_MAX_DETS = (1, 10, 100)


def _np(x: Any, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=dtype)
    return a.reshape(shape) if a.size == 0 else a


def _field(d: Mapping[str, Any], key: str, n: int, default: float) -> np.ndarray:
    return _np(d[key], np.float64, (0,)) if key in d else np.full(n, default, np.float64)


def _image(det: Mapping[str, Any] | None, gt: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One image's detections and ground truth as float64/int64 arrays."""
    g_boxes = _np(gt["boxes"], np.float64, (0, 4))
    n = len(g_boxes)
    g = {"boxes": g_boxes, "labels": _np(gt["labels"], np.int64, (0,)),
         "difficult": _field(gt, "difficult", n, 0).astype(bool), "iscrowd": _field(gt, "iscrowd", n, 0).astype(bool)}  # fmt: skip
    g["area"] = _field(gt, "area", n, 0) if "area" in gt else _areas(g_boxes, 0.0)
    det = det or {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0)}
    d = {"boxes": _np(det["boxes"], np.float64, (0, 4)), "scores": _np(det["scores"], np.float64, (0,)),
         "labels": _np(det["labels"], np.int64, (0,))}  # fmt: skip
    if not (len(d["boxes"]) == len(d["scores"]) == len(d["labels"])) or len(g["labels"]) != n:
        raise ValueError(f"detection metrics: boxes, scores and labels of an image differ in length ({len(d['boxes'])}, {len(d['scores'])}, {len(d['labels'])}; ground truth {n} boxes, {len(g['labels'])} labels)")
    return d, g


def _areas(b: np.ndarray, offset: float) -> np.ndarray:
    return (b[:, 2] - b[:, 0] + offset) * (b[:, 3] - b[:, 1] + offset)


def _iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray | None = None, offset: float = 0.0) -> np.ndarray:
    """``(D, G)`` IoU; for a crowd box the union is the detection's area (cocoapi's ``bbIou``)."""
    w = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0]) + offset
    h = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1]) + offset
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    da, ga = _areas(d, offset), _areas(g, offset)
    union = da[:, None] + ga[None, :] - inter
    if crowd is not None:
        union = np.where(crowd[None, :], da[:, None], union)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


# -- Pascal VOC ---------------------------------------------------------------------------------


def voc_ap(recall: np.ndarray, precision: np.ndarray, *, use_07_metric: bool = False) -> float:
    """Area under the precision envelope: 11-point (VOC2007) or all-point (VOC2010+)."""
    recall, precision = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    if use_07_metric:
        # VOC2007 §4.2: mean over r in {0, 0.1, …, 1} of the best precision at recall >= r.
        return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0 for t in np.arange(0.0, 1.1, 0.1)]))
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the envelope: best precision at this recall or beyond
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _voc_class(images: list[tuple[dict, dict]], c: int, thr: float, offset: float) -> tuple[np.ndarray, np.ndarray, int]:
    """True/false-positive flags of class ``c``'s detections by decreasing score, and its non-difficult count."""
    recs, npos = [], 0
    for i, (d, g) in enumerate(images):
        gm = g["labels"] == c
        gb, diff = g["boxes"][gm], g["difficult"][gm]
        npos += int((~diff).sum())
        dm = d["labels"] == c
        recs.append((i, gb, diff, d["boxes"][dm], d["scores"][dm]))
    scores = np.concatenate([r[4] for r in recs]) if recs else np.zeros(0)
    owner = np.concatenate([np.full(len(r[4]), k) for k, r in enumerate(recs)]) if recs else np.zeros(0, int)
    row = np.concatenate([np.arange(len(r[4])) for r in recs]) if recs else np.zeros(0, int)
    order = np.argsort(-scores, kind="mergesort")
    taken = [np.zeros(len(r[1]), bool) for r in recs]
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for n, j in enumerate(order):
        _, gb, diff, db, _ = recs[owner[j]]
        if len(gb) == 0:
            fp[n] = 1
            continue
        ious = _iou(db[row[j] : row[j] + 1], gb, offset=offset)[0]
        best = int(np.argmax(ious))
        if ious[best] <= thr:
            fp[n] = 1
        elif not diff[best]:
            tp[n], fp[n] = (0, 1) if taken[owner[j]][best] else (1, 0)
            taken[owner[j]][best] = True
    return tp, fp, npos


def voc_evaluate(
    detections: Sequence[Mapping[str, Any]],
    ground_truths: Sequence[Mapping[str, Any]],
    num_classes: int,
    *,
    iou_threshold: float = 0.5,
    use_07_metric: bool = False,
    offset: float = 0.0,
) -> dict[str, Any]:
    """Per-class AP and mAP at ``iou_threshold``; precision–recall curves per class.

    Returns ``{"ap": [AP or None per class], "map": mean over classes with a
    non-difficult box, "pr": {"recall": [[...]], "precision": [[...]]}, "npos": [...]}``.
    """
    if len(detections) != len(ground_truths):
        raise ValueError(f"voc_evaluate: {len(detections)} images of detections but {len(ground_truths)} of ground truth")
    images = [_image(d, g) for d, g in zip(detections, ground_truths)]
    aps: list[float | None] = []
    curves: dict[str, list[list[float]]] = {"recall": [], "precision": []}
    counts = []
    for c in range(num_classes):
        tp, fp, npos = _voc_class(images, c, iou_threshold, offset)
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        rec = tp / max(npos, 1)
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps.append(voc_ap(rec, prec, use_07_metric=use_07_metric) if npos else None)
        curves["recall"].append(rec.tolist())
        curves["precision"].append(prec.tolist())
        counts.append(npos)
    present = [a for a in aps if a is not None]
    return {"ap": aps, "map": float(np.mean(present)) if present else float("nan"), "pr": curves, "npos": counts}


# -- COCO ---------------------------------------------------------------------------------------


def _coco_match(ious: np.ndarray, g_ignore: np.ndarray, crowd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cocoapi's greedy matching: ``(dt_matched, dt_ignored)``, each ``(T, D)``; ground truth sorted non-ignored first.

    Detections are matched in score order, all ten thresholds at once (each keeps its own taken boxes).
    """
    T, (D, G) = len(_IOU_THRS), ious.shape
    dtm, dt_ig = np.zeros((T, D), bool), np.zeros((T, D), bool)
    if G == 0:
        return dtm, dt_ig
    thr = np.minimum(_IOU_THRS, 1 - 1e-10)[:, None]
    gtm = np.zeros((T, G), bool)
    rows = np.arange(T)
    for d in range(D):
        free = (~gtm | crowd[None, :]) & (ious[d][None, :] >= thr)
        # A match to a non-ignored box ends the search before any ignored box (cocoapi's "break").
        for pool in (free & ~g_ignore[None, :], free & g_ignore[None, :]):
            todo = pool.any(1) & ~dtm[:, d]
            if not todo.any():
                continue
            vals = np.where(pool, ious[d][None, :], -np.inf)[:, ::-1]
            m = G - 1 - np.argmax(vals, axis=1)  # the best box; ties go to the later one (cocoapi's "<" test)
            t = rows[todo]
            dtm[t, d], dt_ig[t, d], gtm[t, m[todo]] = True, g_ignore[m[todo]], True
    return dtm, dt_ig


def _coco_image(d: dict, g: dict, c: int, area: tuple[float, float]) -> dict[str, np.ndarray] | None:
    """One (image, category, area range) of ``COCOeval.evaluateImg``, at most 100 detections."""
    gm, dm = g["labels"] == c, d["labels"] == c
    if not gm.any() and not dm.any():
        return None
    gb, crowd, g_area = g["boxes"][gm], g["iscrowd"][gm], g["area"][gm]
    g_ignore = crowd | (g_area < area[0]) | (g_area > area[1])
    gorder = np.argsort(g_ignore, kind="mergesort")
    gb, crowd, g_ignore = gb[gorder], crowd[gorder], g_ignore[gorder]
    dorder = np.argsort(-d["scores"][dm], kind="mergesort")[: _MAX_DETS[-1]]
    db, ds = d["boxes"][dm][dorder], d["scores"][dm][dorder]
    ious = _iou(db, gb, crowd) if len(gb) and len(db) else np.zeros((len(db), len(gb)))
    dtm, dt_ig = _coco_match(ious, g_ignore, crowd)
    d_area = _areas(db, 0.0)
    dt_ig |= ~dtm & ((d_area < area[0]) | (d_area > area[1]))[None, :]
    return {"scores": ds, "matched": dtm, "ignored": dt_ig, "npig": int((~g_ignore).sum())}


def _coco_pr(evals: list[dict], max_det: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(precision (T, R), recall (T,))`` of one category and area over all images (``COCOeval.accumulate``)."""
    npig = sum(e["npig"] for e in evals)
    if npig == 0:
        return None
    scores = np.concatenate([e["scores"][:max_det] for e in evals])
    order = np.argsort(-scores, kind="mergesort")
    dtm = np.concatenate([e["matched"][:, :max_det] for e in evals], axis=1)[:, order]
    dt_ig = np.concatenate([e["ignored"][:, :max_det] for e in evals], axis=1)[:, order]
    tps = np.cumsum(dtm & ~dt_ig, axis=1, dtype=np.float64)
    fps = np.cumsum(~dtm & ~dt_ig, axis=1, dtype=np.float64)
    precision, recall = np.zeros((len(_IOU_THRS), len(_REC_THRS))), np.zeros(len(_IOU_THRS))
    for t, (tp, fp) in enumerate(zip(tps, fps)):
        rc, pr = tp / npig, tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if len(tp) else 0.0
        pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
        idx = np.searchsorted(rc, _REC_THRS, side="left")
        ok = idx < len(pr)
        precision[t, ok] = pr[idx[ok]]
    return precision, recall


def coco_evaluate(detections: Sequence[Mapping[str, Any]], ground_truths: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The twelve numbers of ``COCOeval.summarize()`` (``COCO_KEYS``; −1 where undefined) and per-class AP@[.5:.95].

    A category counts when it has a non-crowd box in the ground truth (cocoapi
    skips categories without positives, and averages over the others).
    """
    if len(detections) != len(ground_truths):
        raise ValueError(f"coco_evaluate: {len(detections)} images of detections but {len(ground_truths)} of ground truth")
    images = [_image(d, g) for d, g in zip(detections, ground_truths)]
    cats = sorted({int(c) for d, g in images for c in np.concatenate([d["labels"], g["labels"]])})
    prec: dict[tuple[int, str, int], np.ndarray] = {}
    rec: dict[tuple[int, str, int], np.ndarray] = {}
    for c in cats:
        for name, rng in COCO_AREAS.items():
            evals = [e for d, g in images if (e := _coco_image(d, g, c, rng)) is not None]
            for m in _MAX_DETS:
                if evals and (res := _coco_pr(evals, m)) is not None:
                    prec[c, name, m], rec[c, name, m] = res
    return _coco_summary(prec, rec, cats)


def _mean(values: list[np.ndarray]) -> float:
    a = np.concatenate([v.ravel() for v in values]) if values else np.zeros(0)
    return float(np.mean(a)) if a.size else -1.0


def _coco_summary(prec: dict, rec: dict, cats: list[int]) -> dict[str, Any]:
    t50, t75 = int(np.argmin(np.abs(_IOU_THRS - 0.5))), int(np.argmin(np.abs(_IOU_THRS - 0.75)))

    def ap(area: str = "all", t: int | None = None) -> float:
        return _mean([p if t is None else p[t] for (c, a, m), p in prec.items() if a == area and m == 100])

    def ar(area: str = "all", m: int = 100) -> float:
        return _mean([r for (c, a, mm), r in rec.items() if a == area and mm == m])

    out = dict(zip(COCO_KEYS, (ap(), ap(t=t50), ap(t=t75), ap("small"), ap("medium"), ap("large"),
                               ar(m=1), ar(m=10), ar(), ar("small"), ar("medium"), ar("large"))))  # fmt: skip
    out["per_class_ap"] = {c: float(np.mean(prec[c, "all", 100])) if (c, "all", 100) in prec else None for c in cats}
    return out
