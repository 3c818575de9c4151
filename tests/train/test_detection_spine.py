"""Detection on the training spine: SSD augmentation of images and boxes together, the data's own size, exact resume.

The detectors here are test-only (registered by the ``detectors`` fixture):
``_test_griddet`` predicts a class and a box per cell of a stride-8 grid (a
one-level anchor-free detector, as small as a detector gets), and
``_test_fixeddet`` always reports one known box, so that scaling can be
checked against numbers worked out by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnzoo import models, registry  # noqa: F401 (models first: the registered detectors import the detector contract)
from cnnzoo.data import DataBundle, register_dataset
from cnnzoo.data.digits_det import DetectionDataset
from cnnzoo.detection.detector import DetectorOutput
from cnnzoo.models.detector import Detector
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.checkpoint import load_checkpoint
from cnnzoo.train.config import ConfigError
from cnnzoo.train.setup import setup
from cnnzoo.train.tasks import TaskError

STRIDE = 8
FIXED_BOX, FIXED_LABEL = (4.0, 8.0, 20.0, 40.0), 2  # what _test_fixeddet reports, in its input's pixels


class GridOutput(DetectorOutput):
    """Per cell: class scores (the last is background) and a box as fractions of the image."""

    def __init__(self, scores: Tensor, boxes: Tensor, size: tuple[int, int], detector: Detector) -> None:
        self.scores, self.boxes, self.size, self.detector = scores, boxes, size, detector

    def _cell_targets(self, target: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        k, (gh, gw) = self.scores.shape[1] - 1, self.scores.shape[-2:]
        classes = torch.full((gh, gw), k, dtype=torch.long)
        boxes = torch.zeros(4, gh, gw)
        h, w = self.size
        for box, label in zip(target["boxes"].tolist(), target["labels"].tolist()):
            j, i = min(int((box[0] + box[2]) / 2 / STRIDE), gw - 1), min(int((box[1] + box[3]) / 2 / STRIDE), gh - 1)
            classes[i, j] = label
            boxes[:, i, j] = torch.tensor(box) / torch.tensor([w, h, w, h])
        return classes, boxes

    def loss(self, targets: Sequence[dict[str, Tensor]]) -> Tensor:
        classes, boxes = zip(*(self._cell_targets(t) for t in targets))
        classes, boxes = torch.stack(classes).to(self.scores.device), torch.stack(boxes).to(self.scores.device)
        positive = (classes < self.scores.shape[1] - 1)[:, None]
        box_loss = (F.smooth_l1_loss(self.boxes.sigmoid(), boxes, reduction="none") * positive).sum() / positive.sum().clamp_min(1)
        return F.cross_entropy(self.scores, classes) + box_loss

    def detections(self) -> list[dict[str, Tensor]]:
        h, w = self.size
        out = []
        for scores, boxes in zip(self.scores.softmax(1), self.boxes.sigmoid()):
            best, labels = scores[:-1].flatten(1).max(0)
            keep = (best >= self.detector.score_threshold).nonzero()[:, 0]
            keep = keep[best[keep].argsort(descending=True)][: self.detector.max_detections]
            xyxy = boxes.flatten(1).T[keep] * torch.tensor([w, h, w, h])
            out.append({"boxes": xyxy, "scores": best[keep], "labels": labels[keep]})
        return out

    def predictions(self) -> list[Tensor]:
        return [self.scores, self.boxes]


class GridDetector(Detector):
    classifier_names = ("head",)

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 16, 3, 2, 1), nn.ReLU()
        )
        self.head = nn.Conv2d(16, num_classes + 1 + 4, 1)

    def forward_features(self, x: Tensor) -> Tensor:
        self._size = tuple(x.shape[-2:])
        return self.features(x)

    def forward_head(self, features: Tensor) -> GridOutput:
        y = self.head(features)
        return GridOutput(y[:, :-4], y[:, -4:], self._size, self)


class FixedOutput(DetectorOutput):
    def __init__(self, x: Tensor, weight: Tensor) -> None:
        self.n, self.weight = x.shape[0], weight

    def loss(self, targets: Sequence[dict[str, Tensor]]) -> Tensor:
        return (self.weight**2).sum()

    def detections(self) -> list[dict[str, Tensor]]:
        one = {"boxes": torch.tensor([FIXED_BOX]), "scores": torch.tensor([0.9]), "labels": torch.tensor([FIXED_LABEL])}
        return [dict(one) for _ in range(self.n)]

    def predictions(self) -> list[Tensor]:
        return [self.weight]


class FixedDetector(Detector):
    classifier_names = ()

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.num_classes, self.weight = num_classes, nn.Parameter(torch.ones(1))

    def forward_features(self, x: Tensor) -> Tensor:
        return x

    def forward_head(self, features: Tensor) -> FixedOutput:
        return FixedOutput(features, self.weight)


def _griddet(*, num_classes: int = 10, in_chans: int = 1) -> GridDetector:
    return GridDetector(num_classes, in_chans)


def _fixeddet(*, num_classes: int = 10, in_chans: int = 1) -> FixedDetector:
    return FixedDetector(num_classes, in_chans)


def _painted(n: int, size: int, seed: int) -> DetectionDataset:
    """Black images with one white rectangle each (at integer corners), its box and a label."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, size, size)
    targets = []
    for i in range(n):
        w, h = (int(v) for v in torch.randint(10, size // 2, (2,), generator=g))
        x1, y1 = int(torch.randint(0, size - w, (1,), generator=g)), int(torch.randint(0, size - h, (1,), generator=g))
        x[i, 0, y1 : y1 + h, x1 : x1 + w] = 1.0
        targets.append({"boxes": torch.tensor([[x1, y1, x1 + w, y1 + h]], dtype=torch.float32), "labels": torch.tensor([i % 3])})
    return DetectionDataset(x, targets)


def _painted_det(path=None, **_) -> DataBundle:
    return DataBundle(
        name="test-painted-det", train=_painted(48, 64, 0), test=_painted(16, 64, 1), num_classes=3, in_chans=1,
        image_size=(64, 64), class_names=["a", "b", "c"], task="detection", meta={"aug": "ssd", "hflip": True},
    )  # fmt: skip


def _small_digits_det(path=None, **kw) -> DataBundle:
    from cnnzoo.data.digits_det import digits_det

    return digits_det(canvas=64, digit_sizes=(16, 24), train_size=48, test_size=16, image_size=kw.get("image_size"))


@pytest.fixture
def detectors():
    """Register the test detectors and data sets for one test, and remove them afterwards."""
    from cnnzoo.data import datasets

    builders = {"_test_griddet": _griddet, "_test_fixeddet": _fixeddet}
    for name, fn in builders.items():
        registry.register_model(family="test", paper="-", year=2000, input_size=(1, 256, 256), min_size=16, task="detection", name=name)(fn)
    register_dataset("test-painted-det", needs_path=False, help="tests only")(_painted_det)
    register_dataset("test-digits-det", needs_path=False, help="tests only")(_small_digits_det)
    yield
    for name in builders:
        registry._REGISTRY.pop(name, None)
    for name in ("test-painted-det", "test-digits-det"):
        datasets._LOADERS.pop(name, None)


def _config(tmp_path, **kw) -> TrainConfig:
    base = dict(model="_test_griddet", data="test-painted-det", epochs=2, batch_size=16, out=str(tmp_path), progress=False, lr=0.01)
    return TrainConfig(**(base | kw))


def test_boxes_and_pixels_stay_aligned_through_augmentation_and_the_pipeline(tmp_path, detectors):
    run = setup(_config(tmp_path / "run"))
    run.run_dir.close()
    assert type(run.augment).__name__ == "SSDAugment" and run.augment.fill == pytest.approx(run.meta.normalize.mean)
    assert run.augment.hflip is True  # the data's rule: rectangles are mirror-symmetric
    assert run.meta.normalize.size == [64, 64]  # the data's size, not the model's 256: boxes stay in the data's pixels
    mean, std = run.meta.normalize.mean[0], run.meta.normalize.std[0]
    checked = 0
    for batch, (x, y) in enumerate(run.train_loader):
        run.aug_seed(1, batch)
        x, y = run.task.augment_batch(run.augment, x, y)
        x = run.pipeline(x, augmented=True) * std + mean
        assert x.shape[-2:] == (64, 64)
        for image, target in zip(x, y):
            assert len(target["boxes"]) == 1  # an image's only box always stays (the patch must keep a centre)
            rows, cols = (image[0] > 0.3).nonzero(as_tuple=True)  # the rectangle (≥ 0.44 after distortion) over ≤ 0.19
            ink = torch.tensor([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=torch.float32)
            assert (ink - target["boxes"][0]).abs().max() <= 1.5, (ink, target["boxes"][0])
            checked += 1
    assert checked == 48


def test_a_detector_trains_evaluates_and_resumes_bit_identically(tmp_path, detectors):
    cfg = dict(data="test-digits-det", checkpoint_every=0)
    full = train(_config(tmp_path / "full", **cfg))
    train(_config(tmp_path / "cut", max_steps=4, **cfg))  # 3 steps per epoch: stopped in the middle of epoch 2
    resumed = train(TrainConfig(resume=str(tmp_path / "cut"), progress=False))
    a, b = (load_checkpoint(tmp_path / d / "checkpoint-last").model for d in ("full", "cut"))
    assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
    assert resumed.final["train_loss"] == pytest.approx(full.final["train_loss"], rel=1e-12)
    assert resumed.final["test_map50"] == full.final["test_map50"]
    rows = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train_loss", "test_loss", "test_map50", "test_coco_AP", "train_objects_per_image"} <= rows[-1].keys()
    saved = json.loads((tmp_path / "full" / "config.json").read_text())
    assert saved["aug"] == "ssd" and saved["data_info"]["image_size"] == [64, 64]


def test_presets_that_move_pixels_alone_are_refused_for_detection(tmp_path, detectors):
    run = setup(_config(tmp_path / "run", aug="digits"))
    run.run_dir.close()
    x, y = next(iter(run.train_loader))
    with pytest.raises(TaskError, match=r"^--aug: RandomAffine moves the pixels but not the boxes; detection trains with --aug ssd or none$"):
        run.task.augment_batch(run.augment, x, y)


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        ("lenet5", "test-painted-det", "data test-painted-det has boxes per image, but lenet5 is a classification model: it needs a label per image"),
        ("_test_griddet", "digits", "data digits has a label per image, but _test_griddet is a detection model: it needs boxes per image (e.g. digits-det)"),
    ],
)
def test_models_and_data_of_different_tasks_are_refused(tmp_path, detectors, model, data, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        setup(_config(tmp_path / "run", model=model, data=data))


def test_detection_data_smaller_than_the_model_takes_is_refused_not_resized(tmp_path, detectors):
    registry._REGISTRY["_test_griddet"] = registry.ModelInfo(
        name="_test_griddet", builder=_griddet, family="test", paper="-", year=2000, min_size=96, task="detection"
    )
    with pytest.raises(ConfigError, match=r"^image_size must be at least 96 for _test_griddet, which detects at the data's own size; test-painted-det images are 64×64$"):
        setup(_config(tmp_path / "run"))


def test_digits_det_image_size_sets_the_canvas():
    from cnnzoo.data.digits_det import digits_det

    b = digits_det(canvas=64, digit_sizes=(16,), train_size=4, test_size=2, image_size=80)
    assert b.image_size == (80, 80) and b.train[0][0].shape == (1, 80, 80)
    assert b.meta["aug"] == "ssd" and b.meta["hflip"] is False  # a mirrored digit is not that digit
