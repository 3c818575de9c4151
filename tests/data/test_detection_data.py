"""Detection data: digits-det, Pascal VOC and COCO files, and the detection task on them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cnnzoo.data import DataError, build_data
from cnnzoo.data.digits_det import digit_banks, make_detection_canvases
from cnnzoo.train.tasks import TaskContext, TaskError, build_task

# -- digits-det ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_det():
    return build_data("digits-det", train_size=60, test_size=30)


def test_digits_det_boxes_are_the_ink(small_det):
    assert small_det.task == "detection" and small_det.num_classes == 10 and small_det.image_size == (96, 96)
    widths = []
    for x, t in small_det.train:
        ink = x[0] >= 0.3
        covered = torch.zeros_like(ink)
        assert 1 <= len(t["labels"]) <= 4 and t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.long
        for x1, y1, x2, y2 in t["boxes"].long().tolist():
            covered[y1:y2, x1:x2] = True
            region = ink[y1:y2, x1:x2]
            # Tight: ink on every border row and column of the box.
            assert region[0].any() and region[-1].any() and region[:, 0].any() and region[:, -1].any()
            widths.append(x2 - x1)
        assert not (ink & ~covered).any()  # no ink outside the boxes
    assert min(widths) < 12 and max(widths) > 30  # digits of very different sizes


def test_digits_det_is_deterministic_and_splits_the_digits(small_det):
    again = build_data("digits-det", train_size=60, test_size=30)
    assert torch.equal(again.test.images, small_det.test.images)
    assert all(torch.equal(a["boxes"], b["boxes"]) for a, b in zip(again.test.targets, small_det.test.targets))
    train_bank, test_bank = digit_banks([8])
    assert len(train_bank[8][0]) == 1347 and len(test_bank[8][0]) == 450
    # Canvases show only the digits of the bank they are drawn from (the split's own handwriting).
    one = {8: (test_bank[8][0][:1], test_bank[8][1][:1])}
    x, targets = make_detection_canvases(one, 5, canvas=32, max_digits=2, seed=3)
    assert x.shape == (5, 1, 32, 32) and {int(v) for t in targets for v in t["labels"]} == {int(test_bank[8][1][0])}
    assert set(np.unique(x.numpy())) <= set(np.unique(test_bank[8][0][0])) | {0.0}
    with pytest.raises(ValueError, match="digit sizes"):
        make_detection_canvases(test_bank, 5, canvas=6)


# -- the detection task on digits-det -----------------------------------------------------------


class _Replay(torch.nn.Module):
    """Returns prepared detections for each batch in order, as a detector would in evaluation."""

    def __init__(self, batches):
        super().__init__()
        self.batches, self.i = batches, 0

    def forward(self, x):
        out = self.batches[self.i]
        self.i += 1
        return out


def _loader(task, ds, bs=8):
    return DataLoader(ds, batch_size=bs, shuffle=False, collate_fn=task.collate)


def _detections(loader, jitter=0.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _, targets in loader:
        batch = []
        for t in targets:
            b = t["boxes"] + jitter * torch.randn(t["boxes"].shape, generator=gen)
            batch.append({"boxes": b, "scores": torch.rand(len(b), generator=gen), "labels": t["labels"]})
        out.append(batch)
    return out


def test_task_collates_lists_and_scores_perfect_detections(small_det, tmp_path):
    from cnnzoo.train.evaluation import evaluate, write_evaluation

    task = build_task("detection", TaskContext(num_classes=10, class_names=small_det.class_names))
    loader = _loader(task, small_det.test)
    x, y = next(iter(loader))
    assert x.shape == (8, 1, 96, 96) and isinstance(y, list) and len(y) == 8 and task.batch_size(y) == 8
    assert task.to_device(y, torch.device("cpu"))[0]["boxes"].shape[1] == 4
    perfect = evaluate(_Replay(_detections(loader)), loader, lambda v: v, task, "cpu", detailed=True)
    assert perfect["map50"] == pytest.approx(1.0) and perfect["coco_AP"] == pytest.approx(1.0)
    assert math.isnan(perfect["loss"])  # plain detections carry no loss
    noisy = evaluate(_Replay(_detections(loader, jitter=3.0)), loader, lambda v: v, task, "cpu")
    assert 0.2 < noisy["coco_AP"] < noisy["map50"] < 1.0  # jittered boxes fail the strict thresholds first
    written = write_evaluation(perfect, tmp_path, title="perfect", task=task)
    assert {p.name for p in written} == {"evaluation.json", "pr.png", "ap.png"}
    cols, rows = task.per_class_table(perfect)
    assert cols[:2] == ["class", "AP"] and len(rows) == 10
    assert "mAP@0.5 1.000" in task.headline(perfect)


def test_task_takes_the_models_loss_and_refuses_what_does_not_fit():
    task = build_task("detection", TaskContext(num_classes=2))
    loss = task.loss_fn()
    assert loss({"cls": torch.tensor(1.5), "box": torch.tensor(0.5)}, []).item() == 2.0

    class Out:
        def loss(self, targets):
            return torch.tensor(float(len(targets)))

        def detections(self):
            return []

    assert loss(Out(), [{}, {}]).item() == 2.0
    with pytest.raises(TaskError, match="DetectionOutput"):
        loss(torch.zeros(2, 5), [])
    with pytest.raises(TaskError, match="no per-output criterion"):
        task.criterion()
    with pytest.raises(TaskError, match="--loss"):
        build_task("detection", TaskContext(num_classes=2, loss="cross_entropy"))
    with pytest.raises(TaskError, match="boxes"):
        task.augment_batch(lambda v: v, torch.zeros(1), [])


# -- Pascal VOC ---------------------------------------------------------------------------------

_XML = """<annotation><filename>{name}.jpg</filename><size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>"""
_OBJ = "<object><name>{c}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"


def _jpeg(path: Path, w: int, h: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path, "JPEG")


def write_voc(root: Path) -> Path:
    ann = {"a": [("dog", 0, (11, 5, 30, 15)), ("person", 1, (1, 1, 4, 4))], "b": [("cat", 0, (2, 2, 8, 8))], "c": [("dog", 0, (5, 5, 9, 9))]}
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for name, objs in ann.items():
        _jpeg(root / "JPEGImages" / f"{name}.jpg", 40, 20)
        body = "".join(_OBJ.format(c=c, d=d, b=b) for c, d, b in objs)
        (root / "Annotations" / f"{name}.xml").write_text(_XML.format(name=name, w=40, h=20, objects=body))
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("a\nb\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("c\n")
    return root


def test_voc_reads_boxes_difficult_and_scales(tmp_path):
    root = write_voc(tmp_path / "VOC2007")
    b = build_data(f"voc:{tmp_path}", image_size=80)  # a VOCdevkit holding one year is accepted too
    assert b.task == "detection" and b.num_classes == 20 and b.class_names[11] == "dog" and b.image_size == (80, 80)
    x, t = b.train[0]
    assert x.shape == (3, 80, 80) and x.min() >= 0 and x.max() <= 1
    # (xmin − 1, ymin − 1, xmax, ymax) scaled by 80/40 across and 80/20 down.
    torch.testing.assert_close(t["boxes"], torch.tensor([[20.0, 16, 60, 60], [0, 0, 8, 16]]))
    assert t["labels"].tolist() == [11, 14] and t["difficult"].tolist() == [False, True]
    assert len(b.test) == 1 and build_data(f"voc:{root}").image_size == (300, 300)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: (r / "Annotations" / "a.xml").write_text("<annotation><object>"), "a.xml: not well-formed"),
        (lambda r: (r / "Annotations" / "a.xml").write_text('<!DOCTYPE x [<!ENTITY e "boom">]><annotation>&e;</annotation>'), "a.xml: has a <!DOCTYPE>"),
        (lambda r: (r / "Annotations" / "b.xml").write_text(_XML.format(name="b", w=4, h=4, objects="<object><name>cat</name><bndbox><xmin>x</xmin></bndbox></object>")), "b.xml: object 0 has no number in <bndbox><xmin>"),
        (lambda r: (r / "JPEGImages" / "b.jpg").unlink(), "b.jpg: image not found"),
        (lambda r: (r / "ImageSets" / "Main" / "test.txt").write_text("zz\n"), "zz.xml: annotation not found"),
        (lambda r: (r / "Annotations" / "a.xml").write_text(_XML.format(name="a", w=4, h=4, objects=_OBJ.format(c="dog", d=2, b=(1, 1, 2, 2)))), "expected 0 or 1"),
    ],
)  # fmt: skip
def test_voc_bad_files_are_one_line_errors(tmp_path, mutate, message):
    root = write_voc(tmp_path / "voc")
    mutate(root)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace("[", r"\[")) as e:
        build_data(f"voc:{root}")
    assert "\n" not in str(e.value)


# -- COCO ---------------------------------------------------------------------------------------


def write_coco(root: Path) -> Path:
    cats = [{"id": 3, "name": "car"}, {"id": 7, "name": "tree"}]
    for split, n in (("train2017", 3), ("val2017", 2)):
        images, anns = [], []
        for i in range(n):
            _jpeg(root / split / f"{i}.jpg", 50, 25)
            images.append({"id": 10 + i, "file_name": f"{i}.jpg", "width": 50, "height": 25})
            anns += [
                {"id": len(anns) + 1, "image_id": 10 + i, "category_id": 7, "bbox": [5, 5, 10, 4], "area": 30.0, "iscrowd": 0},
                {"id": len(anns) + 2, "image_id": 10 + i, "category_id": 3, "bbox": [40, 0, 20, 10], "area": 90.0, "iscrowd": 1},
                {"id": len(anns) + 3, "image_id": 10 + i, "category_id": 3, "bbox": [1, 1, 0, 3], "area": 0.0, "iscrowd": 0},
            ]  # fmt: skip
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return root


def test_coco_reads_crowd_area_and_clips(tmp_path):
    root = write_coco(tmp_path / "coco")
    b = build_data(f"coco:{root}", image_size=100)
    assert b.class_names == ["car", "tree"] and len(b.train) == 3 and len(b.test) == 2
    x, t = b.train[1]
    assert x.shape == (3, 100, 100)
    # The tree (id 7 → label 1), the crowd car clipped at x = 50; the zero-width box dropped. Scale 2 × 4.
    torch.testing.assert_close(t["boxes"], torch.tensor([[10.0, 20, 30, 36], [80, 0, 100, 40]]))
    assert t["labels"].tolist() == [1, 0] and t["iscrowd"].tolist() == [False, True]
    torch.testing.assert_close(t["area"], torch.tensor([240.0, 720.0]))
    one = build_data(f"coco:{root / 'annotations' / 'instances_train2017.json'}")
    assert len(one.train) == 2 and len(one.test) == 1  # a single file: a seeded 20% held out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"images": []}), "expected a COCO instances object"),
        (json.dumps({"images": [{"id": 1, "file_name": "0.jpg", "width": 5, "height": 5}], "categories": [{"id": 1, "name": "a"}],
                     "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 2]}]}), r"annotations\[0\].bbox"),
        (json.dumps({"images": [{"id": 1, "file_name": "0.jpg", "width": 5, "height": 5}], "categories": [{"id": 1, "name": "a"}],
                     "annotations": [{"image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4]}]}), "category_id 9"),
    ],
)  # fmt: skip
def test_coco_bad_files_are_one_line_errors(tmp_path, content, message):
    f = tmp_path / "instances_x.json"
    f.write_text(content)
    with pytest.raises(DataError, match=message) as e:
        build_data(f"coco:{f}")
    assert str(f) in str(e.value) and "\n" not in str(e.value)
